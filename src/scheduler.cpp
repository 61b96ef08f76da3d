#include "scheduler.hpp"

#include "text.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "runbase/errors.hpp"

namespace runbase::detail {

namespace {

using std::chrono::milliseconds;

// How often the timer looks at the cancellation tokens of watched waits (a token cannot wake it).
constexpr milliseconds kCancelCheck{50};
// Durations outside this are not learned from: a clock jump, or a run left for days.
constexpr milliseconds kMaxLearnedDuration{24 * 3600 * 1000};

std::string seconds_text(milliseconds duration) {
  const long long tenths = std::max<long long>(0, duration.count()) / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

bool read_digits(std::string_view text, std::size_t& at, std::size_t count, unsigned& value) {
  if (at + count > text.size()) return false;
  value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = text[at + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  at += count;
  return true;
}

bool expect_char(std::string_view text, std::size_t& at, char c) {
  if (at >= text.size() || text[at] != c) return false;
  ++at;
  return true;
}

}  // namespace

// --- DurationEstimator --------------------------------------------------------------------

void DurationEstimator::observe(milliseconds duration) {
  if (duration.count() < 0 || duration > kMaxLearnedDuration) return;
  const double x = static_cast<double>(duration.count());
  ++samples_;
  if (samples_ == 1) {
    // One run says little about the spread: assume an eighth of it until more arrive.
    mean_ms_ = x;
    deviation_ms_ = x / 8.0;
    return;
  }
  // Exact averages for the first eight runs, then moving averages that follow a change.
  const double weight = 1.0 / static_cast<double>(std::min<std::size_t>(samples_, 8));
  const double error = x - mean_ms_;
  mean_ms_ += weight * error;
  deviation_ms_ += weight * (std::abs(error) - deviation_ms_);
}

milliseconds DurationEstimator::expected() const noexcept {
  return milliseconds(static_cast<long long>(std::llround(mean_ms_ + 2.0 * deviation_ms_)));
}

milliseconds DurationEstimator::first_poll_delay(milliseconds poll_interval,
                                                 milliseconds max_poll_interval) const {
  const milliseconds low = std::max(milliseconds(1), poll_interval);
  const milliseconds high = std::max(low, max_poll_interval);
  if (samples_ == 0) return low;
  return std::clamp(expected(), low, high);
}

milliseconds next_interval(milliseconds interval, milliseconds max_interval) {
  return std::min(max_interval, interval + interval / 2);
}

std::optional<std::int64_t> parse_utc_millis(std::string_view text) {
  std::size_t at = 0;
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_digits(text, at, 4, year) || !expect_char(text, at, '-') ||
      !read_digits(text, at, 2, month) || !expect_char(text, at, '-') ||
      !read_digits(text, at, 2, day) || !expect_char(text, at, 'T') ||
      !read_digits(text, at, 2, hour) || !expect_char(text, at, ':') ||
      !read_digits(text, at, 2, minute) || !expect_char(text, at, ':') ||
      !read_digits(text, at, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::int64_t millis = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    std::int64_t scale = 100;
    const std::size_t first = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      millis += scale * (text[at] - '0');
      scale /= 10;
      ++at;
    }
    if (at == first) return std::nullopt;
  }
  const std::string_view zone = text.substr(at);
  if (zone != "Z" && zone != "+00:00" && zone != "z") return std::nullopt;
  return unix_seconds(year, month, day, hour, minute, second) * 1000 + millis;
}

std::optional<milliseconds> server_duration(const Run& run) {
  const auto created = parse_utc_millis(run.created_at);
  const auto completed = parse_utc_millis(run.completed_at);
  if (!created || !completed || *completed < *created) return std::nullopt;
  return milliseconds(*completed - *created);
}

TimeoutError wait_timeout_error(const std::string& run_id, const std::string& last_status,
                                milliseconds waited) {
  const std::string state =
      last_status.empty() ? std::string("not finished") : "still " + last_status;
  return TimeoutError("Run " + run_id + " is " + state + " after " + seconds_text(waited) +
                          " (WaitOptions::timeout). It keeps running and is billed; call "
                          "Client::wait(\"" +
                          run_id + "\") to wait for it again.",
                      false, run_id);
}

CancelledError wait_cancelled_error(const std::string& run_id) {
  return CancelledError("Stopped waiting for run " + run_id +
                            ": cancelled. The run goes on and is billed; call Client::wait(\"" +
                            run_id + "\") to wait for it again.",
                        run_id);
}

TimeoutError wait_request_timeout(const TimeoutError& error, const std::string& run_id) {
  if (!error.run_id().empty()) return error;
  return TimeoutError(std::string(error.what()) + " Stopped waiting for run " + run_id +
                          ": it keeps running and is billed; call Client::wait(\"" + run_id +
                          "\") to wait for it again.",
                      error.outcome_unknown(), run_id);
}

WaitSink::~WaitSink() = default;

// --- Scheduler ----------------------------------------------------------------------------

/// One `GET /runs/<id>` in flight, and whoever waits for its answer.
struct Scheduler::Flight {
  time_point started{};
  bool by_worker = false;
  std::atomic<bool> done{false};
  // Written before `done` is set, read only after it is.
  std::optional<Run> run;
  std::exception_ptr error;
  bool deferred = false;  // the worker's poll failed and will be retried later (RetryLater)
  std::vector<std::shared_ptr<CancellationState>> watchers;  // sync waits joined; under mutex_
};

Scheduler::Scheduler(std::shared_ptr<Clock> clock, GetRun get_run)
    : clock_(std::move(clock)), get_run_(std::move(get_run)) {}

Scheduler::~Scheduler() {
  Deliveries out;
  std::deque<std::function<void(bool)>> jobs;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    stop_.cancel();
    for (auto& [run_id, entry] : entries_) {
      for (Watcher& watcher : entry.watchers) {
        end_watcher(watcher, std::nullopt,
                    std::make_exception_ptr(CancelledError(
                        "Stopped waiting for run " + run_id +
                            ": the Client was destroyed. The run goes on and is billed; wait for "
                            "it again with another Client.",
                        run_id)),
                    out);
      }
      entry.watchers.clear();
    }
    jobs.swap(jobs_);
    wake_timer();
    worker_cv_.notify_all();
  }
  if (timer_.joinable()) timer_.join();
  if (worker_.joinable()) worker_.join();
  for (auto& job : jobs) {
    try {
      job(false);
    } catch (...) {
    }
  }
  deliver(out);
}

milliseconds Scheduler::first_poll_delay(milliseconds poll_interval,
                                         milliseconds max_poll_interval) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return estimator_.first_poll_delay(poll_interval, max_poll_interval);
}

