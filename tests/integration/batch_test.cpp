// Many runs at once against the real runbase-emulator: generate_batch (order, partial failure,
// journal resume, spend limit), single flight seen from the emulator's side, the rate window
// under eight threads, and generate_async's one engine thread. Counts come from GET
// /_emulator/stats.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "runbase/runbase.hpp"
#include "support/emulator_process.hpp"

namespace {

using runbase::testing::EmulatorProcess;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

constexpr std::int64_t kRunCost = 50000;  // the emulator's gpt-image-1 price, micro-USD

runbase::ClientOptions options_for(const EmulatorProcess& emulator) {
  runbase::ClientOptions options;
  options.api_key = "sk-batch-test";
  options.base_url = emulator.base_url();
  options.rate_limit.requests = 0;  // off unless a test sets it
  options.retry.initial_backoff = 10ms;
  options.retry.max_backoff = 50ms;
  return options;
}

runbase::WaitOptions fast_wait(milliseconds timeout = 20s) {
  runbase::WaitOptions wait;
  wait.poll_interval = 50ms;
  wait.max_poll_interval = 100ms;
  wait.timeout = timeout;
  return wait;
}

runbase::GptImage1Input input(std::string prompt) {
  runbase::GptImage1Input in;
  in.prompt = std::move(prompt);
  return in;
}

struct Stats {
  nlohmann::json json;
  std::uint64_t creates() const { return json["requests"]["create"].get<std::uint64_t>(); }
  std::uint64_t gets() const { return json["requests"]["get"].get<std::uint64_t>(); }
  std::uint64_t responses(int status) const {
    const auto& all = json["responses"];
    const auto it = all.find(std::to_string(status));
    return it == all.end() ? 0 : it->get<std::uint64_t>();
  }
  std::uint64_t runs_created() const { return json["runs_created"].get<std::uint64_t>(); }
  // Polls the emulator counted for one run.
  std::uint64_t polls(const std::string& run_id) const {
    for (const auto& run : json["runs"]) {
      if (run["id"] == run_id) return run["polls"].get<std::uint64_t>();
    }
    ADD_FAILURE() << "no run " << run_id << " at the emulator";
    return 0;
  }
  std::string prompt(const std::string& run_id) const {
    for (const auto& run : json["runs"]) {
      if (run["id"] == run_id) return run["prompt"].get<std::string>();
    }
    return {};
  }
};

Stats stats(const EmulatorProcess& emulator) {
  return Stats{nlohmann::json::parse(emulator.stats_json())};
}

template <class E>
const E* error_as(const std::exception_ptr& error, std::exception_ptr& keep) {
  keep = error;
  try {
    std::rethrow_exception(error);
  } catch (const E& e) {
    return &e;
  } catch (...) {
    return nullptr;
  }
}

// A fresh directory under the system's temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("runbase-batch-test-" + std::to_string(random()) + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

int thread_count() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

TEST(BatchTest, KeepsInputOrderAndOneFailedItemNeverFailsTheBatch) {
  EmulatorProcess emulator({"--latency-ms", "200", "--rate-limit", "0"});
  runbase::Client client(options_for(emulator));
  std::vector<runbase::GptImage1Input> inputs = {
      input("a lighthouse at dusk"),
      input("a red fox [fail]"),
      input("a paper boat"),
      input(""),  // invalid: refused before anything is sent
      input("a green kite [fail]"),
      input("a glass apple"),
      input("an endless stair [never]")};
  runbase::BatchOptions options;
  options.wait = fast_wait(3s);
  const auto caller = std::this_thread::get_id();
  std::vector<std::size_t> progress;
  std::vector<std::string> updates;
  options.on_progress = [&](std::size_t done, std::size_t total) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(total, inputs.size());
    progress.push_back(done);
  };
  options.wait.on_update = [&](const runbase::Run& run) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    updates.push_back(run.id + " " + run.status_text);
  };

  const std::vector<runbase::BatchResult> results = client.generate_batch(inputs, options);

  ASSERT_EQ(results.size(), inputs.size());
  const Stats after = stats(emulator);
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_NE(results[i].run.has_value(), static_cast<bool>(results[i].error)) << "item " << i;
  }
  for (std::size_t i : {0u, 2u, 5u}) {
    ASSERT_TRUE(results[i].run) << "item " << i;
    EXPECT_EQ(results[i].run->status, runbase::RunStatus::Succeeded);
    EXPECT_FALSE(results[i].run->output_urls.empty());
    // Input order: each result is the run made from the input at its index.
    EXPECT_EQ(after.prompt(results[i].run->id), inputs[i].prompt);
  }
  for (std::size_t i : {1u, 4u}) {
    std::exception_ptr keep;
    const auto* failed = error_as<runbase::RunFailedError>(results[i].error, keep);
    ASSERT_NE(failed, nullptr) << "item " << i;
    EXPECT_EQ(after.prompt(failed->run().id), inputs[i].prompt);
  }
  std::exception_ptr keep;
  EXPECT_NE(error_as<runbase::ValidationError>(results[3].error, keep), nullptr);
  const auto* timeout = error_as<runbase::TimeoutError>(results[6].error, keep);
  ASSERT_NE(timeout, nullptr);
  EXPECT_EQ(after.prompt(timeout->run_id()), inputs[6].prompt);

  EXPECT_EQ(after.creates(), 6u);  // the invalid item was never sent
  EXPECT_EQ(after.responses(429), 0u);
  EXPECT_EQ(progress, (std::vector<std::size_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_GE(updates.size(), 6u);  // at least each created run, pending
  // Five runs paid for, the two failed ones refunded (the one that never ends is still billed).
  EXPECT_EQ(client.spent_usd_micros(), 4 * kRunCost);
}

TEST(BatchTest, TwoWaitersOnOneRunShareOnePollStream) {
  EmulatorProcess emulator({"--latency-ms", "1500", "--rate-limit", "0"});
  runbase::Client client(options_for(emulator));
  const runbase::Run created = client.create_run(input("a slow tide"));
  runbase::WaitOptions wait = fast_wait();
  wait.poll_interval = 100ms;
  wait.max_poll_interval = 100ms;

  std::atomic<int> ready{0};
  const auto waiter = [&] {
    ++ready;
    while (ready.load() < 2) std::this_thread::yield();  // start both waits together
    return client.wait(created.id, wait);
  };
  auto waiter_a = std::async(std::launch::async, waiter);
  auto waiter_b = std::async(std::launch::async, waiter);
  const runbase::Run a = waiter_a.get();
  const runbase::Run b = waiter_b.get();
  EXPECT_EQ(a.status, runbase::RunStatus::Succeeded);
  EXPECT_EQ(b.status, runbase::RunStatus::Succeeded);

  // One waiter polling every 100 ms makes about duration / 100 ms + 1 polls; two independent
  // ones twice that. Shared, the emulator sees one stream (plus one for a start that missed the
  // other's poll in flight, plus one for timing slack).
  const Stats after = stats(emulator);
  const std::uint64_t polls = after.polls(created.id);
  const auto elapsed_polls = [&] {
    // completedAt - createdAt of the run, in whole poll intervals.
    const auto parse = [](const std::string& text) {
      int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
      std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &year, &month, &day, &hour, &minute,
                  &second, &millis);
      return ((day * 24LL + hour) * 3600 + minute * 60 + second) * 1000 + millis;
    };
    return static_cast<std::uint64_t>((parse(a.completed_at) - parse(a.created_at)) / 100);
  }();
  EXPECT_LE(polls, elapsed_polls + 3) << "two waiters polled on their own";
  EXPECT_GE(polls, 2u);
}

