#include "scheduler.hpp"

#include "text.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "retry_decision.hpp"
#include "runbase/errors.hpp"

namespace runbase::detail {

namespace {

using std::chrono::milliseconds;

// Durations outside this are not learned from: a clock jump, or a run left for
// days.
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

// --- DurationEstimator
// --------------------------------------------------------------------

void DurationEstimator::observe(milliseconds duration) {
  if (duration.count() < 0 || duration > kMaxLearnedDuration) return;
  const double x = static_cast<double>(duration.count());
  ++samples_;
  if (samples_ == 1) {
    // One run says little about the spread: assume an eighth of it until more
    // arrive.
    mean_ms_ = x;
    deviation_ms_ = x / 8.0;
    return;
  }
  // Exact averages for the first eight runs, then moving averages that follow a
  // change.
  const double weight = 1.0 / static_cast<double>(std::min<std::size_t>(samples_, 8));
  const double error = x - mean_ms_;
  mean_ms_ += weight * error;
  deviation_ms_ += weight * (std::abs(error) - deviation_ms_);
}

milliseconds DurationEstimator::expected() const noexcept {
  return milliseconds(static_cast<long long>(std::llround(mean_ms_ + 2.0 * deviation_ms_)));
}

milliseconds DurationEstimator::expected(milliseconds unfinished_for) const noexcept {
  return samples_ == 0 ? std::max(expected(), unfinished_for) : expected();
}

PollPlan DurationEstimator::plan(milliseconds poll_interval, milliseconds max_poll_interval) const {
  const milliseconds low = std::max(milliseconds(1), poll_interval);
  const milliseconds high = std::max(low, max_poll_interval);
  if (samples_ == 0) {
    const milliseconds first = std::clamp(kPrior / 4, low, high);
    return PollPlan{first, next_interval(first, high)};
  }
  // Polling before the usual finish only spends the rate budget; max_poll_interval bounds how
  // late a run that takes the usual time is seen, not when the first poll may come.
  const auto mean = milliseconds(std::llround(mean_ms_));
  const milliseconds first = std::max(low, std::min(expected(), mean + high));
  return PollPlan{first, next_interval(low, high)};
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
                                milliseconds waited, const std::string& failing) {
  const std::string state =
      last_status.empty() ? std::string("not finished") : "still " + last_status;
  const std::string polls = failing.empty() ? std::string() : " Its polls were failing: " + failing;
  return TimeoutError("Run " + run_id + " is " + state + " after " + seconds_text(waited) +
                          " (WaitOptions::timeout)." + polls +
                          " It keeps running and is billed; call Client::wait(\"" + run_id +
                          "\") to wait for it again.",
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

std::exception_ptr wait_ending_error(const std::exception_ptr& failure, const std::string& run_id) {
  const auto stopped = [&](const std::exception& e) {
    return std::string(e.what()) + " Stopped waiting for run " + run_id +
           ": it keeps running and is billed; call Client::wait(\"" + run_id +
           "\") to wait for it again.";
  };
  try {
    std::rethrow_exception(failure);
  } catch (const TimeoutError& e) {
    return std::make_exception_ptr(wait_request_timeout(e, run_id));
  } catch (const ConnectionError& e) {
    return std::make_exception_ptr(ConnectionError(stopped(e), e.outcome_unknown()));
  } catch (const ProtocolError& e) {
    return std::make_exception_ptr(ProtocolError(stopped(e), e.outcome_unknown()));
  } catch (...) {
    return failure;
  }
}

std::string what_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an unknown error";
  }
}

WaitSink::~WaitSink() = default;

// --- Scheduler
// ----------------------------------------------------------------------------

/// One `GET /runs/<id>` in flight, and whoever waits for its answer.
struct Scheduler::Flight {
  time_point started{};
  bool by_loop = false;
  std::atomic<bool> done{false};
  // Written before `done` is set, read only after it is.
  std::optional<Run> run;
  std::exception_ptr error;
  std::vector<std::shared_ptr<CancellationState>> watchers;  // sync waits joined; under mutex_
};

Scheduler::Scheduler(std::shared_ptr<Clock> clock, EventLoop& loop, GetRun get_run,
                     StartGetRun start_get_run)
    : clock_(std::move(clock)),
      loop_(loop),
      get_run_(std::move(get_run)),
      start_get_run_(std::move(start_get_run)) {}

Scheduler::~Scheduler() {
  Deliveries out;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    for (auto& [run_id, entry] : entries_) {
      for (Watcher& watcher : entry.watchers) {
        end_watcher(watcher, std::nullopt,
                    std::make_exception_ptr(
                        CancelledError("Stopped waiting for run " + run_id +
                                           ": the Client was destroyed. The run goes on and "
                                           "is billed; wait for "
                                           "it again with another Client.",
                                       run_id)),
                    out);
      }
      entry.watchers.clear();
    }
  }
  deliver(out);
}

PollPlan Scheduler::poll_plan(const std::string& model, milliseconds poll_interval,
                              milliseconds max_poll_interval) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return estimator(model).plan(poll_interval, max_poll_interval);
}