milliseconds Scheduler::expected_duration() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return estimator_.expected();
}

// --- sync waits ---------------------------------------------------------------------------

Scheduler::Attachment::Attachment(Scheduler& scheduler, std::string run_id,
                                  std::optional<time_point> created_at)
    : scheduler_(scheduler), run_id_(std::move(run_id)) {
  std::lock_guard<std::mutex> lock(scheduler_.mutex_);
  Entry& entry = scheduler_.entries_[run_id_];
  ++entry.attachments;
  if (created_at && !entry.created_at) entry.created_at = created_at;
}

Scheduler::Attachment::~Attachment() {
  std::lock_guard<std::mutex> lock(scheduler_.mutex_);
  const auto it = scheduler_.entries_.find(run_id_);
  if (it == scheduler_.entries_.end()) return;
  --it->second.attachments;
  scheduler_.maybe_erase(run_id_);
}

Run Scheduler::poll(const Attachment& attachment, time_point fresh_since,
                    std::optional<time_point> deadline, const CancellationToken* cancel) {
  const std::string& run_id = attachment.run_id();
  std::shared_ptr<CancellationState> wake;  // what this thread sleeps on while another polls
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    Entry& entry = entries_[run_id];  // kept by the attachment
    if (entry.latest && entry.latest_at >= fresh_since) return *entry.latest;

    if (std::shared_ptr<Flight> flight = entry.flight) {
      // Join the poll in flight instead of sending another.
      if (!wake) {
        wake = cancel != nullptr ? cancel->state() : std::make_shared<CancellationState>();
      }
      flight->watchers.push_back(wake);
      lock.unlock();
      {
        std::unique_lock<std::mutex> wake_lock(wake->mutex);
        const auto ready = [&] { return flight->done.load() || wake->cancelled.load(); };
        if (deadline) {
          // The other poll's own deadline may be later than this wait's: sleep no longer.
          const auto left = *deadline - clock_->now();
          wake->cv.wait_until(wake_lock, std::chrono::steady_clock::now() + left, ready);
        } else {
          wake->cv.wait(wake_lock, ready);
        }
      }
      lock.lock();
      if (!flight->done.load()) {
        auto& watchers = flight->watchers;
        watchers.erase(std::remove(watchers.begin(), watchers.end(), wake), watchers.end());
        if (cancel != nullptr && cancel->cancelled()) {
          throw CancelledError("Cancelled while waiting for a poll of " + run_id + ".");
        }
        throw TimeoutError("The deadline passed while waiting for a poll of " + run_id + ".");
      }
      if (flight->run) return *flight->run;
      // The worker's poll will be retried after a back-off: this wait polls itself now, and
      // sleeps through its own back-offs.
      if (flight->deferred) continue;
      // Another waiter's cancellation or deadline ended that poll: poll again for this one.
      const bool theirs =
          holds<CancelledError>(flight->error) || holds<TimeoutError>(flight->error);
      if (!theirs) std::rethrow_exception(flight->error);
      if (cancel != nullptr && cancel->cancelled()) {
        throw CancelledError("Cancelled while waiting for a poll of " + run_id + ".");
      }
      continue;
    }

    std::shared_ptr<Flight> flight = start_flight(entry);
    lock.unlock();
    std::optional<Run> run;
    std::exception_ptr error;
    try {
      run = get_run_(run_id, deadline, cancel, std::nullopt);
    } catch (...) {
      error = std::current_exception();
    }
    Deliveries out;
    lock.lock();
    finish_flight(run_id, flight, run, error, out);
    auto watchers = std::move(flight->watchers);
    if (watchers.empty()) {
      flight->run.reset();
      flight->error = nullptr;
    }
    wake_timer();
    lock.unlock();
    notify_watchers(watchers);
    deliver(out);
    if (error) std::rethrow_exception(error);
    return std::move(*run);
  }
}