TEST(BatchTest, RateWindowHoldsUnderEightThreads) {
  // The same budget at both ends: the Client must never trip the emulator's window.
  EmulatorProcess emulator({"--latency-ms", "150", "--rate-limit", "10/1"});
  runbase::ClientOptions options = options_for(emulator);
  options.rate_limit = runbase::RateLimit{10, 1000ms};
  runbase::Client client(options);

  std::vector<std::thread> threads;
  std::atomic<int> succeeded{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2; ++i) {
        const auto in = input("thread " + std::to_string(t) + " image " + std::to_string(i));
        try {
          const runbase::Run run = t % 2 == 0 ? client.generate(in, fast_wait())
                                              : client.generate_async(in, fast_wait()).get();
          if (run.status == runbase::RunStatus::Succeeded) ++succeeded;
        } catch (const std::exception& e) {
          ADD_FAILURE() << e.what();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(succeeded.load(), 16);
  const Stats after = stats(emulator);
  EXPECT_EQ(after.responses(429), 0u);
  EXPECT_EQ(after.creates(), 16u);
}

TEST(BatchTest, JournalResumesWithoutCreatingAgain) {
  EmulatorProcess emulator({"--latency-ms", "300", "--rate-limit", "0"});
  TempDir dir;
  std::vector<runbase::GptImage1Input> inputs = {input("one swan"), input("two owls"),
                                                 input("three bees"), input("four cats")};
  runbase::BatchOptions options;
  options.wait = fast_wait();
  options.journal = dir.path() / "batch.journal";
  options.max_in_flight = 2;

  // First run, "crashing" once the first item is done: cancelled with items 0 and 1 created
  // and 2 and 3 not yet.
  std::vector<std::string> first_ids(inputs.size());
  {
    runbase::Client client(options_for(emulator));
    runbase::CancellationToken stop;
    runbase::BatchOptions crashing = options;
    crashing.wait.cancel = &stop;
    crashing.on_progress = [&](std::size_t done, std::size_t) {
      if (done == 1) stop.cancel();
    };
    const auto results = client.generate_batch(inputs, crashing);
    // Items 0 and 1 were created; whichever finished first stopped the batch, the other (if
    // still running) was left as it was, on record. Items 2 and 3 were never created.
    std::size_t finished = 0;
    for (std::size_t i : {0u, 1u}) {
      if (results[i].run) {
        ++finished;
        first_ids[i] = results[i].run->id;
        continue;
      }
      std::exception_ptr keep;
      const auto* cancelled = error_as<runbase::CancelledError>(results[i].error, keep);
      ASSERT_NE(cancelled, nullptr) << "item " << i;
      first_ids[i] = cancelled->run_id();
      EXPECT_FALSE(first_ids[i].empty());
    }
    EXPECT_GE(finished, 1u);
    for (std::size_t i : {2u, 3u}) {
      std::exception_ptr keep;
      const auto* cancelled = error_as<runbase::CancelledError>(results[i].error, keep);
      ASSERT_NE(cancelled, nullptr) << "item " << i;
      EXPECT_TRUE(cancelled->run_id().empty());
    }
  }
  EXPECT_EQ(stats(emulator).creates(), 2u);

  // Second run, same journal, a new Client: waits on the two runs on record, creates the rest.
  {
    runbase::Client client(options_for(emulator));
    const auto results = client.generate_batch(inputs, options);
    for (std::size_t i = 0; i < results.size(); ++i) ASSERT_TRUE(results[i].run) << "item " << i;
    EXPECT_EQ(results[0].run->id, first_ids[0]);
    EXPECT_EQ(results[1].run->id, first_ids[1]);
    EXPECT_EQ(stats(emulator).creates(), 4u);
    EXPECT_EQ(client.spent_usd_micros(), 2 * kRunCost);  // the resumed two were paid before
  }

  // Third run: everything is on record, nothing is created. An item whose input changed is.
  {
    runbase::Client client(options_for(emulator));
    auto changed = inputs;
    changed[3].prompt = "four dogs";
    const auto results = client.generate_batch(changed, options);
    for (std::size_t i = 0; i < results.size(); ++i) ASSERT_TRUE(results[i].run) << "item " << i;
    const Stats after = stats(emulator);
    EXPECT_EQ(after.creates(), 5u);
    EXPECT_EQ(after.runs_created(), 5u);
    EXPECT_EQ(after.prompt(results[3].run->id), "four dogs");
  }
}

TEST(BatchTest, SpendLimitRefusesCreatesBeforeAnythingIsSent) {
  EmulatorProcess emulator({"--latency-ms", "100", "--rate-limit", "0"});
  runbase::ClientOptions options = options_for(emulator);
  options.spend_limit_usd_micros = 2 * kRunCost;
  runbase::Client client(options);

  client.create_run(input("first"));
  const runbase::Run failing = client.create_run(input("second [fail]"));
  EXPECT_EQ(client.spent_usd_micros(), 2 * kRunCost);
  EXPECT_THROW(client.create_run(input("third")), runbase::SpendLimitError);
  EXPECT_EQ(stats(emulator).creates(), 2u);

  // A failed run is refunded: seen failing, it frees its share of the limit.
  EXPECT_THROW(client.wait(failing.id, fast_wait()), runbase::RunFailedError);
  EXPECT_EQ(client.spent_usd_micros(), kRunCost);

  // A batch: one more create fits, the rest are refused without being sent.
  const auto results = client.generate_batch({input("fourth"), input("fifth"), input("sixth")},
                                             runbase::BatchOptions{0, fast_wait(), {}, {}});
  ASSERT_TRUE(results[0].run);
  std::exception_ptr keep;
  EXPECT_NE(error_as<runbase::SpendLimitError>(results[1].error, keep), nullptr);
  EXPECT_NE(error_as<runbase::ValidationError>(results[2].error, keep), nullptr);
  EXPECT_EQ(stats(emulator).creates(), 3u);
  EXPECT_EQ(client.spent_usd_micros(), 2 * kRunCost);
}

// Every model a user reaches for, in one batch: typed GPT Image 1, 1.5 and 2 inputs and a model
// by id with JSON. Each run is the model and tier asked for, priced as published, and the spend
// limit prices each tier before sending.
TEST(BatchTest, AMixedBatchRunsEveryModelAtItsTiersPrice) {
  EmulatorProcess emulator({"--latency-ms", "100", "--rate-limit", "0"});
  runbase::Client client(options_for(emulator));
  runbase::GptImage15Input medium{"a fox, medium", std::nullopt, runbase::Quality::Medium, {}};
  runbase::GptImage2Input two_k{
      "a fox, 2K", runbase::GptImage2AspectRatio::Landscape16x9, runbase::Resolution::TwoK, {}};
  const std::vector<runbase::ModelInput> inputs{
      input("a fox, gpt-image-1"), medium, two_k,
      runbase::ModelInput("google/nano-banana-2", R"({"prompt":"a fox, banana"})")};
  const auto results = client.generate_batch(inputs, runbase::BatchOptions{0, fast_wait(), {}, {}});

  struct Expected {
    std::string model;
    std::int64_t cost;
    std::string prompt;
  };
  const std::vector<Expected> expected{{"openai/gpt-image-1", 50000, "a fox, gpt-image-1"},
                                       {"openai/gpt-image-1.5", 30000, "a fox, medium"},
                                       {"openai/gpt-image-2", 70000, "a fox, 2K"},
                                       {"google/nano-banana-2", 40000, "a fox, banana"}};
  ASSERT_EQ(results.size(), expected.size());
  const Stats after = stats(emulator);
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].run) << "item " << i;
    EXPECT_EQ(results[i].run->status, runbase::RunStatus::Succeeded);
    EXPECT_EQ(results[i].run->model, expected[i].model);
    EXPECT_EQ(inputs[i].model(), expected[i].model);
    EXPECT_EQ(results[i].run->cost_usd_micros, expected[i].cost);
    EXPECT_EQ(after.prompt(results[i].run->id), expected[i].prompt);
  }
  EXPECT_EQ(after.creates(), 4u);
  EXPECT_EQ(client.spent_usd_micros(), 50000 + 30000 + 70000 + 40000);

  // A fresh Client with room for one high-quality GPT Image 1.5 run: the first goes, the
  // second would pass the limit at the high tier's price and is refused unsent.
  runbase::ClientOptions limited = options_for(emulator);
  limited.spend_limit_usd_micros = 200000;
  runbase::Client careful(limited);
  runbase::GptImage15Input high{"a fox, high", std::nullopt, runbase::Quality::High, {}};
  EXPECT_EQ(careful.generate(high, fast_wait()).cost_usd_micros, 160000);
  EXPECT_THROW(careful.create_run(high), runbase::SpendLimitError);
  runbase::GptImage2Input one_k{"a fox, 1K", std::nullopt, runbase::Resolution::OneK, {}};
  EXPECT_THROW(careful.generate_async(one_k, fast_wait()).get(), runbase::SpendLimitError);
  EXPECT_EQ(stats(emulator).creates(), 5u);
}

