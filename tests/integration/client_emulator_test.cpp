// The Client over the real libcurl transport against the real runbase-emulator on loopback: the
// happy path, every documented error a user can meet, and the emulator's faults.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "runbase/runbase.hpp"
#include "support/emulator_process.hpp"

namespace {

using runbase::testing::EmulatorProcess;
using namespace std::chrono_literals;

runbase::ClientOptions options_for(const EmulatorProcess& emulator, std::string key = "sk-test") {
  runbase::ClientOptions options;
  options.api_key = std::move(key);
  options.base_url = emulator.base_url();
  options.retry.initial_backoff = 10ms;
  options.retry.max_backoff = 50ms;
  return options;
}

runbase::WaitOptions fast_wait(std::chrono::milliseconds timeout = 20s) {
  runbase::WaitOptions wait;
  wait.poll_interval = 20ms;
  wait.max_poll_interval = 50ms;
  wait.timeout = timeout;
  return wait;
}

runbase::GptImage1Input input(std::string prompt) {
  runbase::GptImage1Input in;
  in.prompt = std::move(prompt);
  return in;
}

struct PngSize {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

// Width and height from the IHDR chunk, after checking the 8-byte PNG signature.
PngSize read_png_size(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_GE(bytes.size(), 24u);
  if (bytes.size() < 24) return {};
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(bytes.substr(12, 4), "IHDR");
  const auto be32 = [&](std::size_t at) {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i)
      value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
    return value;
  };
  return {be32(16), be32(20)};
}

std::size_t count_occurrences(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("runbase-client-test-" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
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

class ClientEmulatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    emulator_ = new EmulatorProcess({"--latency-ms", "150", "--rate-limit", "0"});
  }
  static void TearDownTestSuite() {
    delete emulator_;
    emulator_ = nullptr;
  }
  static EmulatorProcess* emulator_;
};
EmulatorProcess* ClientEmulatorTest::emulator_ = nullptr;

TEST_F(ClientEmulatorTest, GenerateReturnsSucceededRunAndDownloadsAPng) {
  runbase::Client client(options_for(*emulator_));
  std::vector<runbase::RunStatus> seen;
  runbase::WaitOptions wait = fast_wait();
  wait.on_update = [&](const runbase::Run& run) { seen.push_back(run.status); };

  const runbase::Run run =
      client.generate(input("A cinematic product photo of a ceramic lamp"), wait);

  EXPECT_EQ(run.status, runbase::RunStatus::Succeeded);
  EXPECT_EQ(run.model, "openai/gpt-image-1");
  EXPECT_EQ(run.cost_usd_micros, 50000);
  EXPECT_FALSE(run.created_at.empty());
  EXPECT_FALSE(run.completed_at.empty());
  ASSERT_EQ(run.output_urls.size(), 1u);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), runbase::RunStatus::Pending);
  EXPECT_EQ(seen.back(), runbase::RunStatus::Succeeded);

  TempDir dir;
  const auto files = client.download_outputs(run, dir.path() / "out");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename().string(), run.id + "-0.png");
  const PngSize size = read_png_size(files[0]);
  EXPECT_EQ(size.width, 1024u);
  EXPECT_EQ(size.height, 1024u);
  // Nothing but the image is left behind: the temporary file was renamed into place.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path() / "out"),
                          std::filesystem::directory_iterator()),
            1);
}

TEST_F(ClientEmulatorTest, AspectRatioReachesTheServiceAndSetsTheImageSize) {
  runbase::Client client(options_for(*emulator_));
  TempDir dir;
  for (const auto& [ratio, width, height] :
       {std::tuple{runbase::AspectRatio::Landscape, 1536u, 1024u},
        std::tuple{runbase::AspectRatio::Portrait, 1024u, 1536u}}) {
    runbase::GptImage1Input in = input("a lighthouse at dusk");
    in.aspect_ratio = ratio;
    const runbase::Run run = client.generate(in, fast_wait());
    const std::filesystem::path file = dir.path() / (run.id + ".png");
    client.download(run.output_urls.at(0), file);
    const PngSize size = read_png_size(file);
    EXPECT_EQ(size.width, width) << runbase::to_string(ratio);
    EXPECT_EQ(size.height, height) << runbase::to_string(ratio);
  }
}

