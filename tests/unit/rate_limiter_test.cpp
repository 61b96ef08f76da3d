// The client-side rate window: never more than N requests in any window of `per`, shared by every
// call of a Client, and paused after the server says 429.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <random>
#include <thread>
#include <vector>

#include "rate_limiter.hpp"
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

// The largest number of `times` inside any half-open window [t, t + per).
std::size_t max_in_any_window(std::vector<milliseconds> times, milliseconds per) {
  std::sort(times.begin(), times.end());
  std::size_t best = 0;
  std::size_t begin = 0;
  for (std::size_t end = 0; end < times.size(); ++end) {
    while (times[end] - times[begin] >= per) ++begin;
    best = std::max(best, end - begin + 1);
  }
  return best;
}

TEST(RateWindowHelperTest, CountsHalfOpenWindows) {
  EXPECT_EQ(max_in_any_window({ms(0), ms(999), ms(1000)}, ms(1000)), 2u);
  EXPECT_EQ(max_in_any_window({ms(0), ms(500), ms(999)}, ms(1000)), 3u);
  EXPECT_EQ(max_in_any_window({}, ms(1000)), 0u);
}

// Many acquire/finish cycles with random latencies and random concurrency: no window of `per`
// ever holds more than `requests` starts, nor more than `requests` answers, and the limiter does
// not hold requests back longer than it must.
TEST(RateLimiterTest, NeverMoreThanNInAnyWindow) {
  for (int requests : {1, 3, 20}) {
    for (unsigned seed = 1; seed <= 5; ++seed) {
      SCOPED_TRACE("requests " + std::to_string(requests) + " seed " + std::to_string(seed));
      auto clock = std::make_shared<FakeClock>();
      const milliseconds per(10000);
      detail::RateLimiter limiter(RateLimit{requests, per}, clock);
      std::mt19937 random(seed);
      std::uniform_int_distribution<int> latency(0, 3000);
      std::uniform_int_distribution<int> coin(0, 2);

      std::deque<detail::RateLimiter::Permit> in_flight;
      std::vector<milliseconds> starts;
      std::vector<milliseconds> answers;
      for (int step = 0; step < 400; ++step) {
        const bool can_start = static_cast<int>(in_flight.size()) < requests;
        if (can_start && (in_flight.empty() || coin(random) != 0)) {
          // Creates and polls share one window, whichever goes first.
          const auto priority = coin(random) == 0 ? detail::RateLimiter::Priority::Create
                                                  : detail::RateLimiter::Priority::Poll;
          in_flight.push_back(limiter.acquire(std::nullopt, nullptr, priority));
          starts.push_back(clock->elapsed());
        } else {
          clock->advance(milliseconds(latency(random)));
          in_flight.front().finish();
          in_flight.pop_front();
          answers.push_back(clock->elapsed());
        }
      }
      ASSERT_GE(starts.size(), 150u);
      EXPECT_LE(max_in_any_window(starts, per), static_cast<std::size_t>(requests));
      EXPECT_LE(max_in_any_window(answers, per), static_cast<std::size_t>(requests));
      // Every request that reaches the server (between its start and its answer) is within the
      // budget in any window: checked on starts and answers above. And the window was used:
      // the limiter did sleep, but never longer than one window at a time.
      for (const auto& sleep : clock->sleeps()) EXPECT_LE(sleep.duration(), per);
    }
  }
}

TEST(RateLimiterTest, ReleasesASlotExactlyPerAfterTheAnswer) {
  auto clock = std::make_shared<FakeClock>();
  detail::RateLimiter limiter(RateLimit{2, ms(1000)}, clock);
  auto a = limiter.acquire(std::nullopt, nullptr);
  clock->advance(ms(100));
  a.finish();  // answered at 100
  auto b = limiter.acquire(std::nullopt, nullptr);
  clock->advance(ms(200));
  b.finish();  // answered at 300
  EXPECT_TRUE(clock->sleeps().empty());
  auto c = limiter.acquire(std::nullopt, nullptr);
  EXPECT_EQ(clock->elapsed(), ms(1100));  // a's answer left the window
  c.finish();
  auto d = limiter.acquire(std::nullopt, nullptr);
  EXPECT_EQ(clock->elapsed(), ms(1300));  // b's answer left the window
}

