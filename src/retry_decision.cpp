#include "retry_decision.hpp"

#include <algorithm>
#include <cmath>

namespace runbase::detail {

namespace {

using std::chrono::milliseconds;
using Type = AttemptOutcome::Type;

// Whether the contract allows sending this request again after this outcome, retries left or not.
bool may_resend(RequestKind kind, const AttemptOutcome& outcome) {
  switch (outcome.type) {
    case Type::ConnectionFailed:
    case Type::TimedOut:
      // A create is resent only when it surely never reached the server: it would be billed twice.
      return kind == RequestKind::Read || !outcome.outcome_unknown;
    case Type::HttpError:
      // A 5xx may have been acted on before the server failed, so only reads resend it.
      return outcome.http_kind == ErrorKind::RateLimited ||
             (outcome.http_kind == ErrorKind::Server && kind == RequestKind::Read);
    case Type::Success:
    case Type::Other:
      return false;
  }
  return false;
}

}  // namespace

milliseconds backoff_delay(const RetryPolicy& policy, int attempt, double unit_random) {
  const double initial =
      static_cast<double>(std::max<long long>(0, policy.initial_backoff.count()));
  const double cap = static_cast<double>(std::max<long long>(0, policy.max_backoff.count()));
  const double ceiling = std::min(cap, initial * std::ldexp(1.0, std::min(attempt, 30)));
  return milliseconds(static_cast<long long>(ceiling * std::clamp(unit_random, 0.0, 1.0)));
}

RetryDecision decide_retry(const RetryPolicy& policy, const AttemptFacts& facts) {
  const AttemptOutcome& outcome = facts.outcome;
  RetryDecision decision;
  if (outcome.type == Type::Success) {
    decision.action = RetryDecision::Action::Return;
    return decision;
  }

  const bool http_error = outcome.type == Type::HttpError;
  const bool rate_limited = http_error && outcome.http_kind == ErrorKind::RateLimited;
  const std::optional<milliseconds> retry_after =
      http_error ? outcome.retry_after : std::optional<milliseconds>();
  if (rate_limited) {
    // The server's budget is spent: every request of this Client waits, not just this one, and
    // whether or not this one is retried.
    decision.pause_all_until =
        facts.now + std::min(retry_after.value_or(policy.initial_backoff), kMaxRetryAfter);
  }

  decision.action = RetryDecision::Action::Throw;
  if (!may_resend(facts.kind, outcome) || facts.attempt >= policy.max_retries ||
      facts.body_delivered) {
    return decision;
  }

  milliseconds delay = backoff_delay(policy, facts.attempt, facts.jitter);
  if (retry_after) {
    // Honoured only when short enough to wait through; otherwise the caller decides.
    if (*retry_after > kMaxRetryAfter) return decision;
    delay = *retry_after;
  } else if (rate_limited) {
    delay = std::max(delay, policy.initial_backoff);  // never straight back after a 429
  }
  const Clock::time_point at = facts.now + delay;
  if (facts.deadline && at >= *facts.deadline) return decision;

  decision.action = RetryDecision::Action::RetryAt;
  decision.at = at;
  decision.delay = delay;
  return decision;
}

PollFailure classify_poll_failure(const std::exception_ptr& error) {
  if (!error) return {};
  try {
    std::rethrow_exception(error);
  } catch (const LastingConnectionError&) {
    return {};
  } catch (const ConnectionError&) {
    return {true, std::nullopt};
  } catch (const TimeoutError&) {
    return {true, std::nullopt};
  } catch (const ServerError& e) {
    return {true, e.retry_after()};
  } catch (const RateLimitError& e) {
    return {true, e.retry_after()};
  } catch (const TruncatedReplyError&) {
    return {true, std::nullopt};
  } catch (...) {
    return {};
  }
}

std::optional<Clock::time_point> repoll_at(const PollFailureFacts& facts) {
  if (!facts.failure.transient) return std::nullopt;
  const Clock::time_point end =
      facts.deadline ? *facts.deadline : facts.failing_since + kMaxPollOutage;
  if (facts.now >= end) return std::nullopt;
  const milliseconds told = facts.failure.retry_after.value_or(milliseconds(0));
  if (facts.now + told > end) return std::nullopt;  // the server's pause outlasts the wait
  return std::min(facts.now + std::max({milliseconds(0), facts.interval, told}), end);
}

}  // namespace runbase::detail