milliseconds Scheduler::expected_duration(const std::string& model,
                                          milliseconds unfinished_for) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return estimator(model).expected(unfinished_for);
}

std::size_t Scheduler::watching() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return watch_runs_.size();
}

// --- sync waits
// ---------------------------------------------------------------------------

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
          // The other poll's own deadline may be later than this wait's: sleep
          // no longer.
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
      // Another waiter's cancellation or deadline (or the loop stopping) ended
      // that poll: poll again for this one.
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
      run = get_run_(run_id, deadline, cancel);
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
    const bool watched = entries_.count(run_id) != 0 && !entries_[run_id].watchers.empty();
    lock.unlock();
    // The loop's watchers of this run have new plans (or ended): its timers
    // follow them.
    if (watched) loop_.post([this, run_id] { arm_entry(run_id); });
    notify_watchers(watchers);
    deliver(out);
    if (error) std::rethrow_exception(error);
    return std::move(*run);
  }
}

// --- watched waits
// ------------------------------------------------------------------------

Scheduler::WatchId Scheduler::watch(Watch spec, std::shared_ptr<WaitSink> sink, std::size_t tag) {
  spec.poll_interval = std::max(milliseconds(1), spec.poll_interval);
  spec.max_poll_interval = std::max(spec.poll_interval, spec.max_poll_interval);
  std::unique_lock<std::mutex> lock(mutex_);
  if (stopping_ || loop_.stopping()) {
    lock.unlock();
    const std::string run_id = spec.run_id;
    sink->finish(
        tag, std::nullopt,
        std::make_exception_ptr(CancelledError(
            "Stopped waiting for run " + run_id + ": the Client is being destroyed.", run_id)));
    return 0;
  }
  Watcher watcher;
  watcher.id = next_watch_id_++;
  watcher.interval = spec.poll_interval;
  watcher.first_pending = spec.created_at.has_value();
  watcher.next_due = clock_->now();
  watcher.sink = std::move(sink);
  watcher.tag = tag;
  const WatchId id = watcher.id;
  if (watcher.first_pending) first_pending_.insert(id);
  Entry& entry = entries_[spec.run_id];
  if (spec.created_at && !entry.created_at) entry.created_at = spec.created_at;
  watch_runs_.emplace(id, spec.run_id);
  const CancellationToken* cancel = spec.cancel;
  watcher.spec = std::move(spec);
  if (cancel != nullptr) watcher.cancel_state = cancel->state();
  std::shared_ptr<CancellationState> cancel_state = watcher.cancel_state;
  entry.watchers.push_back(std::move(watcher));
  lock.unlock();

  loop_.post([this, id] { arm(id); });
  if (cancel_state) {
    // The token wakes the loop at once; the listener is removed when the
    // watcher ends.
    const std::uint64_t listener =
        cancel_state->listen([this, id] { loop_.post([this, id] { on_cancelled(id); }); });
    lock.lock();
    Entry* owner = nullptr;
    if (Watcher* watching = find_watcher(id, &owner)) {
      watching->cancel_listener = listener;
    } else {
      lock.unlock();
      cancel_state->unlisten(listener);  // it ended meanwhile
    }
  }
  return id;
}

