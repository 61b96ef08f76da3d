// The parts a Client is made of, each on its own: the create request, the spend ledger, the API
// caller's request builders and response readers, the downloader's file naming and the batch's
// in-flight limit. The Client as a whole is client_test.cpp's.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "api_caller.hpp"
#include "batch_journal.hpp"
#include "batch_run.hpp"
#include "create_request.hpp"
#include "downloader.hpp"
#include "json_codec.hpp"
#include "price_table.hpp"
#include "runbase/runbase.hpp"
#include "spend_ledger.hpp"
#include "unit/support/test_client.hpp"

namespace runbase {
namespace {

using test::expect_throws;
using test::kTestBaseUrl;
using test::kTestKey;
using test::ms;
using test::run_json;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

Run run_with(std::string id, RunStatus status, std::int64_t cost) {
  Run run;
  run.id = std::move(id);
  run.status = status;
  run.status_text = std::string(to_string(status));
  run.cost_usd_micros = cost;
  return run;
}

// --- CreateRequest ------------------------------------------------------------------------

TEST(CreateRequestTest, TypedBodyIsTheOneEncodeCreateRequestMakes) {
  // Byte for byte: a batch journal's digests are of this body, so journals written before the
  // single create path must still match.
  GptImage1Input input{"a fox \xC3\xA9t\xC3\xA9",
                       AspectRatio::Portrait,
                       {"https://example.com/a.png", "https://example.com/b.png"}};
  const detail::CreateRequest request = detail::make_create_request(input);
  EXPECT_EQ(request.model, "openai/gpt-image-1");
  EXPECT_EQ(detail::create_body(request), detail::encode_create_request(input));
  EXPECT_EQ(detail::input_digest(detail::create_body(request)),
            detail::input_digest(detail::encode_create_request(input)));

  GptImage1Input bare{"plain", std::nullopt, {}};
  EXPECT_EQ(detail::create_body(detail::make_create_request(bare)),
            detail::encode_create_request(bare));
}

TEST(CreateRequestTest, TypedInputIsValidatedFirst) {
  const auto error = expect_throws<ValidationError>([] {
    detail::make_create_request(GptImage1Input{"", std::nullopt, {}});
  });
  ASSERT_TRUE(error);
  EXPECT_THAT(error->what(), HasSubstr("prompt"));
}

TEST(CreateRequestTest, RawBodyIsCheckedWhenEncoded) {
  const detail::CreateRequest raw{"acme/model", R"({"size": 3})"};
  EXPECT_EQ(detail::create_body(raw),
            detail::encode_create_request("acme/model", R"({"size": 3})"));
  expect_throws<ValidationError>([] { detail::create_body({"acme/model", "[1, 2]"}); });
  expect_throws<ValidationError>([] { detail::create_body({"", "{}"}); });
}

// --- SpendLedger --------------------------------------------------------------------------

TEST(SpendLedgerTest, NegativeLimitIsRefused) {
  const auto error = expect_throws<ValidationError>([] { detail::SpendLedger ledger(-1); });
  ASSERT_TRUE(error);
  EXPECT_STREQ(error->what(),
               "ClientOptions::spend_limit_usd_micros is negative (-1): use 0 for no limit.");
}

TEST(SpendLedgerTest, SettledRunIsSpentAndItsFailureRefunded) {
  detail::SpendLedger ledger(0);
  ledger.reserve(std::nullopt).settle(run_with("run_1", RunStatus::Pending, 50000));
  EXPECT_EQ(ledger.spent(), 50000);
  EXPECT_EQ(ledger.last_run_cost(), 50000);
  ledger.note_refund(run_with("run_1", RunStatus::Processing, 50000));  // not finished: kept
  EXPECT_EQ(ledger.spent(), 50000);
  ledger.note_refund(run_with("run_1", RunStatus::Failed, 50000));
  EXPECT_EQ(ledger.spent(), 0);
  ledger.note_refund(run_with("run_1", RunStatus::Failed, 50000));  // once only
  EXPECT_EQ(ledger.spent(), 0);
}

TEST(SpendLedgerTest, RunFailedAtOnceCostsNothing) {
  detail::SpendLedger ledger(0);
  ledger.reserve(std::nullopt).settle(run_with("run_1", RunStatus::Failed, 50000));
  EXPECT_EQ(ledger.spent(), 0);
  EXPECT_EQ(ledger.last_run_cost(), 50000);  // still what the next run is expected to cost
}

TEST(SpendLedgerTest, UnsettledReservationGivesItsShareBack) {
  detail::SpendLedger ledger(100000);
  ledger.reserve(std::nullopt).settle(run_with("run_1", RunStatus::Pending, 50000));
  {
    detail::SpendLedger::Reservation held =
        ledger.reserve(std::nullopt);  // 50000 spent + 50000 held
    const auto error = expect_throws<SpendLimitError>([&] { ledger.reserve(std::nullopt); });
    ASSERT_TRUE(error);
    EXPECT_THAT(error->what(), HasSubstr("(and 50000 more for creates in flight)"));
    EXPECT_EQ(error->committed_usd_micros(), 100000);
  }  // the create threw: its share is free again
  detail::SpendLedger::Reservation again = ledger.reserve(std::nullopt);
  again.settle(run_with("run_2", RunStatus::Pending, 50000));
  EXPECT_EQ(ledger.spent(), 100000);
}

TEST(SpendLedgerTest, MovedReservationSettlesOnce) {
  detail::SpendLedger ledger(50000);
  ledger.reserve(std::nullopt)
      .settle(run_with("run_1", RunStatus::Failed, 50000));  // learns the cost
  {
    detail::SpendLedger::Reservation first = ledger.reserve(std::nullopt);
    detail::SpendLedger::Reservation second(std::move(first));
  }
  // Had the share been given back twice, the ledger would think 50000 more was free.
  detail::SpendLedger::Reservation held = ledger.reserve(std::nullopt);
  expect_throws<SpendLimitError>([&] { ledger.reserve(std::nullopt); });
}

// A reply without a usable costUsd (absent, a string, negative) would count nothing and let
// the limit be passed: the run is counted at the model's list price instead.
TEST(SpendLedgerTest, RunWithoutAUsableCostIsCountedAtTheListPrice) {
  detail::SpendLedger ledger(120000);
  ledger.reserve(50000).settle(run_with("run_1", RunStatus::Pending, 0));
  EXPECT_EQ(ledger.spent(), 50000);
  EXPECT_EQ(ledger.last_run_cost(), 0);  // only a cost the server gave is learned
  ledger.reserve(50000).settle(run_with("run_2", RunStatus::Pending, -7));
  EXPECT_EQ(ledger.spent(), 100000);
  const auto error = expect_throws<SpendLimitError>([&] { ledger.reserve(50000); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->committed_usd_micros(), 100000);
  ledger.note_refund(run_with("run_2", RunStatus::Failed, 0));  // refunds what it counted
  EXPECT_EQ(ledger.spent(), 50000);
}

// Known before anything is sent, the list price is the first create's share: a limit below one
// run's price refuses the first create instead of letting it through.
TEST(SpendLedgerTest, ListPriceIsTheShareOfTheFirstCreate) {
  detail::SpendLedger ledger(30000);
  const auto error = expect_throws<SpendLimitError>([&] { ledger.reserve(50000); });
  ASSERT_TRUE(error);
  EXPECT_THAT(error->what(), HasSubstr("a run costs about 50000"));
  detail::SpendLedger unpriced(30000);
  unpriced.reserve(std::nullopt).settle(run_with("run_1", RunStatus::Pending, 20000));
  EXPECT_EQ(unpriced.spent(), 20000);  // a model without a list price: the server's cost
}

// A model without a list price whose reply has no cost: counted at the last run's cost.
TEST(SpendLedgerTest, UnpricedRunWithoutACostIsCountedAtTheLastRunsCost) {
  detail::SpendLedger ledger(0);
  ledger.reserve(std::nullopt).settle(run_with("run_1", RunStatus::Pending, 40000));
  ledger.reserve(std::nullopt).settle(run_with("run_2", RunStatus::Pending, 0));
  EXPECT_EQ(ledger.spent(), 80000);
}

// --- PriceTable ---------------------------------------------------------------------------

TEST(PriceTableTest, ModelsAndTiersHaveThePublishedPrices) {
  struct Row {
    const char* model;
    const char* input;
    std::optional<std::int64_t> price;
  };
  const Row rows[] = {
      {"openai/gpt-image-1", R"({"prompt":"a fox"})", 50000},
      {"openai/gpt-image-1.5", R"({"prompt":"a fox","quality":"medium"})", 30000},
      {"openai/gpt-image-1.5", R"({"prompt":"a fox","quality":"high"})", 160000},
      {"openai/gpt-image-1.5", R"({"prompt":"a fox"})", 160000},   // no tier: the dearest
      {"openai/gpt-image-1.5", R"({"quality":"ultra"})", 160000},  // unknown tier: the dearest
      {"openai/gpt-image-2", R"({"resolution":"1K"})", 50000},
      {"openai/gpt-image-2", R"({"resolution":"2K"})", 70000},
      {"openai/gpt-image-2", R"({"resolution":"4K"})", 120000},
      {"openai/gpt-image-2", R"({"resolution":2})", 120000},
      {"openai/gpt-image-2", "not json", 120000},
      {"google/nano-banana-2", R"({"prompt":"a fox"})", std::nullopt},
      {"", "{}", std::nullopt},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(detail::list_price_usd_micros(detail::CreateRequest{row.model, row.input}), row.price)
        << row.model << " " << row.input;
  }
}

TEST(PriceTableTest, EstimateIsThePriceTheSpendLimitCounts) {
  EXPECT_EQ(estimate_cost_usd_micros(GptImage1Input{"a fox", std::nullopt, {}}), 50000);
  EXPECT_EQ(estimate_cost_usd_micros(GptImage15Input{"a fox", std::nullopt, Quality::Medium, {}}),
            30000);
  EXPECT_EQ(estimate_cost_usd_micros(GptImage2Input{"a fox", std::nullopt, std::nullopt, {}}),
            120000);  // no resolution: the dearest, 4K
  EXPECT_EQ(estimate_cost_usd_micros(ModelInput("google/nano-banana-2", R"({"prompt":"x"})")),
            std::nullopt);
  EXPECT_THROW(estimate_cost_usd_micros(GptImage1Input{"", std::nullopt, {}}), ValidationError);
}

// --- ApiCaller ----------------------------------------------------------------------------

class ApiCallerTest : public ::testing::Test {
 protected:
  detail::ApiCaller::Config config() {
    detail::ApiCaller::Config config;
    config.api_key = std::string(kTestKey);
    config.base_url = std::string(kTestBaseUrl);
    config.user_agent = "runbase-cpp/test";
    config.rate_limit.requests = 0;
    config.transport = harness_.transport;
    config.clock = harness_.clock;
    config.logger = harness_.options().logger;
    config.unit_random = [] { return 0.5; };
    return config;
  }

  test::Harness harness_;
  detail::SpendLedger ledger_{0};
};

TEST_F(ApiCallerTest, CreateRequestIsBuiltWithoutSending) {
  detail::ApiCaller api(config(), ledger_);
  const HttpRequest request = api.create_request({"acme/model", R"({"a":1})"});
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.url, std::string(kTestBaseUrl) + "/runs");
  EXPECT_EQ(request.body, R"({"input":{"a":1},"model":"acme/model"})");
  EXPECT_EQ(request.max_response_bytes, std::size_t{16} * 1024 * 1024);
  EXPECT_FALSE(request.follow_redirects);
  EXPECT_THAT(request.headers,
              UnorderedElementsAre(Pair("Authorization", "Bearer " + std::string(kTestKey)),
                                   Pair("Accept", "application/json"),
                                   Pair("User-Agent", "runbase-cpp/test"),
                                   Pair("Content-Type", "application/json")));
  EXPECT_EQ(harness_.transport->count(), 0u);
}

TEST_F(ApiCallerTest, GetRequestEncodesTheIdAndRefusesAnEmptyOne) {
  detail::ApiCaller api(config(), ledger_);
  const HttpRequest request = api.get_request("run/1 2");
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.url, std::string(kTestBaseUrl) + "/runs/run%2F1%202");
  EXPECT_TRUE(request.body.empty());
  EXPECT_EQ(request.headers.size(), 3u);  // no Content-Type without a body
  expect_throws<ValidationError>([&] { api.get_request(""); });
}

TEST_F(ApiCallerTest, ReadersParseLogAndRefund) {
  detail::ApiCaller api(config(), ledger_);
  detail::SpendLedger::Reservation reservation = ledger_.reserve(std::nullopt);
  const runbase::Run created = api.read_created(HttpResponse{201, {}, run_json("run_1", "pending")},
                                                "acme/model", reservation);
  EXPECT_EQ(created.id, "run_1");
  EXPECT_EQ(harness_.log_count(LogLevel::Info), 1u);
  EXPECT_THAT(harness_.logs().back().second,
              HasSubstr("Created run run_1 (acme/model, 50000 micro-USD)."));
  // The reservation is settled with the run before the line is logged.
  ASSERT_EQ(ledger_.spent(), 50000);
  const runbase::Run failed =
      api.read_run(HttpResponse{200, {}, run_json("run_1", "failed")}, "run_1");
  EXPECT_EQ(failed.status, RunStatus::Failed);
  EXPECT_EQ(ledger_.spent(), 0);

  api.read_run(HttpResponse{200, {}, run_json("run_2", "queued")}, "run_2");
  api.read_run(HttpResponse{200, {}, run_json("run_2", "queued")}, "run_2");
  EXPECT_EQ(harness_.log_count(LogLevel::Warning), 1u);  // an unknown status, logged once
  expect_throws<ProtocolError>([&] { api.read_run(HttpResponse{200, {}, "<html>"}, "run_3"); });
}

TEST_F(ApiCallerTest, BlockingCreateReservesAndSettles) {
  harness_.transport->reply(201, run_json("run_1", "pending"));
  detail::ApiCaller api(config(), ledger_);
  const runbase::Run run = api.create({"acme/model", "{}"}, std::nullopt);
  EXPECT_EQ(run.id, "run_1");
  EXPECT_EQ(ledger_.spent(), 50000);
  EXPECT_EQ(harness_.transport->count(), 1u);
}

TEST_F(ApiCallerTest, BlockingCreateOfABadRawInputSendsNothing) {
  detail::ApiCaller api(config(), ledger_);
  expect_throws<ValidationError>([&] { api.create({"acme/model", "nope"}, std::nullopt); });
  EXPECT_EQ(harness_.transport->count(), 0u);
}

TEST_F(ApiCallerTest, ExposesWhatAnotherDriverNeeds) {
  detail::ApiCaller::Config settings = config();
  settings.retry.max_retries = 5;
  settings.request_timeout = ms(1234);
  settings.rate_limit = RateLimit{7, ms(1000)};
  detail::ApiCaller api(settings, ledger_);
  EXPECT_EQ(api.retry_policy().max_retries, 5);
  EXPECT_EQ(api.request_timeout(), ms(1234));
  EXPECT_EQ(api.rate_limit().requests, 7);
  ASSERT_NE(api.limiter(), nullptr);
  EXPECT_EQ(api.clock(), harness_.clock);
  EXPECT_EQ(&api.ledger(), &ledger_);
  EXPECT_TRUE(api.logging());
  api.log(LogLevel::Debug, "hello");
  EXPECT_EQ(harness_.logs().back().second, "hello");
}

// --- Downloader naming --------------------------------------------------------------------

TEST(DownloaderTest, ExtensionFromContentTypeThenUrl) {
  EXPECT_EQ(detail::extension_for("image/PNG; charset=binary", "https://cdn/x"), "png");
  EXPECT_EQ(detail::extension_for(" image/jpeg ", "https://cdn/x.png"), "jpg");
  EXPECT_EQ(detail::extension_for("application/octet-stream", "https://cdn/a/x.webp?sig=1"),
            "webp");
  EXPECT_EQ(detail::extension_for("", "https://cdn/x.toolong"), "bin");
  EXPECT_EQ(detail::extension_for("", "https://cdn/x.p-g"), "bin");
  EXPECT_EQ(detail::extension_for("", "https://cdn/x"), "bin");
  EXPECT_EQ(detail::extension_for("", "https://cdn/x.JPEG"), "jpg");
  // Only media types: nothing a double-click would run.
  EXPECT_EQ(detail::extension_for("", "https://cdn/x.sh"), "bin");
  EXPECT_EQ(detail::extension_for("application/octet-stream", "https://cdn/x.exe"), "bin");
  EXPECT_EQ(detail::extension_for("text/html", "https://cdn/x.html"), "bin");
}

TEST(DownloaderTest, FileStemKeepsOnlySafeCharacters) {
  EXPECT_EQ(detail::file_stem("run_a-1.b"), "run_a-1.b");
  EXPECT_EQ(detail::file_stem("../run/1 x"), ".._run_1_x");
}

// --- Batch in-flight limit ----------------------------------------------------------------

TEST(BatchRunTest, InFlightLimitFollowsTheRateBudget) {
  EXPECT_EQ(detail::batch_in_flight_limit(3, RateLimit{20, ms(10000)}, ms(4000)), 3u);
  EXPECT_EQ(detail::batch_in_flight_limit(0, RateLimit{0, ms(10000)}, ms(4000)),
            std::numeric_limits<std::size_t>::max());
  // A window's worth of creates plus those made while runs of 4 s go on: 20 + ceil(20 * 0.4).
  EXPECT_EQ(detail::batch_in_flight_limit(0, RateLimit{20, ms(10000)}, ms(4000)), 28u);
}

}  // namespace
}  // namespace runbase
