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
                                         const CancellationToken* cancel, Priority priority) {
  if (!enabled()) return Permit();
  const auto capacity = static_cast<std::size_t>(limit_.requests);
  const bool create = priority == Priority::Create;
  // A waiting create holds back polls until it has its slot, whichever way acquire() ends.
  struct CreateWaiting {
    RateLimiter* limiter;
    explicit CreateWaiting(RateLimiter* owner) : limiter(owner) {
      if (limiter == nullptr) return;
      std::lock_guard<std::mutex> lock(limiter->mutex_);
      ++limiter->creates_waiting_;
    }
    ~CreateWaiting() {
      if (limiter == nullptr) return;
      std::lock_guard<std::mutex> lock(limiter->mutex_);
      --limiter->creates_waiting_;
    }
    CreateWaiting(const CreateWaiting&) = delete;
    CreateWaiting& operator=(const CreateWaiting&) = delete;
  } waiting(create ? this : nullptr);

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
      // A poll leaves a free slot to every create that is waiting (this create counts itself).
      const std::size_t reserved = create ? 0 : static_cast<std::size_t>(creates_waiting_);
      if (now >= paused_until_ && used + reserved < capacity) {
        ++in_flight_;
        return Permit(this);
      }
      // The earliest enough slots can free: the k-th oldest finished request leaving the window,
      // or, when requests in flight are needed too, `per` after now (they finish later than now).
      const std::size_t needed = used + reserved < capacity ? 0 : used + reserved - capacity + 1;
      if (needed == 0) {
        wake = now;
      } else if (needed <= finished_.size()) {
        wake = finished_[needed - 1] + limit_.per;
      } else {
        wake = now + limit_.per;
      }
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