// --- watched waits ------------------------------------------------------------------------

Scheduler::WatchId Scheduler::watch(Watch spec, std::shared_ptr<WaitSink> sink, std::size_t tag) {
  spec.poll_interval = std::max(milliseconds(1), spec.poll_interval);
  spec.max_poll_interval = std::max(spec.poll_interval, spec.max_poll_interval);
  std::unique_lock<std::mutex> lock(mutex_);
  if (stopping_) {
    lock.unlock();
    const std::string run_id = spec.run_id;
    sink->finish(
        tag, std::nullopt,
        std::make_exception_ptr(CancelledError(
            "Stopped waiting for run " + run_id + ": the Client is being destroyed.", run_id)));
    return 0;
  }
  ensure_started();
  Watcher watcher;
  watcher.id = next_watch_id_++;
  watcher.interval = spec.poll_interval;
  watcher.first_pending = spec.created_at.has_value();
  watcher.next_due = clock_->now();
  if (spec.cancel != nullptr) ++cancellable_watchers_;
  watcher.sink = std::move(sink);
  watcher.tag = tag;
  const WatchId id = watcher.id;
  Entry& entry = entries_[spec.run_id];
  if (spec.created_at && !entry.created_at) entry.created_at = spec.created_at;
  watch_runs_.emplace(id, spec.run_id);
  watcher.spec = std::move(spec);
  entry.watchers.push_back(std::move(watcher));
  wake_timer();
  worker_cv_.notify_one();
  return id;
}

void Scheduler::unwatch(WatchId id) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = watch_runs_.find(id);
  if (found == watch_runs_.end()) return;
  const std::string run_id = found->second;
  watch_runs_.erase(found);
  const auto it = entries_.find(run_id);
  if (it == entries_.end()) return;
  auto& watchers = it->second.watchers;
  for (auto w = watchers.begin(); w != watchers.end(); ++w) {
    if (w->id != id) continue;
    if (w->spec.cancel != nullptr) --cancellable_watchers_;
    watchers.erase(w);
    break;
  }
  maybe_erase(run_id);
  wake_timer();
}

