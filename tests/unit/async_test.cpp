// generate_async on the Client's event loop, through the fake transport: a stalled poll holds up
// no other run, the callback form reports once on the engine thread, and a cancellation or the
// Client's destruction ends a watched wait at once. These use the real clock (a stalled request
// stops fake time), with short intervals; every wait on a future is bounded.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runbase/runbase.hpp"
#include "unit/support/test_client.hpp"

namespace runbase {
namespace {

using std::chrono::milliseconds;
using test::ms;
using test::run_json;

constexpr auto kBound = std::chrono::seconds(30);  // what a stuck test would exceed

GptImage1Input input(std::string prompt = "a lighthouse") {
  GptImage1Input in;
  in.prompt = std::move(prompt);
  return in;
}

/// A fake Runbase: POST creates run_1, run_2, ...; a GET answers succeeded, except that the
/// first GET of the run created with the prompt `stalled` waits until `release()`. (By prompt, not
/// by run id: async creates run side by side, so the first call is not always the first create.)
class FakeService {
 public:
  explicit FakeService(std::string stalled = {}) : stalled_prompt_(std::move(stalled)) {
    released_ = release_.get_future().share();
  }
  ~FakeService() { release(); }

  HttpResponse operator()(const HttpRequest& request) {
    if (request.method == "POST") {
      const std::string id = "run_" + std::to_string(++created_);
      if (!stalled_prompt_.empty() &&
          request.body.find("\"" + stalled_prompt_ + "\"") != std::string::npos) {
        std::lock_guard<std::mutex> lock(mutex_);
        stalled_id_ = id;
      }
      return HttpResponse{201, {}, run_json(id, "pending")};
    }
    const std::string id = request.url.substr(request.url.rfind('/') + 1);
    bool stall = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stall = id == stalled_id_;
    }
    if (stall && !stall_taken_.exchange(true)) {
      released_.wait();
      stall_returned_ = true;
    }
    return HttpResponse{200, {}, run_json(id, "succeeded")};
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!released_flag_) release_.set_value();
    released_flag_ = true;
  }
  bool stall_returned() const { return stall_returned_.load(); }

 private:
  const std::string stalled_prompt_;
  std::string stalled_id_;  // guarded by mutex_
  std::atomic<int> created_{0};
  std::atomic<bool> stall_taken_{false};
  std::atomic<bool> stall_returned_{false};
  std::mutex mutex_;
  bool released_flag_ = false;
  std::promise<void> release_;
  std::shared_future<void> released_;
};

struct RealClockHarness {
  std::shared_ptr<test::FakeTransport> transport = std::make_shared<test::FakeTransport>();
  std::shared_ptr<FakeService> service;

  explicit RealClockHarness(std::string stalled = {})
      : service(std::make_shared<FakeService>(std::move(stalled))) {
    std::shared_ptr<FakeService> s = service;
    transport->always([s](const HttpRequest& request) { return (*s)(request); });
  }
  Client client() {
    ClientOptions options;
    options.api_key = std::string(test::kTestKey);
    options.base_url = std::string(test::kTestBaseUrl);
    options.transport = transport;
    options.rate_limit.requests = 0;
    return detail::ClientAccess::make(options, detail::make_real_clock(), [] { return 0.5; });
  }
};

WaitOptions quick() {
  WaitOptions options;
  options.poll_interval = ms(5);
  options.max_poll_interval = ms(20);
  return options;
}

TEST(GenerateAsyncTest, AStalledPollHoldsUpNoOtherRun) {
  RealClockHarness h("a stalled lighthouse");
  Client client = h.client();
  // Destroyed before the Client: a failed assertion below must end the test, not leave the
  // Client's destructor waiting on the stalled poll's thread.
  const std::unique_ptr<FakeService, void (*)(FakeService*)> release_on_exit(
      h.service.get(), [](FakeService* service) { service->release(); });
  std::vector<std::future<runbase::Run>> futures;
  futures.push_back(client.generate_async(input("a stalled lighthouse"), quick()));
  for (int i = 1; i < 6; ++i) futures.push_back(client.generate_async(input(), quick()));
  // The five others finish while the first run's poll is still unanswered.
  for (std::size_t i = 1; i < futures.size(); ++i) {
    ASSERT_EQ(futures[i].wait_for(kBound), std::future_status::ready) << "run " << i;
    EXPECT_EQ(futures[i].get().status, RunStatus::Succeeded);
  }
  EXPECT_FALSE(h.service->stall_returned());
  EXPECT_NE(futures[0].wait_for(ms(0)), std::future_status::ready);
  h.service->release();
  ASSERT_EQ(futures[0].wait_for(kBound), std::future_status::ready);
  EXPECT_EQ(futures[0].get().status, RunStatus::Succeeded);
  EXPECT_TRUE(h.service->stall_returned());
}

