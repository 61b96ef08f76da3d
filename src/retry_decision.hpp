#ifndef RUNBASE_SRC_RETRY_DECISION_HPP
#define RUNBASE_SRC_RETRY_DECISION_HPP

#include <chrono>
#include <exception>
#include <optional>

#include "clock.hpp"
#include "error_mapping.hpp"
#include "runbase/options.hpp"

namespace runbase::detail {

/// What a request may do to the world, which decides what may be retried.
enum class RequestKind {
  Read,    ///< GET: retried on 429, 5xx, timeouts and connection failures
  Create,  ///< POST /runs: billed, so retried only when the server surely did not take it
};

/// Longest Retry-After the SDK waits through; a longer one is handed to the caller at once.
inline constexpr std::chrono::milliseconds kMaxRetryAfter{60000};

/// How one attempt ended, as far as the retry decision cares.
struct AttemptOutcome {
  enum class Type {
    Success,           ///< a 2xx
    ConnectionFailed,  ///< the transport threw ConnectionError
    TimedOut,          ///< the transport threw TimeoutError
    HttpError,         ///< the server answered a non-2xx (see `http_kind`)
    Other,             ///< anything else (ProtocolError, CancelledError, ...): never retried
  };
  Type type = Type::Success;
  /// Transport failures: whether the request may have reached the server.
  bool outcome_unknown = false;
  ErrorKind http_kind = ErrorKind::Client;               ///< HttpError only
  int status = 0;                                        ///< HttpError only
  std::optional<std::chrono::milliseconds> retry_after;  ///< HttpError: `Retry-After`, if readable
};

/// Everything the decision depends on: no clock, no randomness of its own.
struct AttemptFacts {
  RequestKind kind = RequestKind::Read;
  int attempt = 0;  ///< 0: the first attempt
  AttemptOutcome outcome;
  Clock::time_point now{};                    ///< when the attempt ended
  std::optional<Clock::time_point> deadline;  ///< nothing is retried past it
  double jitter = 0.5;                        ///< in [0, 1): where in the backoff range
  /// Part of a 2xx body was already handed to the caller (a streamed fetch): a resend would
  /// hand it over again, so the attempt's error is thrown.
  bool body_delivered = false;
};

/// What to do after an attempt.
struct RetryDecision {
  enum class Action {
    Return,   ///< hand the response back (a 2xx)
    Throw,    ///< hand the attempt's error to the caller
    RetryAt,  ///< try again at `at` (`delay` after `now`)
  };
  Action action = Action::Throw;
  Clock::time_point at{};
  std::chrono::milliseconds delay{0};
  /// A 429 RATE_LIMITED says the key's budget is spent: no request of this Client should start
  /// before this (whatever the action): `now` + Retry-After, else + initial_backoff, at most
  /// `kMaxRetryAfter`. Unset for anything else, 429 USAGE_EXCEEDED included (waiting does not
  /// cure it).
  std::optional<Clock::time_point> pause_all_until;
};

/// Full jitter: a uniformly random delay in [0, min(max_backoff, initial_backoff * 2^attempt)].
/// `unit_random` is in [0, 1) (clamped).
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int attempt, double unit_random);

/// The SDK's one retry rule, as a pure function (API.md, "Retries"):
/// - a 2xx returns;
/// - GET (Read) retries 429 RATE_LIMITED (any 429 but USAGE_EXCEEDED), 5xx, timeouts and
///   connection failures; POST /runs (Create) retries only 429 and a connection never established
///   or a timeout before anything was sent (outcome_unknown false);
/// - nothing else is retried: 3xx, 4xx, USAGE_EXCEEDED, Other;
/// - at most `policy.max_retries` retries (attempt numbers 0..max_retries);
/// - the delay is `backoff_delay(policy, attempt, jitter)`; after a 429 without Retry-After, at
///   least `initial_backoff`; a Retry-After (429 or 5xx) replaces it, and one over
///   `kMaxRetryAfter` throws at once;
/// - a retry that would start at or after the deadline throws at once.
RetryDecision decide_retry(const RetryPolicy& policy, const AttemptFacts& facts);

/// A poll failure that outlasted the poll's own retries, as far as the wait cares.
struct PollFailure {
  /// Time may cure it: a connection lost, refused or timed out (but a certificate that does not
  /// verify), a 5xx, a 429 RATE_LIMITED, a reply cut short. Anything else (401, 403, 404,
  /// USAGE_EXCEEDED, a reply that is not Runbase's) fails the same way again.
  bool transient = false;
  std::optional<std::chrono::milliseconds> retry_after;  ///< a 429's or 5xx's `Retry-After`
};
PollFailure classify_poll_failure(const std::exception_ptr& error);

/// Longest a wait without a deadline keeps polling through failures that time may cure.
inline constexpr std::chrono::milliseconds kMaxPollOutage{600000};

/// A wait's poll failed, the poll's own retries spent.
struct PollFailureFacts {
  PollFailure failure;
  Clock::time_point now{};
  std::optional<Clock::time_point> deadline;  ///< the wait's
  Clock::time_point failing_since{};          ///< the first of the failures in a row
  std::chrono::milliseconds interval{1000};   ///< the wait's pause between polls now
};

/// When the wait polls again; nullopt ends it. A network blip must not end a wait on a run that is
/// fine, so a transient failure is polled through on the wait's own pace (`now + interval`, or
/// after the `Retry-After` if longer) until its deadline (the next poll no later than it), or,
/// without one, until failures have lasted `kMaxPollOutage`. A `Retry-After` reaching past that end
/// and any failure not transient end the wait at once.
std::optional<Clock::time_point> repoll_at(const PollFailureFacts& facts);

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_RETRY_DECISION_HPP
