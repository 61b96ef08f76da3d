// The Client's event loop and its retry driver, on the fake clock and the fake transport: timers
// in time order, tasks on one thread, transfers that never block the loop, the retry rules and the
// rate budget applied without sleeping, and a stop that ends everything at once.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <thread>
#include <vector>

#include "async_retry.hpp"
#include "event_loop.hpp"
#include "runbase/runbase.hpp"
#include "unit/support/test_client.hpp"

namespace runbase {
namespace {

using detail::AsyncRetryLoop;
using detail::EventLoop;
using detail::RequestKind;
using std::chrono::milliseconds;
using test::FakeClock;
using test::FakeTransport;
using test::ms;
using test::since_start;
using ::testing::ElementsAre;

struct Outcome {
  std::optional<HttpResponse> response;
  std::exception_ptr error;
};

struct LoopHarness {
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>();
  std::shared_ptr<FakeTransport> transport = std::make_shared<FakeTransport>(clock);
  EventLoop loop{clock, detail::make_pooled_loop_http(transport, 4)};

  detail::RequestExecutor::Config config(RateLimit limit = RateLimit{0, ms(10000)}) {
    detail::RequestExecutor::Config config;
    config.retry = RetryPolicy{};
    config.request_timeout = ms(60000);
    config.transport = transport;
    config.clock = clock;
    config.limiter = std::make_shared<detail::RateLimiter>(limit, clock);
    config.unit_random = [] { return 0.5; };
    config.base_url = std::string(test::kTestBaseUrl);
    return config;
  }

  /// Runs `fn` on the loop's thread and waits for it.
  template <class F>
  void on_loop(F&& fn) {
    std::promise<void> ran;
    loop.post([&] {
      fn();
      ran.set_value();
    });
    ran.get_future().get();
  }
};

HttpRequest get(std::string id) {
  HttpRequest request;
  request.method = "GET";
  request.url = std::string(test::kTestBaseUrl) + "/runs/" + id;
  return request;
}

HttpRequest post() {
  HttpRequest request;
  request.method = "POST";
  request.url = std::string(test::kTestBaseUrl) + "/runs";
  request.body = "{}";
  return request;
}

TEST(EventLoopTest, RunsTasksInOrderOnItsOwnThread) {
  LoopHarness h;
  std::vector<int> order;
  std::thread::id loop_thread;
  h.on_loop([&] {
    loop_thread = std::this_thread::get_id();
    order.push_back(1);
  });
  h.on_loop([&] { order.push_back(2); });
  EXPECT_NE(loop_thread, std::this_thread::get_id());
  EXPECT_THAT(order, ElementsAre(1, 2));
}

TEST(EventLoopTest, TimersFireInTimeOrderAtTheirFakeTime) {
  LoopHarness h;
  std::promise<void> all;
  std::vector<std::pair<int, milliseconds>> fired;
  h.on_loop([&] {
    const auto start = h.clock->now();
    for (int seconds : {5, 1, 3}) {
      h.loop.at(start + std::chrono::seconds(seconds), [&, seconds] {
        fired.emplace_back(seconds, h.clock->elapsed());
        if (fired.size() == 3) all.set_value();
      });
    }
  });
  all.get_future().get();
  EXPECT_THAT(fired,
              ElementsAre(std::pair(1, ms(1000)), std::pair(3, ms(3000)), std::pair(5, ms(5000))));
}

TEST(EventLoopTest, StopEndsTransfersInFlightAtOnceAndLaterTasksSeeItStopping) {
  LoopHarness h;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  h.transport->then([released](const HttpRequest&) {
    released.wait();  // a reply that never comes while the test runs
    return HttpResponse{200, {}, "{}"};
  });
  std::promise<Outcome> ended;
  h.on_loop([&] {
    h.loop.http().start(get("run_1"), [&](std::optional<HttpResponse> r, std::exception_ptr e) {
      ended.set_value(Outcome{std::move(r), std::move(e)});
    });
  });
  std::thread stopper([&] { h.loop.stop(); });
  Outcome outcome = ended.get_future().get();  // before the reply was released
  EXPECT_FALSE(outcome.response);
  EXPECT_TRUE(detail::holds<CancelledError>(outcome.error));
  release.set_value();
  stopper.join();
  bool stopping_seen = false;
  h.loop.post([&] { stopping_seen = h.loop.stopping(); });  // runs at once, on this thread
  EXPECT_TRUE(stopping_seen);
}

TEST(AsyncRetryLoopTest, RetriesAGetWithTheBlockingDriversBackoffs) {
  LoopHarness h;
  h.transport->reply(503, "").reply(502, "").reply(200, test::run_json("run_1", "processing"));
  std::promise<Outcome> ended;
  AsyncRetryLoop* driver = nullptr;
  h.on_loop([&] {
    driver = new AsyncRetryLoop(h.loop, h.config());
    driver->send(get("run_1"), RequestKind::Read, std::nullopt,
                 [&](std::optional<HttpResponse> r, std::exception_ptr e) {
                   ended.set_value(Outcome{std::move(r), std::move(e)});
                 });
  });
  Outcome outcome = ended.get_future().get();
  ASSERT_TRUE(outcome.response);
  EXPECT_EQ(outcome.response->status, 200);
  // Full jitter at 0.5: half of 500 ms, then half of 1000 ms, spent as the loop's timers.
  const auto requests = h.transport->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].sent_at - requests[0].sent_at, ms(250));
  EXPECT_EQ(requests[2].sent_at - requests[1].sent_at, ms(500));
  h.loop.stop();
  delete driver;
}

