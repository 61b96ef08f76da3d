#ifndef RUNBASE_SRC_BATCH_RUN_HPP
#define RUNBASE_SRC_BATCH_RUN_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api_caller.hpp"
#include "clock.hpp"
#include "runbase/models.hpp"
#include "runbase/options.hpp"
#include "scheduler.hpp"
#include "wait_sinks.hpp"

namespace runbase::detail {

/// How many runs a batch keeps created but unfinished: `max_in_flight` when set, else as many as
/// keep `rate_limit` busy while runs last about `expected` (no limit when the budget is off).
std::size_t batch_in_flight_limit(int max_in_flight, const RateLimit& rate_limit,
                                  std::chrono::milliseconds expected);

/// One `Client::generate_batch`: has the items created by the Client's event loop, as many
/// created or being created at once as `batch_in_flight_limit` allows (so the loop always holds
/// the batch's next creates, which go before any poll), and has the Scheduler watch each run;
/// the creates' ends and the Scheduler's reports come back through a `BatchInbox` to this thread.
/// A batch journal is not its business: `Client::Impl::generate_batch` (batch.cpp) puts it around
/// the creates, so BatchRun always runs with `options.journal` empty. A create error that would
/// repeat for every item ends the items not yet created without sending anything.
///
/// Thread safety: none; one thread runs it, once. Its callbacks (`on_update`, `on_progress`) are
/// called on that thread.
class BatchRun {
 public:
  using Completion = std::function<void(std::optional<Run>, std::exception_ptr)>;
  /// Starts a create on the event loop; its end is handed to the `Completion`, on any thread.
  using CreateAsync = std::function<void(CreateRequest request, Completion done)>;

  BatchRun(ApiCaller& api, Scheduler& scheduler, CreateAsync create,
           const std::vector<ModelInput>& inputs, const BatchOptions& options);
  /// If a callback threw, the batch ended there: stops watching what it left running.
  ~BatchRun();
  BatchRun(const BatchRun&) = delete;
  BatchRun& operator=(const BatchRun&) = delete;

  /// Runs the batch to its end; one result per input, in input order. Throws only for the batch
  /// as a whole: what a callback throws.
  std::vector<BatchResult> run();

 private:
  enum class State { NotStarted, Creating, Active, Done };
  struct Item {
    State state = State::NotStarted;
    Scheduler::WatchId watch = 0;
    std::string run_id;
    std::uint64_t seq = 0;
    // While creating: when the item started (its deadline counts from then).
    Clock::time_point started{};
    // While active: when its run was created (an entry of `active_since_`).
    Clock::time_point created{};
    std::optional<Clock::time_point> deadline;
  };

  void start_item(std::size_t index);
  /// Has the Scheduler watch a run just created.
  void start_watch(std::size_t index, Run created, Clock::time_point started,
                   std::optional<Clock::time_point> deadline);
  void on_created(std::size_t index, std::optional<Run> run, std::exception_ptr error);
  void finish_item(std::size_t index, std::optional<Run> run, std::exception_ptr error);
  void handle(BatchInbox::Event& event);
  /// The batch's token fired: every item not finished ends, watched or not yet created.
  void cancel_all();

  ApiCaller& api_;
  Scheduler& scheduler_;
  CreateAsync create_;
  Clock& clock_;
  const std::vector<ModelInput>& inputs_;  // models may mix: each has its own expected duration
  const BatchOptions& options_;
  const std::size_t total_;
  std::vector<BatchResult> results_;
  std::vector<Item> items_;
  std::shared_ptr<BatchInbox> inbox_;
  std::size_t next_ = 0;      // the next item to start
  std::size_t done_ = 0;      // items finished, either way
  std::size_t active_ = 0;    // items created (or resumed) and not finished
  std::size_t creating_ = 0;  // creates sent to the loop and not yet ended
  // When each active item's run was created: the oldest unfinished run bounds how long runs
  // take from below before any has finished (Scheduler::expected_duration).
  std::multiset<Clock::time_point> active_since_;
  bool cancelled_ = false;
  std::exception_ptr repeat_error_;  // a create error every later create would get too
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_BATCH_RUN_HPP
