// Polling: wait() and generate() poll at the documented pace, report status changes, end at the
// deadline with the run's id, and stop when cancelled.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "retry_decision.hpp"
#include "runbase/runbase.hpp"
#include "unit/support/test_client.hpp"

namespace runbase {
namespace {

using std::chrono::milliseconds;
using test::error_json;
using test::expect_throws;
using test::FakeClock;
using test::Harness;
using test::ms;
using test::run_json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::string_view kSucceeded =
    R"("output":{"urls":["https://cdn.test/run_1-0.png"]},"createdAt":"2026-01-01T00:00:00Z","completedAt":"2026-01-01T00:00:09Z")";

GptImage1Input fox() { return GptImage1Input{"a red fox in the snow", std::nullopt, {}}; }

TEST(WaitTest, PollsAtOnce) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("run_1", "succeeded", kSucceeded));
  const runbase::Run run = client.wait("run_1");
  EXPECT_EQ(run.status, RunStatus::Succeeded);
  EXPECT_EQ(run.output_urls, std::vector<std::string>{"https://cdn.test/run_1-0.png"});
  ASSERT_EQ(h.transport->count(), 1u);
  EXPECT_EQ(h.transport->request(0).sent_at, ms(0));
  EXPECT_TRUE(h.clock->sleeps().empty());
}

TEST(WaitTest, PollsAfterPollIntervalThenBacksOffToMax) {
  Harness h;
  Client client = h.client();
  h.transport->reply_times(12, 200, run_json("run_1", "processing"));
  h.transport->reply(200, run_json("run_1", "succeeded", kSucceeded));
  WaitOptions options;
  options.poll_interval = ms(1000);
  options.max_poll_interval = ms(5000);
  client.wait("run_1", options);
  EXPECT_EQ(h.transport->count(), 13u);

  const auto sleeps = h.clock->sleep_durations();
  ASSERT_EQ(sleeps.size(), 12u);
  EXPECT_EQ(sleeps.front(), ms(1000));
  for (std::size_t i = 1; i < sleeps.size(); ++i) {
    EXPECT_GE(sleeps[i], sleeps[i - 1]) << "at " << i;
    EXPECT_LE(sleeps[i], ms(5000)) << "at " << i;
  }
  EXPECT_GT(sleeps[1], ms(1000));  // it does back off
  EXPECT_EQ(sleeps.back(), ms(5000));
}

TEST(WaitTest, ConstantPollingWhenMaxEqualsInterval) {
  Harness h;
  Client client = h.client();
  h.transport->reply_times(4, 200, run_json("run_1", "pending"));
  h.transport->reply(200, run_json("run_1", "succeeded"));
  WaitOptions options;
  options.poll_interval = ms(250);
  options.max_poll_interval = ms(250);
  client.wait("run_1", options);
  EXPECT_THAT(h.clock->sleep_durations(), ElementsAre(ms(250), ms(250), ms(250), ms(250)));
}

TEST(WaitTest, GenerateWaitsPollIntervalBeforeTheFirstPollAndReportsThePendingRunFirst) {
  Harness h;
  Client client = h.client();
  h.transport->reply(201, run_json("run_1", "pending"));
  h.transport->reply(200, run_json("run_1", "processing"));
  h.transport->reply(200, run_json("run_1", "succeeded", kSucceeded));
  std::vector<std::pair<std::string, std::size_t>> updates;  // status, requests sent by then
  WaitOptions options;
  options.poll_interval = ms(2000);
  options.on_update = [&](const runbase::Run& run) {
    updates.emplace_back(run.status_text, h.transport->count());
  };
  const runbase::Run run = client.generate(fox(), options);
  EXPECT_EQ(run.status, RunStatus::Succeeded);

  ASSERT_EQ(h.transport->count(), 3u);
  EXPECT_EQ(h.transport->request(0).request.method, "POST");
  EXPECT_EQ(h.transport->request(1).request.method, "GET");
  // A run just created is never done: the first poll comes poll_interval later.
  EXPECT_EQ(h.transport->request(1).sent_at, ms(2000));
  ASSERT_EQ(updates.size(), 3u);
  EXPECT_EQ(updates[0], std::make_pair(std::string("pending"), std::size_t{1}));
  EXPECT_EQ(updates[1].first, "processing");
  EXPECT_EQ(updates[2].first, "succeeded");
}