void Scheduler::unwatch(WatchId id) {
  std::shared_ptr<CancellationState> cancel_state;
  std::uint64_t listener = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = watch_runs_.find(id);
    if (found == watch_runs_.end()) return;
    const std::string run_id = found->second;
    watch_runs_.erase(found);
    first_pending_.erase(id);
    const auto it = entries_.find(run_id);
    if (it == entries_.end()) return;
    auto& watchers = it->second.watchers;
    for (auto w = watchers.begin(); w != watchers.end(); ++w) {
      if (w->id != id) continue;
      cancel_state = std::move(w->cancel_state);
      listener = w->cancel_listener;
      watchers.erase(w);
      break;
    }
    maybe_erase(run_id);
  }
  if (cancel_state) cancel_state->unlisten(listener);
}

// --- internals (mutex_ held unless said otherwise)
// -----------------------------------------

const DurationEstimator& Scheduler::estimator(const std::string& model) const {
  static const DurationEstimator kCold;
  const auto it = estimators_.find(model);
  return it == estimators_.end() ? kCold : it->second;
}

Scheduler::time_point Scheduler::due(const Watcher& watcher) const {
  if (watcher.first_pending && watcher.spec.created_at) {
    return *watcher.spec.created_at +
           estimator(watcher.spec.model)
               .plan(watcher.spec.poll_interval, watcher.spec.max_poll_interval)
               .first;
  }
  return watcher.next_due;
}

Scheduler::Watcher* Scheduler::find_watcher(WatchId id, Entry** entry) {
  const auto found = watch_runs_.find(id);
  if (found == watch_runs_.end()) return nullptr;
  const auto it = entries_.find(found->second);
  if (it == entries_.end()) return nullptr;
  for (Watcher& watcher : it->second.watchers) {
    if (watcher.id == id) {
      *entry = &it->second;
      return &watcher;
    }
  }
  return nullptr;
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
  publish(entry, *flight, out);
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
      watcher.failing_since.reset();
      watcher.failing.clear();
      if (run.status_text != watcher.spec.last_status) {
        watcher.spec.last_status = run.status_text;
        out.push_back(Delivery{watcher.sink, watcher.tag, false, seq, run, nullptr, nullptr, 0});
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
      // Still running. A watcher whose poll was due has been served: its next
      // one is an interval away, the interval growing. One not yet due keeps
      // its plan.
      if (due(watcher) <= now) {
        leave_first_poll(watcher);
        watcher.next_due = now + watcher.interval;
        watcher.interval = next_interval(watcher.interval, watcher.spec.max_poll_interval);
      }
      ++it;
    }
    return;
  }
  // An error. A sync waiter's own cancellation or deadline, or the shutdown, is
  // not the watchers' concern: they keep their plan (and, being due, are polled
  // again by the loop).
  if (holds<CancelledError>(flight.error)) return;
  if (!flight.by_loop && holds<TimeoutError>(flight.error)) return;
  const PollFailure failure = classify_poll_failure(flight.error);
  const bool transient = failure.transient;
  for (auto it = entry.watchers.begin(); it != entry.watchers.end();) {
    Watcher& watcher = *it;
    if (due(watcher) > now) {  // not its poll: its plan stands
      ++it;
      continue;
    }
    if (!watcher.failing_since) watcher.failing_since = now;
    leave_first_poll(watcher);
    const std::optional<time_point> again = repoll_at(PollFailureFacts{
        failure, now, watcher.spec.deadline, *watcher.failing_since, watcher.interval});
    if (transient) watcher.failing = what_of(flight.error);
    if (again) {
      // A blip: polled again on the wait's pace, as if the run were found running.
      watcher.next_due = *again;
      watcher.interval = next_interval(watcher.interval, watcher.spec.max_poll_interval);
      ++it;
      continue;
    }
    const bool past = watcher.spec.deadline && now >= *watcher.spec.deadline;
    end_watcher(watcher, std::nullopt,
                past && transient ? timeout_error(watcher, now)
                                  : wait_ending_error(flight.error, watcher.spec.run_id),
                out);
    it = entry.watchers.erase(it);
  }
}

