// Many runs at once: Client::generate_async and Client::generate_batch, over the Client's one
// Scheduler (scheduler.hpp).

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <mutex>

#include "batch_journal.hpp"
#include "cancellation_state.hpp"
#include "client_impl.hpp"
#include "json_codec.hpp"
#include "runbase/errors.hpp"

namespace runbase {

namespace {

using std::chrono::milliseconds;
using time_point = detail::Clock::time_point;

// A create error that every later create of the batch would get too: the key, the balance, the
// quota or the spend limit. The items not yet created get it without sending anything.
bool repeats_for_every_create(const std::exception_ptr& error) {
  using detail::holds;
  return holds<AuthenticationError>(error) || holds<PermissionDeniedError>(error) ||
         holds<InsufficientCreditsError>(error) || holds<UsageExceededError>(error) ||
         holds<ValidationError>(error);
}

/// Completes a generate_async future. on_update calls are serialized and never follow the end.
class AsyncSink final : public detail::WaitSink {
 public:
  explicit AsyncSink(std::function<void(const Run&)> on_update)
      : on_update_(std::move(on_update)) {}

  std::future<Run> future() { return promise_.get_future(); }

  void update(std::size_t, std::uint64_t seq, const Run& run) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (done_ || (seq != 0 && seq <= seq_)) return;  // stale: a newer status was reported
    seq_ = std::max(seq_, seq);
    if (!on_update_) return;
    try {
      on_update_(run);
    } catch (...) {
      // No caller to hand it to; the wait goes on.
    }
  }

  void finish(std::size_t, std::optional<Run> run, std::exception_ptr error) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (done_) return;
    done_ = true;
    if (run) {
      promise_.set_value(std::move(*run));
    } else {
      promise_.set_exception(std::move(error));  // the future's reader holds the last reference
    }
  }

 private:
  std::function<void(const Run&)> on_update_;
  std::mutex mutex_;
  std::promise<Run> promise_;
  std::uint64_t seq_ = 0;
  bool done_ = false;
};

/// What the Scheduler reports on a batch's runs, queued for the thread running the batch. It
/// sleeps on the batch's cancellation token (or a private one), so cancel() wakes it too.
class BatchInbox final : public detail::WaitSink {
 public:
  struct Event {
    std::size_t index = 0;
    bool final = false;
    std::uint64_t seq = 0;
    std::optional<Run> run;
    std::exception_ptr error;
  };

  explicit BatchInbox(const CancellationToken* cancel)
      : wake_(cancel != nullptr ? cancel->state() : std::make_shared<detail::CancellationState>()) {
  }

  void update(std::size_t index, std::uint64_t seq, const Run& run) override {
    push(Event{index, false, seq, run, nullptr});
  }
  void finish(std::size_t index, std::optional<Run> run, std::exception_ptr error) override {
    push(Event{index, true, 0, std::move(run), std::move(error)});
  }

  /// The events so far; with `block`, first waits for one (or for the cancellation).
  std::deque<Event> take(bool block) {
    std::unique_lock<std::mutex> lock(wake_->mutex);
    if (block) {
      wake_->cv.wait(lock, [&] { return !events_.empty() || wake_->cancelled.load(); });
    }
    std::deque<Event> events;
    events.swap(events_);
    return events;
  }

 private:
  void push(Event event) {
    {
      std::lock_guard<std::mutex> lock(wake_->mutex);
      events_.push_back(std::move(event));
    }
    wake_->cv.notify_all();
  }

  std::shared_ptr<detail::CancellationState> wake_;
  std::deque<Event> events_;  // guarded by wake_->mutex
};

}  // namespace

std::size_t Client::Impl::batch_in_flight_limit(const BatchOptions& options) const {
  if (options.max_in_flight > 0) return static_cast<std::size_t>(options.max_in_flight);
  if (rate_limit_.requests <= 0 || rate_limit_.per.count() <= 0) {
    return std::numeric_limits<std::size_t>::max();
  }
  // Enough runs in flight that the budget never idles: a window's worth of creates, plus those
  // created while earlier ones run (each run lasts about `expected`). Fewer would leave requests
  // unused; many more would only delay every run's first poll behind creates.
  const double requests = static_cast<double>(rate_limit_.requests);
  const double expected = static_cast<double>(scheduler_->expected_duration().count());
  const double window = static_cast<double>(rate_limit_.per.count());
  return static_cast<std::size_t>(requests + std::ceil(requests * expected / window));
}

