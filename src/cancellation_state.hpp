#ifndef RUNBASE_SRC_CANCELLATION_STATE_HPP
#define RUNBASE_SRC_CANCELLATION_STATE_HPP

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace runbase::detail {

/// Shared by a CancellationToken and the sleepers waiting on it, so `cancel()` wakes them at once
/// instead of at their next timed check.
struct CancellationState {
  std::atomic<bool> cancelled{false};
  std::mutex mutex;
  std::condition_variable cv;
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_CANCELLATION_STATE_HPP