void Scheduler::note_finished(Entry& entry, const Run& run, time_point observed_at) {
  if (entry.finish_seen) return;
  entry.finish_seen = true;
  if (run.status != RunStatus::Succeeded) return;  // a failure may come at any time
  std::optional<milliseconds> duration = server_duration(run);
  if (!duration && entry.created_at) {
    // It ended between the last poll that found it running (or its creation)
    // and this one.
    const time_point from = std::max(*entry.created_at, entry.last_unfinished_at);
    const auto middle = from + (observed_at - from) / 2;
    duration = std::chrono::duration_cast<milliseconds>(middle - *entry.created_at);
  }
  if (!duration) return;
  DurationEstimator& learned = estimators_[run.model];
  const milliseconds before = learned.expected();
  const std::size_t samples = learned.samples();
  learned.observe(*duration);
  // First polls planned at the estimate may now be due sooner: their timers
  // follow. (Later is noticed when a timer fires.)
  if (!first_pending_.empty() && (samples == 0 || learned.expected() < before)) {
    std::vector<WatchId> ids(first_pending_.begin(), first_pending_.end());
    loop_.post([this, ids = std::move(ids)] {
      for (WatchId id : ids) arm(id);
    });
  }
}

void Scheduler::maybe_erase(const std::string& run_id) {
  const auto it = entries_.find(run_id);
  if (it == entries_.end()) return;
  const Entry& entry = it->second;
  if (!entry.flight && entry.watchers.empty() && entry.attachments == 0) entries_.erase(it);
}

void Scheduler::leave_first_poll(Watcher& watcher) {
  if (!watcher.first_pending) return;
  first_pending_.erase(watcher.id);
  watcher.first_pending = false;
  watcher.interval = estimator(watcher.spec.model)
                         .plan(watcher.spec.poll_interval, watcher.spec.max_poll_interval)
                         .gap;
}

void Scheduler::end_watcher(Watcher& watcher, std::optional<Run> run, std::exception_ptr error,
                            Deliveries& out) {
  watch_runs_.erase(watcher.id);
  first_pending_.erase(watcher.id);
  out.push_back(Delivery{watcher.sink, watcher.tag, true, 0, std::move(run), std::move(error),
                         std::move(watcher.cancel_state), watcher.cancel_listener});
}

std::exception_ptr Scheduler::timeout_error(const Watcher& watcher, time_point now) const {
  return std::make_exception_ptr(wait_timeout_error(
      watcher.spec.run_id, watcher.spec.last_status,
      std::chrono::duration_cast<milliseconds>(now - watcher.spec.started), watcher.failing));
}

// --- the loop's side
// ----------------------------------------------------------------------

void Scheduler::arm(WatchId id) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry* entry = nullptr;
  Watcher* watcher = find_watcher(id, &entry);
  if (watcher == nullptr) return;
  if (!watcher->armed_at && watcher->spec.deadline) {
    // The first arming: the deadline is a timer of its own.
    loop_.at(*watcher->spec.deadline, [this, id] { on_deadline(id); });
  }
  arm_locked(*watcher);
}

void Scheduler::arm_entry(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = entries_.find(run_id);
  if (it == entries_.end()) return;
  for (Watcher& watcher : it->second.watchers) arm_locked(watcher);
}

void Scheduler::arm_locked(Watcher& watcher) {
  const time_point at = due(watcher);
  if (watcher.armed_at == at) return;  // that timer is set already
  watcher.armed_at = at;
  const WatchId id = watcher.id;
  loop_.at(at, [this, id, at] { on_due(id, at); });
}