// The typed inputs of GPT Image 1.5 and 2 reach the service as their schemas say: the tier
// sets the price, the ratio and resolution the image's size.
TEST_F(ClientEmulatorTest, GptImage15And2InputsSetTheirTierPriceAndImageSize) {
  runbase::Client client(options_for(*emulator_));
  TempDir dir;
  const auto expect_one_image = [&](const runbase::Run& run, std::uint32_t width,
                                    std::uint32_t height) {
    const auto files = client.download_outputs(run, dir.path());
    ASSERT_EQ(files.size(), 1u);
    const PngSize size = read_png_size(files[0]);
    EXPECT_EQ(size.width, width) << run.model;
    EXPECT_EQ(size.height, height) << run.model;
  };
  runbase::GptImage15Input fast{
      "a lighthouse at dusk", runbase::AspectRatio::Portrait, runbase::Quality::High, {}};
  const runbase::Run v15 = client.generate(fast, fast_wait());
  EXPECT_EQ(v15.model, "openai/gpt-image-1.5");
  EXPECT_EQ(v15.cost_usd_micros, 160000);
  expect_one_image(v15, 1024u, 1536u);

  runbase::GptImage2Input wide{"a lighthouse at dusk",
                               runbase::GptImage2AspectRatio::Landscape16x9,
                               runbase::Resolution::TwoK,
                               {}};
  const runbase::Run v2 = client.generate_async(wide, fast_wait()).get();
  EXPECT_EQ(v2.model, "openai/gpt-image-2");
  EXPECT_EQ(v2.cost_usd_micros, 70000);
  expect_one_image(v2, 2048u, 1152u);
}

// What the service would refuse is refused before sending, naming the field and the limit.
TEST(ClientEmulatorModels, InvalidInputsOfEveryModelAreRefusedUnsent) {
  EmulatorProcess emulator({"--rate-limit", "0"});
  runbase::Client client(options_for(emulator));
  runbase::GptImage2Input five_refs{"a fox", std::nullopt, std::nullopt, {}};
  five_refs.image_urls.assign(5, "https://example.com/ref.png");
  try {
    client.generate(five_refs, fast_wait());
    ADD_FAILURE() << "five reference images were accepted";
  } catch (const runbase::ValidationError& e) {
    EXPECT_STREQ(
        e.what(),
        "image_urls has 5 entries; openai/gpt-image-2 accepts at most 4 reference images.");
  }
  runbase::GptImage15Input empty{"", std::nullopt, runbase::Quality::Medium, {}};
  EXPECT_THROW(client.create_run(empty), runbase::ValidationError);
  EXPECT_THROW(client.generate_async(runbase::ModelInput("", "{}")).get(),
               runbase::ValidationError);
  EXPECT_THROW(client.create_run(runbase::ModelInput("openai/gpt-image-2", "[1]")),
               runbase::ValidationError);
  const auto results = client.generate_batch(std::vector<runbase::ModelInput>{empty, five_refs});
  for (const auto& result : results) EXPECT_FALSE(result.run);
  EXPECT_EQ(nlohmann::json::parse(emulator.stats_json())["requests"]["create"], 0);
}

TEST_F(ClientEmulatorTest, CreateThenGetThenWaitByIdFromAnotherClient) {
  runbase::Client creator(options_for(*emulator_));
  const runbase::Run created = creator.create_run(input("a red bicycle"));
  EXPECT_EQ(created.status, runbase::RunStatus::Pending);
  EXPECT_EQ(created.id.rfind("run_", 0), 0u);

  runbase::Client resumer(options_for(*emulator_));  // same key, as after a restart
  const runbase::Run fetched = resumer.get_run(created.id);
  EXPECT_EQ(fetched.id, created.id);
  const runbase::Run done = resumer.wait(created.id, fast_wait());
  EXPECT_EQ(done.status, runbase::RunStatus::Succeeded);
}

TEST_F(ClientEmulatorTest, RawJsonCreateRunsAnyModel) {
  runbase::Client client(options_for(*emulator_));
  const runbase::Run run =
      client.create_run("openai/gpt-image-2", R"({"prompt":"a fox","resolution":"2K"})");
  EXPECT_EQ(run.model, "openai/gpt-image-2");
  EXPECT_EQ(client.wait(run.id, fast_wait()).status, runbase::RunStatus::Succeeded);
}

TEST_F(ClientEmulatorTest, SchemaViolationsAreBadRequestsNamingTheField) {
  runbase::Client client(options_for(*emulator_));
  try {
    client.create_run("openai/gpt-image-1", R"({"prompt":"a fox","resolution":"1K"})");
    FAIL() << "expected BadRequestError";
  } catch (const runbase::BadRequestError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.code(), "invalid_input");
    EXPECT_NE(std::string(e.what()).find("resolution"), std::string::npos) << e.what();
    EXPECT_FALSE(e.outcome_unknown());
  }
  try {
    client.create_run("openai/no-such-model", R"({"prompt":"a fox"})");
    FAIL() << "expected BadRequestError";
  } catch (const runbase::BadRequestError& e) {
    EXPECT_EQ(e.code(), "model_not_found");
  }
}

