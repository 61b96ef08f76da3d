#ifndef RUNBASE_SRC_SCHEDULER_HPP
#define RUNBASE_SRC_SCHEDULER_HPP

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cancellation_state.hpp"
#include "clock.hpp"
#include "retry.hpp"
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

/// How long runs take on this Client, learned from the runs it sees finish: a running mean and
/// mean deviation (exact averages for the first eight, then moving averages), so a change of
/// model or of load shows within a few runs.
///
/// Thread safety: none; the Scheduler guards it.
class DurationEstimator {
 public:
  /// Before any run is seen: the docs' ~4 s for an image model.
  static constexpr std::chrono::milliseconds kPrior{4000};

  void observe(std::chrono::milliseconds duration);
  std::size_t samples() const noexcept { return samples_; }
  /// When a run is expected to be done: the mean plus twice the deviation (most runs are done
  /// by then, so the first poll seldom finds one still running). `kPrior` before any sample.
  std::chrono::milliseconds expected() const noexcept;
  /// The pause before the first poll of a run just created: `poll_interval` until a run was
  /// seen finishing, then `expected()`, kept within [poll_interval, max_poll_interval].
  std::chrono::milliseconds first_poll_delay(std::chrono::milliseconds poll_interval,
                                             std::chrono::milliseconds max_poll_interval) const;

 private:
  double mean_ms_ = static_cast<double>(kPrior.count());
  double deviation_ms_ = 0.0;
  std::size_t samples_ = 0;
};

/// Milliseconds since the Unix epoch of an ISO-8601 UTC time as Runbase sends it
/// ("2026-06-01T12:00:04.200Z", fraction optional, "Z" or "+00:00"); nullopt for anything else.
std::optional<std::int64_t> parse_utc_millis(std::string_view text);

/// `completedAt - createdAt` of a finished run, when both are there and readable.
std::optional<std::chrono::milliseconds> server_duration(const Run& run);

/// The pause after a poll that found the run unfinished, growing by half up to `max_interval`.
std::chrono::milliseconds next_interval(std::chrono::milliseconds interval,
                                        std::chrono::milliseconds max_interval);

/// What a wait throws at its deadline, and when cancelled: the run goes on and can be waited on.
TimeoutError wait_timeout_error(const std::string& run_id, const std::string& last_status,
                                std::chrono::milliseconds waited);
CancelledError wait_cancelled_error(const std::string& run_id);
/// A request's TimeoutError (the budget cannot fit before the deadline, a stalled server) ending
/// a wait: the same, naming the run to wait for again.
TimeoutError wait_request_timeout(const TimeoutError& error, const std::string& run_id);

/// Where the Scheduler reports on a run that a batch or an async generate waits for. Calls come
/// from any thread, never with the Scheduler's lock held, and may arrive out of order: `seq`
/// grows with each observation of the run, so an update older than one already seen is stale.
class WaitSink {
 public:
  virtual ~WaitSink();
  /// The status changed.
  virtual void update(std::size_t tag, std::uint64_t seq, const Run& run) = 0;
  /// The wait ended: `run` when succeeded, else `error`. Called once per watch.
  virtual void finish(std::size_t tag, std::optional<Run> run, std::exception_ptr error) = 0;
};

/// One scheduler per Client behind every wait: the rate budget is the limiter's, polls are the
/// Scheduler's.
///
/// - Single flight: at most one `GET /runs/<id>` per run is in flight, whoever waits for it; a
///   waiter whose poll is due joins the poll in flight or takes a result fetched since its last
///   one, so waiters on one run share one stream of polls.
/// - Sync waits (`Client::wait`, `generate`) poll on the calling thread through `poll()`.
/// - Watches (`generate_async`, `generate_batch`) are polled by the Scheduler's two threads,
/// started
///   on first use: a timer thread (due polls, deadlines, cancellation) and a worker that sends the
///   requests one at a time (async creates first, then the most overdue poll). However many runs
///   are watched, the SDK has those two threads. The worker never sleeps through a poll's retry
///   back-off: the retry is due like a poll, and other runs are polled meanwhile.
/// - It learns how long runs take (`DurationEstimator`, from every run it sees succeed), polls a
///   run just created near when it is expected to be done, then backs off.
///
/// Thread safety: safe from many threads.
class Scheduler {
 public:
  using time_point = Clock::time_point;
  /// `GET /runs/<id>` with the Client's retry rules and rate budget. With `deferred_attempt`,
  /// that attempt only: where a retry would sleep first, it throws `RetryLater` (retry.hpp).
  using GetRun =
      std::function<Run(const std::string& run_id, std::optional<time_point> deadline,
                        const CancellationToken* cancel, std::optional<int> deferred_attempt)>;

  Scheduler(std::shared_ptr<Clock> clock, GetRun get_run);
  /// Stops the threads: watches not finished end with `CancelledError`, queued jobs are told
  /// to give up.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  Clock& clock() const noexcept { return *clock_; }
  std::chrono::milliseconds first_poll_delay(std::chrono::milliseconds poll_interval,
                                             std::chrono::milliseconds max_poll_interval) const;
  std::chrono::milliseconds expected_duration() const;

