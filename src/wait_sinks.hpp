#ifndef RUNBASE_SRC_WAIT_SINKS_HPP
#define RUNBASE_SRC_WAIT_SINKS_HPP

#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>

#include "cancellation_state.hpp"
#include "runbase/cancellation.hpp"
#include "runbase/run.hpp"
#include "scheduler.hpp"

namespace runbase::detail {

/// Ends one generate_async: its future, or its callback. on_update calls are serialized and never
/// follow the end, which is reported once.
///
/// Thread safety: safe from many threads.
class AsyncSink final : public WaitSink {
 public:
  using Completion = std::function<void(std::optional<Run>, std::exception_ptr)>;

  /// Ends through `future()`.
  explicit AsyncSink(std::function<void(const Run&)> on_update);
  /// Ends by calling `done` (not under any lock; a `done` that throws is ignored).
  AsyncSink(std::function<void(const Run&)> on_update, Completion done);

  std::future<Run> future() { return promise_.get_future(); }

  void update(std::size_t tag, std::uint64_t seq, const Run& run) override;
  void finish(std::size_t tag, std::optional<Run> run, std::exception_ptr error) override;

 private:
  std::function<void(const Run&)> on_update_;
  Completion done_callback_;
  std::mutex mutex_;
  std::promise<Run> promise_;
  std::uint64_t seq_ = 0;
  bool done_ = false;
};

/// What the Scheduler reports on a batch's runs, queued for the thread running the batch. It
/// sleeps on the batch's cancellation token (or a private one), so cancel() wakes it too.
///
/// Thread safety: `update` and `finish` from any thread; `take` from the batch's thread.
class BatchInbox final : public WaitSink {
 public:
  struct Event {
    std::size_t index = 0;
    bool created = false;  ///< the end of the item's create: `run` or `error`
    bool final = false;
    std::uint64_t seq = 0;
    std::optional<Run> run;
    std::exception_ptr error;
  };

  explicit BatchInbox(const CancellationToken* cancel);

  void update(std::size_t index, std::uint64_t seq, const Run& run) override;
  void finish(std::size_t index, std::optional<Run> run, std::exception_ptr error) override;
  /// The item's create ended (from the event loop).
  void created(std::size_t index, std::optional<Run> run, std::exception_ptr error);

  /// The events so far; with `block`, first waits for one (or, with `wake_on_cancel`, for the
  /// cancellation).
  std::deque<Event> take(bool block, bool wake_on_cancel = true);

 private:
  void push(Event event);

  std::shared_ptr<CancellationState> wake_;
  std::deque<Event> events_;  // guarded by wake_->mutex
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_WAIT_SINKS_HPP