TEST(WaitTest, GenerateReturnsAnAlreadySucceededRunWithoutPolling) {
  Harness h;
  Client client = h.client();
  h.transport->reply(201, run_json("run_1", "succeeded", kSucceeded));
  const runbase::Run run = client.generate(fox());
  EXPECT_EQ(run.status, RunStatus::Succeeded);
  EXPECT_EQ(h.transport->count(), 1u);
}

TEST(WaitTest, OnUpdateOnlyOnStatusChanges) {
  Harness h;
  Client client = h.client();
  for (const char* status :
       {"pending", "pending", "processing", "processing", "processing", "succeeded"}) {
    h.transport->reply(200, run_json("run_1", status));
  }
  std::vector<std::string> seen;
  WaitOptions options;
  options.on_update = [&](const runbase::Run& run) { seen.push_back(run.status_text); };
  client.wait("run_1", options);
  EXPECT_THAT(seen, ElementsAre("pending", "processing", "succeeded"));
  EXPECT_EQ(h.transport->count(), 6u);
}

TEST(WaitTest, FailedRunThrowsRunFailedErrorWithStringError) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("run_1", "processing"));
  h.transport->reply(
      200, run_json("run_1", "failed", R"("error":"Upstream provider rejected the prompt")"));
  const auto error = expect_throws<RunFailedError>([&] { client.wait("run_1"); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run().id, "run_1");
  EXPECT_EQ(error->run().status, RunStatus::Failed);
  ASSERT_TRUE(error->run().error);
  EXPECT_EQ(error->run().error->message, "Upstream provider rejected the prompt");
  EXPECT_EQ(error->run().error->code, "");
  EXPECT_THAT(error->what(), HasSubstr("run_1"));
  EXPECT_THAT(error->what(), HasSubstr("Upstream provider rejected the prompt"));
  EXPECT_FALSE(error->outcome_unknown());
}

TEST(WaitTest, FailedRunThrowsRunFailedErrorWithObjectError) {
  Harness h;
  Client client = h.client();
  h.transport->reply(201, run_json("run_1", "pending"));
  h.transport->reply(
      200, run_json("run_1", "failed",
                    R"("error":{"message":"Content policy violation","code":"content_policy"})"));
  const auto error = expect_throws<RunFailedError>([&] { client.generate(fox()); });
  ASSERT_TRUE(error);
  ASSERT_TRUE(error->run().error);
  EXPECT_EQ(error->run().error->message, "Content policy violation");
  EXPECT_EQ(error->run().error->code, "content_policy");
  EXPECT_THAT(error->what(), HasSubstr("Content policy violation"));
  EXPECT_THAT(error->what(), HasSubstr("content_policy"));
}

TEST(WaitTest, FailedRunWithoutErrorStillThrows) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("run_1", "failed", R"("error":null)"));
  const auto error = expect_throws<RunFailedError>([&] { client.wait("run_1"); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run().status, RunStatus::Failed);
}