std::future<Run> Client::Impl::generate_async(const GptImage1Input& input, WaitOptions options) {
  auto sink = std::make_shared<AsyncSink>(options.on_update);
  std::future<Run> future = sink->future();
  std::string body;
  try {
    input.validate();
    body = detail::encode_create_request(input);
  } catch (...) {
    sink->finish(0, std::nullopt, std::current_exception());
    return future;
  }
  const time_point started = clock_->now();
  const auto deadline = deadline_after(options.timeout);
  // The create runs on the Scheduler's worker, ahead of any poll; then the run is watched.
  scheduler_->submit([this, sink, body = std::move(body), options = std::move(options), started,
                      deadline](bool run) mutable {
    if (!run) {
      sink->finish(0, std::nullopt,
                   std::make_exception_ptr(CancelledError(
                       "The Client was destroyed before the run was created; nothing was sent.")));
      return;
    }
    if (options.cancel != nullptr && options.cancel->cancelled()) {
      sink->finish(0, std::nullopt,
                   std::make_exception_ptr(
                       CancelledError("Cancelled before the run was created; nothing was sent.")));
      return;
    }
    if (deadline && clock_->now() >= *deadline) {
      sink->finish(0, std::nullopt,
                   std::make_exception_ptr(TimeoutError(
                       "WaitOptions::timeout passed before the run could be created; nothing "
                       "was sent.")));
      return;
    }
    Run created;
    try {
      created = create_run(std::move(body), GptImage1Input::model_id, deadline);
    } catch (...) {
      sink->finish(0, std::nullopt, std::current_exception());
      return;
    }
    sink->update(0, 0, created);
    if (created.status == RunStatus::Succeeded) {
      sink->finish(0, std::move(created), nullptr);
      return;
    }
    if (created.status == RunStatus::Failed) {
      sink->finish(0, std::nullopt, std::make_exception_ptr(RunFailedError(std::move(created))));
      return;
    }
    detail::Scheduler::Watch watch;
    watch.run_id = created.id;
    watch.poll_interval = options.poll_interval;
    watch.max_poll_interval = options.max_poll_interval;
    watch.deadline = deadline;
    watch.started = started;
    watch.created_at = clock_->now();
    watch.last_status = created.status_text;
    watch.cancel = options.cancel;
    scheduler_->watch(std::move(watch), sink, 0);
  });
  return future;
}