TEST(BatchTest, GenerateAsyncKeepsManyWaitsOnOneEngineThread) {
  EmulatorProcess emulator({"--latency-ms", "1500", "--rate-limit", "0"});
  runbase::Client client(options_for(emulator));
  // A sanitizer runtime (TSan) starts a helper thread of its own at the first thread the process
  // creates: have that happen before counting, so only the SDK's threads are counted.
  std::thread([] {}).join();
  const int before = thread_count();
  std::vector<std::future<runbase::Run>> futures;
  for (int i = 0; i < 40; ++i) {
    futures.push_back(client.generate_async(input("async " + std::to_string(i)), fast_wait()));
  }
  // While they are all in flight: the Client has added its event loop's thread, no more.
  EXPECT_LE(thread_count(), before + 1);
  for (auto& future : futures) EXPECT_EQ(future.get().status, runbase::RunStatus::Succeeded);
  EXPECT_LE(thread_count(), before + 1);
  EXPECT_EQ(stats(emulator).creates(), 40u);
}

TEST(BatchTest, GenerateAsyncCancelledEndsWithTheRunId) {
  EmulatorProcess emulator({"--latency-ms", "100", "--rate-limit", "0"});
  runbase::Client client(options_for(emulator));
  runbase::CancellationToken cancel;
  runbase::WaitOptions wait = fast_wait();
  wait.cancel = &cancel;
  std::promise<std::string> created;
  wait.on_update = [&](const runbase::Run& run) {
    if (run.status == runbase::RunStatus::Pending) created.set_value(run.id);
  };
  auto future = client.generate_async(input("never done [never]"), wait);
  const std::string id = created.get_future().get();
  cancel.cancel();
  try {
    future.get();
    ADD_FAILURE() << "expected CancelledError";
  } catch (const runbase::CancelledError& e) {
    EXPECT_EQ(e.run_id(), id);
  }
}

}  // namespace