TEST(RateLimiterTest, DisabledWhenRequestsIsZeroOrLess) {
  for (int requests : {0, -1}) {
    auto clock = std::make_shared<FakeClock>();
    detail::RateLimiter limiter(RateLimit{requests, ms(1000)}, clock);
    EXPECT_FALSE(limiter.enabled());
    for (int i = 0; i < 100; ++i) limiter.acquire(std::nullopt, nullptr).finish();
    EXPECT_TRUE(clock->sleeps().empty());
  }
}

TEST(RateLimiterTest, ThrowsTimeoutWhenNoSlotFreesBeforeTheDeadline) {
  auto clock = std::make_shared<FakeClock>();
  detail::RateLimiter limiter(RateLimit{1, ms(10000)}, clock);
  limiter.acquire(std::nullopt, nullptr).finish();
  EXPECT_THROW(limiter.acquire(clock->now() + ms(5000), nullptr), TimeoutError);
  EXPECT_TRUE(clock->sleeps().empty());  // it did not sleep to find out
  // A deadline after the slot frees is fine.
  limiter.acquire(clock->now() + ms(10000), nullptr).finish();
  EXPECT_EQ(clock->elapsed(), ms(10000));
}

TEST(RateLimiterTest, CancelWhileWaitingThrowsCancelled) {
  auto clock = std::make_shared<FakeClock>();
  detail::RateLimiter limiter(RateLimit{1, ms(10000)}, clock);
  limiter.acquire(std::nullopt, nullptr).finish();
  CancellationToken token;
  clock->on_sleep([&](const FakeClock::Sleep&) { token.cancel(); });
  EXPECT_THROW(limiter.acquire(std::nullopt, &token), CancelledError);
}

TEST(RateLimiterTest, PauseHoldsEveryRequest) {
  auto clock = std::make_shared<FakeClock>();
  detail::RateLimiter limiter(RateLimit{20, ms(10000)}, clock);
  limiter.pause_until(clock->now() + ms(4000));
  limiter.acquire(std::nullopt, nullptr).finish();
  EXPECT_EQ(clock->elapsed(), ms(4000));
  // A shorter pause never shortens a longer one.
  limiter.pause_until(clock->now() + ms(3000));
  limiter.pause_until(clock->now() + ms(1000));
  limiter.acquire(std::nullopt, nullptr).finish();
  EXPECT_EQ(clock->elapsed(), ms(7000));
}

// ---------------------------------------------------------------------------------------------
// try_acquire, blocked_until and add_waiting_create: the same budget for an event loop that must
// not block

TEST(RateLimiterTest, TryAcquireNeverSleepsAndSaysWhenToAskAgain) {
  auto clock = std::make_shared<FakeClock>();
  detail::RateLimiter limiter(RateLimit{2, ms(1000)}, clock);
  detail::Clock::time_point retry_at{};
  auto a = limiter.try_acquire(detail::RateLimiter::Priority::Poll, retry_at);
  ASSERT_TRUE(a);
  clock->advance(ms(100));
  a->finish();  // answered at 100
  auto b = limiter.try_acquire(detail::RateLimiter::Priority::Create, retry_at);
  ASSERT_TRUE(b);  // b stays in flight
  EXPECT_FALSE(limiter.try_acquire(detail::RateLimiter::Priority::Poll, retry_at));
  EXPECT_EQ(retry_at, detail::Clock::time_point(FakeClock::start() + ms(1100)));
  EXPECT_EQ(limiter.blocked_until(detail::RateLimiter::Priority::Poll), retry_at);
  clock->advance(ms(999));
  EXPECT_FALSE(limiter.try_acquire(detail::RateLimiter::Priority::Poll, retry_at));
  clock->advance(ms(1));
  EXPECT_FALSE(limiter.blocked_until(detail::RateLimiter::Priority::Poll));
  EXPECT_TRUE(limiter.try_acquire(detail::RateLimiter::Priority::Poll, retry_at));
  EXPECT_TRUE(clock->sleeps().empty());
}