void Scheduler::submit(std::function<void(bool)> job) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (stopping_) {
    lock.unlock();
    job(false);
    return;
  }
  ensure_started();
  jobs_.push_back(std::move(job));
  worker_cv_.notify_one();
}

// --- internals (mutex_ held unless said otherwise) -----------------------------------------

Scheduler::time_point Scheduler::due(const Watcher& watcher) const {
  if (watcher.first_pending && watcher.spec.created_at) {
    return *watcher.spec.created_at +
           estimator_.first_poll_delay(watcher.spec.poll_interval, watcher.spec.max_poll_interval);
  }
  return watcher.next_due;
}

Scheduler::time_point Scheduler::poll_due(const Entry& entry, const Watcher& watcher) const {
  const time_point at = due(watcher);
  return entry.retry_at && *entry.retry_at > at ? *entry.retry_at : at;
}

std::shared_ptr<Scheduler::Flight> Scheduler::start_flight(Entry& entry) {
  auto flight = std::make_shared<Flight>();
  flight->started = clock_->now();
  entry.flight = flight;
  return flight;
}

void Scheduler::finish_flight(const std::string& run_id, const std::shared_ptr<Flight>& flight,
                              std::optional<Run> run, std::exception_ptr error, Deliveries& out) {
  flight->run = std::move(run);
  flight->error = std::move(error);
  flight->done.store(true);
  const auto it = entries_.find(run_id);
  if (it == entries_.end()) return;
  Entry& entry = it->second;
  if (entry.flight == flight) entry.flight.reset();
  if (flight->run) {
    entry.retry_attempt = 0;
    entry.retry_at.reset();
  }
  publish(entry, *flight, out);
  maybe_erase(run_id);
}

void Scheduler::defer_flight(const std::string& run_id, const std::shared_ptr<Flight>& flight,
                             const RetryLater& later) {
  flight->deferred = true;
  flight->done.store(true);
  const auto it = entries_.find(run_id);
  if (it == entries_.end()) return;
  Entry& entry = it->second;
  if (entry.flight == flight) entry.flight.reset();
  // Nothing is reported: the watchers keep waiting, and the retry is due like a poll.
  entry.retry_attempt = later.next_attempt;
  entry.retry_at = later.resume;
  maybe_erase(run_id);
}

void Scheduler::publish(Entry& entry, const Flight& flight, Deliveries& out) {
  const time_point now = clock_->now();
  if (flight.run) {
    const Run& run = *flight.run;
    const std::uint64_t seq = ++entry.seq;
    if (!entry.latest || flight.started >= entry.latest_at) {
      entry.latest = run;
      entry.latest_at = flight.started;
    }
    if (run.is_terminal()) {
      note_finished(entry, run, flight.started);
    } else {
      entry.last_unfinished_at = std::max(entry.last_unfinished_at, flight.started);
    }
    for (auto it = entry.watchers.begin(); it != entry.watchers.end();) {
      Watcher& watcher = *it;
      if (run.status_text != watcher.spec.last_status) {
        watcher.spec.last_status = run.status_text;
        out.push_back(Delivery{watcher.sink, watcher.tag, false, seq, run, nullptr});
      }
      if (run.status == RunStatus::Succeeded) {
        end_watcher(watcher, run, nullptr, out);
        it = entry.watchers.erase(it);
        continue;
      }
      if (run.status == RunStatus::Failed) {
        end_watcher(watcher, std::nullopt, std::make_exception_ptr(RunFailedError(run)), out);
        it = entry.watchers.erase(it);
        continue;
      }
      // Still running. A watcher whose poll was due has been served: its next one is an interval
      // away, the interval growing. One not yet due keeps its plan.
      if (due(watcher) <= now) {
        watcher.first_pending = false;
        watcher.next_due = now + watcher.interval;
        watcher.interval = next_interval(watcher.interval, watcher.spec.max_poll_interval);
      }
      ++it;
    }
    return;
  }
  // An error. A sync waiter's own cancellation or deadline, or the shutdown, is not the watchers'
  // concern: they keep their plan (and, being due, are polled again by the worker).
  if (holds<CancelledError>(flight.error)) return;
  if (!flight.by_worker && holds<TimeoutError>(flight.error)) return;
  const bool timeout = holds<TimeoutError>(flight.error);
  for (Watcher& watcher : entry.watchers) {
    std::exception_ptr error = flight.error;
    if (timeout) {
      const bool past = watcher.spec.deadline && now >= *watcher.spec.deadline;
      try {
        std::rethrow_exception(flight.error);
      } catch (const TimeoutError& e) {
        error = std::make_exception_ptr(
            past ? wait_timeout_error(
                       watcher.spec.run_id, watcher.spec.last_status,
                       std::chrono::duration_cast<milliseconds>(now - watcher.spec.started))
                 : wait_request_timeout(e, watcher.spec.run_id));
      }
    }
    end_watcher(watcher, std::nullopt, std::move(error), out);
  }
  entry.watchers.clear();
}

