// Reading runs the way the service sends them (and the ways it might), and writing create
// requests the way the service expects them.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "error_mapping.hpp"
#include "json_codec.hpp"
#include "runbase/runbase.hpp"
#include "unit/support/test_client.hpp"

namespace runbase {
namespace {

using detail::encode_create_request;
using detail::parse_error_envelope;
using detail::parse_run;
using nlohmann::json;
using test::expect_throws;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(JsonCodecTest, ParsesACompleteRun) {
  const std::string body = R"({
    "id": "run_123", "model": "openai/gpt-image-1", "status": "succeeded", "costUsd": 50000,
    "output": {"urls": ["https://cdn.test/a.png", "https://cdn.test/b.png"]},
    "createdAt": "2026-01-01T00:00:00.000Z", "completedAt": "2026-01-01T00:00:12.345Z",
    "error": null
  })";
  const runbase::Run run = parse_run(body, "GET /runs/run_123");
  EXPECT_EQ(run.id, "run_123");
  EXPECT_EQ(run.model, "openai/gpt-image-1");
  EXPECT_EQ(run.status, RunStatus::Succeeded);
  EXPECT_EQ(run.status_text, "succeeded");
  EXPECT_EQ(run.cost_usd_micros, 50000);
  EXPECT_THAT(run.output_urls, ElementsAre("https://cdn.test/a.png", "https://cdn.test/b.png"));
  EXPECT_EQ(run.created_at, "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(run.completed_at, "2026-01-01T00:00:12.345Z");
  EXPECT_FALSE(run.error);
  EXPECT_EQ(run.raw_json, body);
  EXPECT_TRUE(run.is_terminal());
}

TEST(JsonCodecTest, ParsesEveryKnownStatus) {
  const std::pair<const char*, RunStatus> statuses[] = {{"pending", RunStatus::Pending},
                                                        {"processing", RunStatus::Processing},
                                                        {"succeeded", RunStatus::Succeeded},
                                                        {"failed", RunStatus::Failed}};
  for (const auto& [text, status] : statuses) {
    const runbase::Run run = parse_run(test::run_json("run_1", text), "GET");
    EXPECT_EQ(run.status, status) << text;
    EXPECT_EQ(run.status_text, text);
  }
}

TEST(JsonCodecTest, UnknownFieldsAreIgnored) {
  const runbase::Run run = parse_run(
      R"({"id":"run_1","status":"processing","costUsd":1,"priority":"high","nested":{"a":[1,2]},)"
      R"("output":{"urls":[],"thumbnails":["x"]},"progress":0.5})",
      "GET");
  EXPECT_EQ(run.id, "run_1");
  EXPECT_EQ(run.status, RunStatus::Processing);
  EXPECT_TRUE(run.output_urls.empty());
}

TEST(JsonCodecTest, UnknownStatusIsKeptAsText) {
  const runbase::Run run = parse_run(R"({"id":"run_1","status":"queued_upstream"})", "GET");
  EXPECT_EQ(run.status, RunStatus::Unknown);
  EXPECT_EQ(run.status_text, "queued_upstream");
  EXPECT_FALSE(run.is_terminal());
  // Case matters: the service's statuses are lower case.
  EXPECT_EQ(parse_run(R"({"id":"run_1","status":"SUCCEEDED"})", "GET").status, RunStatus::Unknown);
  const runbase::Run missing = parse_run(R"({"id":"run_1"})", "GET");
  EXPECT_EQ(missing.status, RunStatus::Unknown);
  EXPECT_FALSE(missing.is_terminal());
}

TEST(JsonCodecTest, MissingOrNonStringIdIsProtocolError) {
  for (const char* body : {R"({"status":"pending"})", R"({"id":42,"status":"pending"})",
                           R"({"id":null})", R"({"id":""})", R"({"id":["run_1"]})"}) {
    SCOPED_TRACE(body);
    const auto error = expect_throws<ProtocolError>([&] { parse_run(body, "POST /runs"); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(error->outcome_unknown());
    EXPECT_THAT(error->what(), HasSubstr("POST /runs"));
  }
}

TEST(JsonCodecTest, NotAnObjectIsProtocolError) {
  for (const char* body :
       {"", "[]", "[{\"id\":\"run_1\"}]", "\"run_1\"", "42", "null", "true", "<html>502</html>",
        "{\"id\":\"run_1\"", "{\"id\":\"run_1\"} trailing"}) {
    SCOPED_TRACE(body);
    const auto error = expect_throws<ProtocolError>([&] { parse_run(body, "GET /runs/run_1"); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(error->outcome_unknown());
  }
}

TEST(JsonCodecTest, NullOrAbsentTimestampsAreEmpty) {
  const runbase::Run nulls =
      parse_run(R"({"id":"run_1","createdAt":null,"completedAt":null})", "GET");
  EXPECT_EQ(nulls.created_at, "");
  EXPECT_EQ(nulls.completed_at, "");
  const runbase::Run absent = parse_run(R"({"id":"run_1"})", "GET");
  EXPECT_EQ(absent.created_at, "");
  EXPECT_EQ(absent.completed_at, "");
}

TEST(JsonCodecTest, CostIsMicroUsdAndZeroWhenAbsent) {
  EXPECT_EQ(parse_run(R"({"id":"r"})", "GET").cost_usd_micros, 0);
  EXPECT_EQ(parse_run(R"({"id":"r","costUsd":null})", "GET").cost_usd_micros, 0);
  EXPECT_EQ(parse_run(R"({"id":"r","costUsd":"50000"})", "GET").cost_usd_micros, 0);
  EXPECT_EQ(parse_run(R"({"id":"r","costUsd":0})", "GET").cost_usd_micros, 0);
  EXPECT_EQ(parse_run(R"({"id":"r","costUsd":50000})", "GET").cost_usd_micros, 50000);
  EXPECT_EQ(parse_run(R"({"id":"r","costUsd":9007199254740993})", "GET").cost_usd_micros,
            9007199254740993LL);
}

TEST(JsonCodecTest, ErrorAsString) {
  const runbase::Run run =
      parse_run(R"({"id":"r","status":"failed","error":"Prompt rejected"})", "GET");
  ASSERT_TRUE(run.error);
  EXPECT_EQ(run.error->message, "Prompt rejected");
  EXPECT_EQ(run.error->code, "");
}

TEST(JsonCodecTest, ErrorAsObject) {
  const runbase::Run run = parse_run(
      R"({"id":"r","status":"failed","error":{"message":"Prompt rejected","code":"moderation","extra":1}})",
      "GET");
  ASSERT_TRUE(run.error);
  EXPECT_EQ(run.error->message, "Prompt rejected");
  EXPECT_EQ(run.error->code, "moderation");
  const runbase::Run partial =
      parse_run(R"({"id":"r","status":"failed","error":{"message":"x"}})", "GET");
  ASSERT_TRUE(partial.error);
  EXPECT_EQ(partial.error->code, "");
}

TEST(JsonCodecTest, ErrorOfAnotherShapeIsKeptAsText) {
  const runbase::Run run = parse_run(R"({"id":"r","status":"failed","error":42})", "GET");
  ASSERT_TRUE(run.error);
  EXPECT_EQ(run.error->message, "42");
  const runbase::Run none = parse_run(R"({"id":"r","status":"failed","error":null})", "GET");
  ASSERT_TRUE(none.error);  // a failed run always has an error, if only an empty one
  EXPECT_FALSE(parse_run(R"({"id":"r","status":"succeeded","error":null})", "GET").error);
}

TEST(JsonCodecTest, OutputUrlsSkipNonStrings) {
  const runbase::Run run = parse_run(
      R"({"id":"r","output":{"urls":["https://cdn.test/a.png",null,7,{"u":"x"},"https://cdn.test/b.png"]}})",
      "GET");
  EXPECT_THAT(run.output_urls, ElementsAre("https://cdn.test/a.png", "https://cdn.test/b.png"));
  for (const char* body : {R"({"id":"r","output":null})", R"({"id":"r","output":{"urls":"x"}})",
                           R"({"id":"r","output":["https://cdn.test/a.png"]})"}) {
    EXPECT_TRUE(parse_run(body, "GET").output_urls.empty()) << body;
  }
}

TEST(JsonCodecTest, ARepeatedKeyCountsItsLastValue) {
  // As in a parsed JSON document: the later value replaces the earlier, even with another type.
  const runbase::Run run =
      parse_run(R"({"id":"first","id":"run_2","status":"queued","status":"succeeded","costUsd":5,)"
                R"("costUsd":"free","output":{"urls":["https://cdn.test/old.png"]},)"
                R"("output":{"urls":["https://cdn.test/a.png"],"urls":["https://cdn.test/b.png"]},)"
                R"("error":{"message":"m","code":"c"},"error":null,"model":"m1","model":7})",
                "GET");
  EXPECT_EQ(run.id, "run_2");
  EXPECT_EQ(run.status, RunStatus::Succeeded);
  EXPECT_EQ(run.cost_usd_micros, 0);
  EXPECT_THAT(run.output_urls, ElementsAre("https://cdn.test/b.png"));
  EXPECT_FALSE(run.error);
  EXPECT_EQ(run.model, "");
  const runbase::Run failed = parse_run(
      R"({"id":"r","status":"failed","error":"gone","error":{"code":"x","code":"c2"}})", "GET");
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->message, "");
  EXPECT_EQ(failed.error->code, "c2");
}

TEST(JsonCodecTest, FieldsNestedElsewhereAreNotTheRunsFields) {
  const runbase::Run run = parse_run(
      R"({"meta":{"id":"x","status":"failed","output":{"urls":["https://cdn.test/x.png"]}},)"
      R"("id":"run_1","status":"processing","output":{"extra":{"urls":["https://cdn.test/y.png"]},)"
      R"("urls":[["https://cdn.test/z.png"],"https://cdn.test/a.png",{"urls":["q"]}]},)"
      R"("error":{"detail":{"message":"deep"}},"list":[{"id":"y"},[1,[2,{}]]]})",
      "GET");
  EXPECT_EQ(run.id, "run_1");
  EXPECT_EQ(run.status, RunStatus::Processing);
  EXPECT_THAT(run.output_urls, ElementsAre("https://cdn.test/a.png"));
  ASSERT_TRUE(run.error);
  EXPECT_EQ(run.error->message, "");
}

TEST(JsonCodecTest, AnErrorNeitherTextNorObjectIsKeptAsItsJsonText) {
  EXPECT_EQ(parse_run(R"({"id":"r","error":[1, "two", {"x": null}]})", "GET").error->message,
            R"([1,"two",{"x":null}])");
  EXPECT_EQ(parse_run(R"({"id":"r","error":true})", "GET").error->message, "true");
  EXPECT_EQ(parse_run(R"({"id":"r","error":18446744073709551615})", "GET").error->message,
            "18446744073709551615");
}

TEST(JsonCodecTest, ABodyThatIsNotOneWholeObjectIsProtocolError) {
  for (const char* body : {R"({"id":"r"} {"id":"s"})", R"(["id","r"])", R"("run")", "",
                           R"({"id":"r",})", R"({"id":"r"}x)", "<html>"}) {
    const auto error = expect_throws<ProtocolError>([&] { parse_run(body, "GET /runs/r"); });
    ASSERT_TRUE(error) << body;
    EXPECT_THAT(error->what(), HasSubstr("not a JSON object")) << body;
  }
}

TEST(JsonCodecTest, ABodyCutShortIsATruncatedReplyAPollMayRepeat) {
  for (const char* body : {R"({"id":"r")", R"({"id":"r","status":"proc)", R"({"id":tr)", "{"}) {
    // A TruncatedReplyError, which a wait polls through; callers see a ProtocolError.
    const auto error =
        expect_throws<detail::TruncatedReplyError>([&] { parse_run(body, "GET /runs/r"); });
    ASSERT_TRUE(error) << body;
    EXPECT_THAT(error->what(), HasSubstr("ends before its JSON does")) << body;
  }
}

TEST(JsonCodecTest, ADeeplyNestedBodyIsReadWithoutRecursion) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const runbase::Run run = parse_run(R"({"junk":)" + deep + R"(,"id":"run_1"})", "GET");
  EXPECT_EQ(run.id, "run_1");
}

TEST(JsonCodecTest, AnUnsignedCostWrapsLikeAnInt64Read) {
  EXPECT_EQ(parse_run(R"({"id":"r","costUsd":18446744073709551615})", "GET").cost_usd_micros, -1);
  EXPECT_EQ(parse_run(R"({"id":"r","costUsd":-5})", "GET").cost_usd_micros, -5);
}

TEST(JsonCodecTest, ErrorEnvelopeIsReadTolerantly) {
  EXPECT_EQ(parse_error_envelope(R"({"error":{"message":"m","code":"c"}})").code, "c");
  EXPECT_EQ(parse_error_envelope(R"({"error":{"message":"m","code":"c"}})").message, "m");
  EXPECT_EQ(parse_error_envelope(R"({"error":{"message":"m"}})").code, "");
  EXPECT_EQ(parse_error_envelope(R"({"error":"plain"})").message, "plain");
  for (const char* body : {"", "<html>", "[]", "null", R"({"error":7})", R"({"error":{"code":1}})",
                           R"({"message":"m","code":"c"})", "{\"error\":{\"code\":\"c\""}) {
    SCOPED_TRACE(body);
    EXPECT_EQ(parse_error_envelope(body).code, "");
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

TEST(JsonCodecTest, EncodesPromptOnlyWithOptionalFieldsOmitted) {
  const json body = json::parse(encode_create_request(GptImage1Input{"a fox", std::nullopt, {}}));
  EXPECT_EQ(body, json::parse(R"({"model":"openai/gpt-image-1","input":{"prompt":"a fox"}})"));
  EXPECT_FALSE(body["input"].contains("aspect_ratio"));
  EXPECT_FALSE(body["input"].contains("image_urls"));
}

TEST(JsonCodecTest, EncodesAspectRatioAndImageUrls) {
  for (const auto& [ratio, text] :
       {std::pair{AspectRatio::Square, "1:1"}, std::pair{AspectRatio::Landscape, "3:2"},
        std::pair{AspectRatio::Portrait, "2:3"}}) {
    const json body = json::parse(encode_create_request(
        GptImage1Input{"a fox", ratio, {"https://img.test/1.png", "http://img.test/2.jpg"}}));
    EXPECT_EQ(body["input"]["aspect_ratio"], text);
    EXPECT_EQ(body["input"]["image_urls"],
              json::array({"https://img.test/1.png", "http://img.test/2.jpg"}));
  }
}

TEST(JsonCodecTest, UnicodePromptRoundTrips) {
  const std::string prompt =
      "A caf\xc3\xa9 in K\xc3\xb8"
      "benhavn, \xe6\x97\xa5\xe6\x9c\xac, \xf0\x9f\xa6\x8a, "
      "\"quotes\", back\\slash, tab\t, newline\n, nul-free";
  const std::string encoded = encode_create_request(GptImage1Input{prompt, std::nullopt, {}});
  const json body = json::parse(encoded);
  EXPECT_EQ(body["input"]["prompt"].get<std::string>(), prompt);
}

TEST(JsonCodecTest, RawInputIsEmbeddedAsAnObject) {
  const json body = json::parse(
      encode_create_request("some/model", R"({"prompt":"x","n":2,"opts":{"seed":null}})"));
  EXPECT_EQ(body["model"], "some/model");
  EXPECT_EQ(body["input"], json::parse(R"({"prompt":"x","n":2,"opts":{"seed":null}})"));
  EXPECT_THROW(encode_create_request("some/model", "[1,2]"), ValidationError);
  EXPECT_THROW(encode_create_request("some/model", "{"), ValidationError);
  EXPECT_THROW(encode_create_request("", "{}"), ValidationError);
}

// Through the Client: the run returned is the one in the body, raw JSON kept.
TEST(JsonCodecTest, ClientReturnsTheRawBody) {
  test::Harness h;
  Client client = h.client();
  const std::string body = R"({"id":"run_1","status":"processing","futureField":{"x":1}})";
  h.transport->reply(200, body);
  const runbase::Run run = client.get_run("run_1");
  EXPECT_EQ(run.raw_json, body);
  EXPECT_EQ(run.status, RunStatus::Processing);
}

TEST(JsonCodecTest, CostOutOfRangeReadsAsAbsent) {
  // Found by fuzz_run_json: casting 1e300 to int64 was undefined behaviour.
  EXPECT_EQ(parse_run(R"({"id":"run_1","costUsd":1e300})", "GET /runs/run_1").cost_usd_micros, 0);
  EXPECT_EQ(parse_run(R"({"id":"run_1","costUsd":50000.0})", "GET /runs/run_1").cost_usd_micros,
            50000);
}

TEST(JsonCodecTest, ModelIdThatIsNotUtf8IsAValidationError) {
  // Found by fuzz_run_json: nlohmann's type_error escaped instead of a runbase::Error.
  EXPECT_THROW(encode_create_request("openai/gpt\xff-image-1", R"({"prompt":"x"})"),
               ValidationError);
}

}  // namespace
}  // namespace runbase