TEST(RateLimiterTest, TryAcquireHonoursThePause) {
  auto clock = std::make_shared<FakeClock>();
  detail::RateLimiter limiter(RateLimit{20, ms(10000)}, clock);
  limiter.pause_until(clock->now() + ms(4000));
  detail::Clock::time_point retry_at{};
  EXPECT_FALSE(limiter.try_acquire(detail::RateLimiter::Priority::Create, retry_at));
  EXPECT_EQ(retry_at, clock->now() + ms(4000));
  clock->advance(ms(4000));
  EXPECT_TRUE(limiter.try_acquire(detail::RateLimiter::Priority::Create, retry_at));
}

TEST(RateLimiterTest, BlockedUntilTakesNoSlot) {
  auto clock = std::make_shared<FakeClock>();
  detail::RateLimiter limiter(RateLimit{1, ms(1000)}, clock);
  for (int i = 0; i < 5; ++i)
    EXPECT_FALSE(limiter.blocked_until(detail::RateLimiter::Priority::Poll));
  detail::Clock::time_point retry_at{};
  EXPECT_TRUE(limiter.try_acquire(detail::RateLimiter::Priority::Poll, retry_at));
}

// The event loop's create is announced while it waits: polls, blocking or not, leave it the slot.
TEST(RateLimiterTest, AWaitingCreateOfTheEventLoopKeepsTheSlotFromPolls) {
  auto clock = std::make_shared<FakeClock>();
  detail::RateLimiter limiter(RateLimit{2, ms(1000)}, clock);
  auto first = limiter.acquire(std::nullopt, nullptr);  // one slot left
  limiter.add_waiting_create(+1);
  detail::Clock::time_point retry_at{};
  EXPECT_FALSE(limiter.try_acquire(detail::RateLimiter::Priority::Poll, retry_at));
  EXPECT_EQ(retry_at, clock->now() + ms(1000));
  EXPECT_THROW(limiter.acquire(clock->now() + ms(10), nullptr), TimeoutError);
  auto create = limiter.try_acquire(detail::RateLimiter::Priority::Create, retry_at);
  ASSERT_TRUE(create);
  limiter.add_waiting_create(-1);
  first.finish();
  create->finish();
  clock->advance(ms(1000));
  EXPECT_TRUE(limiter.try_acquire(detail::RateLimiter::Priority::Poll, retry_at));
  EXPECT_TRUE(clock->sleeps().empty());
}

TEST(RateLimiterTest, TryAcquireAlwaysGrantsWhenDisabled) {
  auto clock = std::make_shared<FakeClock>();
  detail::RateLimiter limiter(RateLimit{0, ms(1000)}, clock);
  detail::Clock::time_point retry_at{};
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(limiter.try_acquire(detail::RateLimiter::Priority::Poll, retry_at));
  }
  EXPECT_FALSE(limiter.blocked_until(detail::RateLimiter::Priority::Create));
}

// ---------------------------------------------------------------------------------------------
// Through the Client

TEST(ClientRateLimitTest, BudgetIsSharedByEveryCallOfTheClient) {
  Harness h;
  ClientOptions options = h.options();
  options.rate_limit = RateLimit{3, ms(10000)};
  Client client = h.client(options);
  h.transport->latency(ms(100));
  h.transport->reply(201, run_json("run_1", "pending"));
  h.transport->always_reply(200, run_json("run_1", "processing"));

  client.create_run(GptImage1Input{"a lighthouse", std::nullopt, {}});  // POST counts too
  for (int i = 0; i < 8; ++i) client.get_run("run_1");

  const auto requests = h.transport->requests();
  ASSERT_EQ(requests.size(), 9u);
  std::vector<milliseconds> sent, answered;
  for (const auto& request : requests) {
    sent.push_back(request.sent_at);
    answered.push_back(request.finished_at);
  }
  EXPECT_LE(max_in_any_window(sent, ms(10000)), 3u);
  EXPECT_LE(max_in_any_window(answered, ms(10000)), 3u);
  // The fourth waits for the first answer (at 100 ms) to leave the window.
  EXPECT_EQ(requests[3].sent_at, ms(10100));
}

