// The retry rules of the contract, to the letter: what is retried, what never is (a create that
// may have reached the server would be billed twice), how long to wait, and never past a deadline.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "retry.hpp"
#include "runbase/runbase.hpp"
#include "unit/support/test_client.hpp"

namespace runbase {
namespace {

using test::error_json;
using test::expect_throws;
using test::Harness;
using test::ms;
using test::run_json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

GptImage1Input fox() { return GptImage1Input{"a red fox in the snow", std::nullopt, {}}; }

std::string rate_limited() { return error_json("Too many requests", "RATE_LIMITED"); }
std::string usage_exceeded() { return error_json("Usage exceeded", "USAGE_EXCEEDED"); }

// ---------------------------------------------------------------------------------------------
// backoff_delay: full jitter

TEST(BackoffDelayTest, FullJitterStaysWithinTheExponentialCeiling) {
  const RetryPolicy policy{5, ms(500), ms(8000)};
  for (int attempt = 0; attempt < 12; ++attempt) {
    const long long ceiling = std::min(8000LL, 500LL << std::min(attempt, 20));
    for (double u : {0.0, 0.1, 0.25, 0.5, 0.75, 0.999999}) {
      SCOPED_TRACE("attempt " + std::to_string(attempt) + " u " + std::to_string(u));
      const auto delay = detail::backoff_delay(policy, attempt, u);
      EXPECT_GE(delay.count(), 0);
      EXPECT_LE(delay.count(), ceiling);
      // Full jitter: the delay is u of the ceiling (to the millisecond).
      EXPECT_NEAR(static_cast<double>(delay.count()), u * static_cast<double>(ceiling), 1.0);
    }
  }
}

TEST(BackoffDelayTest, CoversTheWholeRange) {
  const RetryPolicy policy{5, ms(500), ms(8000)};
  EXPECT_EQ(detail::backoff_delay(policy, 0, 0.0), ms(0));
  EXPECT_EQ(detail::backoff_delay(policy, 0, 0.5), ms(250));
  EXPECT_EQ(detail::backoff_delay(policy, 1, 0.5), ms(500));
  EXPECT_EQ(detail::backoff_delay(policy, 2, 0.5), ms(1000));
  EXPECT_GE(detail::backoff_delay(policy, 3, 0.9999), ms(3999));
  // Capped at max_backoff however many attempts.
  EXPECT_LE(detail::backoff_delay(policy, 10, 0.9999), ms(8000));
  EXPECT_GE(detail::backoff_delay(policy, 10, 0.9999), ms(7990));
  EXPECT_LE(detail::backoff_delay(policy, 1000, 0.9999), ms(8000));
  // Out-of-range jitter values are clamped, never negative or past the ceiling.
  EXPECT_EQ(detail::backoff_delay(policy, 0, -1.0), ms(0));
  EXPECT_LE(detail::backoff_delay(policy, 0, 7.0), ms(500));
}

// ---------------------------------------------------------------------------------------------
// GET: retried on 429, 5xx, timeouts and connection failures

struct Failure {
  std::string name;
  std::function<void(test::FakeTransport&)> script;
};

void PrintTo(const Failure& f, std::ostream* os) { *os << f.name; }

std::vector<Failure> retryable_for_get() {
  return {
      {"429_RATE_LIMITED", [](test::FakeTransport& t) { t.reply(429, rate_limited()); }},
      {"429_html", [](test::FakeTransport& t) { t.reply(429, "<html>slow down</html>"); }},
      {"500", [](test::FakeTransport& t) { t.reply(500, R"({"error":{"message":"boom"}})"); }},
      {"502_html", [](test::FakeTransport& t) { t.reply(502, "<html>Bad Gateway</html>"); }},
      {"503_empty", [](test::FakeTransport& t) { t.reply(503, ""); }},
      {"504", [](test::FakeTransport& t) { t.reply(504, ""); }},
      {"Timeout_sent", [](test::FakeTransport& t) { t.fail_timeout(true); }},
      {"Timeout_not_sent", [](test::FakeTransport& t) { t.fail_timeout(false); }},
      {"Connection_broken", [](test::FakeTransport& t) { t.fail_connection(true); }},
      {"Connection_refused", [](test::FakeTransport& t) { t.fail_connection(false); }},
  };
}

class GetRetryTest : public ::testing::TestWithParam<Failure> {};

TEST_P(GetRetryTest, RetriesThenSucceeds) {
  Harness h;
  Client client = h.client();
  GetParam().script(*h.transport);
  GetParam().script(*h.transport);
  h.transport->reply(200, run_json("run_1", "processing"));
  const runbase::Run run = client.get_run("run_1");
  EXPECT_EQ(run.id, "run_1");
  EXPECT_EQ(h.transport->count(), 3u);
  for (const auto& request : h.transport->requests()) {
    EXPECT_EQ(request.request.method, "GET");
    EXPECT_EQ(request.request.url, std::string(test::kTestBaseUrl) + "/runs/run_1");
  }
  // Each retry was announced.
  EXPECT_EQ(h.log_count(LogLevel::Warning), 2u);
}

TEST_P(GetRetryTest, GivesUpAfterMaxRetries) {
  for (int max_retries : {0, 1, 3}) {
    SCOPED_TRACE(max_retries);
    Harness h;
    ClientOptions options = h.options();
    options.retry.max_retries = max_retries;
    Client client = h.client(options);
    for (int i = 0; i < 10; ++i) GetParam().script(*h.transport);
    EXPECT_THROW(client.get_run("run_1"), Error);
    EXPECT_EQ(h.transport->count(), static_cast<std::size_t>(max_retries + 1));
  }
}

INSTANTIATE_TEST_SUITE_P(Failures, GetRetryTest, ::testing::ValuesIn(retryable_for_get()),
                         [](const ::testing::TestParamInfo<Failure>& p) { return p.param.name; });

// ---------------------------------------------------------------------------------------------
// POST /runs: retried only when the server surely did not take it

std::vector<Failure> retryable_for_post() {
  return {
      {"429_RATE_LIMITED", [](test::FakeTransport& t) { t.reply(429, rate_limited()); }},
      {"429_no_code", [](test::FakeTransport& t) { t.reply(429, ""); }},
      {"Connection_refused", [](test::FakeTransport& t) { t.fail_connection(false); }},
  };
}

class PostRetryTest : public ::testing::TestWithParam<Failure> {};

TEST_P(PostRetryTest, RetriesTheCreate) {
  Harness h;
  Client client = h.client();
  GetParam().script(*h.transport);
  h.transport->reply(201, run_json("run_1", "pending"));
  const runbase::Run run = client.create_run(fox());
  EXPECT_EQ(run.id, "run_1");
  ASSERT_EQ(h.transport->count(), 2u);
  EXPECT_EQ(h.transport->request(0).request.body, h.transport->request(1).request.body);
  EXPECT_EQ(h.transport->request(1).request.method, "POST");
}

TEST_P(PostRetryTest, GivesUpAfterMaxRetries) {
  Harness h;
  ClientOptions options = h.options();
  options.retry.max_retries = 2;
  Client client = h.client(options);
  for (int i = 0; i < 10; ++i) GetParam().script(*h.transport);
  EXPECT_THROW(client.create_run(fox()), Error);
  EXPECT_EQ(h.transport->count(), 3u);
}

INSTANTIATE_TEST_SUITE_P(Failures, PostRetryTest, ::testing::ValuesIn(retryable_for_post()),
                         [](const ::testing::TestParamInfo<Failure>& p) { return p.param.name; });

// The request may have reached the server: a second create would be billed twice.
std::vector<Failure> never_retried_for_post() {
  return {
      {"500", [](test::FakeTransport& t) { t.reply(500, R"({"error":{"message":"boom"}})"); }},
      {"502", [](test::FakeTransport& t) { t.reply(502, "<html>Bad Gateway</html>"); }},
      {"503",
       [](test::FakeTransport& t) {
         t.reply(503, "", {{"Retry-After", "1"}});
       }},
      {"504", [](test::FakeTransport& t) { t.reply(504, ""); }},
      {"Timeout_sent", [](test::FakeTransport& t) { t.fail_timeout(true); }},
      {"Connection_broken", [](test::FakeTransport& t) { t.fail_connection(true); }},
  };
}

class PostNoRetryTest : public ::testing::TestWithParam<Failure> {};

TEST_P(PostNoRetryTest, SendsTheCreateOnceAndReportsOutcomeUnknown) {
  Harness h;
  ClientOptions options = h.options();
  options.retry.max_retries = 5;
  Client client = h.client(options);
  for (int i = 0; i < 6; ++i) GetParam().script(*h.transport);
  h.transport->always_reply(201, run_json("run_2", "pending"));
  try {
    client.create_run(fox());
    ADD_FAILURE() << "create_run did not throw";
  } catch (const Error& e) {
    EXPECT_TRUE(e.outcome_unknown()) << e.what();
  }
  EXPECT_EQ(h.transport->count(), 1u);
  EXPECT_TRUE(h.clock->sleeps().empty());
}

TEST_P(PostNoRetryTest, RawCreateIsNotRetriedEither) {
  Harness h;
  Client client = h.client();
  for (int i = 0; i < 6; ++i) GetParam().script(*h.transport);
  EXPECT_THROW(client.create_run("openai/gpt-image-1", R"({"prompt":"x"})"), Error);
  EXPECT_EQ(h.transport->count(), 1u);
}

// generate() must not resend the create either.
TEST_P(PostNoRetryTest, GenerateDoesNotResendTheCreate) {
  Harness h;
  Client client = h.client();
  for (int i = 0; i < 6; ++i) GetParam().script(*h.transport);
  EXPECT_THROW(client.generate(fox()), Error);
  EXPECT_EQ(h.transport->count(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Failures, PostNoRetryTest, ::testing::ValuesIn(never_retried_for_post()),
                         [](const ::testing::TestParamInfo<Failure>& p) { return p.param.name; });

// ---------------------------------------------------------------------------------------------
// Never retried, GET or POST

struct Rejection {
  int status;
  std::string body;
  std::string name;
};

void PrintTo(const Rejection& r, std::ostream* os) { *os << r.name; }

class NeverRetriedTest : public ::testing::TestWithParam<Rejection> {};

TEST_P(NeverRetriedTest, GetIsSentOnce) {
  Harness h;
  ClientOptions options = h.options();
  options.retry.max_retries = 5;
  Client client = h.client(options);
  h.transport->always_reply(GetParam().status, GetParam().body, {{"Retry-After", "1"}});
  EXPECT_THROW(client.get_run("run_1"), ApiError);
  EXPECT_EQ(h.transport->count(), 1u);
  EXPECT_EQ(h.log_count(LogLevel::Warning), 0u);
}

TEST_P(NeverRetriedTest, PostIsSentOnce) {
  Harness h;
  ClientOptions options = h.options();
  options.retry.max_retries = 5;
  Client client = h.client(options);
  h.transport->always_reply(GetParam().status, GetParam().body, {{"Retry-After", "1"}});
  EXPECT_THROW(client.create_run(fox()), ApiError);
  EXPECT_EQ(h.transport->count(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Rejections, NeverRetriedTest,
    ::testing::Values(Rejection{400, error_json("Invalid input", "invalid_input"), "400"},
                      Rejection{401, error_json("Invalid API key", "invalid_api_key"), "401"},
                      Rejection{402, error_json("Top up", "insufficient_balance"), "402"},
                      Rejection{403, error_json("Spend limit", "api_key_spend_limit_exceeded"),
                                "403"},
                      Rejection{404, error_json("Run not found", "run_not_found"), "404"},
                      Rejection{409, "", "409"},
                      Rejection{429, usage_exceeded(), "429_USAGE_EXCEEDED"}),
    [](const ::testing::TestParamInfo<Rejection>& p) { return p.param.name; });

TEST(RetryTest, UsageExceededIsThrownAsUsageExceeded) {
  Harness h;
  Client client = h.client();
  h.transport->always_reply(429, usage_exceeded());
  const auto error = expect_throws<UsageExceededError>([&] { client.get_run("run_1"); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code(), "USAGE_EXCEEDED");
  EXPECT_EQ(h.transport->count(), 1u);
}

// ---------------------------------------------------------------------------------------------
// How long between attempts

TEST(RetryTest, BacksOffWithJitterBetweenAttempts) {
  Harness h;  // jitter source fixed at 0.5
  ClientOptions options = h.options();
  options.retry = RetryPolicy{4, ms(400), ms(2000)};
  Client client = h.client(options);
  h.transport->reply_times(4, 503, "");
  h.transport->reply(200, run_json("run_1", "pending"));
  client.get_run("run_1");
  // Half of 400, 800, 1600, 2000 (capped).
  EXPECT_THAT(h.clock->sleep_durations(), ElementsAre(ms(200), ms(400), ms(800), ms(1000)));
  const auto requests = h.transport->requests();
  ASSERT_EQ(requests.size(), 5u);
  EXPECT_EQ(requests[4].sent_at, ms(200 + 400 + 800 + 1000));
}

TEST(RetryTest, NeverStraightBackAfterA429WithoutRetryAfter) {
  Harness h;
  h.jitter = 0.0;  // jitter alone would retry at once
  ClientOptions options = h.options();
  options.retry = RetryPolicy{2, ms(500), ms(8000)};
  Client client = h.client(options);
  h.transport->reply(429, rate_limited());
  h.transport->reply(200, run_json("run_1", "pending"));
  client.get_run("run_1");
  ASSERT_EQ(h.transport->count(), 2u);
  EXPECT_GE(h.transport->request(1).sent_at, ms(500));
}

TEST(RetryTest, HonoursRetryAfterInSeconds) {
  Harness h;
  Client client = h.client();
  h.transport->reply(429, rate_limited(), {{"Retry-After", "3"}});
  h.transport->reply(200, run_json("run_1", "pending"));
  client.get_run("run_1");
  ASSERT_EQ(h.transport->count(), 2u);
  EXPECT_EQ(h.transport->request(1).sent_at, ms(3000));
}

TEST(RetryTest, HonoursRetryAfterOnServerErrorsForGet) {
  Harness h;
  Client client = h.client();
  h.transport->reply(503, "", {{"retry-after", "2"}});
  h.transport->reply(200, run_json("run_1", "pending"));
  client.get_run("run_1");
  ASSERT_EQ(h.transport->count(), 2u);
  EXPECT_EQ(h.transport->request(1).sent_at, ms(2000));
}

TEST(RetryTest, HonoursRetryAfterAsHttpDate) {
  Harness h;  // the fake wall clock reads Sun, 06 Nov 1994 08:49:37 GMT
  Client client = h.client();
  h.transport->reply(429, rate_limited(), {{"Retry-After", "Sun, 06 Nov 1994 08:49:41 GMT"}});
  h.transport->reply(201, run_json("run_1", "pending"));
  client.create_run(fox());
  ASSERT_EQ(h.transport->count(), 2u);
  EXPECT_EQ(h.transport->request(1).sent_at, ms(4000));
}

TEST(RetryTest, RetryAfterDateInThePastRetriesWithoutLongWait) {
  Harness h;
  Client client = h.client();
  h.transport->reply(503, "", {{"Retry-After", "Sat, 05 Nov 1994 08:49:41 GMT"}});
  h.transport->reply(200, run_json("run_1", "pending"));
  client.get_run("run_1");
  ASSERT_EQ(h.transport->count(), 2u);
  EXPECT_LE(h.transport->request(1).sent_at, ms(500));
}

TEST(RetryTest, RetryAfterOfSixtySecondsIsHonoured) {
  Harness h;
  Client client = h.client();
  h.transport->reply(429, rate_limited(), {{"Retry-After", "60"}});
  h.transport->reply(200, run_json("run_1", "pending"));
  client.get_run("run_1");
  ASSERT_EQ(h.transport->count(), 2u);
  EXPECT_EQ(h.transport->request(1).sent_at, ms(60000));
}

TEST(RetryTest, RetryAfterOverSixtySecondsIsThrownAtOnce) {
  for (const char* value : {"61", "3600", "Sun, 06 Nov 1994 08:51:37 GMT"}) {
    SCOPED_TRACE(value);
    Harness h;
    Client client = h.client();
    h.transport->reply(429, rate_limited(), {{"Retry-After", value}});
    h.transport->always_reply(200, run_json("run_1", "pending"));
    const auto error = expect_throws<RateLimitError>([&] { client.get_run("run_1"); });
    ASSERT_TRUE(error);
    ASSERT_TRUE(error->retry_after());
    EXPECT_GT(*error->retry_after(), ms(60000));
    EXPECT_EQ(h.transport->count(), 1u);
    EXPECT_TRUE(h.clock->sleeps().empty());
  }
}

TEST(RetryTest, RetryAfterOverSixtySecondsOnServerErrorIsThrownAtOnce) {
  Harness h;
  Client client = h.client();
  h.transport->reply(503, "", {{"Retry-After", "120"}});
  h.transport->always_reply(200, run_json("run_1", "pending"));
  EXPECT_THROW(client.get_run("run_1"), ServerError);
  EXPECT_EQ(h.transport->count(), 1u);
}

TEST(RetryTest, RetryAfterThatDoesNotFitBeforeTheDeadlineIsThrownAtOnce) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("run_1", "processing"));
  h.transport->reply(429, rate_limited(), {{"Retry-After", "30"}});
  h.transport->always_reply(200, run_json("run_1", "succeeded"));
  WaitOptions options;
  options.timeout = ms(10000);
  options.poll_interval = ms(1000);
  const auto error = expect_throws<RateLimitError>([&] { client.wait("run_1", options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(h.transport->count(), 2u);
  // It did not sleep through the Retry-After, nor to the deadline.
  EXPECT_LT(h.clock->elapsed(), ms(10000));
}

TEST(RetryTest, GenerateDeadlineBoundsTheCreatesRetriesToo) {
  // Found by the fault soak: a create retried through Retry-After past the wait's deadline.
  Harness h;
  Client client = h.client();
  h.transport->reply(429, rate_limited(), {{"Retry-After", "30"}});
  h.transport->always_reply(200, run_json("run_1", "pending"));
  WaitOptions options;
  options.timeout = ms(10000);
  GptImage1Input input;
  input.prompt = "a fox";
  const auto error = expect_throws<RateLimitError>([&] { client.generate(input, options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(h.transport->count(), 1u) << "the 30 s Retry-After does not fit in 10 s";
  EXPECT_LT(h.clock->elapsed(), ms(10000));
}

TEST(RetryTest, NothingIsRetriedPastTheDeadline) {
  Harness h;
  ClientOptions options = h.options();
  options.retry = RetryPolicy{50, ms(500), ms(8000)};
  Client client = h.client(options);
  h.transport->latency(ms(100));
  h.transport->reply(200, run_json("run_1", "processing"));
  h.transport->always_reply(503, "");
  WaitOptions wait;
  wait.timeout = ms(5000);
  EXPECT_THROW(client.wait("run_1", wait), Error);
  ASSERT_GE(h.transport->count(), 2u);
  for (const auto& request : h.transport->requests()) {
    EXPECT_LT(request.sent_at, ms(5000));
    EXPECT_LE(request.sent_at + request.request.timeout, ms(5000));
  }
  EXPECT_LE(h.clock->elapsed(), ms(5000));
  EXPECT_LT(h.transport->count(), 51u);
}

TEST(RetryTest, ConnectionFailuresOnGetAreRetriedUntilTheDeadlineThenTimeoutCarriesRunId) {
  Harness h;
  ClientOptions options = h.options();
  options.retry = RetryPolicy{100, ms(200), ms(1000)};
  Client client = h.client(options);
  h.transport->always([&](const HttpRequest& request) -> HttpResponse {
    h.clock->advance(request.timeout);  // each attempt hangs until its clipped timeout
    throw TimeoutError("timed out", true);
  });
  WaitOptions wait;
  wait.timeout = ms(3000);
  const auto error = expect_throws<TimeoutError>([&] { client.wait("run_7", wait); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_7");
  EXPECT_EQ(h.clock->elapsed(), ms(3000));
}

TEST(RetryTest, RetryLogLineNamesTheRequestAndNotTheKey) {
  Harness h;
  Client client = h.client();
  h.transport->reply(503, "");
  h.transport->reply(200, run_json("run_1", "pending"));
  client.get_run("run_1");
  bool found = false;
  for (const auto& [level, line] : h.logs()) {
    EXPECT_THAT(line, ::testing::Not(HasSubstr(std::string(test::kTestKey))));
    if (level == LogLevel::Warning) {
      found = true;
      EXPECT_THAT(line, HasSubstr("/runs/run_1"));
      EXPECT_THAT(line, HasSubstr("503"));
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace runbase
