#ifndef RUNBASE_SRC_SCHEDULER_HPP
#define RUNBASE_SRC_SCHEDULER_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cancellation_state.hpp"
#include "clock.hpp"
#include "event_loop.hpp"
#include "runbase/errors.hpp"
#include "runbase/options.hpp"
#include "runbase/run.hpp"

namespace runbase::detail {

/// True when `error` holds an exception of class `E` (or derived from it).
template <typename E>
bool holds(const std::exception_ptr& error) {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

/// When to poll a run just created: `first` after its creation, then `gap` after that poll if it
/// found the run unfinished, each later gap half as long again, up to `max_poll_interval`.
struct PollPlan {
  std::chrono::milliseconds first;
  std::chrono::milliseconds gap;
};

/// How long runs of one model take on this Client, learned from the runs it sees finish: a
/// running mean and mean deviation (exact averages for the first eight, then moving averages), so
/// a change of load shows within a few runs. The Scheduler keeps one per model.
///
/// Thread safety: none; the Scheduler guards it.
class DurationEstimator {
 public:
  /// Before any run is seen: the docs' ~4 s for an image model (their one example: 4.2 s).
  static constexpr std::chrono::milliseconds kPrior{4000};

  void observe(std::chrono::milliseconds duration);
  std::size_t samples() const noexcept { return samples_; }
  /// When a run is expected to be done: the mean plus twice the deviation (most runs are done by
  /// then, so the first poll seldom finds one still running). `kPrior` before any sample.
  std::chrono::milliseconds expected() const noexcept;
  /// `expected()`, but before any sample at least `unfinished_for`: a run of the model that has
  /// gone that long without finishing says runs take at least that long (a 15 s model is not
  /// planned as a 4 s one for the whole of its first run).
  std::chrono::milliseconds expected(std::chrono::milliseconds unfinished_for) const noexcept;
  /// The polls of a run just created, within [poll_interval, max_poll_interval] but for the first
  /// poll of a learned model:
  /// - cold (no run seen finishing): from a quarter of `kPrior`, backing off by half, so at most
  ///   two polls come before the prior (1 s, 2.5 s, 4.75 s, ... with the default WaitOptions);
  /// - learned: the first poll at `expected()`, however long that is, but no later than
  ///   `max_poll_interval` past the mean (a run that takes the usual time is seen within it);
  ///   then from `poll_interval`, backing off.
  PollPlan plan(std::chrono::milliseconds poll_interval,
                std::chrono::milliseconds max_poll_interval) const;

 private:
  double mean_ms_ = static_cast<double>(kPrior.count());
  double deviation_ms_ = 0.0;
  std::size_t samples_ = 0;
};

/// Milliseconds since the Unix epoch of an ISO-8601 UTC time as Runbase sends
/// it
/// ("2026-06-01T12:00:04.200Z", fraction optional, "Z" or "+00:00"); nullopt
/// for anything else.
std::optional<std::int64_t> parse_utc_millis(std::string_view text);

/// `completedAt - createdAt` of a finished run, when both are there and
/// readable.
std::optional<std::chrono::milliseconds> server_duration(const Run& run);

/// The pause after a poll that found the run unfinished, growing by half up to
/// `max_interval`.
std::chrono::milliseconds next_interval(std::chrono::milliseconds interval,
                                        std::chrono::milliseconds max_interval);

/// What a wait throws at its deadline, and when cancelled: the run goes on and
/// can be waited on.
/// `failing`: the last of the poll failures the wait went on through, if the latest poll failed.
TimeoutError wait_timeout_error(const std::string& run_id, const std::string& last_status,
                                std::chrono::milliseconds waited, const std::string& failing = {});
CancelledError wait_cancelled_error(const std::string& run_id);
/// A request's TimeoutError (the budget cannot fit before the deadline, a
/// stalled server) ending a wait: the same, naming the run to wait for again.
TimeoutError wait_request_timeout(const TimeoutError& error, const std::string& run_id);
/// A poll failure that ends a wait (`repoll_at` gave up on it), naming the run to wait for again:
/// the same class, its message extended (an ApiError names the run in its path already).
std::exception_ptr wait_ending_error(const std::exception_ptr& failure, const std::string& run_id);
/// The message of the exception in `error`.
std::string what_of(const std::exception_ptr& error);

/// Where the Scheduler reports on a run that a batch or an async generate waits
/// for. Calls come from any thread, never with the Scheduler's lock held, and
/// may arrive out of order: `seq` grows with each observation of the run, so an
/// update older than one already seen is stale.
class WaitSink {
 public:
  virtual ~WaitSink();
  /// The status changed.
  virtual void update(std::size_t tag, std::uint64_t seq, const Run& run) = 0;
  /// The wait ended: `run` when succeeded, else `error`. Called once per watch.
  virtual void finish(std::size_t tag, std::optional<Run> run, std::exception_ptr error) = 0;
};

/// One scheduler per Client behind every wait: the rate budget is the
/// limiter's, polls are the Scheduler's.
///
/// - Single flight: at most one `GET /runs/<id>` per run is in flight, whoever
/// waits for it; a
///   waiter whose poll is due joins the poll in flight or takes a result
///   fetched since its last one, so waiters on one run share one stream of
///   polls.
/// - Sync waits (`Client::wait`, `generate`) poll on the calling thread through
/// `poll()`.
/// - Watches (`generate_async`, `generate_batch`) are driven by the Client's
/// event loop: each
///   watcher's next poll and its deadline are timers of the loop (a heap, never
///   a scan), its token wakes the loop when cancelled, and its polls are
///   transfers of the loop, as many in flight at once as the rate budget
///   allows, so a slow reply holds up no other run.
/// - It learns how long runs take (`DurationEstimator`, from every run it sees
/// succeed), polls a
///   run just created near when it is expected to be done, then backs off.
///
/// Thread safety: safe from many threads. The loop's side (timers, replies)
/// runs on its thread.
class Scheduler {
 public:
  using time_point = Clock::time_point;
  /// `GET /runs/<id>` on the calling thread, with the Client's retry rules and
  /// rate budget.
  using GetRun = std::function<Run(const std::string& run_id, std::optional<time_point> deadline,
                                   const CancellationToken* cancel)>;
  /// The same on the event loop: starts the request and calls `done` on the
  /// loop's thread.
  using GetRunDone = std::function<void(std::optional<Run>, std::exception_ptr)>;
  using StartGetRun = std::function<void(const std::string& run_id,
                                         std::optional<time_point> deadline, GetRunDone done)>;

  Scheduler(std::shared_ptr<Clock> clock, EventLoop& loop, GetRun get_run,
            StartGetRun start_get_run);
  /// Watches not finished end with `CancelledError`. Stop the loop first:
  /// nothing of it may run once this begins.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  Clock& clock() const noexcept { return *clock_; }
  /// The polls of a run of `model` just created (`DurationEstimator::plan` of that model).
  PollPlan poll_plan(const std::string& model, std::chrono::milliseconds poll_interval,
                     std::chrono::milliseconds max_poll_interval) const;
  /// How long a run of `model` is expected to take (`DurationEstimator::expected`), knowing that
  /// one has gone `unfinished_for` without finishing.
  std::chrono::milliseconds expected_duration(
      const std::string& model,
      std::chrono::milliseconds unfinished_for = std::chrono::milliseconds(0)) const;

  // --- sync waits
  // -------------------------------------------------------------------------

  /// Keeps a run's shared state while a sync wait polls it (so results are
  /// shared between polls).
  class Attachment {
   public:
    Attachment(Scheduler& scheduler, std::string run_id, std::optional<time_point> created_at);
    ~Attachment();
    Attachment(const Attachment&) = delete;
    Attachment& operator=(const Attachment&) = delete;
    const std::string& run_id() const noexcept { return run_id_; }

   private:
    Scheduler& scheduler_;
    std::string run_id_;
  };

  /// One poll of an attached run, shared: returns a result fetched at or after
  /// `fresh_since` if there is one, else the result of the poll in flight, else
  /// polls on this thread. Throws what `GET` throws; `CancelledError` when
  /// `cancel` fires and `TimeoutError` at `deadline` while waiting for another
  /// thread's poll.
  Run poll(const Attachment& attachment, time_point fresh_since, std::optional<time_point> deadline,
           const CancellationToken* cancel);

  // --- watched waits
  // ----------------------------------------------------------------------

  struct Watch {
    std::string run_id;
    std::string model;  ///< the run's model: a run just created is polled as runs of it take
    std::chrono::milliseconds poll_interval{1000};
    std::chrono::milliseconds max_poll_interval{5000};
    std::optional<time_point> deadline;
    time_point started{};                  ///< for the timeout message
    std::optional<time_point> created_at;  ///< a run just created: the first poll at the estimate
    std::string last_status;               ///< the status already reported, if any
    const CancellationToken* cancel = nullptr;  ///< its cancel() ends the watch at once
  };
  using WatchId = std::uint64_t;

  /// Polls `watch.run_id` until it ends, its deadline passes or its token is
  /// cancelled, and reports to `sink` under `tag`. Without `created_at` the
  /// first poll is at once.
  WatchId watch(Watch watch, std::shared_ptr<WaitSink> sink, std::size_t tag);
  /// Stops a watch; nothing more is reported for it once this returns (a report
  /// being delivered on another thread may still land).
  void unwatch(WatchId id);

  /// Watchers whose runs are not finished (for tests and benchmarks).
  std::size_t watching() const;

 private:
  struct Flight;
  struct Watcher {
    WatchId id = 0;
    Watch spec;
    std::shared_ptr<WaitSink> sink;
    std::size_t tag = 0;
    std::chrono::milliseconds interval{1000};
    time_point next_due{};
    bool first_pending = false;          // no poll yet of a run just created: due at the estimate
    std::optional<time_point> armed_at;  // the loop's timer for its next poll; others are stale
    std::shared_ptr<CancellationState> cancel_state;  // listened to while watched
    std::uint64_t cancel_listener = 0;
    std::optional<time_point> failing_since;  // its polls have failed since, one after another
    std::string failing;                      // the last of those failures
  };
  struct Entry {
    std::optional<Run> latest;
    time_point latest_at{};  // when the poll that fetched `latest` started
    std::uint64_t seq = 0;   // observations so far
    std::shared_ptr<Flight> flight;
    std::vector<Watcher> watchers;
    int attachments = 0;
    std::optional<time_point> created_at;
    time_point last_unfinished_at{};  // the last poll that found it running
    bool finish_seen = false;
  };
  struct Delivery {
    std::shared_ptr<WaitSink> sink;
    std::size_t tag = 0;
    bool final = false;
    std::uint64_t seq = 0;
    std::optional<Run> run;
    std::exception_ptr error;
    // A final delivery stops listening to the watcher's token first (outside
    // the lock).
    std::shared_ptr<CancellationState> cancel_state;
    std::uint64_t cancel_listener = 0;
  };
  using Deliveries = std::vector<Delivery>;

  const DurationEstimator& estimator(const std::string& model) const;
  time_point due(const Watcher& watcher) const;
  std::shared_ptr<Flight> start_flight(Entry& entry);
  void finish_flight(const std::string& run_id, const std::shared_ptr<Flight>& flight,
                     std::optional<Run> run, std::exception_ptr error, Deliveries& out);
  void publish(Entry& entry, const Flight& flight, Deliveries& out);
  void note_finished(Entry& entry, const Run& run, time_point observed_at);
  void maybe_erase(const std::string& run_id);
  /// A due watcher was served (its run found running, or a poll failure it polls through): if
  /// it was its first poll, it now follows the plan's gaps.
  void leave_first_poll(Watcher& watcher);
  void end_watcher(Watcher& watcher, std::optional<Run> run, std::exception_ptr error,
                   Deliveries& out);
  std::exception_ptr timeout_error(const Watcher& watcher, time_point now) const;
  Watcher* find_watcher(WatchId id, Entry** entry);

  // The loop's side (its thread; they take mutex_ themselves).
  void arm(WatchId id);
  void arm_entry(const std::string& run_id);
  void arm_locked(Watcher& watcher);
  void on_due(WatchId id, time_point armed_at);
  void on_deadline(WatchId id);
  void on_cancelled(WatchId id);
  /// Ends watch `id` with what `reason` gives for it (null: it goes on).
  void end_watch(WatchId id, const std::function<std::exception_ptr(const Watcher&)>& reason);
  void on_polled(const std::string& run_id, const std::shared_ptr<Flight>& flight,
                 std::optional<Run> run, std::exception_ptr error);

  static void deliver(Deliveries& deliveries);
  static void notify_watchers(std::vector<std::shared_ptr<CancellationState>>& watchers);

  const std::shared_ptr<Clock> clock_;
  EventLoop& loop_;
  const GetRun get_run_;
  const StartGetRun start_get_run_;

  mutable std::mutex mutex_;                                       // guards everything below
  std::unordered_map<std::string, DurationEstimator> estimators_;  // by model
  std::unordered_map<std::string, Entry> entries_;
  std::unordered_map<WatchId, std::string> watch_runs_;  // watch id -> run id
  std::unordered_set<WatchId> first_pending_;  // watchers whose first poll follows the estimate
  WatchId next_watch_id_ = 1;
  bool stopping_ = false;
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_SCHEDULER_HPP
