#ifndef RUNBASE_SRC_CLOCK_HPP
#define RUNBASE_SRC_CLOCK_HPP

#include <chrono>
#include <memory>

#include "runbase/cancellation.hpp"

namespace runbase::detail {

/// Time and sleeping, injected so unit tests run the retry, rate-limit and polling logic on a
/// fake clock: no real sleeps, exact timings.
///
/// Thread safety: implementations are safe from many threads.
class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock();
  virtual time_point now() = 0;
  /// Wall-clock time, for Retry-After given as an HTTP date.
  virtual std::chrono::system_clock::time_point system_now() = 0;
  /// Sleeps until `until`, waking early when `cancel` is cancelled. Returns false when cancelled.
  virtual bool sleep_until(time_point until, const CancellationToken* cancel) = 0;
};

/// The steady clock; sleeps wake at once on cancellation.
std::shared_ptr<Clock> make_real_clock();

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_CLOCK_HPP
