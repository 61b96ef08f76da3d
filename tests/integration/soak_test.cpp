// A fault soak: 300+ runs through one Client, from 8 threads, against runbase-emulator answering
// 20% of API requests with a random 500 or 429, plus every prompt fault token. What a user relies
// on under faults: each run ends succeeded or in a typed runbase::Error, nothing is created (or
// billed) twice, no wait outlives its deadline, and memory does not grow run over run.
#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runbase/runbase.hpp"
#include "support/emulator_process.hpp"

namespace {

using namespace std::chrono_literals;
using runbase::testing::EmulatorProcess;

// Counts the creates the SDK hands to libcurl, to compare with what reached the emulator.
class CountingTransport final : public runbase::HttpTransport {
 public:
  explicit CountingTransport(std::shared_ptr<runbase::HttpTransport> inner)
      : inner_(std::move(inner)) {}
  runbase::HttpResponse send(const runbase::HttpRequest& request) override {
    if (request.method == "POST") ++posts;
    return inner_->send(request);
  }
  std::atomic<int> posts{0};

 private:
  std::shared_ptr<runbase::HttpTransport> inner_;
};

std::string prompt_for(int index) {
  std::string prompt = "soak " + std::to_string(index);
  if (index % 10 == 3) prompt += " [fail]";
  if (index % 29 == 5) prompt += " [never]";
  if (index % 23 == 7) prompt += " [500]";
  if (index % 31 == 11) prompt += " [drop]";
  return prompt;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

TEST(SoakTest, FaultsEndInTypedErrorsWithoutDoubleCreatesOrOverdueWaits) {
  EmulatorProcess emulator(
      {"--latency-ms", "40", "--rate-limit", "0", "--fault-rate", "0.2", "--seed", "7"});
  runbase::ClientOptions options;
  options.api_key = "sk-soak";
  options.base_url = emulator.base_url();
  options.rate_limit.requests = 0;
  options.retry.initial_backoff = 5ms;
  options.retry.max_backoff = 20ms;
  options.retry.max_retries = 4;
  auto transport = std::make_shared<CountingTransport>(runbase::make_curl_transport(options));
  options.transport = transport;
  runbase::Client client(options);

  constexpr int kThreads = 8;
  constexpr int kRunsPerThread = 38;  // 304 runs
  constexpr auto kDeadline = 1500ms;
  // The deadline bounds polling and back-off; the create before it has its own request timeout,
  // and the last poll may be answered just after: allow a little past it, never a hang.
  constexpr auto kSlack = 2000ms;

  std::mutex mutex;
  std::set<std::string> run_ids;  // every run the Client learned of
  std::atomic<int> succeeded{0}, failed{0}, timed_out{0}, create_errors{0}, other_errors{0};
  std::atomic<int> overdue{0}, untyped{0}, ids_seen_twice{0};
  std::size_t heap_after_warmup = 0;
  std::atomic<int> done{0};

  const auto worker = [&](int thread) {
    for (int i = 0; i < kRunsPerThread; ++i) {
      const int index = thread * kRunsPerThread + i;
      runbase::GptImage1Input input;
      input.prompt = prompt_for(index);
      runbase::WaitOptions wait;
      wait.poll_interval = 20ms;
      wait.max_poll_interval = 60ms;
      wait.timeout = kDeadline;
      bool created = false;
      wait.on_update = [&](const runbase::Run& run) {
        if (run.status != runbase::RunStatus::Pending || created) return;
        created = true;
        std::lock_guard<std::mutex> lock(mutex);
        if (!run_ids.insert(run.id).second) ++ids_seen_twice;
      };
      const auto started = std::chrono::steady_clock::now();
      try {
        client.generate(input, wait);
        ++succeeded;
      } catch (const runbase::RunFailedError&) {
        ++failed;
      } catch (const runbase::TimeoutError& e) {
        ++timed_out;
        if (created) {
          EXPECT_FALSE(e.run_id().empty()) << e.what();
        }
      } catch (const runbase::Error&) {
        ++(created ? other_errors : create_errors);
      } catch (...) {
        ++untyped;
      }
      if (std::chrono::steady_clock::now() - started > kDeadline + kSlack) ++overdue;
      if (++done == 100) heap_after_warmup = mallinfo2().uordblks;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& thread : threads) thread.join();
  const std::size_t heap_at_end = mallinfo2().uordblks;

  const int total = kThreads * kRunsPerThread;
  EXPECT_EQ(succeeded + failed + timed_out + create_errors + other_errors, total);
  EXPECT_EQ(untyped.load(), 0) << "every failure is a runbase::Error";
  EXPECT_EQ(overdue.load(), 0) << "no generate outlived its deadline";
  EXPECT_EQ(ids_seen_twice.load(), 0);
  EXPECT_GT(succeeded.load(), total / 2);
  EXPECT_GT(failed.load(), 0);
  EXPECT_GT(timed_out.load(), 0);
  EXPECT_GT(create_errors.load(), 0);

  const auto stats = nlohmann::json::parse(emulator.stats_json());
  // Every create the SDK sent reached the emulator once: nothing resent behind its back.
  EXPECT_EQ(stats["requests"]["create"].get<int>(), transport->posts.load()) << stats.dump();
  // Every run the emulator made is one the Client learned of: none created twice, none lost.
  EXPECT_EQ(stats["runs_created"].get<std::size_t>(), run_ids.size());
  EXPECT_GT(stats["responses"].value("500", 0), 0) << "the fault rate was in force";

  if (!kSanitized) {
    // 200 runs after the warm-up: the Client keeps no per-run state once a wait ends.
    const auto growth =
        static_cast<long long>(heap_at_end) - static_cast<long long>(heap_after_warmup);
    EXPECT_LT(growth, 2 * 1024 * 1024) << "heap in use grew by " << growth << " bytes";
  }
}

}  // namespace