TEST_F(ClientEmulatorTest, UnknownRunIsNotFound) {
  runbase::Client client(options_for(*emulator_));
  try {
    client.get_run("run_does_not_exist");
    FAIL() << "expected NotFoundError";
  } catch (const runbase::NotFoundError& e) {
    EXPECT_EQ(e.code(), "run_not_found");
    EXPECT_FALSE(e.request_id().empty()) << "the emulator sends X-Request-Id";
  }
}

TEST_F(ClientEmulatorTest, AnotherKeysRunIsNotFound) {
  runbase::Client owner(options_for(*emulator_, "sk-owner"));
  runbase::Client stranger(options_for(*emulator_, "sk-stranger"));
  const runbase::Run run = owner.create_run(input("a private image"));
  EXPECT_THROW(stranger.get_run(run.id), runbase::NotFoundError);
}

TEST_F(ClientEmulatorTest, RunIdIsPercentEncodedIntoOnePathSegment) {
  runbase::Client client(options_for(*emulator_));
  // Were the id pasted raw, "../runs" would walk the path; encoded it is just an unknown id.
  EXPECT_THROW(client.get_run("../runs?x=1#y"), runbase::NotFoundError);
  EXPECT_THROW(client.get_run(""), runbase::ValidationError);
}

TEST_F(ClientEmulatorTest, FailTokenEndsInRunFailedErrorWithTheServiceMessage) {
  runbase::Client client(options_for(*emulator_));
  try {
    client.generate(input("a broken lamp [fail]"), fast_wait());
    FAIL() << "expected RunFailedError";
  } catch (const runbase::RunFailedError& e) {
    EXPECT_EQ(e.run().status, runbase::RunStatus::Failed);
    ASSERT_TRUE(e.run().error.has_value());
    EXPECT_FALSE(e.run().error->message.empty());
    EXPECT_NE(std::string(e.what()).find(e.run().id), std::string::npos);
  }
}

TEST_F(ClientEmulatorTest, NeverTokenEndsAtTheDeadlineWithTheRunId) {
  runbase::Client client(options_for(*emulator_));
  try {
    // Long enough for the create to fit in it on a loaded machine (under TSan, say): a create the
    // deadline cuts off is a TimeoutError with no run id (whether the run was made is unknown).
    client.generate(input("a lamp that never renders [never]"), fast_wait(2s));
    FAIL() << "expected TimeoutError";
  } catch (const runbase::TimeoutError& e) {
    EXPECT_FALSE(e.run_id().empty());
    EXPECT_NE(std::string(e.what()).find(e.run_id()), std::string::npos);
    // The run is still there to wait on again.
    EXPECT_EQ(client.get_run(e.run_id()).status, runbase::RunStatus::Processing);
  }
}

TEST_F(ClientEmulatorTest, CancellingFromAnotherThreadStopsTheWait) {
  runbase::Client client(options_for(*emulator_));
  runbase::CancellationToken token;
  std::atomic<bool> created{false};
  runbase::WaitOptions wait = fast_wait(60s);
  wait.poll_interval = 5s;  // the wait is asleep when the cancel comes
  wait.max_poll_interval = 5s;
  wait.cancel = &token;
  wait.on_update = [&](const runbase::Run&) { created = true; };
  std::thread canceller([&] {
    while (!created) std::this_thread::yield();
    token.cancel();
  });
  const auto started = std::chrono::steady_clock::now();
  try {
    client.generate(input("a slow lamp [never]"), wait);
    ADD_FAILURE() << "expected CancelledError";
  } catch (const runbase::CancelledError& e) {
    EXPECT_FALSE(e.run_id().empty());
  }
  canceller.join();
  // Cancelling wakes the sleeper instead of letting it finish its 5 s pause.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
}

TEST_F(ClientEmulatorTest, ServerErrorOnCreateIsNotRetriedAndNoRunExists) {
  runbase::Client client(options_for(*emulator_, "sk-fault-500"));
  try {
    client.create_run(input("boom [500]"));
    FAIL() << "expected ServerError";
  } catch (const runbase::ServerError& e) {
    EXPECT_EQ(e.status(), 500);
    EXPECT_TRUE(e.outcome_unknown());
  }
  const std::string stats = emulator_->stats_json();
  EXPECT_EQ(count_occurrences(stats, "boom [500]"), 0u) << "no run was made: " << stats;
}

