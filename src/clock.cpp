#include "clock.hpp"

#include <thread>

#include "cancellation_state.hpp"

namespace runbase::detail {

Clock::~Clock() = default;

namespace {

class RealClock final : public Clock {
 public:
  time_point now() override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point system_now() override {
    return std::chrono::system_clock::now();
  }
  bool sleep_until(time_point until, const CancellationToken* cancel) override {
    if (cancel == nullptr) {
      std::this_thread::sleep_until(until);
      return true;
    }
    CancellationState& state = *cancel->state();
    std::unique_lock<std::mutex> lock(state.mutex);
    return !state.cv.wait_until(lock, until, [&] { return state.cancelled.load(); });
  }
};

}  // namespace

std::shared_ptr<Clock> make_real_clock() { return std::make_shared<RealClock>(); }

}  // namespace runbase::detail
