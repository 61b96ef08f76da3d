// Every HTTP error becomes the right class, with the server's details, an actionable what() and
// never the API key.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <typeindex>
#include <typeinfo>

#include "error_mapping.hpp"
#include "runbase/runbase.hpp"
#include "unit/support/test_client.hpp"

namespace runbase {
namespace {

using test::error_json;
using test::expect_throws;
using test::Harness;
using test::kTestKey;
using ::testing::HasSubstr;
using ::testing::Not;

struct StatusCase {
  int status;
  std::string code;  // empty: no envelope code
  std::type_index expected;
  std::string name;
};

void PrintTo(const StatusCase& c, std::ostream* os) { *os << c.name; }

std::vector<StatusCase> status_cases() {
  return {
      {400, "invalid_json", typeid(BadRequestError), "400_invalid_json"},
      {400, "missing_model", typeid(BadRequestError), "400_missing_model"},
      {400, "missing_input", typeid(BadRequestError), "400_missing_input"},
      {400, "invalid_input", typeid(BadRequestError), "400_invalid_input"},
      {400, "model_not_found", typeid(BadRequestError), "400_model_not_found"},
      {401, "missing_api_key", typeid(AuthenticationError), "401_missing_api_key"},
      {401, "invalid_api_key", typeid(AuthenticationError), "401_invalid_api_key"},
      {402, "insufficient_balance", typeid(InsufficientCreditsError), "402"},
      {403, "api_key_spend_limit_exceeded", typeid(PermissionDeniedError), "403_spend_limit"},
      {403, "ip_not_allowed", typeid(PermissionDeniedError), "403_ip_not_allowed"},
      {404, "run_not_found", typeid(NotFoundError), "404"},
      {429, "RATE_LIMITED", typeid(RateLimitError), "429_RATE_LIMITED"},
      {429, "SLOW_DOWN", typeid(RateLimitError), "429_other_code"},
      {429, "", typeid(RateLimitError), "429_no_code"},
      {429, "USAGE_EXCEEDED", typeid(UsageExceededError), "429_USAGE_EXCEEDED"},
      {500, "", typeid(ServerError), "500"},
      {502, "", typeid(ServerError), "502"},
      {503, "", typeid(ServerError), "503"},
      {504, "", typeid(ServerError), "504"},
      {599, "", typeid(ServerError), "599"},
      {405, "", typeid(ApiError), "405"},
      {409, "conflict", typeid(ApiError), "409"},
      {413, "", typeid(ApiError), "413"},
      {418, "teapot", typeid(ApiError), "418"},
  };
}

class ErrorStatusTest : public ::testing::TestWithParam<StatusCase> {};

// GET /runs/<id>: the class is exactly the one the contract names, with status and code.
TEST_P(ErrorStatusTest, GetMapsStatusToClass) {
  const StatusCase& c = GetParam();
  Harness h;
  ClientOptions options = h.options();
  options.retry.max_retries = 0;
  Client client = h.client(options);
  h.transport->reply(c.status, error_json("Something went wrong", c.code),
                     {{"X-Request-Id", "req_42"}});

  try {
    client.get_run("run_1");
    FAIL() << "no exception";
  } catch (const std::exception& e) {
    EXPECT_EQ(std::type_index(typeid(e)), c.expected) << "got " << typeid(e).name();
    const auto* api = dynamic_cast<const ApiError*>(&e);
    ASSERT_NE(api, nullptr);
    EXPECT_EQ(api->status(), c.status);
    EXPECT_EQ(api->code(), c.code);
    EXPECT_EQ(api->request_id(), "req_42");
    EXPECT_EQ(api->server_message(), "Something went wrong");
    EXPECT_EQ(api->body(), error_json("Something went wrong", c.code));
    EXPECT_THAT(e.what(), HasSubstr(std::to_string(c.status)));
    EXPECT_THAT(e.what(), HasSubstr("Something went wrong"));
    EXPECT_THAT(e.what(), HasSubstr("GET"));
    EXPECT_THAT(e.what(), HasSubstr("/runs/run_1"));
    if (!c.code.empty()) {
      EXPECT_THAT(e.what(), HasSubstr(c.code));
    }
    // 5xx: the server may have acted. 4xx: it rejected the request.
    EXPECT_EQ(api->outcome_unknown(), c.status >= 500);
  }
}

// POST /runs: the same mapping; nothing but the single request is sent for these.
TEST_P(ErrorStatusTest, PostMapsStatusToClass) {
  const StatusCase& c = GetParam();
  Harness h;
  ClientOptions options = h.options();
  options.retry.max_retries = 0;
  Client client = h.client(options);
  h.transport->reply(c.status, error_json("Nope", c.code));

  try {
    client.create_run(GptImage1Input{"a red fox", std::nullopt, {}});
    FAIL() << "no exception";
  } catch (const std::exception& e) {
    EXPECT_EQ(std::type_index(typeid(e)), c.expected) << "got " << typeid(e).name();
    const auto* api = dynamic_cast<const ApiError*>(&e);
    ASSERT_NE(api, nullptr);
    EXPECT_EQ(api->status(), c.status);
    EXPECT_EQ(api->code(), c.code);
    EXPECT_THAT(e.what(), HasSubstr("POST"));
    EXPECT_THAT(e.what(), HasSubstr("/runs"));
    EXPECT_EQ(api->outcome_unknown(), c.status >= 500);
  }
  EXPECT_EQ(h.transport->count(), 1u);
}

// An empty, HTML or garbage body still gives the right class, with an empty code.
TEST_P(ErrorStatusTest, UnreadableBodiesKeepTheClass) {
  const StatusCase& c = GetParam();
  for (const std::string& body :
       {std::string(), std::string("<html><body><h1>Bad Gateway</h1></body></html>"),
        std::string("\x01\xff\xfe garbage {{{"), std::string("[1,2,3]"), std::string("null"),
        std::string(R"({"error":42})"), std::string(R"({"error":{"code":7,"message":[]}})"),
        std::string(R"({"message":"not the envelope","code":"invalid_input"})")}) {
    SCOPED_TRACE(body);
    Harness h;
    ClientOptions options = h.options();
    options.retry.max_retries = 0;
    Client client = h.client(options);
    h.transport->reply(c.status, body, {{"Content-Type", "text/html"}});
    try {
      client.get_run("run_1");
      ADD_FAILURE() << "no exception";
    } catch (const std::exception& e) {
      // A 429 without the USAGE_EXCEEDED code is a rate limit.
      const std::type_index expected =
          c.status == 429 ? std::type_index(typeid(RateLimitError)) : c.expected;
      EXPECT_EQ(std::type_index(typeid(e)), expected) << "got " << typeid(e).name();
      const auto* api = dynamic_cast<const ApiError*>(&e);
      ASSERT_NE(api, nullptr);
      EXPECT_EQ(api->status(), c.status);
      EXPECT_EQ(api->code(), "");
      EXPECT_THAT(e.what(), HasSubstr(std::to_string(c.status)));
      EXPECT_THAT(e.what(), HasSubstr("/runs/run_1"));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllStatuses, ErrorStatusTest, ::testing::ValuesIn(status_cases()),
                         [](const ::testing::TestParamInfo<StatusCase>& p) {
                           return p.param.name;
                         });

TEST(ErrorsTest, RedirectOnApiCallIsProtocolError) {
  Harness h;
  Client client = h.client();
  h.transport->reply(302, "", {{"Location", "https://elsewhere.test/api/v1/runs/run_1"}});
  const auto error = expect_throws<ProtocolError>([&] { client.get_run("run_1"); });
  ASSERT_TRUE(error);
  EXPECT_THAT(error->what(), HasSubstr("302"));
  EXPECT_THAT(error->what(), HasSubstr("/runs/run_1"));
  EXPECT_EQ(h.transport->count(), 1u);  // a redirect is never followed nor retried
  EXPECT_FALSE(h.transport->last().request.follow_redirects);
}

TEST(ErrorsTest, RequestIdHeaderIsFoundInAnyCase) {
  for (const char* name : {"X-Request-Id", "x-request-id", "X-REQUEST-ID", "x-Request-ID"}) {
    SCOPED_TRACE(name);
    Harness h;
    Client client = h.client();
    h.transport->reply(404, error_json("Run not found", "run_not_found"), {{name, "req_abc123"}});
    const auto error = expect_throws<NotFoundError>([&] { client.get_run("run_1"); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->request_id(), "req_abc123");
  }
}

TEST(ErrorsTest, RequestIdEmptyWhenNotSent) {
  Harness h;
  Client client = h.client();
  h.transport->reply(404, error_json("Run not found", "run_not_found"));
  const auto error = expect_throws<NotFoundError>([&] { client.get_run("run_1"); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->request_id(), "");
}

// The contract's own example: "401 invalid_api_key: Invalid API key (POST /runs)".
TEST(ErrorsTest, WhatIsAnActionableSentence) {
  Harness h;
  Client client = h.client();
  h.transport->reply(401, error_json("Invalid API key", "invalid_api_key"));
  const auto error =
      expect_throws<AuthenticationError>([&] { client.create_run("openai/gpt-image-1", "{}"); });
  ASSERT_TRUE(error);
  const std::string what = error->what();
  EXPECT_THAT(what, HasSubstr("401 invalid_api_key: Invalid API key ("));
  EXPECT_THAT(what, HasSubstr("POST "));
  EXPECT_THAT(what, HasSubstr("/runs)"));
  EXPECT_THAT(what, HasSubstr("API key"));  // and says what to do about it
}

TEST(ErrorsTest, WhatNeverContainsTheKeyEchoedByTheServer) {
  const std::string key(kTestKey);
  const std::vector<std::string> echoes = {
      error_json("Invalid API key " + key, "invalid_api_key"),
      error_json("Invalid API key '" + key + "'", "invalid_api_key"),
      error_json("Authorization: Bearer " + key + " was rejected", "invalid_api_key"),
      R"({"error":{"message":"bad key","code":"invalid_api_key"},"apiKey":")" + key + "\"}",
      "<html>key " + key + " rejected</html>",
      key,
  };
  for (const std::string& body : echoes) {
    SCOPED_TRACE(body);
    Harness h;
    Client client = h.client();
    h.transport->reply(401, body, {{"X-Request-Id", "req_1"}});
    const auto error = expect_throws<AuthenticationError>([&] { client.get_run("run_1"); });
    ASSERT_TRUE(error);
    EXPECT_THAT(error->what(), Not(HasSubstr(key)));
    EXPECT_THAT(error->what(), Not(HasSubstr("4f9c2b7a1e0d")));  // not even the secret part
    EXPECT_THAT(error->body(), Not(HasSubstr(key)));
  }
}

// server_message() is what a user logs or shows next to what(): it must not carry the key either.
TEST(ErrorsTest, ServerMessageNeverContainsTheKeyEchoedByTheServer) {
  const std::string key(kTestKey);
  Harness h;
  Client client = h.client();
  h.transport->reply(401, error_json("Invalid API key " + key, "invalid_api_key"));
  const auto error = expect_throws<AuthenticationError>([&] { client.get_run("run_1"); });
  ASSERT_TRUE(error);
  EXPECT_THAT(error->server_message(), HasSubstr("Invalid API key"));
  EXPECT_THAT(error->server_message(), Not(HasSubstr(key)));
  EXPECT_THAT(error->details().message, Not(HasSubstr(key)));
}

TEST(ErrorsTest, HugeBodiesAreCappedInWhat) {
  Harness h;
  ClientOptions options = h.options();
  options.retry.max_retries = 0;
  Client client = h.client(options);
  const std::string html = "<html>" + std::string(1u << 20, 'x') + "</html>";
  h.transport->reply(502, html);
  h.transport->reply(400, error_json(std::string(100000, 'm'), "invalid_input"));
  const auto server = expect_throws<ServerError>([&] { client.get_run("run_1"); });
  ASSERT_TRUE(server);
  EXPECT_LT(std::string(server->what()).size(), 1000u);
  EXPECT_EQ(server->body().size(), html.size());  // the whole body stays available
  const auto bad = expect_throws<BadRequestError>([&] { client.get_run("run_1"); });
  ASSERT_TRUE(bad);
  EXPECT_LT(std::string(bad->what()).size(), 1000u);
  EXPECT_THAT(bad->what(), HasSubstr("invalid_input"));
}

// Servers and proxies echo credentials in query-string or form style too ("api_key=sk-...").
TEST(ErrorsTest, WhatNeverContainsTheKeyEchoedAfterEquals) {
  const std::string key(kTestKey);
  Harness h;
  Client client = h.client();
  h.transport->reply(401, error_json("Rejected api_key=" + key, "invalid_api_key"));
  const auto error = expect_throws<AuthenticationError>([&] { client.get_run("run_1"); });
  ASSERT_TRUE(error);
  EXPECT_THAT(error->what(), Not(HasSubstr("4f9c2b7a1e0d")));
  EXPECT_THAT(error->body(), Not(HasSubstr("4f9c2b7a1e0d")));
}

TEST(ErrorsTest, UnreadableSuccessIsProtocolErrorWithOutcomeUnknown) {
  for (const std::string& body :
       {std::string(""), std::string("<html>ok</html>"), std::string("[]"), std::string("{}"),
        std::string(R"({"id":7})"), std::string(R"({"status":"pending"})")}) {
    SCOPED_TRACE(body);
    Harness h;
    Client client = h.client();
    h.transport->reply(200, body);
    const auto get = expect_throws<ProtocolError>([&] { client.get_run("run_1"); });
    ASSERT_TRUE(get);
    EXPECT_TRUE(get->outcome_unknown());

    h.transport->reply(201, body);
    const auto post = expect_throws<ProtocolError>([&] {
      client.create_run(GptImage1Input{"a cat", std::nullopt, {}});
    });
    ASSERT_TRUE(post);
    // A run may exist and be billed: the caller must be told.
    EXPECT_TRUE(post->outcome_unknown());
  }
}

TEST(ErrorsTest, TransportErrorsKeepOutcomeUnknown) {
  for (bool unknown : {false, true}) {
    Harness h;
    ClientOptions options = h.options();
    options.retry.max_retries = 0;
    Client client = h.client(options);
    h.transport->fail_connection(unknown);
    const auto connection = expect_throws<ConnectionError>([&] { client.get_run("run_1"); });
    ASSERT_TRUE(connection);
    EXPECT_EQ(connection->outcome_unknown(), unknown);

    h.transport->fail_timeout(unknown);
    const auto timeout = expect_throws<TimeoutError>([&] { client.get_run("run_1"); });
    ASSERT_TRUE(timeout);
    EXPECT_EQ(timeout->outcome_unknown(), unknown);
  }
}

TEST(ErrorsTest, ValidationErrorsAreRaisedBeforeSendingAndOutcomeKnown) {
  Harness h;
  Client client = h.client();
  const auto error = expect_throws<ValidationError>([&] {
    client.create_run(GptImage1Input{"", std::nullopt, {}});
  });
  ASSERT_TRUE(error);
  EXPECT_FALSE(error->outcome_unknown());
  EXPECT_EQ(h.transport->count(), 0u);
}

TEST(ErrorsTest, RetryAfterIsExposedInSecondsAndAsDate) {
  Harness h;
  ClientOptions options = h.options();
  options.retry.max_retries = 0;
  Client client = h.client(options);
  h.transport->reply(429, error_json("Slow down", "RATE_LIMITED"), {{"Retry-After", "7"}});
  const auto seconds = expect_throws<RateLimitError>([&] { client.get_run("run_1"); });
  ASSERT_TRUE(seconds);
  ASSERT_TRUE(seconds->retry_after());
  EXPECT_EQ(*seconds->retry_after(), std::chrono::milliseconds(7000));

  // The fake wall clock reads Sun, 06 Nov 1994 08:49:37 GMT.
  h.transport->reply(429, error_json("Slow down", "RATE_LIMITED"),
                     {{"retry-after", "Sun, 06 Nov 1994 08:50:07 GMT"}});
  const auto date = expect_throws<RateLimitError>([&] { client.get_run("run_1"); });
  ASSERT_TRUE(date);
  ASSERT_TRUE(date->retry_after());
  EXPECT_EQ(*date->retry_after(), std::chrono::milliseconds(30000));

  h.transport->reply(503, "", {{"Retry-After", "2"}});
  const auto server = expect_throws<ServerError>([&] { client.get_run("run_1"); });
  ASSERT_TRUE(server);
  ASSERT_TRUE(server->retry_after());
  EXPECT_EQ(*server->retry_after(), std::chrono::milliseconds(2000));

  h.transport->reply(429, error_json("Slow down", "RATE_LIMITED"));
  const auto none = expect_throws<RateLimitError>([&] { client.get_run("run_1"); });
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->retry_after());
}

TEST(ErrorsTest, ParseRetryAfter) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(784111777));
  using detail::parse_retry_after;
  EXPECT_EQ(parse_retry_after("0", now), std::chrono::milliseconds(0));
  EXPECT_EQ(parse_retry_after(" 12 ", now), std::chrono::milliseconds(12000));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:38 GMT", now),
            std::chrono::milliseconds(1000));
  EXPECT_EQ(parse_retry_after("Mon, 07 Nov 1994 08:49:37 GMT", now),
            std::chrono::milliseconds(86400000));
  // A date in the past means "now".
  EXPECT_EQ(parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now), std::chrono::milliseconds(0));
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("-5", now));
  EXPECT_FALSE(parse_retry_after("1.5", now));
  EXPECT_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:49:37 PST", now));
  EXPECT_FALSE(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now));
}

