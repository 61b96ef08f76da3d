#include "rate_limiter.hpp"

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
    : limit_(limit), clock_(std::move(clock)), window_(limit) {}

RateLimiter::Permit RateLimiter::acquire(std::optional<Clock::time_point> deadline,
                                         const CancellationToken* cancel, Priority priority) {
  if (!enabled()) return Permit();
  // A waiting create holds back polls until it has its slot, whichever way acquire() ends.
  struct CreateWaiting {
    RateLimiter* limiter;
    explicit CreateWaiting(RateLimiter* owner) : limiter(owner) {
      if (limiter != nullptr) limiter->add_waiting_create(+1);
    }
    ~CreateWaiting() {
      if (limiter != nullptr) limiter->add_waiting_create(-1);
    }
    CreateWaiting(const CreateWaiting&) = delete;
    CreateWaiting& operator=(const CreateWaiting&) = delete;
  } waiting(priority == Priority::Create ? this : nullptr);

  for (;;) {
    if (cancel != nullptr && cancel->cancelled()) {
      throw CancelledError("Cancelled while waiting for the rate budget.");
    }
    Clock::time_point wake;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const std::optional<Clock::time_point> blocked =
          window_.blocked_until(clock_->now(), priority);
      if (!blocked) {
        window_.start();
        return Permit(this);
      }
      wake = *blocked;
    }
    if (deadline && wake > *deadline) {
      throw deadline_error();
    }
    if (!clock_->sleep_until(wake, cancel)) {
      throw CancelledError("Cancelled while waiting for the rate budget.");
    }
  }
}

TimeoutError RateLimiter::deadline_error() const {
  return TimeoutError("The rate budget (" + std::to_string(limit_.requests) + " requests per " +
                      std::to_string(limit_.per.count()) +
                      " ms) allows no further request before the deadline; raise the timeout or "
                      "send fewer requests.");
}

std::optional<RateLimiter::Permit> RateLimiter::try_acquire(Priority priority,
                                                            Clock::time_point& retry_at) {
  if (!enabled()) return Permit();
  std::lock_guard<std::mutex> lock(mutex_);
  const std::optional<Clock::time_point> blocked = window_.blocked_until(clock_->now(), priority);
  if (blocked) {
    retry_at = *blocked;
    return std::nullopt;
  }
  window_.start();
  return Permit(this);
}

void RateLimiter::add_waiting_create(int delta) {
  std::lock_guard<std::mutex> lock(mutex_);
  window_.add_waiting_create(delta);
}

std::optional<Clock::time_point> RateLimiter::blocked_until(Priority priority) {
  if (!enabled()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mutex_);
  return window_.blocked_until(clock_->now(), priority);
}

void RateLimiter::pause_until(Clock::time_point until) {
  std::lock_guard<std::mutex> lock(mutex_);
  window_.pause_until(until);
}

void RateLimiter::release() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  window_.finish(clock_->now());
}

}  // namespace runbase::detail
