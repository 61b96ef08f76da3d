#include "rate_window.hpp"

#include <cstddef>

namespace runbase::emulator {

RateWindow::RateWindow(int max_requests, std::chrono::milliseconds window)
    : max_requests_(max_requests), window_(window) {}

bool RateWindow::enabled() const noexcept { return max_requests_ > 0 && window_.count() > 0; }

RateWindow::Decision RateWindow::admit(const std::string& key, Clock::time_point now) {
  if (!enabled()) {
    return {};
  }
  auto& times = log_[key];
  while (!times.empty() && times.front() + window_ <= now) {
    times.pop_front();
  }
  if (times.size() < static_cast<std::size_t>(max_requests_)) {
    times.push_back(now);
    return {};
  }
  Decision decision;
  decision.admitted = false;
  decision.retry_after =
      std::chrono::ceil<std::chrono::milliseconds>(times.front() + window_ - now);
  return decision;
}

}  // namespace runbase::emulator