TEST(GenerateAsyncTest, TheCallbackFormReportsOnceOnTheEngineThread) {
  RealClockHarness h;
  Client client = h.client();
  std::promise<std::pair<std::optional<runbase::Run>, std::thread::id>> result;
  std::atomic<int> calls{0};
  client.generate_async(input(), quick(),
                        [&](std::optional<runbase::Run> run, std::exception_ptr error) {
                          EXPECT_FALSE(error);
                          if (++calls == 1)
                            result.set_value({std::move(run), std::this_thread::get_id()});
                        });
  auto future = result.get_future();
  ASSERT_EQ(future.wait_for(kBound), std::future_status::ready);
  auto [run, thread] = future.get();
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, RunStatus::Succeeded);
  EXPECT_NE(thread, std::this_thread::get_id());

  // A bad input is reported the same way: on the engine thread, never inside the call.
  std::promise<std::pair<std::exception_ptr, std::thread::id>> refused;
  GptImage1Input bad;
  client.generate_async(bad, quick(), [&](std::optional<runbase::Run> r, std::exception_ptr error) {
    EXPECT_FALSE(r);
    refused.set_value({error, std::this_thread::get_id()});
  });
  auto refusal = refused.get_future();
  ASSERT_EQ(refusal.wait_for(kBound), std::future_status::ready);
  auto [error, refused_on] = refusal.get();
  EXPECT_TRUE(detail::holds<ValidationError>(error));
  EXPECT_NE(refused_on, std::this_thread::get_id());
  EXPECT_EQ(calls.load(), 1);
}

// A run that never finishes, polled a minute apart: only the token can end the wait early.
TEST(GenerateAsyncTest, CancellingTheTokenEndsAWatchedWaitAtOnce) {
  auto fake = std::make_shared<test::FakeTransport>();
  fake->reply(201, run_json("run_9", "pending")).always_reply(200, run_json("run_9", "processing"));
  ClientOptions options;
  options.api_key = std::string(test::kTestKey);
  options.base_url = std::string(test::kTestBaseUrl);
  options.transport = fake;
  options.rate_limit.requests = 0;
  Client client =
      detail::ClientAccess::make(options, detail::make_real_clock(), [] { return 0.5; });
  CancellationToken token;
  WaitOptions wait;
  wait.poll_interval = std::chrono::minutes(1);
  wait.max_poll_interval = std::chrono::minutes(1);
  wait.cancel = &token;
  std::promise<void> created;
  std::atomic<bool> once{false};
  wait.on_update = [&](const runbase::Run&) {
    if (!once.exchange(true)) created.set_value();
  };
  std::future<runbase::Run> future = client.generate_async(input(), wait);
  ASSERT_EQ(created.get_future().wait_for(kBound), std::future_status::ready);
  token.cancel();
  ASSERT_EQ(future.wait_for(kBound), std::future_status::ready);
  auto error = test::expect_throws<CancelledError>([&] { future.get(); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_9");
}

TEST(GenerateAsyncTest, DestroyingTheClientEndsPendingWaitsAtOnce) {
  auto fake = std::make_shared<test::FakeTransport>();
  fake->reply(201, run_json("run_7", "pending")).always_reply(200, run_json("run_7", "processing"));
  ClientOptions options;
  options.api_key = std::string(test::kTestKey);
  options.base_url = std::string(test::kTestBaseUrl);
  options.transport = fake;
  options.rate_limit.requests = 0;
  std::future<runbase::Run> future;
  {
    Client client =
        detail::ClientAccess::make(options, detail::make_real_clock(), [] { return 0.5; });
    WaitOptions wait;
    wait.poll_interval = std::chrono::minutes(1);
    wait.max_poll_interval = std::chrono::minutes(1);
    std::promise<void> created;
    std::atomic<bool> once{false};
    wait.on_update = [&](const runbase::Run&) {
      if (!once.exchange(true)) created.set_value();
    };
    future = client.generate_async(input(), wait);
    ASSERT_EQ(created.get_future().wait_for(kBound), std::future_status::ready);
  }
  ASSERT_EQ(future.wait_for(ms(0)), std::future_status::ready);  // before the destructor returned
  auto error = test::expect_throws<CancelledError>([&] { future.get(); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->run_id(), "run_7");
  EXPECT_FALSE(error->outcome_unknown());
}

}  // namespace
}  // namespace runbase