TEST(AsyncRetryLoopTest, NeverResendsACreateThatMayHaveReachedTheServer) {
  LoopHarness h;
  h.transport->reply(500, "").reply(200, "{}");
  std::promise<Outcome> ended;
  std::unique_ptr<AsyncRetryLoop> driver;
  h.on_loop([&] {
    driver = std::make_unique<AsyncRetryLoop>(h.loop, h.config());
    driver->send(post(), RequestKind::Create, std::nullopt,
                 [&](std::optional<HttpResponse> r, std::exception_ptr e) {
                   ended.set_value(Outcome{std::move(r), std::move(e)});
                 });
  });
  Outcome outcome = ended.get_future().get();
  EXPECT_TRUE(detail::holds<ServerError>(outcome.error));
  EXPECT_EQ(h.transport->count(), 1u);
  h.loop.stop();
}

TEST(AsyncRetryLoopTest, TheRateBudgetHoldsTheThirdRequestAWindowAfterTheAnswers) {
  LoopHarness h;
  h.transport->always_reply(200, test::run_json("run_1", "processing"));
  std::promise<void> all;
  int ended = 0;
  std::unique_ptr<AsyncRetryLoop> driver;
  h.on_loop([&] {
    driver = std::make_unique<AsyncRetryLoop>(h.loop, h.config(RateLimit{2, ms(10000)}));
    for (int i = 0; i < 3; ++i) {
      driver->send(get("run_1"), RequestKind::Read, std::nullopt,
                   [&](std::optional<HttpResponse>, std::exception_ptr) {
                     if (++ended == 3) all.set_value();
                   });
    }
  });
  all.get_future().get();
  const auto requests = h.transport->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].sent_at, ms(0));
  EXPECT_EQ(requests[1].sent_at, ms(0));  // both at once: neither waits on the other
  // The first answers arrived at once; a slot frees a window later.
  EXPECT_EQ(requests[2].sent_at, ms(10000));
  h.loop.stop();
}

TEST(AsyncRetryLoopTest, AWaitingCreateGoesBeforePollsQueuedAheadOfIt) {
  LoopHarness h;
  h.transport->always_reply(200, test::run_json("run_1", "processing"));
  std::promise<void> all;
  std::vector<std::string> order;
  std::unique_ptr<AsyncRetryLoop> driver;
  h.on_loop([&] {
    driver = std::make_unique<AsyncRetryLoop>(h.loop, h.config(RateLimit{1, ms(1000)}));
    const auto done = [&](std::string name) {
      return [&, name](std::optional<HttpResponse>, std::exception_ptr) {
        order.push_back(name);
        if (order.size() == 4) all.set_value();
      };
    };
    driver->send(get("a"), RequestKind::Read, std::nullopt, done("poll a"));  // takes the slot
    driver->send(get("b"), RequestKind::Read, std::nullopt, done("poll b"));
    driver->send(get("c"), RequestKind::Read, std::nullopt, done("poll c"));
    driver->send(post(), RequestKind::Create, std::nullopt, done("create"));
  });
  all.get_future().get();
  EXPECT_THAT(order, ElementsAre("poll a", "create", "poll b", "poll c"));
  h.loop.stop();
}

TEST(AsyncRetryLoopTest, StoppingTheLoopEndsACreateInFlightAsOutcomeUnknown) {
  LoopHarness h;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> sent;
  h.transport->then([&, released](const HttpRequest&) {
    sent.set_value();
    released.wait();
    return HttpResponse{200, {}, "{}"};
  });
  std::promise<Outcome> ended;
  std::unique_ptr<AsyncRetryLoop> driver;
  h.on_loop([&] {
    driver = std::make_unique<AsyncRetryLoop>(h.loop, h.config());
    driver->send(post(), RequestKind::Create, std::nullopt,
                 [&](std::optional<HttpResponse> r, std::exception_ptr e) {
                   ended.set_value(Outcome{std::move(r), std::move(e)});
                 });
  });
  sent.get_future().get();
  std::thread stopper([&] { h.loop.stop(); });
  const Outcome outcome = ended.get_future().get();
  release.set_value();
  stopper.join();
  auto error = test::expect_throws<CancelledError>([&] { std::rethrow_exception(outcome.error); });
  ASSERT_TRUE(error);
  EXPECT_TRUE(error->outcome_unknown());
  EXPECT_THAT(error->what(), ::testing::HasSubstr("may have been created and billed"));
}

}  // namespace
}  // namespace runbase
