// Secrets never reach logs or error messages: API-key-like tokens and bearer tokens are hidden,
// and headers are shown only when known to be harmless.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "redact.hpp"

namespace runbase {
namespace {

using detail::describe_headers;
using detail::redact;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(RedactTest, HidesApiKeys) {
  EXPECT_EQ(redact("sk-abc123"), "sk-***");
  EXPECT_EQ(redact("key sk-live_AbC.123~x+y/z= here"), "key sk-*** here");
  EXPECT_EQ(redact("\"sk-abc\""), "\"sk-***\"");
  EXPECT_EQ(redact("{\"apiKey\":\"sk-abc123\"}"), "{\"apiKey\":\"sk-***\"}");
  EXPECT_EQ(redact("(sk-abc) [sk-def] 'sk-ghi'"), "(sk-***) [sk-***] 'sk-***'");
  EXPECT_EQ(redact("two: sk-one, sk-two!"), "two: sk-***, sk-***!");
  EXPECT_EQ(redact("SK-UPPER"), "sk-***");
  EXPECT_EQ(redact("line1\nsk-abc\nline3"), "line1\nsk-***\nline3");
}

TEST(RedactTest, HidesBearerTokens) {
  EXPECT_EQ(redact("Authorization: Bearer abc.def-ghi"), "Authorization: Bearer ***");
  EXPECT_EQ(redact("bearer xyz"), "Bearer ***");
  EXPECT_EQ(redact("Bearer   spaced"), "Bearer ***");
  EXPECT_THAT(redact("Authorization: Bearer sk-secret-1"), Not(HasSubstr("secret")));
}

TEST(RedactTest, LeavesOrdinaryWordsAlone) {
  for (const char* text : {"task-list", "ask-me", "risk-free", "desk-lamp", "mask-", "sk", "skate",
                           "a sketch", "Bearer", "Bearers are here", "no secrets here",
                           "https://runbase.net/api/v1/runs/run_123", ""}) {
    EXPECT_EQ(redact(text), text) << text;
  }
}

// A key right after '=' or '/' is still a key: "api_key=sk-...", "/keys/sk-...".
TEST(RedactTest, HidesKeysAfterEqualsOrSlash) {
  EXPECT_THAT(redact("api_key=sk-live-secret123"), Not(HasSubstr("secret123")));
  EXPECT_THAT(redact("https://x.test/v1?key=sk-live-secret123&a=b"), Not(HasSubstr("secret123")));
  EXPECT_THAT(redact("/keys/sk-live-secret123"), Not(HasSubstr("secret123")));
}

TEST(RedactTest, DescribeHeadersShowsOnlyHarmlessHeaders) {
  const std::string line = describe_headers({{"Content-Type", "application/json"},
                                             {"Authorization", "Bearer sk-secret-1"},
                                             {"Cookie", "session=abc"},
                                             {"Set-Cookie", "session=abc"},
                                             {"X-Api-Key", "anything"},
                                             {"X-Brand-New-Header", "value"},
                                             {"User-Agent", "runbase-cpp/0.1.0"},
                                             {"x-request-id", "req_1"},
                                             {"Retry-After", "3"}});
  EXPECT_THAT(line, HasSubstr("Content-Type: application/json"));
  EXPECT_THAT(line, HasSubstr("Authorization: <redacted>"));
  EXPECT_THAT(line, HasSubstr("Cookie: <redacted>"));
  EXPECT_THAT(line, HasSubstr("Set-Cookie: <redacted>"));
  EXPECT_THAT(line, HasSubstr("X-Api-Key: <redacted>"));
  EXPECT_THAT(line, HasSubstr("X-Brand-New-Header: <redacted>"));  // new headers hidden by default
  EXPECT_THAT(line, HasSubstr("User-Agent: runbase-cpp/0.1.0"));
  EXPECT_THAT(line, HasSubstr("x-request-id: req_1"));
  EXPECT_THAT(line, HasSubstr("Retry-After: 3"));
  EXPECT_THAT(line, Not(HasSubstr("secret")));
  EXPECT_THAT(line, Not(HasSubstr("session=abc")));
  EXPECT_THAT(line, Not(HasSubstr("anything")));
}

TEST(RedactTest, DescribeHeadersMatchesNamesInAnyCase) {
  EXPECT_EQ(describe_headers({{"authorization", "Bearer x"}}), "authorization: <redacted>");
  EXPECT_EQ(describe_headers({{"AUTHORIZATION", "Bearer x"}}), "AUTHORIZATION: <redacted>");
  EXPECT_EQ(describe_headers({{"content-type", "image/png"}}), "content-type: image/png");
  EXPECT_EQ(describe_headers({}), "");
}

TEST(RedactTest, DescribeHeadersRedactsKeysInsideShownHeaders) {
  // Even an allowed header cannot carry a key into the log.
  const std::string line = describe_headers(
      {{"Location", "https://x.test/?k= sk-secret-1"}, {"User-Agent", "app Bearer tok123"}});
  EXPECT_THAT(line, Not(HasSubstr("secret")));
  EXPECT_THAT(line, Not(HasSubstr("tok123")));
}

}  // namespace
}  // namespace runbase
