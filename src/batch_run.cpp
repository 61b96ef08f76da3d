#include "batch_run.hpp"

#include <cmath>
#include <limits>
#include <utility>

#include "create_request.hpp"
#include "runbase/errors.hpp"
#include "sync_wait.hpp"

namespace runbase::detail {

namespace {

using std::chrono::milliseconds;
using time_point = Clock::time_point;

// A create error that every later create of the batch would get too: the key, the balance, the
// quota or the spend limit. The items not yet created get it without sending anything.
bool repeats_for_every_create(const std::exception_ptr& error) {
  return holds<AuthenticationError>(error) || holds<PermissionDeniedError>(error) ||
         holds<InsufficientCreditsError>(error) || holds<UsageExceededError>(error) ||
         holds<ValidationError>(error);
}

}  // namespace

std::size_t batch_in_flight_limit(int max_in_flight, const RateLimit& rate_limit,
                                  milliseconds expected) {
  if (max_in_flight > 0) return static_cast<std::size_t>(max_in_flight);
  if (rate_limit.requests <= 0 || rate_limit.per.count() <= 0) {
    return std::numeric_limits<std::size_t>::max();
  }
  // Enough runs in flight that the budget never idles: a window's worth of creates, plus those
  // created while earlier ones run (each run lasts about `expected`). Fewer would leave requests
  // unused; many more would only delay every run's first poll behind creates.
  const double requests = static_cast<double>(rate_limit.requests);
  const double expected_ms = static_cast<double>(expected.count());
  const double window = static_cast<double>(rate_limit.per.count());
  return static_cast<std::size_t>(requests + std::ceil(requests * expected_ms / window));
}

BatchRun::BatchRun(ApiCaller& api, Scheduler& scheduler, CreateAsync create,
                   const std::vector<ModelInput>& inputs, const BatchOptions& options)
    : api_(api),
      scheduler_(scheduler),
      create_(std::move(create)),
      clock_(scheduler.clock()),
      inputs_(inputs),
      options_(options),
      total_(inputs.size()),
      results_(total_),
      items_(total_) {}

BatchRun::~BatchRun() {
  for (const Item& item : items_) {
    if (item.state == State::Active && item.watch != 0) scheduler_.unwatch(item.watch);
  }
}

std::vector<BatchResult> BatchRun::run() {
  if (total_ == 0) return std::move(results_);
  const CancellationToken* cancel = options_.wait.cancel;
  inbox_ = std::make_shared<BatchInbox>(cancel);

  while (done_ < total_) {
    for (BatchInbox::Event& event : inbox_->take(false)) handle(event);
    if (done_ >= total_) break;
    if (cancel != nullptr && cancel->cancelled() && !cancelled_) cancel_all();
    if (cancelled_) {
      // Creates already sent end first, so that every run made is reported with its id.
      if (creating_ == 0) break;
      for (BatchInbox::Event& event : inbox_->take(true, false)) handle(event);
      continue;
    }
    // Asked each time: the estimate of how long runs take moves as runs finish, and before
    // any has, as the oldest goes on running. With models mixed, the next item's model sets
    // how many may be in flight.
    const milliseconds unfinished_for =
        active_since_.empty()
            ? milliseconds(0)
            : std::chrono::duration_cast<milliseconds>(clock_.now() - *active_since_.begin());
    if (next_ < total_ &&
        active_ + creating_ < batch_in_flight_limit(options_.max_in_flight, api_.rate_limit(),
                                                    scheduler_.expected_duration(
                                                        inputs_[next_].model(), unfinished_for))) {
      start_item(next_++);
      continue;
    }
    for (BatchInbox::Event& event : inbox_->take(true)) handle(event);
  }
  return std::move(results_);
}

void BatchRun::finish_item(std::size_t index, std::optional<Run> run, std::exception_ptr error) {
  Item& item = items_[index];
  if (item.state == State::Active) {
    --active_;
    active_since_.erase(active_since_.find(item.created));
  }
  item.state = State::Done;
  if (run) {
    results_[index].run = std::move(run);
  } else {
    results_[index].error = std::move(error);
  }
  ++done_;
  if (options_.on_progress) options_.on_progress(done_, total_);
}

void BatchRun::handle(BatchInbox::Event& event) {
  Item& item = items_[event.index];
  if (event.created) {
    on_created(event.index, std::move(event.run), std::move(event.error));
    return;
  }
  if (item.state != State::Active) return;  // already ended here (cancelled)
  if (event.final) {
    item.watch = 0;
    finish_item(event.index, std::move(event.run), std::move(event.error));
    return;
  }
  if (event.seq <= item.seq) return;  // stale
  item.seq = event.seq;
  if (options_.wait.on_update) options_.wait.on_update(*event.run);
}

void BatchRun::start_watch(std::size_t index, Run created, time_point started,
                           std::optional<time_point> deadline) {
  const WaitOptions& wait = options_.wait;
  Item& item = items_[index];
  item.run_id = created.id;
  item.state = State::Active;
  item.created = clock_.now();
  active_since_.insert(item.created);
  ++active_;
  Scheduler::Watch spec;
  spec.run_id = std::move(created.id);
  spec.model = std::move(created.model);
  spec.poll_interval = wait.poll_interval;
  spec.max_poll_interval = wait.max_poll_interval;
  spec.deadline = deadline;
  spec.started = started;
  spec.created_at = clock_.now();
  spec.last_status = std::move(created.status_text);
  // The batch's token is watched here, by this thread: the timer need not look at it.
  item.watch = scheduler_.watch(std::move(spec), inbox_, index);
}

void BatchRun::start_item(std::size_t index) {
  const WaitOptions& wait = options_.wait;
  const time_point started = clock_.now();
  const auto deadline = deadline_after(clock_, wait.timeout);
  CreateRequest request;
  try {
    request = make_create_request(inputs_[index]);
  } catch (...) {
    finish_item(index, std::nullopt, std::current_exception());
    return;
  }
  if (repeat_error_) {
    finish_item(index, std::nullopt, repeat_error_);
    return;
  }
  Item& item = items_[index];
  item.state = State::Creating;
  item.started = started;
  item.deadline = deadline;
  ++creating_;
  create_(std::move(request),
          [inbox = inbox_, index](std::optional<Run> run, std::exception_ptr error) {
            inbox->created(index, std::move(run), std::move(error));
          });
}

void BatchRun::on_created(std::size_t index, std::optional<Run> run, std::exception_ptr error) {
  Item& item = items_[index];
  --creating_;
  if (!run) {
    if (repeats_for_every_create(error)) repeat_error_ = error;
    finish_item(index, std::nullopt, std::move(error));
    return;
  }
  Run created = std::move(*run);
  if (options_.wait.on_update) options_.wait.on_update(created);
  if (cancelled_) {
    // Made while the batch was being cancelled: reported with its id, not waited on.
    finish_item(index, std::nullopt, std::make_exception_ptr(wait_cancelled_error(created.id)));
  } else if (created.status == RunStatus::Succeeded) {
    finish_item(index, std::move(created), nullptr);
  } else if (created.status == RunStatus::Failed) {
    finish_item(index, std::nullopt, std::make_exception_ptr(RunFailedError(std::move(created))));
  } else {
    start_watch(index, std::move(created), item.started, item.deadline);
  }
}

void BatchRun::cancel_all() {
  cancelled_ = true;
  for (std::size_t index = 0; index < total_; ++index) {
    Item& item = items_[index];
    if (item.state == State::Active) {
      scheduler_.unwatch(item.watch);
      item.watch = 0;
      finish_item(index, std::nullopt, std::make_exception_ptr(wait_cancelled_error(item.run_id)));
    } else if (item.state == State::NotStarted) {
      finish_item(index, std::nullopt,
                  std::make_exception_ptr(CancelledError(
                      "The batch was cancelled before item " + std::to_string(index) +
                      " was created; nothing was sent for it.")));
    }
  }
}

}  // namespace runbase::detail
