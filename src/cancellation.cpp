#include "runbase/cancellation.hpp"

#include "cancellation_state.hpp"

namespace runbase {

CancellationToken::CancellationToken() : state_(std::make_shared<detail::CancellationState>()) {}

CancellationToken::~CancellationToken() = default;

void CancellationToken::cancel() noexcept {
  {
    // Taking the lock orders the store before any sleeper's check-then-wait.
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->cancelled.store(true);
  }
  state_->cv.notify_all();
}

bool CancellationToken::cancelled() const noexcept { return state_->cancelled.load(); }

}  // namespace runbase