void Scheduler::note_finished(Entry& entry, const Run& run, time_point observed_at) {
  if (entry.finish_seen) return;
  entry.finish_seen = true;
  if (run.status != RunStatus::Succeeded) return;  // a failure may come at any time
  std::optional<milliseconds> duration = server_duration(run);
  if (!duration && entry.created_at) {
    // It ended between the last poll that found it running (or its creation) and this one.
    const time_point from = std::max(*entry.created_at, entry.last_unfinished_at);
    const auto middle = from + (observed_at - from) / 2;
    duration = std::chrono::duration_cast<milliseconds>(middle - *entry.created_at);
  }
  if (!duration) return;
  estimator_.observe(*duration);
  wake_timer();  // first polls planned at the estimate may move
}

void Scheduler::maybe_erase(const std::string& run_id) {
  const auto it = entries_.find(run_id);
  if (it == entries_.end()) return;
  const Entry& entry = it->second;
  if (!entry.flight && entry.watchers.empty() && entry.attachments == 0) entries_.erase(it);
}

void Scheduler::end_watcher(Watcher& watcher, std::optional<Run> run, std::exception_ptr error,
                            Deliveries& out) {
  if (watcher.spec.cancel != nullptr) --cancellable_watchers_;
  watch_runs_.erase(watcher.id);
  out.push_back(Delivery{watcher.sink, watcher.tag, true, 0, std::move(run), std::move(error)});
}

std::exception_ptr Scheduler::timeout_error(const Watcher& watcher, time_point now) const {
  return std::make_exception_ptr(
      wait_timeout_error(watcher.spec.run_id, watcher.spec.last_status,
                         std::chrono::duration_cast<milliseconds>(now - watcher.spec.started)));
}

void Scheduler::ensure_started() {
  if (started_) return;
  started_ = true;
  timer_ = std::thread([this] { timer_loop(); });
  worker_ = std::thread([this] { worker_loop(); });
}

void Scheduler::wake_timer() {
  if (timer_waker_) timer_waker_->cancel();
  timer_cv_.notify_one();
}

void Scheduler::timer_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    const time_point now = clock_->now();
    Deliveries out;
    std::optional<time_point> next;
    const auto sooner = [&next](time_point at) {
      if (!next || at < *next) next = at;
    };
    bool due_now = false;
    std::vector<std::string> emptied;
    for (auto& [run_id, entry] : entries_) {
      auto& watchers = entry.watchers;
      for (auto it = watchers.begin(); it != watchers.end();) {
        Watcher& watcher = *it;
        if (watcher.spec.cancel != nullptr && watcher.spec.cancel->cancelled()) {
          end_watcher(watcher, std::nullopt, std::make_exception_ptr(wait_cancelled_error(run_id)),
                      out);
          it = watchers.erase(it);
          continue;
        }
        if (watcher.spec.deadline && now >= *watcher.spec.deadline) {
          end_watcher(watcher, std::nullopt, timeout_error(watcher, now), out);
          it = watchers.erase(it);
          continue;
        }
        if (watcher.spec.deadline) sooner(*watcher.spec.deadline);
        if (!entry.flight) {
          const time_point at = poll_due(entry, watcher);
          if (at <= now) {
            due_now = true;
          } else {
            sooner(at);
          }
        }
        ++it;
      }
      if (watchers.empty()) emptied.push_back(run_id);
    }
    for (const std::string& run_id : emptied) maybe_erase(run_id);
    if (cancellable_watchers_ > 0) sooner(now + kCancelCheck);
    if (due_now) worker_cv_.notify_one();
    if (!out.empty()) {
      lock.unlock();
      deliver(out);
      lock.lock();
      continue;
    }
    if (!next) {
      timer_cv_.wait(lock);
      continue;
    }
    // A fresh token per sleep: wake_timer() cancels it to end this sleep early.
    auto waker = std::make_shared<CancellationToken>();
    timer_waker_ = waker;
    lock.unlock();
    clock_->sleep_until(*next, waker.get());
    lock.lock();
    if (timer_waker_ == waker) timer_waker_.reset();
  }
}

