#ifndef RUNBASE_SRC_RATE_LIMITER_HPP
#define RUNBASE_SRC_RATE_LIMITER_HPP

#include <memory>
#include <mutex>
#include <optional>

#include "clock.hpp"
#include "rate_window.hpp"
#include "runbase/errors.hpp"
#include "runbase/options.hpp"

namespace runbase::detail {

/// The client-side request budget, shared by every call of a Client: a `RateWindow` (the
/// arithmetic) driven by a clock, behind a mutex. `acquire` blocks; `try_acquire` and
/// `blocked_until` let an event loop that must not block drive the same budget.
///
/// The window: a sliding window that never lets more than `requests` start
/// while `requests` others are in flight or finished within the last `per`.
///
/// Creates go first: while a `Priority::Create` request waits for a slot, `Priority::Poll`
/// requests leave it the free slots (a poll starts only if a slot stays free for every waiting
/// create). A batch is then paced by its creates, and its polls use what they leave.
///
/// A request holds its slot from when it starts until `per` after its answer arrived (or it
/// failed). Since a request reaches the server after it starts and before its answer arrives, a
/// server that counts arrivals in any window of `per` never sees more than `requests`.
///
/// Thread safety: safe from many threads; one limiter is shared by all calls of a Client.
class RateLimiter {
 public:
  /// Who asks for a slot: creates take slots before polls (and any other read).
  using Priority = RateWindow::Priority;

  /// A slot for one request; its destruction (or `finish()`) stamps the answer's arrival.
  class Permit {
   public:
    Permit() = default;
    explicit Permit(RateLimiter* owner) : owner_(owner) {}
    Permit(Permit&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Permit& operator=(Permit&& other) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { finish(); }
    void finish() noexcept;

   private:
    RateLimiter* owner_ = nullptr;
  };

  RateLimiter(RateLimit limit, std::shared_ptr<Clock> clock);

  /// Blocks until a request may start. Throws TimeoutError when no slot can free before
  /// `deadline`, CancelledError when `cancel` fires while waiting.
  Permit acquire(std::optional<Clock::time_point> deadline, const CancellationToken* cancel,
                 Priority priority = Priority::Poll);

  /// For an event loop: a permit if a request of `priority` may start now; else nullopt, and
  /// `retry_at` says when to ask again (the earliest a slot could free, or the pause end). When
  /// the limiter is disabled, always an (empty) permit. Never blocks, never throws for the budget.
  /// A create that may have to ask more than once should be announced with
  /// `add_waiting_create(+1)` first, so polls leave it a slot meanwhile.
  std::optional<Permit> try_acquire(Priority priority, Clock::time_point& retry_at);

  /// A create of the event loop starts (+1) or stops (-1) waiting: polls leave it a slot
  /// meanwhile. Call -1 once it has its permit or gives up, whichever way. (`acquire` counts its
  /// own waiting creates.)
  void add_waiting_create(int delta);

  /// Earliest time `priority` could start, without taking a slot (nullopt: now). Assumes nothing
  /// else starts meanwhile; a disabled limiter always says now.
  std::optional<Clock::time_point> blocked_until(Priority priority);

  /// After a 429: no request of this Client starts before `until` (the server said the budget
  /// is spent, perhaps by another process sharing the key).
  void pause_until(Clock::time_point until);

  bool enabled() const noexcept { return limit_.requests > 0; }
  /// What a request gets when the budget allows it nothing before its deadline.
  TimeoutError deadline_error() const;

 private:
  void release() noexcept;

  const RateLimit limit_;
  const std::shared_ptr<Clock> clock_;
  std::mutex mutex_;
  RateWindow window_;  // guarded by mutex_; its waiting creates include those blocked in acquire()
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_RATE_LIMITER_HPP
