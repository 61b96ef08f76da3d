// The retry rule on its own, row by row: what each outcome of a GET or a POST /runs leads to, how
// long to wait, when the key's budget pauses every request, and never past the deadline. Pure: no
// clock, no transport, no sleeping.

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "error_mapping.hpp"
#include "retry_decision.hpp"
#include "runbase/errors.hpp"

namespace runbase {
namespace {

using detail::AttemptFacts;
using detail::AttemptOutcome;
using detail::Clock;
using detail::ErrorKind;
using detail::RequestKind;
using detail::RetryDecision;
using std::chrono::milliseconds;
using Action = RetryDecision::Action;
using Type = AttemptOutcome::Type;

constexpr milliseconds ms(long long count) { return milliseconds(count); }

const Clock::time_point kNow = Clock::time_point(std::chrono::hours(1000));

// The policy of every row: two retries, 500 ms doubling up to 8 s.
const RetryPolicy kPolicy{2, ms(500), ms(8000)};

AttemptOutcome success() { return {Type::Success, false, ErrorKind::Client, 200, std::nullopt}; }
AttemptOutcome http(int status, ErrorKind kind,
                    std::optional<milliseconds> retry_after = std::nullopt) {
  return {Type::HttpError, false, kind, status, retry_after};
}
AttemptOutcome rate_limited(std::optional<milliseconds> retry_after = std::nullopt) {
  return http(429, ErrorKind::RateLimited, retry_after);
}
AttemptOutcome server_error(std::optional<milliseconds> retry_after = std::nullopt) {
  return http(503, ErrorKind::Server, retry_after);
}
AttemptOutcome transport(Type type, bool outcome_unknown) {
  return {type, outcome_unknown, ErrorKind::Client, 0, std::nullopt};
}

AttemptFacts facts(RequestKind kind, AttemptOutcome outcome, int attempt = 0, double jitter = 0.5,
                   std::optional<Clock::time_point> deadline = std::nullopt) {
  AttemptFacts facts;
  facts.kind = kind;
  facts.attempt = attempt;
  facts.outcome = outcome;
  facts.now = kNow;
  facts.deadline = deadline;
  facts.jitter = jitter;
  return facts;
}

// ---------------------------------------------------------------------------------------------
// The rule: {Read, Create} x outcome -> action

struct Row {
  std::string name;
  AttemptOutcome outcome;
  Action read;    // GET
  Action create;  // POST /runs
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

std::vector<Row> rule() {
  return {
      {"2xx", success(), Action::Return, Action::Return},
      {"429_RATE_LIMITED", rate_limited(), Action::RetryAt, Action::RetryAt},
      {"429_USAGE_EXCEEDED", http(429, ErrorKind::UsageExceeded), Action::Throw, Action::Throw},
      // A 5xx may have been acted on: a create resent would be billed twice.
      {"5xx", server_error(), Action::RetryAt, Action::Throw},
      {"4xx", http(404, ErrorKind::Client), Action::Throw, Action::Throw},
      {"3xx", http(302, ErrorKind::Redirect), Action::Throw, Action::Throw},
      {"ConnectionRefused_NotSent", transport(Type::ConnectionFailed, false), Action::RetryAt,
       Action::RetryAt},
      {"ConnectionBroken_Sent", transport(Type::ConnectionFailed, true), Action::RetryAt,
       Action::Throw},
      {"Timeout_Sent", transport(Type::TimedOut, true), Action::RetryAt, Action::Throw},
      {"Timeout_NotSent", transport(Type::TimedOut, false), Action::RetryAt, Action::RetryAt},
      {"Other", transport(Type::Other, false), Action::Throw, Action::Throw},
      {"Other_Sent", transport(Type::Other, true), Action::Throw, Action::Throw},
  };
}

class RetryRuleTest : public ::testing::TestWithParam<Row> {};

TEST_P(RetryRuleTest, Read) {
  EXPECT_EQ(detail::decide_retry(kPolicy, facts(RequestKind::Read, GetParam().outcome)).action,
            GetParam().read);
}

TEST_P(RetryRuleTest, Create) {
  EXPECT_EQ(detail::decide_retry(kPolicy, facts(RequestKind::Create, GetParam().outcome)).action,
            GetParam().create);
}

// Whatever the row, the last attempt hands its error over (or its success back).
TEST_P(RetryRuleTest, LastAttemptNeverRetries) {
  for (RequestKind kind : {RequestKind::Read, RequestKind::Create}) {
    const Action expected =
        GetParam().outcome.type == Type::Success ? Action::Return : Action::Throw;
    EXPECT_EQ(detail::decide_retry(kPolicy, facts(kind, GetParam().outcome, 2)).action, expected);
    EXPECT_EQ(detail::decide_retry(kPolicy, facts(kind, GetParam().outcome, 7)).action, expected);
  }
}

// A retry is always announced with a delay that lands it at `at`.
TEST_P(RetryRuleTest, RetryAtIsNowPlusDelay) {
  for (RequestKind kind : {RequestKind::Read, RequestKind::Create}) {
    const RetryDecision decision = detail::decide_retry(kPolicy, facts(kind, GetParam().outcome));
    if (decision.action != Action::RetryAt) continue;
    EXPECT_EQ(decision.at, kNow + decision.delay);
    EXPECT_GE(decision.delay, ms(0));
  }
}

INSTANTIATE_TEST_SUITE_P(Outcomes, RetryRuleTest, ::testing::ValuesIn(rule()),
                         [](const ::testing::TestParamInfo<Row>& p) { return p.param.name; });

// ---------------------------------------------------------------------------------------------
// How many attempts

TEST(RetryDecisionTest, RetriesUpToMaxRetriesThenThrows) {
  for (int max_retries : {0, 1, 3}) {
    SCOPED_TRACE(max_retries);
    const RetryPolicy policy{max_retries, ms(500), ms(8000)};
    for (int attempt = 0; attempt <= max_retries; ++attempt) {
      const Action expected = attempt < max_retries ? Action::RetryAt : Action::Throw;
      EXPECT_EQ(
          detail::decide_retry(policy, facts(RequestKind::Read, server_error(), attempt)).action,
          expected)
          << "attempt " << attempt;
    }
  }
}

// A streamed fetch that broke after handing over bytes would hand them over again if resent.
TEST(RetryDecisionTest, AFailureAfterBodyBytesWereDeliveredIsNeverRetried) {
  for (const AttemptOutcome& outcome :
       {transport(Type::ConnectionFailed, true), transport(Type::TimedOut, true), server_error()}) {
    AttemptFacts delivered = facts(RequestKind::Read, outcome);
    EXPECT_EQ(detail::decide_retry(kPolicy, delivered).action, Action::RetryAt);
    delivered.body_delivered = true;
    EXPECT_EQ(detail::decide_retry(kPolicy, delivered).action, Action::Throw);
  }
}

// ---------------------------------------------------------------------------------------------
// How long to wait

TEST(RetryDecisionTest, DelayIsFullJitterOfTheExponentialCeiling) {
  const RetryPolicy policy{10, ms(400), ms(2000)};
  struct Case {
    int attempt;
    double jitter;
    milliseconds delay;
  };
  for (const Case& c :
       {Case{0, 0.5, ms(200)}, Case{1, 0.5, ms(400)}, Case{2, 0.5, ms(800)}, Case{3, 0.5, ms(1000)},
        Case{9, 0.5, ms(1000)}, Case{0, 0.0, ms(0)}, Case{2, 0.25, ms(400)}}) {
    SCOPED_TRACE("attempt " + std::to_string(c.attempt) + " jitter " + std::to_string(c.jitter));
    const RetryDecision decision =
        detail::decide_retry(policy, facts(RequestKind::Read, server_error(), c.attempt, c.jitter));
    ASSERT_EQ(decision.action, Action::RetryAt);
    EXPECT_EQ(decision.delay, c.delay);
    EXPECT_EQ(decision.delay, detail::backoff_delay(policy, c.attempt, c.jitter));
  }
}

TEST(RetryDecisionTest, JitterStaysWithinZeroAndTheCeiling) {
  const RetryPolicy policy{10, ms(500), ms(8000)};
  for (int attempt = 0; attempt < 10; ++attempt) {
    const milliseconds ceiling = std::min(ms(8000), ms(500LL << attempt));
    for (double jitter : {-1.0, 0.0, 0.3, 0.999999, 1.0, 7.0}) {
      SCOPED_TRACE("attempt " + std::to_string(attempt) + " jitter " + std::to_string(jitter));
      const RetryDecision decision = detail::decide_retry(
          policy, facts(RequestKind::Read, transport(Type::TimedOut, true), attempt, jitter));
      ASSERT_EQ(decision.action, Action::RetryAt);
      EXPECT_GE(decision.delay, ms(0));
      EXPECT_LE(decision.delay, ceiling);
    }
  }
}

TEST(RetryDecisionTest, NeverStraightBackAfterA429WithoutRetryAfter) {
  for (RequestKind kind : {RequestKind::Read, RequestKind::Create}) {
    // Jitter alone would retry at once: at least initial_backoff.
    EXPECT_EQ(detail::decide_retry(kPolicy, facts(kind, rate_limited(), 0, 0.0)).delay, ms(500));
    EXPECT_EQ(detail::decide_retry(kPolicy, facts(kind, rate_limited(), 0, 0.5)).delay, ms(500));
    // A longer backoff stands.
    EXPECT_EQ(detail::decide_retry(kPolicy, facts(kind, rate_limited(), 1, 0.75)).delay, ms(750));
  }
  // Other failures may retry at once when the jitter says so.
  EXPECT_EQ(detail::decide_retry(kPolicy, facts(RequestKind::Read, server_error(), 0, 0.0)).delay,
            ms(0));
}

TEST(RetryDecisionTest, RetryAfterReplacesTheBackoff) {
  struct Case {
    std::string name;
    RequestKind kind;
    AttemptOutcome outcome;
    milliseconds delay;
  };
  for (const Case& c : {
           Case{"429_GET_3s", RequestKind::Read, rate_limited(ms(3000)), ms(3000)},
           Case{"429_POST_4s", RequestKind::Create, rate_limited(ms(4000)), ms(4000)},
           Case{"429_shorter_than_initial_backoff", RequestKind::Read, rate_limited(ms(100)),
                ms(100)},
           Case{"429_date_in_the_past", RequestKind::Read, rate_limited(ms(0)), ms(0)},
           Case{"503_GET_2s", RequestKind::Read, server_error(ms(2000)), ms(2000)},
           Case{"429_exactly_60s", RequestKind::Read, rate_limited(ms(60000)), ms(60000)},
           Case{"503_exactly_60s", RequestKind::Read, server_error(ms(60000)), ms(60000)},
       }) {
    SCOPED_TRACE(c.name);
    const RetryDecision decision = detail::decide_retry(kPolicy, facts(c.kind, c.outcome, 0, 0.9));
    ASSERT_EQ(decision.action, Action::RetryAt);
    EXPECT_EQ(decision.delay, c.delay);
    EXPECT_EQ(decision.at, kNow + c.delay);
  }
}

TEST(RetryDecisionTest, RetryAfterOverSixtySecondsThrowsAtOnce) {
  EXPECT_EQ(detail::kMaxRetryAfter, ms(60000));
  for (milliseconds retry_after : {ms(60001), ms(61000), ms(3600000)}) {
    SCOPED_TRACE(retry_after.count());
    EXPECT_EQ(
        detail::decide_retry(kPolicy, facts(RequestKind::Read, rate_limited(retry_after))).action,
        Action::Throw);
    EXPECT_EQ(
        detail::decide_retry(kPolicy, facts(RequestKind::Create, rate_limited(retry_after))).action,
        Action::Throw);
    EXPECT_EQ(
        detail::decide_retry(kPolicy, facts(RequestKind::Read, server_error(retry_after))).action,
        Action::Throw);
  }
}

// Only an HTTP answer carries a Retry-After; a stray value on a transport failure is ignored.
TEST(RetryDecisionTest, RetryAfterCountsOnlyOnHttpAnswers) {
  AttemptOutcome outcome = transport(Type::ConnectionFailed, false);
  outcome.retry_after = ms(120000);
  const RetryDecision decision = detail::decide_retry(kPolicy, facts(RequestKind::Read, outcome));
  EXPECT_EQ(decision.action, Action::RetryAt);
  EXPECT_EQ(decision.delay, ms(250));
  EXPECT_FALSE(decision.pause_all_until);
}

// ---------------------------------------------------------------------------------------------
// The deadline

TEST(RetryDecisionTest, ARetryLandingAtOrAfterTheDeadlineThrows) {
  struct Case {
    std::string name;
    AttemptOutcome outcome;
    milliseconds deadline_in;  // after now
    Action action;
  };
  // Jitter 0.5 at attempt 0: a 250 ms backoff.
  for (const Case& c : {
           Case{"backoff_before", server_error(), ms(251), Action::RetryAt},
           Case{"backoff_at", server_error(), ms(250), Action::Throw},
           Case{"backoff_after", server_error(), ms(100), Action::Throw},
           Case{"deadline_passed", server_error(), ms(-1), Action::Throw},
           Case{"retry_after_before", rate_limited(ms(3000)), ms(3001), Action::RetryAt},
           Case{"retry_after_at", rate_limited(ms(3000)), ms(3000), Action::Throw},
           Case{"retry_after_after", rate_limited(ms(30000)), ms(10000), Action::Throw},
           Case{"429_minimum_at", rate_limited(), ms(500), Action::Throw},
       }) {
    SCOPED_TRACE(c.name);
    const RetryDecision decision = detail::decide_retry(
        kPolicy, facts(RequestKind::Read, c.outcome, 0, 0.5, kNow + c.deadline_in));
    EXPECT_EQ(decision.action, c.action);
  }
}

TEST(RetryDecisionTest, ASuccessIsReturnedEvenPastTheDeadline) {
  EXPECT_EQ(detail::decide_retry(kPolicy, facts(RequestKind::Read, success(), 0, 0.5, kNow - ms(1)))
                .action,
            Action::Return);
}

// ---------------------------------------------------------------------------------------------
// The pause of every request after a 429

TEST(RetryDecisionTest, A429PausesEveryRequest) {
  struct Case {
    std::string name;
    RequestKind kind;
    int attempt;
    AttemptOutcome outcome;
    std::optional<Clock::time_point> deadline;
    milliseconds pause;
    Action action;
  };
  for (const Case& c : {
           Case{"retry_after", RequestKind::Read, 0, rate_limited(ms(5000)), std::nullopt, ms(5000),
                Action::RetryAt},
           Case{"no_retry_after_initial_backoff", RequestKind::Create, 0, rate_limited(),
                std::nullopt, ms(500), Action::RetryAt},
           // Thrown, but the budget is still spent for every other request.
           Case{"last_attempt", RequestKind::Read, 2, rate_limited(ms(5000)), std::nullopt,
                ms(5000), Action::Throw},
           Case{"over_60s_capped", RequestKind::Read, 0, rate_limited(ms(120000)), std::nullopt,
                ms(60000), Action::Throw},
           Case{"exactly_60s", RequestKind::Read, 0, rate_limited(ms(60000)), std::nullopt,
                ms(60000), Action::RetryAt},
           Case{"past_the_deadline", RequestKind::Read, 0, rate_limited(ms(30000)),
                kNow + ms(10000), ms(30000), Action::Throw},
       }) {
    SCOPED_TRACE(c.name);
    const RetryDecision decision =
        detail::decide_retry(kPolicy, facts(c.kind, c.outcome, c.attempt, 0.5, c.deadline));
    EXPECT_EQ(decision.action, c.action);
    ASSERT_TRUE(decision.pause_all_until);
    EXPECT_EQ(*decision.pause_all_until, kNow + c.pause);
  }
}

TEST(RetryDecisionTest, NothingButA429RateLimitedPauses) {
  for (const Row& row : rule()) {
    if (row.name == "429_RATE_LIMITED") continue;
    for (RequestKind kind : {RequestKind::Read, RequestKind::Create}) {
      SCOPED_TRACE(row.name);
      EXPECT_FALSE(detail::decide_retry(kPolicy, facts(kind, row.outcome)).pause_all_until);
    }
  }
  // Not even with a Retry-After.
  EXPECT_FALSE(detail::decide_retry(kPolicy, facts(RequestKind::Read, server_error(ms(2000))))
                   .pause_all_until);
  EXPECT_FALSE(detail::decide_retry(
                   kPolicy, facts(RequestKind::Read, http(429, ErrorKind::UsageExceeded, ms(2000))))
                   .pause_all_until);
}

// --- a wait's poll failing after its own retries --------------------------------------------

ApiErrorDetails details_of(int status, std::optional<milliseconds> retry_after = std::nullopt) {
  ApiErrorDetails details;
  details.status = status;
  details.method = "GET";
  details.path = "/runs/run_1";
  details.retry_after = retry_after;
  return details;
}

TEST(PollFailureTest, TimeCuresLostConnectionsTimeoutsServerErrorsRateLimitsAndCutReplies) {
  using detail::classify_poll_failure;
  const auto transient = [](auto error) {
    return classify_poll_failure(std::make_exception_ptr(error)).transient;
  };
  EXPECT_TRUE(transient(ConnectionError("reset", true)));
  EXPECT_TRUE(transient(ConnectionError("refused", false)));
  EXPECT_TRUE(transient(TimeoutError("slow", true)));
  EXPECT_TRUE(transient(ServerError("503", details_of(503))));
  EXPECT_TRUE(transient(RateLimitError("429", details_of(429))));
  EXPECT_TRUE(transient(detail::TruncatedReplyError("cut", true)));

  EXPECT_FALSE(transient(detail::LastingConnectionError("certificate", false)));
  EXPECT_FALSE(transient(ProtocolError("not JSON", true)));
  EXPECT_FALSE(transient(AuthenticationError("401", details_of(401))));
  EXPECT_FALSE(transient(PermissionDeniedError("403", details_of(403))));
  EXPECT_FALSE(transient(NotFoundError("404", details_of(404))));
  EXPECT_FALSE(transient(UsageExceededError("429", details_of(429))));
  EXPECT_FALSE(classify_poll_failure(nullptr).transient);

  EXPECT_EQ(classify_poll_failure(
                std::make_exception_ptr(RateLimitError("429", details_of(429, ms(3000)))))
                .retry_after,
            ms(3000));
}

TEST(PollFailureTest, AWaitPollsThroughTransientFailuresOnItsPaceUntilItsDeadline) {
  using detail::PollFailure;
  using detail::PollFailureFacts;
  const PollFailure transient{true, std::nullopt};
  struct Case {
    const char* name;
    PollFailure failure;
    Clock::time_point failing_since;
    std::optional<Clock::time_point> deadline;
    milliseconds interval;
    std::optional<Clock::time_point> expected;
  };
  for (const Case& c : {
           Case{"blip", transient, kNow, kNow + ms(60000), ms(2000), kNow + ms(2000)},
           Case{"clipped_to_deadline", transient, kNow, kNow + ms(500), ms(2000), kNow + ms(500)},
           Case{"at_deadline", transient, kNow - ms(9000), kNow, ms(2000), std::nullopt},
           Case{"past_deadline", transient, kNow - ms(9000), kNow - ms(1), ms(2000), std::nullopt},
           Case{"lasting", PollFailure{}, kNow, kNow + ms(60000), ms(2000), std::nullopt},
           Case{"retry_after_longer", PollFailure{true, ms(7000)}, kNow, kNow + ms(60000), ms(2000),
                kNow + ms(7000)},
           Case{"retry_after_shorter", PollFailure{true, ms(100)}, kNow, kNow + ms(60000), ms(2000),
                kNow + ms(2000)},
           Case{"retry_after_past_deadline", PollFailure{true, ms(30000)}, kNow, kNow + ms(10000),
                ms(1000), std::nullopt},
           Case{"no_deadline", transient, kNow - ms(60000), std::nullopt, ms(5000),
                kNow + ms(5000)},
           Case{"no_deadline_outage_ends", transient, kNow - detail::kMaxPollOutage + ms(1000),
                std::nullopt, ms(5000), kNow + ms(1000)},
           Case{"no_deadline_outage_over", transient, kNow - detail::kMaxPollOutage, std::nullopt,
                ms(5000), std::nullopt},
       }) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(detail::repoll_at(
                  PollFailureFacts{c.failure, kNow, c.deadline, c.failing_since, c.interval}),
              c.expected);
  }
}

}  // namespace
}  // namespace runbase