  // --- sync waits -------------------------------------------------------------------------

  /// Keeps a run's shared state while a sync wait polls it (so results are shared between polls).
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

  /// One poll of an attached run, shared: returns a result fetched at or after `fresh_since`
  /// if there is one, else the result of the poll in flight, else polls on this thread. Throws
  /// what `GET` throws; `CancelledError` when `cancel` fires and `TimeoutError` at `deadline`
  /// while waiting for another thread's poll.
  Run poll(const Attachment& attachment, time_point fresh_since, std::optional<time_point> deadline,
           const CancellationToken* cancel);

  // --- watched waits ----------------------------------------------------------------------

  struct Watch {
    std::string run_id;
    std::chrono::milliseconds poll_interval{1000};
    std::chrono::milliseconds max_poll_interval{5000};
    std::optional<time_point> deadline;
    time_point started{};                  ///< for the timeout message
    std::optional<time_point> created_at;  ///< a run just created: the first poll at the estimate
    std::string last_status;               ///< the status already reported, if any
    const CancellationToken* cancel = nullptr;  ///< checked by the timer thread
  };
  using WatchId = std::uint64_t;

  /// Polls `watch.run_id` until it ends, its deadline passes or its token is cancelled, and
  /// reports to `sink` under `tag`. Without `created_at` the first poll is at once.
  WatchId watch(Watch watch, std::shared_ptr<WaitSink> sink, std::size_t tag);
  /// Stops a watch; nothing more is reported for it once this returns (a report being delivered
  /// on another thread may still land).
  void unwatch(WatchId id);
  /// Runs `job(true)` on the worker before any due poll (for async creates), or `job(false)`
  /// when the Scheduler is destroyed first. Jobs run one at a time, in order.
  void submit(std::function<void(bool run)> job);

 private:
  struct Flight;
  struct Watcher {
    WatchId id = 0;
    Watch spec;
    std::shared_ptr<WaitSink> sink;
    std::size_t tag = 0;
    std::chrono::milliseconds interval{1000};
    time_point next_due{};
    bool first_pending = false;  // no poll yet of a run just created: due at the estimate
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
    // After the worker's poll failed in a way that is retried: the attempt to make next, and not
    // before when (RetryLater). Cleared by a poll that returns the run.
    int retry_attempt = 0;
    std::optional<time_point> retry_at;
  };
  struct Delivery {
    std::shared_ptr<WaitSink> sink;
    std::size_t tag = 0;
    bool final = false;
    std::uint64_t seq = 0;
    std::optional<Run> run;
    std::exception_ptr error;
  };
  using Deliveries = std::vector<Delivery>;

  time_point due(const Watcher& watcher) const;
  /// When the worker may poll `entry` for `watcher`: its due time, or the retry's if later.
  time_point poll_due(const Entry& entry, const Watcher& watcher) const;
  std::shared_ptr<Flight> start_flight(Entry& entry);
  void finish_flight(const std::string& run_id, const std::shared_ptr<Flight>& flight,
                     std::optional<Run> run, std::exception_ptr error, Deliveries& out);
  void defer_flight(const std::string& run_id, const std::shared_ptr<Flight>& flight,
                    const RetryLater& later);
  void publish(Entry& entry, const Flight& flight, Deliveries& out);
  void note_finished(Entry& entry, const Run& run, time_point observed_at);
  void maybe_erase(const std::string& run_id);
  void end_watcher(Watcher& watcher, std::optional<Run> run, std::exception_ptr error,
                   Deliveries& out);
  std::exception_ptr timeout_error(const Watcher& watcher, time_point now) const;
  void ensure_started();
  void wake_timer();
  void timer_loop();
  void worker_loop();
  static void deliver(Deliveries& deliveries);
  static void notify_watchers(std::vector<std::shared_ptr<CancellationState>>& watchers);

  const std::shared_ptr<Clock> clock_;
  const GetRun get_run_;

  mutable std::mutex mutex_;  // guards everything below
  DurationEstimator estimator_;
  std::unordered_map<std::string, Entry> entries_;
  std::unordered_map<WatchId, std::string> watch_runs_;  // watch id -> run id
  WatchId next_watch_id_ = 1;
  std::size_t cancellable_watchers_ = 0;  // watchers with a token the timer must check
  std::deque<std::function<void(bool)>> jobs_;
  bool started_ = false;
  bool stopping_ = false;
  std::condition_variable worker_cv_;
  std::condition_variable timer_cv_;
  std::shared_ptr<CancellationToken> timer_waker_;  // cancelled to end the timer's sleep early
  CancellationToken stop_;                          // aborts the worker's request at shutdown
  std::thread timer_;
  std::thread worker_;
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_SCHEDULER_HPP
