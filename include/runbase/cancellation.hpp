#ifndef RUNBASE_CANCELLATION_HPP
#define RUNBASE_CANCELLATION_HPP

#include <memory>

#include "runbase/export.hpp"

namespace runbase {

namespace detail {
struct CancellationState;
}  // namespace detail

/// Lets one thread stop a wait that another thread is blocked in.
///
/// Pass a pointer to it in `WaitOptions::cancel`; `cancel()` wakes the waiting thread at once
/// (sleeps and in-flight polls are interrupted) and the wait throws `CancelledError`. Cancelling
/// never cancels the run on the server: Runbase has no cancel endpoint, so a created run is still
/// billed and can be waited on again by id.
///
/// Thread safety: safe from many threads. Not copyable or movable: waits hold a pointer to it, so
/// it must outlive every wait it was passed to.
class RUNBASE_EXPORT CancellationToken {
 public:
  CancellationToken();
  ~CancellationToken();
  CancellationToken(const CancellationToken&) = delete;
  CancellationToken& operator=(const CancellationToken&) = delete;

  /// Requests cancellation. Idempotent; never blocks for long.
  void cancel() noexcept;
  /// True once `cancel()` has been called.
  bool cancelled() const noexcept;

  /// For the SDK's own use: the shared state that sleepers wait on.
  const std::shared_ptr<detail::CancellationState>& state() const noexcept { return state_; }

 private:
  std::shared_ptr<detail::CancellationState> state_;
};

}  // namespace runbase

#endif  // RUNBASE_CANCELLATION_HPP