TEST(ErrorsTest, FarFutureRetryAfterDateIsALongDelayNotAnOverflow) {
  // Found by fuzz_retry_after: years past 2262 overflowed a nanosecond time_point.
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(784111777));
  const auto delay = detail::parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now);
  ASSERT_TRUE(delay);
  EXPECT_EQ(delay->count(), (253402300799LL - 784111777LL) * 1000);
}

TEST(ErrorsTest, CopiesKeepEverything) {
  Harness h;
  ClientOptions options = h.options();
  options.retry.max_retries = 0;
  Client client = h.client(options);
  h.transport->reply(429, error_json("Slow down", "RATE_LIMITED"),
                     {{"Retry-After", "3"}, {"X-Request-Id", "req_9"}});
  const auto error = expect_throws<RateLimitError>([&] { client.get_run("run_1"); });
  ASSERT_TRUE(error);
  const RateLimitError copy = *error;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_STREQ(copy.what(), error->what());
  EXPECT_EQ(copy.code(), "RATE_LIMITED");
  EXPECT_EQ(copy.request_id(), "req_9");
  EXPECT_EQ(copy.retry_after(), std::chrono::milliseconds(3000));
}

TEST(ErrorsTest, EveryClassDerivesFromError) {
  // catch (const runbase::Error&) catches everything the SDK throws.
  const auto check = [](std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const Error&) {
      SUCCEED();
    } catch (...) {
      ADD_FAILURE() << "not a runbase::Error";
    }
  };
  check(std::make_exception_ptr(ValidationError("x")));
  check(std::make_exception_ptr(ConnectionError("x")));
  check(std::make_exception_ptr(TimeoutError("x")));
  check(std::make_exception_ptr(ProtocolError("x")));
  check(std::make_exception_ptr(CancelledError("x")));
  check(std::make_exception_ptr(RunFailedError(runbase::Run{})));
  check(std::make_exception_ptr(NotFoundError("x", ApiErrorDetails{})));
  check(std::make_exception_ptr(UsageExceededError("x", ApiErrorDetails{})));
}

}  // namespace
}  // namespace runbase
