#ifndef RUNBASE_SRC_RATE_WINDOW_HPP
#define RUNBASE_SRC_RATE_WINDOW_HPP

#include <cstddef>
#include <deque>
#include <optional>

#include "clock.hpp"
#include "runbase/options.hpp"

namespace runbase::detail {

/// The client-side request budget as a pure, clock-free state machine: never lets more than
/// `requests` start while `requests` others are in flight or were answered within the last `per`.
/// The caller says what time it is; `RateLimiter` (blocking) and the event loop drive it.
///
/// Creates go first: while creates wait (`creates_waiting`), a poll may start only if a free slot
/// stays for every waiting create.
///
/// A request holds its slot from `start()` until `per` after its `finish()`: a request reaches
/// the server after it starts and before its answer arrives, so a server that counts arrivals in
/// any window of `per` never sees more than `requests`.
///
/// Thread safety: none; its drivers guard it.
class RateWindow {
 public:
  enum class Priority { Poll, Create };

  explicit RateWindow(RateLimit limit);

  bool enabled() const noexcept;
  /// nullopt: a request of `priority` may start at `now`. Otherwise the earliest time it could
  /// (assuming nothing else starts meanwhile; requests in flight are assumed to end after `now`).
  std::optional<Clock::time_point> blocked_until(Clock::time_point now, Priority priority);
  /// A request starts (call only when `blocked_until` said it may).
  void start() noexcept;
  /// A started request's answer arrived (or it failed) at `now`.
  void finish(Clock::time_point now);
  /// After a 429: nothing starts before `until`.
  void pause_until(Clock::time_point until) noexcept;
  /// Creates waiting for a slot (+1 when one starts waiting, -1 when it stops, either way).
  void add_waiting_create(int delta) noexcept;
  int creates_waiting() const noexcept { return creates_waiting_; }
  int in_flight() const noexcept { return in_flight_; }

 private:
  RateLimit limit_;
  int in_flight_ = 0;
  int creates_waiting_ = 0;
  std::deque<Clock::time_point> finished_;  // answers within the window, oldest first
  Clock::time_point paused_until_{};
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_RATE_WINDOW_HPP
