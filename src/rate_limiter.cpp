#include "rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "runbase/errors.hpp"

namespace runbase::detail {

RateLimiter::Permit& RateLimiter::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    finish();
    owner_ = other.owner_;
    other.owner_ = nullptr;
  }
  return *this;
}

void RateLimiter::Permit::finish() noexcept {
  if (owner_ != nullptr) {
    owner_->release();
    owner_ = nullptr;
  }
}

RateLimiter::RateLimiter(RateLimit limit, std::shared_ptr<Clock> clock)
    : limit_(limit), clock_(std::move(clock)) {}

RateLimiter::Permit RateLimiter::acquire(std::optional<Clock::time_point> deadline,
                                         const CancellationToken* cancel) {
  if (!enabled()) return Permit();
  const auto capacity = static_cast<std::size_t>(limit_.requests);
  for (;;) {
    if (cancel != nullptr && cancel->cancelled()) {
      throw CancelledError("Cancelled while waiting for the rate budget.");
    }
    Clock::time_point wake;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const Clock::time_point now = clock_->now();
      while (!finished_.empty() && finished_.front() + limit_.per <= now) finished_.pop_front();
      const std::size_t used = static_cast<std::size_t>(in_flight_) + finished_.size();
      if (now >= paused_until_ && used < capacity) {
        ++in_flight_;
        return Permit(this);
      }
      // The earliest a slot can free: the oldest finished request leaving the window, or, when
      // only requests in flight fill it, `per` after now (they finish later than now).
      wake = used < capacity ? now : (finished_.empty() ? now + limit_.per
                                                         : finished_.front() + limit_.per);
      wake = std::max(wake, paused_until_);
    }
    if (deadline && wake > *deadline) {
      throw TimeoutError("The rate budget (" + std::to_string(limit_.requests) + " requests per " +
                         std::to_string(limit_.per.count()) +
                         " ms) allows no further request before the deadline; raise the timeout "
                         "or send fewer requests.");
    }
    if (!clock_->sleep_until(wake, cancel)) {
      throw CancelledError("Cancelled while waiting for the rate budget.");
    }
  }
}

void RateLimiter::pause_until(Clock::time_point until) {
  std::lock_guard<std::mutex> lock(mutex_);
  paused_until_ = std::max(paused_until_, until);
}

void RateLimiter::release() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  --in_flight_;
  finished_.push_back(clock_->now());
}

}  // namespace runbase::detail
