#include "rate_window.hpp"

#include <algorithm>

namespace runbase::detail {

RateWindow::RateWindow(RateLimit limit) : limit_(limit) {}

bool RateWindow::enabled() const noexcept { return limit_.requests > 0; }

std::optional<Clock::time_point> RateWindow::blocked_until(Clock::time_point now,
                                                           Priority priority) {
  if (!enabled()) return std::nullopt;
  while (!finished_.empty() && finished_.front() + limit_.per <= now) finished_.pop_front();

  const auto capacity = static_cast<std::size_t>(limit_.requests);
  const std::size_t used = static_cast<std::size_t>(in_flight_) + finished_.size();
  // A poll leaves a free slot to every create that is waiting (a create counts itself).
  const std::size_t reserved =
      priority == Priority::Create ? 0 : static_cast<std::size_t>(creates_waiting_);
  if (now >= paused_until_ && used + reserved < capacity) return std::nullopt;

  // The earliest enough slots can free: the k-th oldest finished request leaving the window, or,
  // when requests in flight are needed too, `per` after now (they finish later than now).
  const std::size_t needed = used + reserved < capacity ? 0 : used + reserved - capacity + 1;
  Clock::time_point wake = now + limit_.per;
  if (needed == 0) {
    wake = now;  // only the pause holds it back
  } else if (needed <= finished_.size()) {
    wake = finished_[needed - 1] + limit_.per;
  }
  return std::max(wake, paused_until_);
}

void RateWindow::start() noexcept {
  if (enabled()) ++in_flight_;
}

void RateWindow::finish(Clock::time_point now) {
  if (!enabled()) return;
  if (in_flight_ > 0) --in_flight_;
  // Answers older than the window no longer count; dropping them here bounds the memory even
  // when nobody asks `blocked_until` for a while.
  while (!finished_.empty() && finished_.front() + limit_.per <= now) finished_.pop_front();
  // Drivers may report answers slightly out of order; the window arithmetic needs them sorted.
  finished_.insert(std::upper_bound(finished_.begin(), finished_.end(), now), now);
}

void RateWindow::pause_until(Clock::time_point until) noexcept {
  // A shorter pause never shortens a longer one.
  paused_until_ = std::max(paused_until_, until);
}

void RateWindow::add_waiting_create(int delta) noexcept {
  // Never below zero: an unmatched -1 would otherwise reserve ~all slots against polls forever.
  creates_waiting_ = std::max(0, creates_waiting_ + delta);
}

}  // namespace runbase::detail
