// The per-key sliding rate window the emulator enforces (Runbase: 20 requests per 10 s per key,
// POST and GET together).
#ifndef RUNBASE_EMULATOR_RATE_WINDOW_HPP
#define RUNBASE_EMULATOR_RATE_WINDOW_HPP

#include <chrono>
#include <deque>
#include <map>
#include <string>

namespace runbase::emulator {

/// A sliding window log: a request is admitted when fewer than `max_requests` admitted requests
/// of the same key arrived in the last `window`. Rejected requests are not recorded, so a client
/// that keeps retrying is admitted as soon as the oldest request leaves the window.
///
/// Thread safety: not thread-safe; the emulator calls it under its lock.
class RateWindow {
 public:
  using Clock = std::chrono::steady_clock;

  struct Decision {
    bool admitted = true;
    /// When rejected: the time until the oldest request in the window expires.
    std::chrono::milliseconds retry_after{0};
  };

  /// max_requests <= 0 or a zero window turns the limit off.
  RateWindow(int max_requests, std::chrono::milliseconds window);

  bool enabled() const noexcept;

  /// Admits (and records) or rejects one request of `key` arriving at `now`.
  Decision admit(const std::string& key, Clock::time_point now);

 private:
  int max_requests_;
  std::chrono::milliseconds window_;
  std::map<std::string, std::deque<Clock::time_point>> log_;
};

}  // namespace runbase::emulator

#endif  // RUNBASE_EMULATOR_RATE_WINDOW_HPP