void Scheduler::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (stopping_) return;
    if (!jobs_.empty()) {
      std::function<void(bool)> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      try {
        job(true);
      } catch (...) {
        // Jobs report their own failures; one that throws must not stop the worker.
      }
      lock.lock();
      continue;
    }
    // The most overdue run that no one is polling yet.
    const time_point now = clock_->now();
    const std::string* best = nullptr;
    time_point best_due{};
    for (const auto& [run_id, entry] : entries_) {
      if (entry.flight || entry.watchers.empty()) continue;
      time_point at = poll_due(entry, entry.watchers.front());
      for (const Watcher& watcher : entry.watchers) at = std::min(at, poll_due(entry, watcher));
      if (at <= now && (best == nullptr || at < best_due)) {
        best = &run_id;
        best_due = at;
      }
    }
    if (best == nullptr) {
      worker_cv_.wait(lock);
      continue;
    }
    const std::string run_id = *best;
    Entry& entry = entries_[run_id];
    // One request serves every watcher: it may run until the last of their deadlines.
    std::optional<time_point> deadline;
    bool unbounded = false;
    for (const Watcher& watcher : entry.watchers) {
      if (!watcher.spec.deadline) {
        unbounded = true;
      } else if (!deadline || *watcher.spec.deadline > *deadline) {
        deadline = watcher.spec.deadline;
      }
    }
    if (unbounded) deadline.reset();
    const int attempt = entry.retry_attempt;
    std::shared_ptr<Flight> flight = start_flight(entry);
    flight->by_worker = true;
    lock.unlock();
    std::optional<Run> run;
    std::exception_ptr error;
    std::optional<RetryLater> later;
    try {
      run = get_run_(run_id, deadline, &stop_, attempt);
    } catch (const RetryLater& retry) {
      later = retry;
    } catch (...) {
      error = std::current_exception();
    }
    Deliveries out;
    lock.lock();
    if (later) {
      defer_flight(run_id, flight, *later);
    } else {
      finish_flight(run_id, flight, std::move(run), std::move(error), out);
    }
    auto watchers = std::move(flight->watchers);
    if (watchers.empty()) {
      // No sync wait joined: the deliveries hold the only copies the receivers need.
      flight->run.reset();
      flight->error = nullptr;
    }
    wake_timer();
    lock.unlock();
    notify_watchers(watchers);
    deliver(out);
    lock.lock();
  }
}

void Scheduler::deliver(Deliveries& deliveries) {
  for (Delivery& delivery : deliveries) {
    try {
      // Moved, never copied: the receiving thread must hold the last reference to an error, as
      // exception objects are reference-counted where ThreadSanitizer cannot see it.
      if (delivery.final) {
        delivery.sink->finish(delivery.tag, std::move(delivery.run), std::move(delivery.error));
      } else {
        delivery.sink->update(delivery.tag, delivery.seq, *delivery.run);
      }
    } catch (...) {
      // A sink reports to its owner; a failure there must not break the other waits.
    }
  }
  deliveries.clear();
}

void Scheduler::notify_watchers(std::vector<std::shared_ptr<CancellationState>>& watchers) {
  for (const auto& state : watchers) {
    { std::lock_guard<std::mutex> lock(state->mutex); }
    state->cv.notify_all();
  }
  watchers.clear();
}

}  // namespace runbase::detail
