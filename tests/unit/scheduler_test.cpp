// The scheduler's pure logic: the run-duration estimator and the first poll it plans, the
// timestamps it learns from, the batch journal, and creates going before polls in the limiter.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "batch_journal.hpp"
#include "rate_limiter.hpp"
#include "runbase/runbase.hpp"
#include "scheduler.hpp"
#include "unit/support/test_client.hpp"

namespace runbase {
namespace {

using detail::BatchJournal;
using detail::DurationEstimator;
using std::chrono::milliseconds;
using test::FakeClock;
using test::Harness;
using test::ms;
using test::run_json;

TEST(SchedulerTest, EstimatorStartsAtTheDocumentedFourSeconds) {
  DurationEstimator estimator;
  EXPECT_EQ(estimator.samples(), 0u);
  EXPECT_EQ(estimator.expected(), ms(4000));
}

// Before any run has finished, one that has run for 10 s says runs take at least that: a batch
// sizes its runs in flight by it. Once runs are learned, a straggler changes nothing.
TEST(SchedulerTest, AnUnfinishedRunRaisesTheColdEstimateOnly) {
  DurationEstimator estimator;
  EXPECT_EQ(estimator.expected(ms(1000)), ms(4000));
  EXPECT_EQ(estimator.expected(ms(10000)), ms(10000));
  estimator.observe(ms(3000));
  EXPECT_EQ(estimator.expected(ms(10000)), estimator.expected());
}

// Nothing learned yet: a quarter of the prior, backing off by half; the default WaitOptions give
// polls at 1 s, 2.5 s, 4.75 s, ...
TEST(SchedulerTest, ColdPlanStartsAtAQuarterOfThePrior) {
  const detail::PollPlan plan = DurationEstimator().plan(ms(1000), ms(5000));
  EXPECT_EQ(plan.first, ms(1000));
  EXPECT_EQ(plan.gap, ms(1500));
}

// However short the caller's poll_interval, at most two polls come before the prior: not 0.25 s,
// 0.625 s, 1.19 s, ... but 1 s, 2.5 s.
TEST(SchedulerTest, ColdPlanSpendsAtMostTwoPollsBeforeThePrior) {
  for (const auto interval : {ms(1), ms(50), ms(250), ms(1000)}) {
    const detail::PollPlan plan = DurationEstimator().plan(interval, ms(5000));
    EXPECT_GE(plan.first + plan.gap, DurationEstimator::kPrior / 2) << interval.count();
    EXPECT_LE(plan.first, DurationEstimator::kPrior) << interval.count();
  }
  // The caller's bounds still hold: a slower interval, or a lower max.
  EXPECT_EQ(DurationEstimator().plan(ms(3000), ms(5000)).first, ms(3000));
  EXPECT_EQ(DurationEstimator().plan(ms(100), ms(500)).first, ms(500));
}

TEST(SchedulerTest, EstimatorLearnsFromOneRunWithSomeMargin) {
  DurationEstimator estimator;
  estimator.observe(ms(2000));
  // Mean 2000, spread assumed at an eighth (250): expected at mean + 2 spreads.
  EXPECT_EQ(estimator.expected(), ms(2500));
  const detail::PollPlan plan = estimator.plan(ms(1000), ms(5000));
  EXPECT_EQ(plan.first, ms(2500));
  EXPECT_EQ(plan.gap, ms(1500));  // not done then: from poll_interval, backing off
}

// A learned model's first poll is where its runs are done, even past max_poll_interval: polling a
// 20 s run at 5 s only spends the rate budget.
TEST(SchedulerTest, LearnedFirstPollGoesPastTheMaxForLongRuns) {
  DurationEstimator estimator;
  estimator.observe(ms(20000));
  EXPECT_EQ(estimator.plan(ms(1000), ms(5000)).first, ms(25000));  // 20000 + 2 * 2500
  // A wide spread: no later than max_poll_interval past the mean.
  DurationEstimator spread;
  spread.observe(ms(10000));
  spread.observe(ms(30000));  // mean 20000, deviation 1250 + (20000 - 1250) / 2
  EXPECT_EQ(spread.expected(), ms(41250));
  EXPECT_EQ(spread.plan(ms(1000), ms(5000)).first, ms(25000));
  // Quick runs: never before poll_interval.
  DurationEstimator quick;
  quick.observe(ms(100));
  EXPECT_EQ(quick.plan(ms(1000), ms(5000)).first, ms(1000));
}

TEST(SchedulerTest, EstimatorConvergesOnSteadyRunsAndFollowsAChange) {
  DurationEstimator estimator;
  for (int i = 0; i < 50; ++i) estimator.observe(ms(i % 2 == 0 ? 900 : 1100));
  EXPECT_NEAR(static_cast<double>(estimator.expected().count()), 1200.0, 60.0);
  for (int i = 0; i < 10; ++i) estimator.observe(ms(3000));
  EXPECT_GE(estimator.expected(), ms(2700));  // within a few runs of the change
  for (int i = 0; i < 30; ++i) estimator.observe(ms(3000));
  EXPECT_NEAR(static_cast<double>(estimator.expected().count()), 3000.0, 150.0);
}

TEST(SchedulerTest, EstimatorIgnoresImpossibleDurations) {
  DurationEstimator estimator;
  estimator.observe(ms(-5));
  estimator.observe(std::chrono::hours(48));
  EXPECT_EQ(estimator.samples(), 0u);
}

TEST(SchedulerTest, BacksOffByHalfUpToTheMax) {
  EXPECT_EQ(detail::next_interval(ms(1000), ms(5000)), ms(1500));
  EXPECT_EQ(detail::next_interval(ms(4000), ms(5000)), ms(5000));
  EXPECT_EQ(detail::next_interval(ms(250), ms(250)), ms(250));
}

TEST(SchedulerTest, ReadsTheServiceTimestamps) {
  EXPECT_EQ(detail::parse_utc_millis("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(detail::parse_utc_millis("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(detail::parse_utc_millis("2026-06-01T12:00:04.200Z"), 1780315204200);
  EXPECT_EQ(detail::parse_utc_millis("2026-06-01T12:00:04+00:00"), 1780315204000);
  for (const char* bad : {"", "2026-06-01", "2026-06-01T12:00:04", "2026-13-01T12:00:04Z",
                          "2026-06-01T12:00:04.Z", "2026-06-01T12:00:04+02:00", "yesterday"}) {
    EXPECT_FALSE(detail::parse_utc_millis(bad)) << bad;
  }
}

TEST(SchedulerTest, RunDurationIsCompletedMinusCreated) {
  runbase::Run run;
  run.created_at = "2026-06-01T12:00:00.000Z";
  run.completed_at = "2026-06-01T12:00:04.200Z";
  EXPECT_EQ(detail::server_duration(run), ms(4200));
  run.completed_at = "";
  EXPECT_FALSE(detail::server_duration(run));
  run.completed_at = "2026-06-01T11:59:59.000Z";  // before it was created: not believed
  EXPECT_FALSE(detail::server_duration(run));
}

// generate() plans its first poll at poll_interval on a fresh Client, and at the learned
// estimate once the Client has seen a run finish.
TEST(SchedulerTest, GenerateFirstPollMovesToTheLearnedEstimate) {
  Harness h;
  Client client = h.client();
  const std::string took_4s =
      R"("createdAt":"2026-01-01T00:00:00.000Z","completedAt":"2026-01-01T00:00:04.000Z")";
  h.transport->reply(201, run_json("run_1", "pending"));
  h.transport->reply(200, run_json("run_1", "succeeded", took_4s));
  h.transport->reply(201, run_json("run_2", "pending"));
  h.transport->reply(200, run_json("run_2", "succeeded", took_4s));
  WaitOptions options;
  options.poll_interval = ms(1000);
  options.max_poll_interval = ms(8000);
  GptImage1Input input{"a red fox", std::nullopt, {}};

  client.generate(input, options);
  ASSERT_EQ(h.transport->count(), 2u);
  EXPECT_EQ(h.transport->request(1).sent_at - h.transport->request(0).sent_at, ms(1000));

  client.generate(input, options);
  ASSERT_EQ(h.transport->count(), 4u);
  // One run of 4 s seen: expected at 4000 + 2 * 500.
  EXPECT_EQ(h.transport->request(3).sent_at - h.transport->request(2).sent_at, ms(5000));
}

// Durations are learned per model (the model the service reports for the run): 20 s runs of one
// model do not delay the first poll of another that has not been seen finishing.
TEST(SchedulerTest, DurationsAreLearnedPerModel) {
  Harness h;
  Client client = h.client();
  const std::string took_20s =
      R"("createdAt":"2026-01-01T00:00:00.000Z","completedAt":"2026-01-01T00:00:20.000Z")";
  const auto other_model = [](std::string json) {
    json.replace(json.find("openai/gpt-image-1"), 18, "acme/slow-video-1");
    return json;
  };
  h.transport->reply(201, other_model(run_json("run_1", "pending")));
  h.transport->reply(200, other_model(run_json("run_1", "succeeded", took_20s)));
  h.transport->reply(201, other_model(run_json("run_2", "pending")));
  h.transport->reply(200, other_model(run_json("run_2", "succeeded", took_20s)));
  h.transport->reply(201, run_json("run_3", "pending"));
  h.transport->reply(200, run_json("run_3", "succeeded", took_20s));
  WaitOptions options;
  options.max_poll_interval = ms(60000);  // the first poll of run_1 comes at 25 s, not before
  GptImage1Input input{"a red fox", std::nullopt, {}};

  client.generate(input, options);  // cold: 1 s after its create
  ASSERT_EQ(h.transport->count(), 2u);
  EXPECT_EQ(h.transport->request(1).sent_at - h.transport->request(0).sent_at, ms(1000));
  client.generate(input, options);  // that model learned: 20 s + 2 * 2.5 s
  ASSERT_EQ(h.transport->count(), 4u);
  EXPECT_EQ(h.transport->request(3).sent_at - h.transport->request(2).sent_at, ms(25000));
  client.generate(input, options);  // openai/gpt-image-1 is still cold
  ASSERT_EQ(h.transport->count(), 6u);
  EXPECT_EQ(h.transport->request(5).sent_at - h.transport->request(4).sent_at, ms(1000));
}

TEST(SchedulerTest, SpentIsCostOfCreatedRunsLessRefunds) {
  Harness h;
  Client client = h.client();
  h.transport->reply(201, run_json("run_1", "pending"));
  h.transport->reply(201, run_json("run_2", "pending"));
  h.transport->reply(200, run_json("run_2", "failed", R"("error":"upstream failed")"));
  h.transport->reply(200, run_json("run_2", "failed", R"("error":"upstream failed")"));
  GptImage1Input input{"a red fox", std::nullopt, {}};
  client.create_run(input);
  client.create_run(input);
  EXPECT_EQ(client.spent_usd_micros(), 100000);
  client.get_run("run_2");
  EXPECT_EQ(client.spent_usd_micros(), 50000);
  client.get_run("run_2");  // refunded once, however often it is seen
  EXPECT_EQ(client.spent_usd_micros(), 50000);
}

TEST(SchedulerTest, SpendLimitRefusesBeforeSending) {
  Harness h;
  ClientOptions options = h.options();
  options.spend_limit_usd_micros = 120000;
  Client client = h.client(options);
  h.transport->always_reply(201, run_json("run_1", "pending"));
  GptImage1Input input{"a red fox", std::nullopt, {}};
  client.create_run(input);  // the list price, 50000, fits
  client.create_run(input);  // 50000 + 50000 <= 120000
  const auto refused = test::expect_throws<SpendLimitError>([&] { client.create_run(input); });
  ASSERT_TRUE(refused);  // 150000 would pass the limit
  EXPECT_EQ(refused->limit_usd_micros(), 120000);
  EXPECT_EQ(refused->committed_usd_micros(), 100000);
  EXPECT_NE(std::string(refused->what()).find("spend_limit_usd_micros"), std::string::npos);
  EXPECT_EQ(h.transport->count(), 2u);
}

// The limit holds when the server's replies carry no usable costUsd (absent, or a string):
// each run is counted at its model's list price, for typed and raw creates alike.
TEST(SchedulerTest, SpendLimitHoldsWhenRepliesCarryNoCost) {
  Harness h;
  ClientOptions options = h.options();
  options.spend_limit_usd_micros = 250000;
  Client client = h.client(options);
  h.transport->reply(201, R"({"id":"run_1","model":"openai/gpt-image-1","status":"pending"})");
  h.transport->reply(201, R"({"id":"run_2","model":"openai/gpt-image-1.5","status":"pending",)"
                          R"("costUsd":"160000"})");
  client.create_run(GptImage1Input{"a red fox", std::nullopt, {}});
  EXPECT_EQ(client.spent_usd_micros(), 50000);
  client.create_run("openai/gpt-image-1.5", R"({"prompt":"a red fox","quality":"high"})");
  EXPECT_EQ(client.spent_usd_micros(), 210000);
  const auto refused = test::expect_throws<SpendLimitError>([&] {
    client.create_run(GptImage1Input{"a red fox", std::nullopt, {}});
  });
  ASSERT_TRUE(refused);  // 260000 would pass the limit
  EXPECT_EQ(refused->committed_usd_micros(), 210000);
  EXPECT_EQ(h.transport->count(), 2u);
}

TEST(SchedulerTest, NegativeSpendLimitIsAConfigurationError) {
  Harness h;
  ClientOptions options = h.options();
  options.spend_limit_usd_micros = -1;
  EXPECT_THROW(h.client(options), ValidationError);
}

// A create waiting for the window keeps the slot that frees from a poll that arrives first.
TEST(SchedulerTest, LimiterGivesAFreedSlotToTheWaitingCreate) {
  auto clock = std::make_shared<FakeClock>();
  detail::RateLimiter limiter(RateLimit{1, ms(10000)}, clock);
  limiter.acquire(std::nullopt, nullptr).finish();  // the window is full for 10 s

  bool poll_refused = false;
  bool checked = false;
  clock->on_sleep([&](const FakeClock::Sleep&) {
    if (checked) return;
    checked = true;
    // The create sleeps until the slot frees. A poll arriving at that moment leaves it the slot:
    // with a deadline just after, it gives up instead of taking it.
    clock->advance(ms(10000));
    try {
      limiter.acquire(clock->now() + ms(1), nullptr, detail::RateLimiter::Priority::Poll);
    } catch (const TimeoutError&) {
      poll_refused = true;
    }
  });
  limiter.acquire(std::nullopt, nullptr, detail::RateLimiter::Priority::Create).finish();
  EXPECT_TRUE(checked);
  EXPECT_TRUE(poll_refused);
  EXPECT_EQ(test::since_start(clock->now()), ms(10000));
}

TEST(SchedulerTest, LimiterLetsPollsGoWhenNoCreateWaits) {
  auto clock = std::make_shared<FakeClock>();
  detail::RateLimiter limiter(RateLimit{2, ms(10000)}, clock);
  limiter.acquire(std::nullopt, nullptr, detail::RateLimiter::Priority::Create).finish();
  limiter.acquire(std::nullopt, nullptr, detail::RateLimiter::Priority::Poll).finish();
  EXPECT_TRUE(clock->sleeps().empty());
}

TEST(SchedulerTest, JournalDigestNamesTheInput) {
  const std::string a = detail::input_digest(R"({"input":{"prompt":"a"},"model":"m"})");
  EXPECT_EQ(a, detail::input_digest(R"({"input":{"prompt":"a"},"model":"m"})"));
  EXPECT_NE(a, detail::input_digest(R"({"input":{"prompt":"b"},"model":"m"})"));
  EXPECT_THAT(a, ::testing::MatchesRegex("fnv1a64-[0-9a-f]{16}"));
}

}  // namespace
}  // namespace runbase
