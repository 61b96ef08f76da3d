#ifndef RUNBASE_SRC_CANCELLATION_STATE_HPP
#define RUNBASE_SRC_CANCELLATION_STATE_HPP

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace runbase::detail {

/// Shared by a CancellationToken and whoever waits on it, so `cancel()` reaches them at once
/// instead of at their next timed check: threads sleep on `cv`; an event loop, which cannot sleep
/// on a token, registers a listener that wakes it.
///
/// Thread safety: safe from many threads.
struct CancellationState {
  std::atomic<bool> cancelled{false};
  std::mutex mutex;
  std::condition_variable cv;

  /// Calls `listener` once, on the cancelling thread, when the token is cancelled (at once, on
  /// this thread, if it already is; then 0 is returned). It must be quick and must not call
  /// `listen` or `unlisten`. Returns an id for `unlisten`.
  std::uint64_t listen(std::function<void()> listener);
  /// Removes a listener. Once this returns, it is not running and will not run.
  void unlisten(std::uint64_t id) noexcept;
  /// Runs the listeners (by `CancellationToken::cancel()`, after `cancelled` is set).
  void notify_listeners() noexcept;

 private:
  // Held while listeners run, so that `unlisten` returning means the listener is done.
  std::mutex listeners_mutex_;
  std::uint64_t next_listener_ = 1;
  std::unordered_map<std::uint64_t, std::function<void()>> listeners_;
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_CANCELLATION_STATE_HPP