TEST(ClientRateLimitTest, DefaultBudgetIsTwentyPerTenSeconds) {
  Harness h;
  ClientOptions options = h.options();
  options.rate_limit = RateLimit{};
  Client client = h.client(options);
  h.transport->always_reply(200, run_json("run_1", "processing"));
  for (int i = 0; i < 41; ++i) client.get_run("run_1");
  std::vector<milliseconds> sent;
  for (const auto& request : h.transport->requests()) sent.push_back(request.sent_at);
  EXPECT_EQ(max_in_any_window(sent, ms(10000)), 20u);
  EXPECT_EQ(h.transport->request(20).sent_at, ms(10000));
  EXPECT_EQ(h.transport->request(40).sent_at, ms(20000));
}

TEST(ClientRateLimitTest, SharedAcrossThreads) {
  Harness h;
  ClientOptions options = h.options();
  options.rate_limit = RateLimit{5, ms(10000)};
  Client client = h.client(options);
  h.transport->always_reply(200, run_json("run_1", "processing"));
  // Five threads fit the budget at once; none of them needs to sleep.
  std::vector<std::thread> threads;
  for (int i = 0; i < 5; ++i) threads.emplace_back([&] { client.get_run("run_1"); });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(h.transport->count(), 5u);
  // The sixth, from any thread, waits for the window.
  std::thread([&] { client.get_run("run_1"); }).join();
  EXPECT_EQ(h.transport->last().sent_at, ms(10000));
}

TEST(ClientRateLimitTest, A429PausesTheNextRequests) {
  Harness h;
  ClientOptions options = h.options();
  options.rate_limit = RateLimit{20, ms(10000)};
  options.retry.max_retries = 0;
  Client client = h.client(options);
  h.transport->reply(429, error_json("Too many requests", "RATE_LIMITED"), {{"Retry-After", "5"}});
  h.transport->always_reply(200, run_json("run_1", "processing"));
  EXPECT_THROW(client.get_run("run_1"), RateLimitError);
  // Another call, with plenty of budget left on the client side, still waits for the server.
  client.get_run("run_2");
  ASSERT_EQ(h.transport->count(), 2u);
  EXPECT_GE(h.transport->request(1).sent_at, ms(5000));
}

TEST(ClientRateLimitTest, A429WithoutRetryAfterStillPauses) {
  Harness h;
  ClientOptions options = h.options();
  options.rate_limit = RateLimit{20, ms(10000)};
  options.retry.max_retries = 0;
  Client client = h.client(options);
  h.transport->reply(429, error_json("Too many requests", "RATE_LIMITED"));
  h.transport->always_reply(200, run_json("run_1", "processing"));
  EXPECT_THROW(client.get_run("run_1"), RateLimitError);
  client.get_run("run_1");
  EXPECT_GT(h.transport->request(1).sent_at, ms(0));
}

TEST(ClientRateLimitTest, BudgetThatCannotFitBeforeTheWaitDeadlineEndsTheWait) {
  Harness h;
  ClientOptions options = h.options();
  options.rate_limit = RateLimit{1, ms(10000)};
  Client client = h.client(options);
  h.transport->always_reply(200, run_json("run_1", "processing"));
  WaitOptions wait;
  wait.timeout = ms(5000);
  const auto error = expect_throws<TimeoutError>([&] { client.wait("run_1", wait); });
  ASSERT_TRUE(error);
  EXPECT_EQ(h.transport->count(), 1u);
  EXPECT_LE(h.clock->elapsed(), ms(5000));
  // Like any wait that runs out of time, it says which run to wait for again.
  EXPECT_EQ(error->run_id(), "run_1");
}

TEST(ClientRateLimitTest, DownloadsDoNotUseTheApiBudget) {
  Harness h;
  ClientOptions options = h.options();
  options.rate_limit = RateLimit{1, ms(10000)};
  Client client = h.client(options);
  h.transport->always_reply(200, "PNGDATA", {{"Content-Type", "image/png"}});
  test::TempDir dir;
  for (int i = 0; i < 5; ++i) client.download("https://cdn.test/x.png", dir.path() / "x.png");
  EXPECT_EQ(h.transport->count(), 5u);
  EXPECT_TRUE(h.clock->sleeps().empty());
}

}  // namespace
}  // namespace runbase