void Scheduler::on_due(WatchId id, time_point armed_at) {
  std::unique_lock<std::mutex> lock(mutex_);
  Entry* entry = nullptr;
  Watcher* watcher = find_watcher(id, &entry);
  if (watcher == nullptr || watcher->armed_at != armed_at) return;  // ended, or re-planned
  watcher->armed_at.reset();
  if (due(*watcher) > clock_->now()) {  // the plan moved later (the estimate grew)
    arm_locked(*watcher);
    return;
  }
  if (entry->flight) return;  // a poll is running: its end re-arms every watcher of the run
  // One request serves every watcher: it may run until the last of their
  // deadlines.
  std::optional<time_point> deadline;
  bool unbounded = false;
  for (const Watcher& other : entry->watchers) {
    if (!other.spec.deadline) {
      unbounded = true;
    } else if (!deadline || *other.spec.deadline > *deadline) {
      deadline = other.spec.deadline;
    }
  }
  if (unbounded) deadline.reset();
  std::shared_ptr<Flight> flight = start_flight(*entry);
  flight->by_loop = true;
  const std::string run_id = watcher->spec.run_id;
  lock.unlock();
  start_get_run_(run_id, deadline,
                 [this, run_id, flight](std::optional<Run> run, std::exception_ptr error) {
                   on_polled(run_id, flight, std::move(run), std::move(error));
                 });
}

void Scheduler::on_polled(const std::string& run_id, const std::shared_ptr<Flight>& flight,
                          std::optional<Run> run, std::exception_ptr error) {
  Deliveries out;
  std::unique_lock<std::mutex> lock(mutex_);
  finish_flight(run_id, flight, std::move(run), std::move(error), out);
  auto watchers = std::move(flight->watchers);
  if (watchers.empty()) {
    // No sync wait joined: the deliveries hold the only copies the receivers
    // need.
    flight->run.reset();
    flight->error = nullptr;
  }
  const auto it = entries_.find(run_id);
  if (it != entries_.end()) {
    for (Watcher& watcher : it->second.watchers) arm_locked(watcher);
  }
  lock.unlock();
  notify_watchers(watchers);
  deliver(out);
}

void Scheduler::on_deadline(WatchId id) {
  end_watch(id, [this](const Watcher& watcher) -> std::exception_ptr {
    const time_point now = clock_->now();
    if (!watcher.spec.deadline || now < *watcher.spec.deadline) return nullptr;
    return timeout_error(watcher, now);
  });
}

void Scheduler::on_cancelled(WatchId id) {
  end_watch(id, [](const Watcher& watcher) {
    return std::make_exception_ptr(wait_cancelled_error(watcher.spec.run_id));
  });
}

void Scheduler::end_watch(WatchId id,
                          const std::function<std::exception_ptr(const Watcher&)>& reason) {
  Deliveries out;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry* entry = nullptr;
    Watcher* watcher = find_watcher(id, &entry);
    if (watcher == nullptr) return;
    std::exception_ptr error = reason(*watcher);
    if (!error) return;
    const std::string run_id = watcher->spec.run_id;
    end_watcher(*watcher, std::nullopt, std::move(error), out);
    auto& watchers = entry->watchers;
    watchers.erase(watchers.begin() + (watcher - watchers.data()));
    maybe_erase(run_id);
  }
  deliver(out);
}

void Scheduler::deliver(Deliveries& deliveries) {
  for (Delivery& delivery : deliveries) {
    if (delivery.cancel_state) delivery.cancel_state->unlisten(delivery.cancel_listener);
    try {
      // Moved, never copied: the receiving thread must hold the last reference
      // to an error, as exception objects are reference-counted where
      // ThreadSanitizer cannot see it.
      if (delivery.final) {
        delivery.sink->finish(delivery.tag, std::move(delivery.run), std::move(delivery.error));
      } else {
        delivery.sink->update(delivery.tag, delivery.seq, *delivery.run);
      }
    } catch (...) {
      // A sink reports to its owner; a failure there must not break the other
      // waits.
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
