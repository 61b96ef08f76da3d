#ifndef RUNBASE_SRC_ASYNC_RETRY_HPP
#define RUNBASE_SRC_ASYNC_RETRY_HPP

#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>

#include "event_loop.hpp"
#include "rate_limiter.hpp"
#include "retry.hpp"
#include "retry_decision.hpp"

namespace runbase::detail {

/// The event loop's driver of the retry rules: `RequestExecutor::execute` without blocking.
/// Each attempt takes a slot of the shared rate budget (waiting in a queue of the loop, creates
/// ahead of polls, while the budget is spent), runs as a transfer of the loop, and its end goes
/// through the same `decide_retry` as a blocking call; a back-off is a timer of the loop. So every
/// request of the loop is in flight at once as far as the budget allows, and none waits on
/// another's reply or back-off.
///
/// When the loop stops, calls still running end with `CancelledError`; a create cut off after it
/// was sent says the run may exist (`outcome_unknown()`).
///
/// Thread safety: none; everything runs on the loop's thread.
class AsyncRetryLoop {
 public:
  /// Called once: the 2xx response, or the error the blocking driver would have thrown.
  using Done = std::function<void(std::optional<HttpResponse>, std::exception_ptr)>;

  /// `config` as for `RequestExecutor` (the same retry policy, timeout, logger, limiter).
  AsyncRetryLoop(EventLoop& loop, RequestExecutor::Config config);
  AsyncRetryLoop(const AsyncRetryLoop&) = delete;
  AsyncRetryLoop& operator=(const AsyncRetryLoop&) = delete;

  /// Sends `request` with the retry rules for `kind`; nothing is retried past `deadline` and each
  /// attempt's timeout is clipped to the time left.
  void send(HttpRequest request, RequestKind kind, std::optional<Clock::time_point> deadline,
            Done done);

  /// Calls waiting for the rate budget (creates, polls): for tests and benchmarks.
  std::size_t creates_waiting() const noexcept { return waiting_creates_.size(); }
  std::size_t polls_waiting() const noexcept { return waiting_polls_.size(); }

 private:
  struct Call;
  using CallPtr = std::shared_ptr<Call>;

  void attempt(const CallPtr& call);
  /// Starts the queued calls the budget lets go now, creates first, in order; arms a timer for
  /// when the first one left could go.
  void pump();
  void arm_pump(Clock::time_point at);
  void start_transfer(const CallPtr& call);
  void on_transfer_done(const CallPtr& call, std::optional<HttpResponse> response,
                        std::exception_ptr error);
  void finish(const CallPtr& call, std::optional<HttpResponse> response, std::exception_ptr error);
  void stop_all();

  EventLoop& loop_;
  RequestExecutor executor_;  // its config, and what is done after each attempt
  std::uint64_t next_call_id_ = 1;
  std::unordered_map<std::uint64_t, CallPtr> calls_;  // every call not yet finished
  std::deque<CallPtr> waiting_creates_;               // for the rate budget, in order
  std::deque<CallPtr> waiting_polls_;
  std::optional<Clock::time_point> pump_at_;  // the earliest pump timer armed
  bool stopping_ = false;
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_ASYNC_RETRY_HPP