TEST(WaitTest, UnknownStatusIsNotTerminalAndTheDeadlineStillEndsTheWait) {
  Harness h;
  Client client = h.client();
  h.transport->always_reply(200, run_json("run_1", "queued_upstream"));
  std::vector<runbase::Run> updates;
  WaitOptions options;
  options.timeout = ms(20000);
  options.on_update = [&](const runbase::Run& run) { updates.push_back(run); };
  const auto error = expect_throws<TimeoutError>([&] { client.wait("run_1", options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_1");
  EXPECT_GT(h.transport->count(), 3u);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].status, RunStatus::Unknown);
  EXPECT_EQ(updates[0].status_text, "queued_upstream");
  EXPECT_FALSE(updates[0].is_terminal());
  // Logged once, not once per poll.
  std::size_t mentions = 0;
  for (const auto& [level, line] : h.logs()) {
    if (line.find("queued_upstream") != std::string::npos) {
      ++mentions;
      EXPECT_NE(level, LogLevel::Debug);
    }
  }
  EXPECT_EQ(mentions, 1u);
}

TEST(WaitTest, DeadlineThrowsTimeoutWithRunIdAtTheDeadline) {
  Harness h;
  Client client = h.client();
  h.transport->latency(ms(50));
  h.transport->always_reply(200, run_json("run_abc", "processing"));
  WaitOptions options;
  options.timeout = ms(7000);
  const auto error = expect_throws<TimeoutError>([&] { client.wait("run_abc", options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_abc");
  EXPECT_THAT(error->what(), HasSubstr("run_abc"));
  EXPECT_FALSE(error->outcome_unknown());
  EXPECT_EQ(h.clock->elapsed(), ms(7000));  // not before, not after
  for (const auto& request : h.transport->requests()) EXPECT_LT(request.sent_at, ms(7000));
}

TEST(WaitTest, EachRequestTimeoutIsClippedToTheTimeLeft) {
  Harness h;
  ClientOptions client_options = h.options();
  client_options.request_timeout = ms(60000);
  Client client = h.client(client_options);
  h.transport->latency(ms(300));
  h.transport->always_reply(200, run_json("run_1", "processing"));
  WaitOptions options;
  options.timeout = ms(4000);
  EXPECT_THROW(client.wait("run_1", options), TimeoutError);
  const auto requests = h.transport->requests();
  ASSERT_GE(requests.size(), 2u);
  EXPECT_EQ(requests[0].request.timeout, ms(4000));
  for (const auto& request : requests) {
    EXPECT_GT(request.request.timeout, ms(0));
    EXPECT_LE(request.sent_at + request.request.timeout, ms(4000))
        << "sent at " << request.sent_at.count();
  }
}

TEST(WaitTest, ShortRequestTimeoutIsKeptWhenLessThanTheTimeLeft) {
  Harness h;
  ClientOptions client_options = h.options();
  client_options.request_timeout = ms(1500);
  Client client = h.client(client_options);
  h.transport->reply(200, run_json("run_1", "succeeded"));
  WaitOptions options;
  options.timeout = ms(600000);
  client.wait("run_1", options);
  EXPECT_EQ(h.transport->request(0).request.timeout, ms(1500));
}

TEST(WaitTest, RequestTimingOutAtTheDeadlineGivesTimeoutWithRunId) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("run_1", "processing"));
  h.transport->fail_timeout(true);  // takes the whole (clipped) timeout
  h.transport->always_reply(200, run_json("run_1", "succeeded"));
  WaitOptions options;
  options.timeout = ms(3000);
  const auto error = expect_throws<TimeoutError>([&] { client.wait("run_1", options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_1");
  EXPECT_EQ(h.clock->elapsed(), ms(3000));
  EXPECT_EQ(h.transport->count(), 2u);
}

TEST(WaitTest, GenerateDeadlineCoversTheCreateToo) {
  Harness h;
  Client client = h.client();
  h.transport->latency(ms(1000));
  h.transport->reply(201, run_json("run_1", "pending"));
  h.transport->always_reply(200, run_json("run_1", "processing"));
  WaitOptions options;
  options.timeout = ms(5000);
  options.poll_interval = ms(1000);
  const auto error = expect_throws<TimeoutError>([&] { client.generate(fox(), options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_1");
  EXPECT_EQ(h.clock->elapsed(), ms(5000));
}

TEST(WaitTest, ZeroTimeoutMeansNoDeadline) {
  Harness h;
  Client client = h.client();
  h.transport->reply_times(200, 200, run_json("run_1", "processing"));
  h.transport->reply(200, run_json("run_1", "succeeded"));
  WaitOptions options;
  options.timeout = ms(0);
  EXPECT_EQ(client.wait("run_1", options).status, RunStatus::Succeeded);
  EXPECT_GT(h.clock->elapsed(), ms(600000));  // longer than the default deadline
  EXPECT_EQ(h.transport->request(5).request.timeout, ms(60000));
}

TEST(WaitTest, EmptyRunIdIsRefusedBeforeAnyRequest) {
  Harness h;
  Client client = h.client();
  EXPECT_THROW(client.wait(""), ValidationError);
  EXPECT_THROW(client.get_run(""), ValidationError);
  EXPECT_EQ(h.transport->count(), 0u);
}

TEST(WaitTest, ServerErrorsWhilePollingAreRetried) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("run_1", "processing"));
  h.transport->reply(503, "<html>Service Unavailable</html>");
  h.transport->fail_connection(true);
  h.transport->reply(200, run_json("run_1", "succeeded"));
  EXPECT_EQ(client.wait("run_1").status, RunStatus::Succeeded);
  EXPECT_EQ(h.transport->count(), 4u);
}

// A network blip outlasting a poll's own retries (three attempts) does not end a wait on a run
// that is fine: the wait polls again on its pace until its deadline.
TEST(WaitTest, ANetworkBlipLongerThanThePollsRetriesDoesNotEndTheWait) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("run_1", "processing"));
  for (int i = 0; i < 7; ++i) h.transport->fail_connection(i % 2 == 0);
  h.transport->reply(503, "<html>Service Unavailable</html>");
  h.transport->reply(200, run_json("run_1", "succeeded", kSucceeded));
  EXPECT_EQ(client.wait("run_1").status, RunStatus::Succeeded);
  EXPECT_EQ(h.transport->count(), 10u);
}

// A 200 whose JSON stops short (the connection cut where nothing told its length) is polled again.
TEST(WaitTest, APollReplyCutShortIsPolledAgain) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, R"({"id":"run_1","status":"proce)");
  h.transport->reply(200, run_json("run_1", "succeeded", kSucceeded));
  EXPECT_EQ(client.wait("run_1").status, RunStatus::Succeeded);
  EXPECT_EQ(h.transport->count(), 2u);
}

// An outage to the deadline ends the wait as a timeout naming the run, and says why it saw nothing.
TEST(WaitTest, AnOutageToTheDeadlineEndsAsATimeoutNamingTheRunAndTheFailure) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("run_1", "processing"));
  h.transport->always([](const HttpRequest&) -> HttpResponse {
    throw ConnectionError("Could not connect to the server", false);
  });
  WaitOptions options;
  options.timeout = ms(30000);
  const auto error = expect_throws<TimeoutError>([&] { client.wait("run_1", options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_1");
  EXPECT_THAT(error->what(), HasSubstr("Could not connect to the server"));
  EXPECT_THAT(error->what(), HasSubstr("Client::wait(\"run_1\")"));
  EXPECT_EQ(h.clock->elapsed(), ms(30000));
  EXPECT_GT(h.transport->count(), 6u);  // polled on through it, more than one poll's retries
}

// Without a deadline an outage still ends, after kMaxPollOutage: the error names the run.
TEST(WaitTest, WithoutADeadlineALastingOutageEndsTheWaitNamingTheRun) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("run_1", "processing"));
  h.transport->always([](const HttpRequest&) -> HttpResponse {
    throw ConnectionError("Could not connect to the server", false);
  });
  WaitOptions options;
  options.timeout = ms(0);
  const auto error = expect_throws<ConnectionError>([&] { client.wait("run_1", options); });
  ASSERT_TRUE(error);
  EXPECT_THAT(error->what(), HasSubstr("Stopped waiting for run run_1"));
  EXPECT_GE(h.clock->elapsed(), detail::kMaxPollOutage);
  EXPECT_LT(h.clock->elapsed(), detail::kMaxPollOutage + ms(60000));
}

// What time does not cure ends the wait at once: a 404 after the run was seen, a certificate.
TEST(WaitTest, AFailureTimeDoesNotCureEndsTheWaitAtOnce) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("run_1", "processing"));
  h.transport->reply(404, error_json("Run not found", "not_found"));
  h.transport->always_reply(200, run_json("run_1", "succeeded"));
  const auto error = expect_throws<NotFoundError>([&] { client.wait("run_1"); });
  ASSERT_TRUE(error);
  EXPECT_THAT(error->what(), HasSubstr("run_1"));
  EXPECT_EQ(h.transport->count(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Cancellation

TEST(WaitCancelTest, CancelFromOnUpdateStopsTheWait) {
  Harness h;
  Client client = h.client();
  h.transport->always_reply(200, run_json("run_1", "processing"));
  CancellationToken token;
  WaitOptions options;
  options.cancel = &token;
  options.on_update = [&](const runbase::Run&) { token.cancel(); };
  const auto error = expect_throws<CancelledError>([&] { client.wait("run_1", options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_1");
  EXPECT_THAT(error->what(), HasSubstr("run_1"));
  EXPECT_FALSE(error->outcome_unknown());
  EXPECT_EQ(h.transport->count(), 1u);  // no poll after the cancel
}

TEST(WaitCancelTest, PreCancelledTokenStopsTheWaitBeforePolling) {
  Harness h;
  Client client = h.client();
  h.transport->always_reply(200, run_json("run_1", "processing"));
  CancellationToken token;
  token.cancel();
  EXPECT_TRUE(token.cancelled());
  WaitOptions options;
  options.cancel = &token;
  const auto error = expect_throws<CancelledError>([&] { client.wait("run_1", options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_1");
  EXPECT_EQ(h.transport->count(), 0u);
}

TEST(WaitCancelTest, CancelDuringThePollSleepStopsTheWait) {
  Harness h;
  Client client = h.client();
  h.transport->always_reply(200, run_json("run_1", "processing"));
  CancellationToken token;
  int sleeps = 0;
  h.clock->on_sleep([&](const FakeClock::Sleep&) {
    if (++sleeps == 3) token.cancel();
  });
  WaitOptions options;
  options.cancel = &token;
  const auto error = expect_throws<CancelledError>([&] { client.wait("run_1", options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_1");
  EXPECT_EQ(h.transport->count(), 3u);
}

TEST(WaitCancelTest, CancelDuringARetryBackoffStopsTheWait) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("run_1", "processing"));
  h.transport->always_reply(503, "");
  CancellationToken token;
  int sleeps = 0;
  h.clock->on_sleep([&](const FakeClock::Sleep&) {
    if (++sleeps == 2) token.cancel();  // the first is the poll interval, the second a backoff
  });
  WaitOptions options;
  options.cancel = &token;
  const auto error = expect_throws<CancelledError>([&] { client.wait("run_1", options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_1");
  EXPECT_EQ(h.transport->count(), 2u);
}

// The token reaches the transport, which aborts the transfer and throws CancelledError.
TEST(WaitCancelTest, CancelDuringAnInFlightPollStopsTheWait) {
  Harness h;
  Client client = h.client();
  CancellationToken token;
  h.transport->reply(200, run_json("run_1", "processing"));
  h.transport->then([&](const HttpRequest& request) -> HttpResponse {
    EXPECT_EQ(request.cancel, &token);
    token.cancel();
    throw CancelledError("transfer aborted");
  });
  h.transport->always_reply(200, run_json("run_1", "succeeded"));
  WaitOptions options;
  options.cancel = &token;
  const auto error = expect_throws<CancelledError>([&] { client.wait("run_1", options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_1");
  EXPECT_EQ(h.transport->count(), 2u);  // not retried
}

TEST(WaitCancelTest, CancelWhileWaitingForTheRateBudgetStopsTheWait) {
  Harness h;
  ClientOptions client_options = h.options();
  client_options.rate_limit = RateLimit{1, ms(60000)};
  Client client = h.client(client_options);
  h.transport->reply_times(3, 200, run_json("run_1", "processing"));  // bounded: no endless loop
  CancellationToken token;
  h.clock->on_sleep([&](const FakeClock::Sleep& sleep) {
    if (sleep.duration() > ms(5000)) token.cancel();  // the rate-budget sleep, not the poll
  });
  WaitOptions options;
  options.cancel = &token;
  options.timeout = ms(0);
  const auto error = expect_throws<CancelledError>([&] { client.wait("run_1", options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_1");
  EXPECT_EQ(h.transport->count(), 1u);
}

TEST(WaitCancelTest, GenerateCancelledFromOnUpdateReportsTheCreatedRun) {
  Harness h;
  Client client = h.client();
  h.transport->reply(201, run_json("run_9", "pending"));
  h.transport->always_reply(200, run_json("run_9", "processing"));
  CancellationToken token;
  WaitOptions options;
  options.cancel = &token;
  std::string created;
  options.on_update = [&](const runbase::Run& run) {
    created = run.id;
    token.cancel();
  };
  const auto error = expect_throws<CancelledError>([&] { client.generate(fox(), options); });
  ASSERT_TRUE(error);
  EXPECT_EQ(created, "run_9");
  // The run exists (and is billed): the error says which one, so it can be waited on again.
  EXPECT_EQ(error->run_id(), "run_9");
  EXPECT_EQ(h.transport->count(), 1u);
}

TEST(WaitCancelTest, CancellingTwiceIsHarmless) {
  CancellationToken token;
  EXPECT_FALSE(token.cancelled());
  token.cancel();
  token.cancel();
  EXPECT_TRUE(token.cancelled());
}

}  // namespace
}  // namespace runbase
