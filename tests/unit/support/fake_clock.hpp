#ifndef RUNBASE_TESTS_UNIT_SUPPORT_FAKE_CLOCK_HPP
#define RUNBASE_TESTS_UNIT_SUPPORT_FAKE_CLOCK_HPP

#include <chrono>
#include <functional>
#include <mutex>
#include <vector>

#include "clock.hpp"
#include "runbase/cancellation.hpp"

namespace runbase::test {

/// A `detail::Clock` whose time moves only when something sleeps on it (or a test calls
/// `advance`): no real sleeping, exact timings.
///
/// `now()` starts at `start()`; `sleep_until` records the sleep and jumps time forward to its end;
/// with a cancelled token it returns false without moving time. `system_now()` is fixed (settable)
/// so Retry-After dates are deterministic.
///
/// Thread safety: safe from many threads (one mutex).
class FakeClock final : public detail::Clock {
 public:
  struct Sleep {
    time_point from;
    time_point until;
    std::chrono::milliseconds duration() const {
      return std::chrono::duration_cast<std::chrono::milliseconds>(until - from);
    }
  };

  /// An arbitrary but fixed steady time at which every fake clock starts.
  static time_point start() { return time_point(std::chrono::hours(1000)); }

  time_point now() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return now_;
  }

  std::chrono::system_clock::time_point system_now() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return system_now_;
  }

  bool sleep_until(time_point until, const CancellationToken* cancel) override {
    std::function<void(const Sleep&)> hook;
    Sleep sleep;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      sleep = Sleep{now_, until};
      hook = on_sleep_;
    }
    // The hook may cancel the token, as another thread would during a real sleep.
    if (hook) hook(sleep);
    if (cancel != nullptr && cancel->cancelled()) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    sleeps_.push_back(sleep);
    if (until > now_) now_ = until;
    return true;
  }

  /// Moves time forward, as a request taking `duration` would.
  void advance(std::chrono::milliseconds duration) {
    std::lock_guard<std::mutex> lock(mutex_);
    now_ += duration;
  }

  void set_system_now(std::chrono::system_clock::time_point value) {
    std::lock_guard<std::mutex> lock(mutex_);
    system_now_ = value;
  }

  /// Called at the start of every sleep, before the cancellation check.
  void on_sleep(std::function<void(const Sleep&)> hook) {
    std::lock_guard<std::mutex> lock(mutex_);
    on_sleep_ = std::move(hook);
  }

  /// Every completed (not cancelled) sleep, in order.
  std::vector<Sleep> sleeps() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return sleeps_;
  }

  /// Durations of every completed sleep, in order.
  std::vector<std::chrono::milliseconds> sleep_durations() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::chrono::milliseconds> out;
    for (const Sleep& sleep : sleeps_) out.push_back(sleep.duration());
    return out;
  }

  /// Time since `start()`.
  std::chrono::milliseconds elapsed() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now() - start());
  }

 private:
  mutable std::mutex mutex_;
  time_point now_ = start();
  // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example date).
  std::chrono::system_clock::time_point system_now_{std::chrono::seconds(784111777)};
  std::vector<Sleep> sleeps_;
  std::function<void(const Sleep&)> on_sleep_;
};

/// Milliseconds of a steady time point after `FakeClock::start()`.
inline std::chrono::milliseconds since_start(detail::Clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at - FakeClock::start());
}

}  // namespace runbase::test

#endif  // RUNBASE_TESTS_UNIT_SUPPORT_FAKE_CLOCK_HPP