std::vector<BatchResult> Client::Impl::generate_batch(const std::vector<GptImage1Input>& inputs,
                                                      const BatchOptions& options) {
  const std::size_t total = inputs.size();
  std::vector<BatchResult> results(total);
  if (total == 0) return results;
  std::optional<detail::BatchJournal> journal;
  if (!options.journal.empty()) journal.emplace(options.journal);

  const WaitOptions& wait = options.wait;
  const CancellationToken* cancel = wait.cancel;
  auto inbox = std::make_shared<BatchInbox>(cancel);

  enum class State { NotStarted, Active, Done };
  struct Item {
    State state = State::NotStarted;
    detail::Scheduler::WatchId watch = 0;
    std::string run_id;
    std::uint64_t seq = 0;
  };
  std::vector<Item> items(total);
  std::size_t next = 0;    // the next item to start
  std::size_t done = 0;    // items finished, either way
  std::size_t active = 0;  // items created (or resumed) and not finished
  std::exception_ptr repeat_error;

  // If a callback throws, the batch ends there: stop watching what it left running.
  struct StopWatches {
    detail::Scheduler& scheduler;
    std::vector<Item>& items;
    ~StopWatches() {
      for (const Item& item : items) {
        if (item.state == State::Active && item.watch != 0) scheduler.unwatch(item.watch);
      }
    }
  } stop_watches{*scheduler_, items};

  const auto finish_item = [&](std::size_t index, std::optional<Run> run,
                               std::exception_ptr error) {
    Item& item = items[index];
    if (item.state == State::Active) --active;
    item.state = State::Done;
    if (run) {
      results[index].run = std::move(run);
    } else {
      results[index].error = std::move(error);
    }
    ++done;
    if (options.on_progress) options.on_progress(done, total);
  };

  const auto handle = [&](BatchInbox::Event& event) {
    Item& item = items[event.index];
    if (item.state != State::Active) return;  // already ended here (cancelled)
    if (event.final) {
      item.watch = 0;
      finish_item(event.index, std::move(event.run), std::move(event.error));
      return;
    }
    if (event.seq <= item.seq) return;  // stale
    item.seq = event.seq;
    if (wait.on_update) wait.on_update(*event.run);
  };

  const auto start_watch = [&](std::size_t index, std::string run_id, time_point started,
                               std::optional<time_point> deadline, bool created,
                               std::string last_status) {
    Item& item = items[index];
    item.run_id = run_id;
    item.state = State::Active;
    ++active;
    detail::Scheduler::Watch spec;
    spec.run_id = std::move(run_id);
    spec.poll_interval = wait.poll_interval;
    spec.max_poll_interval = wait.max_poll_interval;
    spec.deadline = deadline;
    spec.started = started;
    if (created) spec.created_at = clock_->now();
    spec.last_status = std::move(last_status);
    // The batch's token is watched here, by this thread: the timer need not look at it.
    item.watch = scheduler_->watch(std::move(spec), inbox, index);
  };

  const auto start_item = [&](std::size_t index) {
    const time_point started = clock_->now();
    const auto deadline = deadline_after(wait.timeout);
    std::string body;
    try {
      inputs[index].validate();
      body = detail::encode_create_request(inputs[index]);
    } catch (...) {
      finish_item(index, std::nullopt, std::current_exception());
      return;
    }
    std::string digest;
    if (journal) {
      digest = detail::input_digest(body);
      if (std::optional<std::string> recorded = journal->find(index, digest)) {
        // Made (and paid for) by an earlier run of this batch: wait for it, never create again.
        start_watch(index, std::move(*recorded), started, deadline, false, std::string());
        return;
      }
    }
    if (repeat_error) {
      finish_item(index, std::nullopt, repeat_error);
      return;
    }
    Run created;
    try {
      created = create_run(std::move(body), GptImage1Input::model_id);
    } catch (...) {
      std::exception_ptr error = std::current_exception();
      if (repeats_for_every_create(error)) repeat_error = error;
      finish_item(index, std::nullopt, std::move(error));
      return;
    }
    // On record before anything waits on it: a batch that dies here can still be resumed.
    if (journal) journal->record(index, digest, created.id);
    if (wait.on_update) wait.on_update(created);
    if (created.status == RunStatus::Succeeded) {
      finish_item(index, std::move(created), nullptr);
    } else if (created.status == RunStatus::Failed) {
      finish_item(index, std::nullopt, std::make_exception_ptr(RunFailedError(std::move(created))));
    } else {
      const std::string status = created.status_text;
      start_watch(index, std::move(created.id), started, deadline, true, status);
    }
  };

  while (done < total) {
    for (BatchInbox::Event& event : inbox->take(false)) handle(event);
    if (done >= total) break;
    if (cancel != nullptr && cancel->cancelled()) {
      for (std::size_t index = 0; index < total; ++index) {
        Item& item = items[index];
        if (item.state == State::Active) {
          scheduler_->unwatch(item.watch);
          item.watch = 0;
          finish_item(index, std::nullopt,
                      std::make_exception_ptr(detail::wait_cancelled_error(item.run_id)));
        } else if (item.state == State::NotStarted) {
          finish_item(index, std::nullopt,
                      std::make_exception_ptr(CancelledError(
                          "The batch was cancelled before item " + std::to_string(index) +
                          " was created; nothing was sent for it.")));
        }
      }
      break;
    }
    if (next < total && active < batch_in_flight_limit(options)) {
      start_item(next++);
      continue;
    }
    for (BatchInbox::Event& event : inbox->take(true)) handle(event);
  }
  return results;
}

// By value, as API.md declares it: the future outlives the caller's objects.
std::future<Run> Client::generate_async(
    GptImage1Input input,  // NOLINT(performance-unnecessary-value-param)
    WaitOptions options) {
  return impl_->generate_async(input, std::move(options));
}

std::vector<BatchResult> Client::generate_batch(const std::vector<GptImage1Input>& inputs,
                                                const BatchOptions& options) {
  return impl_->generate_batch(inputs, options);
}

}  // namespace runbase
