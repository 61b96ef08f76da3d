#include "runbase/cancellation.hpp"

#include "cancellation_state.hpp"

namespace runbase {

namespace detail {

std::uint64_t CancellationState::listen(std::function<void()> listener) {
  {
    std::lock_guard<std::mutex> lock(listeners_mutex_);
    if (!cancelled.load()) {
      const std::uint64_t id = next_listener_++;
      listeners_.emplace(id, std::move(listener));
      return id;
    }
  }
  listener();
  return 0;
}

void CancellationState::unlisten(std::uint64_t id) noexcept {
  if (id == 0) return;
  std::lock_guard<std::mutex> lock(listeners_mutex_);
  listeners_.erase(id);
}

void CancellationState::notify_listeners() noexcept {
  std::lock_guard<std::mutex> lock(listeners_mutex_);
  // Each listener runs once: cancel() is idempotent, and a listener registered after the flag was
  // set ran in listen() instead.
  auto listeners = std::move(listeners_);
  listeners_.clear();
  for (auto& [id, listener] : listeners) {
    try {
      listener();
    } catch (...) {
      // A listener only wakes its owner; one that fails must not stop the others.
    }
  }
}

}  // namespace detail

CancellationToken::CancellationToken() : state_(std::make_shared<detail::CancellationState>()) {}

CancellationToken::~CancellationToken() = default;

void CancellationToken::cancel() noexcept {
  {
    // Taking the lock orders the store before any sleeper's check-then-wait.
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->cancelled.store(true);
  }
  state_->cv.notify_all();
  state_->notify_listeners();
}

bool CancellationToken::cancelled() const noexcept { return state_->cancelled.load(); }

}  // namespace runbase