TEST_F(ClientEmulatorTest, DroppedCreateIsReportedAsUnknownOutcomeAndNeverResent) {
  EmulatorProcess emulator({"--latency-ms", "100", "--rate-limit", "0"});
  runbase::Client client(options_for(emulator));
  try {
    client.create_run(input("a lamp [drop]"));
    FAIL() << "expected ConnectionError";
  } catch (const runbase::ConnectionError& e) {
    EXPECT_TRUE(e.outcome_unknown()) << e.what();
  }
  const std::string stats = emulator.stats_json();
  // One create reached the emulator, and the SDK did not send a second.
  EXPECT_NE(stats.find("\"create\":1"), std::string::npos) << stats;
}

TEST(ClientEmulatorErrors, WrongKeyIsAnAuthenticationError) {
  EmulatorProcess emulator({"--api-key", "sk-right", "--rate-limit", "0"});
  runbase::Client client(options_for(emulator, "sk-wrong-key-123"));
  try {
    client.create_run(input("a fox"));
    FAIL() << "expected AuthenticationError";
  } catch (const runbase::AuthenticationError& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_EQ(e.code(), "invalid_api_key");
    EXPECT_EQ(std::string(e.what()).find("sk-wrong-key-123"), std::string::npos) << e.what();
  }
}

TEST(ClientEmulatorErrors, EmptyBalanceIsInsufficientCreditsAndFailedRunsAreRefunded) {
  // $0.10 pays for two runs at $0.05.
  EmulatorProcess emulator({"--balance-usd", "0.10", "--latency-ms", "50", "--rate-limit", "0"});
  runbase::Client client(options_for(emulator));
  EXPECT_THROW(client.generate(input("refund me [fail]"), fast_wait()), runbase::RunFailedError);
  client.generate(input("first"), fast_wait());
  client.generate(input("second"), fast_wait());  // possible only because the failure was refunded
  try {
    client.create_run(input("third"));
    FAIL() << "expected InsufficientCreditsError";
  } catch (const runbase::InsufficientCreditsError& e) {
    EXPECT_EQ(e.status(), 402);
    EXPECT_EQ(e.code(), "insufficient_balance");
  }
}

TEST(ClientEmulatorErrors, SpendLimitIsPermissionDenied) {
  EmulatorProcess emulator({"--spend-limit-usd", "0.05", "--rate-limit", "0"});
  runbase::Client client(options_for(emulator));
  client.create_run(input("the last affordable run"));
  try {
    client.create_run(input("one too many"));
    FAIL() << "expected PermissionDeniedError";
  } catch (const runbase::PermissionDeniedError& e) {
    EXPECT_EQ(e.status(), 403);
    EXPECT_EQ(e.code(), "api_key_spend_limit_exceeded");
  }
}

TEST(ClientEmulatorErrors, UsageQuotaIsUsageExceededAndNeverRetried) {
  EmulatorProcess emulator({"--usage-quota", "1", "--rate-limit", "0"});
  runbase::Client client(options_for(emulator));
  client.create_run(input("the quota's only run"));
  try {
    client.create_run(input("over quota"));
    FAIL() << "expected UsageExceededError";
  } catch (const runbase::UsageExceededError& e) {
    EXPECT_EQ(e.code(), "USAGE_EXCEEDED");
  }
  EXPECT_NE(emulator.stats_json().find("\"create\":2"), std::string::npos) << emulator.stats_json();
}

TEST(ClientEmulatorErrors, ServerRateLimitIsARateLimitErrorWithRetryAfter) {
  EmulatorProcess emulator({"--rate-limit", "2/60", "--latency-ms", "50"});
  runbase::ClientOptions options = options_for(emulator);
  options.rate_limit.requests = 0;  // let the server be the one that says no
  options.retry.max_retries = 0;
  runbase::Client client(options);
  client.create_run(input("one"));
  client.create_run(input("two"));
  try {
    client.create_run(input("three"));
    FAIL() << "expected RateLimitError";
  } catch (const runbase::RateLimitError& e) {
    EXPECT_EQ(e.code(), "RATE_LIMITED");
    ASSERT_TRUE(e.retry_after().has_value());
    EXPECT_GT(e.retry_after()->count(), 0);
  }
}

TEST(ClientEmulatorErrors, ClientRateLimitKeepsTheServerFromSayingNo) {
  EmulatorProcess emulator({"--rate-limit", "4/1", "--latency-ms", "50"});
  runbase::ClientOptions options = options_for(emulator);
  options.rate_limit = {4, 1000ms};
  options.retry.max_retries = 0;  // a single 429 would fail the test
  runbase::Client client(options);
  for (int i = 0; i < 10; ++i)
    client.get_run(client.create_run(input("budget " + std::to_string(i))).id);
  const std::string stats = emulator.stats_json();
  EXPECT_EQ(stats.find("\"429\""), std::string::npos) << stats;
}

}  // namespace
