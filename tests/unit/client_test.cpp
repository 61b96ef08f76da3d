// The Client as a user configures and calls it: options and environment, the requests it sends
// (URL, headers, body, limits), downloads, logging, and use from many threads.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "runbase/runbase.hpp"
#include "unit/support/test_client.hpp"

namespace runbase {
namespace {

using test::error_json;
using test::expect_throws;
using test::Harness;
using test::kTestBaseUrl;
using test::kTestKey;
using test::ms;
using test::run_json;
using test::ScopedEnv;
using test::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr std::size_t kSixteenMiB = 16u * 1024u * 1024u;

GptImage1Input fox() { return GptImage1Input{"a red fox in the snow", std::nullopt, {}}; }

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

// ---------------------------------------------------------------------------------------------
// ClientOptions and the environment

TEST(ClientOptionsTest, ScopedEnvSetsAndRestores) {
  {
    ScopedEnv outer({{"RUNBASE_API_KEY", std::string("sk-outer")}});
    {
      ScopedEnv inner({{"RUNBASE_API_KEY", std::nullopt}});
      EXPECT_EQ(std::getenv("RUNBASE_API_KEY"), nullptr);
    }
    ASSERT_NE(std::getenv("RUNBASE_API_KEY"), nullptr);
    EXPECT_STREQ(std::getenv("RUNBASE_API_KEY"), "sk-outer");
  }
}

TEST(ClientOptionsTest, NoApiKeyAnywhereIsAValidationError) {
  ScopedEnv env;  // RUNBASE_* unset
  Harness h;
  ClientOptions options = h.options();
  options.api_key.clear();
  const auto error = expect_throws<ValidationError>([&] { h.client(options); });
  ASSERT_TRUE(error);
  EXPECT_THAT(error->what(), HasSubstr("RUNBASE_API_KEY"));
  EXPECT_THAT(error->what(), HasSubstr("api_key"));
  EXPECT_EQ(h.transport->count(), 0u);
}

TEST(ClientOptionsTest, BlankApiKeyInTheEnvironmentIsAValidationError) {
  ScopedEnv env({{"RUNBASE_API_KEY", std::string("  ")}, {"RUNBASE_BASE_URL", std::nullopt}});
  Harness h;
  ClientOptions options = h.options();
  options.api_key.clear();
  EXPECT_THROW(h.client(options), ValidationError);
}

TEST(ClientOptionsTest, DefaultConstructorReadsTheEnvironment) {
  ScopedEnv env;
  EXPECT_THROW(Client(), ValidationError);
  EXPECT_THROW(Client(ClientOptions{}), ValidationError);
}

TEST(ClientOptionsTest, ApiKeyFallsBackToTheEnvironment) {
  ScopedEnv env(
      {{"RUNBASE_API_KEY", std::string("sk-from-env-123")}, {"RUNBASE_BASE_URL", std::nullopt}});
  Harness h;
  ClientOptions options = h.options();
  options.api_key.clear();
  Client client = h.client(options);
  h.transport->reply(200, run_json("run_1", "pending"));
  client.get_run("run_1");
  EXPECT_EQ(h.transport->last().header("Authorization"), "Bearer sk-from-env-123");
}

TEST(ClientOptionsTest, ExplicitApiKeyWinsOverTheEnvironment) {
  ScopedEnv env({{"RUNBASE_API_KEY", std::string("sk-from-env-123")},
                 {"RUNBASE_BASE_URL", std::string("https://env.test/api/v1")}});
  Harness h;
  Client client = h.client();  // explicit key and base URL
  h.transport->reply(200, run_json("run_1", "pending"));
  client.get_run("run_1");
  EXPECT_EQ(h.transport->last().header("Authorization"), "Bearer " + std::string(kTestKey));
  EXPECT_EQ(client.base_url(), kTestBaseUrl);
  EXPECT_THAT(h.transport->last().request.url, StartsWith(std::string(kTestBaseUrl)));
}

TEST(ClientOptionsTest, ApiKeyWithSurroundingWhitespaceIsTrimmed) {
  ScopedEnv env(
      {{"RUNBASE_API_KEY", std::string("sk-pasted-123\n")}, {"RUNBASE_BASE_URL", std::nullopt}});
  Harness h;
  ClientOptions options = h.options();
  options.api_key.clear();
  Client client = h.client(options);
  h.transport->reply(200, run_json("run_1", "pending"));
  client.get_run("run_1");
  EXPECT_EQ(h.transport->last().header("Authorization"), "Bearer sk-pasted-123");
}

TEST(ClientOptionsTest, BaseUrlFallsBackToTheEnvironmentThenTheDefault) {
  {
    ScopedEnv env({{"RUNBASE_API_KEY", std::nullopt},
                   {"RUNBASE_BASE_URL", std::string("https://env.test/api/v1")}});
    Harness h;
    ClientOptions options = h.options();
    options.base_url.clear();
    Client client = h.client(options);
    EXPECT_EQ(client.base_url(), "https://env.test/api/v1");
    h.transport->reply(200, run_json("run_1", "pending"));
    client.get_run("run_1");
    EXPECT_EQ(h.transport->last().request.url, "https://env.test/api/v1/runs/run_1");
  }
  {
    ScopedEnv env;
    Harness h;
    ClientOptions options = h.options();
    options.base_url.clear();
    Client client = h.client(options);
    EXPECT_EQ(client.base_url(), "https://runbase.net/api/v1");
    h.transport->reply(201, run_json("run_1", "pending"));
    client.create_run(fox());
    EXPECT_EQ(h.transport->last().request.url, "https://runbase.net/api/v1/runs");
  }
}

TEST(ClientOptionsTest, ExplicitBaseUrlWinsOverTheEnvironment) {
  ScopedEnv env({{"RUNBASE_API_KEY", std::nullopt},
                 {"RUNBASE_BASE_URL", std::string("http://evil.test/api/v1")}});
  Harness h;
  Client client = h.client();  // the env value would even be refused
  EXPECT_EQ(client.base_url(), kTestBaseUrl);
}

TEST(ClientOptionsTest, PlainHttpToANonLoopbackHostIsRefused) {
  ScopedEnv env;
  for (const char* url :
       {"http://runbase.net/api/v1", "http://example.com", "http://10.0.0.1:8080/api/v1",
        "http://192.168.1.10/api/v1", "http://127.0.0.1.example.com/api/v1",
        "http://localhost.example.com/api/v1", "HTTP://runbase.net/api/v1"}) {
    SCOPED_TRACE(url);
    Harness h;
    ClientOptions options = h.options();
    options.base_url = url;
    const auto error = expect_throws<ValidationError>([&] { h.client(options); });
    ASSERT_TRUE(error);
    EXPECT_THAT(error->what(), HasSubstr("base_url"));
    EXPECT_THAT(error->what(), Not(HasSubstr(std::string(kTestKey))));
  }
  // From the environment too.
  ScopedEnv from_env({{"RUNBASE_API_KEY", std::nullopt},
                      {"RUNBASE_BASE_URL", std::string("http://runbase.net/api/v1")}});
  Harness h;
  ClientOptions options = h.options();
  options.base_url.clear();
  EXPECT_THROW(h.client(options), ValidationError);
}

TEST(ClientOptionsTest, PlainHttpToLoopbackIsAllowed) {
  for (const char* url :
       {"http://127.0.0.1:8080/api/v1", "http://localhost:3000/api/v1", "http://localhost",
        "http://127.0.0.2:9/v1", "http://[::1]:8080/api/v1"}) {
    SCOPED_TRACE(url);
    Harness h;
    ClientOptions options = h.options();
    options.base_url = url;
    Client client = h.client(options);
    h.transport->reply(200, run_json("run_1", "pending"));
    client.get_run("run_1");
    EXPECT_EQ(h.transport->last().request.url, std::string(url) + "/runs/run_1");
  }
}

TEST(ClientOptionsTest, NotAnHttpUrlIsRefused) {
  for (const char* url : {"ftp://runbase.net/api/v1", "runbase.net/api/v1", "https://", "   /x"}) {
    SCOPED_TRACE(url);
    Harness h;
    ClientOptions options = h.options();
    options.base_url = url;
    EXPECT_THROW(h.client(options), ValidationError);
  }
}

TEST(ClientOptionsTest, TrailingSlashIsRemoved) {
  for (const char* url : {"https://runbase.test/api/v1/", "https://runbase.test/api/v1//"}) {
    SCOPED_TRACE(url);
    Harness h;
    ClientOptions options = h.options();
    options.base_url = url;
    Client client = h.client(options);
    EXPECT_EQ(client.base_url(), "https://runbase.test/api/v1");
    h.transport->reply(201, run_json("run_1", "pending"));
    h.transport->reply(200, run_json("run_1", "pending"));
    client.create_run(fox());
    client.get_run("run_1");
    EXPECT_EQ(h.transport->request(0).request.url, "https://runbase.test/api/v1/runs");
    EXPECT_EQ(h.transport->request(1).request.url, "https://runbase.test/api/v1/runs/run_1");
  }
}

// ---------------------------------------------------------------------------------------------
// What goes on the wire

TEST(ClientRequestTest, ApiRequestsCarryAuthUserAgentAndLimits) {
  Harness h;
  ClientOptions options = h.options();
  options.user_agent_suffix = "my-app/2.1";
  options.request_timeout = ms(45000);
  Client client = h.client(options);
  h.transport->reply(201, run_json("run_1", "pending"));
  h.transport->reply(200, run_json("run_1", "pending"));
  client.create_run(fox());
  client.get_run("run_1");

  const auto post = h.transport->request(0);
  const auto get = h.transport->request(1);
  for (const auto* request : {&post, &get}) {
    EXPECT_EQ(request->header("Authorization"), "Bearer " + std::string(kTestKey));
    EXPECT_EQ(request->header_count("Authorization"), 1u);
    const std::string agent = request->header("User-Agent").value_or("");
    EXPECT_THAT(agent, StartsWith("runbase-cpp/" + std::string(RUNBASE_VERSION_STRING)));
    EXPECT_THAT(agent, HasSubstr("my-app/2.1"));
    EXPECT_FALSE(request->request.follow_redirects);  // API calls never follow redirects
    EXPECT_EQ(request->request.max_response_bytes, kSixteenMiB);
    EXPECT_EQ(request->request.timeout, ms(45000));
  }
  EXPECT_EQ(post.request.method, "POST");
  EXPECT_EQ(post.request.url, std::string(kTestBaseUrl) + "/runs");
  EXPECT_EQ(post.header("Content-Type"), "application/json");
  EXPECT_EQ(get.request.method, "GET");
  EXPECT_EQ(get.request.url, std::string(kTestBaseUrl) + "/runs/run_1");
  EXPECT_EQ(get.header("Content-Type"), std::nullopt);  // GET has no body
  EXPECT_EQ(get.request.body, "");
}

TEST(ClientRequestTest, UserAgentWithoutSuffixIsTheLibraryAlone) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("run_1", "pending"));
  client.get_run("run_1");
  EXPECT_EQ(h.transport->last().header("User-Agent"), "runbase-cpp/" + std::string(version()));
  EXPECT_EQ(version(), RUNBASE_VERSION_STRING);
}

TEST(ClientRequestTest, CreateRunSendsTheModelAndInput) {
  Harness h;
  Client client = h.client();
  h.transport->reply(
      201, R"({"id":"run_1","model":"openai/gpt-image-1","status":"pending","costUsd":50000})");
  GptImage1Input input{"a red fox", AspectRatio::Portrait, {"https://img.test/ref.png"}};
  const runbase::Run run = client.create_run(input);
  EXPECT_EQ(run.id, "run_1");
  EXPECT_EQ(run.status, RunStatus::Pending);
  EXPECT_EQ(run.cost_usd_micros, 50000);
  const auto body = nlohmann::json::parse(h.transport->last().request.body);
  EXPECT_EQ(body["model"], "openai/gpt-image-1");
  EXPECT_EQ(body["input"]["prompt"], "a red fox");
  EXPECT_EQ(body["input"]["aspect_ratio"], "2:3");
  EXPECT_EQ(body["input"]["image_urls"], nlohmann::json::array({"https://img.test/ref.png"}));
}

TEST(ClientRequestTest, RawCreateRunSendsAnyModelWithTheInputObject) {
  Harness h;
  Client client = h.client();
  h.transport->reply(201, run_json("run_1", "pending"));
  client.create_run("black-forest-labs/flux", R"({"prompt":"x","steps":4})");
  const auto body = nlohmann::json::parse(h.transport->last().request.body);
  EXPECT_EQ(body["model"], "black-forest-labs/flux");
  EXPECT_EQ(body["input"], nlohmann::json::parse(R"({"prompt":"x","steps":4})"));
}

TEST(ClientRequestTest, RawCreateRunRefusesInputThatIsNotAnObject) {
  Harness h;
  Client client = h.client();
  for (const char* input : {"", "[1]", "\"prompt\"", "{bad json", "null", "42"}) {
    SCOPED_TRACE(input);
    EXPECT_THROW(client.create_run("openai/gpt-image-1", input), ValidationError);
  }
  EXPECT_THROW(client.create_run("", "{}"), ValidationError);
  EXPECT_EQ(h.transport->count(), 0u);
}

TEST(ClientRequestTest, InvalidInputIsRefusedBeforeAnyRequest) {
  Harness h;
  Client client = h.client();
  EXPECT_THROW(client.create_run(GptImage1Input{"", std::nullopt, {}}), ValidationError);
  EXPECT_THROW(client.generate(GptImage1Input{"x", std::nullopt,
                                              std::vector<std::string>(6, "https://a.test/x.png")}),
               ValidationError);
  EXPECT_EQ(h.transport->count(), 0u);
}

TEST(ClientRequestTest, RunIdIsPercentEncodedAsOneSegment) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a/b?c#d", "a%2Fb%3Fc%23d"},         {"run 1", "run%201"},         {"100%", "100%25"},
      {"run_AZaz09-._~", "run_AZaz09-._~"}, {"caf\xc3\xa9", "caf%C3%A9"}, {"x&y=z", "x%26y%3Dz"},
  };
  for (const auto& [id, encoded] : cases) {
    SCOPED_TRACE(id);
    Harness h;
    Client client = h.client();
    h.transport->reply(200, run_json("run_1", "pending"));
    client.get_run(id);
    EXPECT_EQ(h.transport->last().request.url, std::string(kTestBaseUrl) + "/runs/" + encoded);
  }
}

TEST(ClientRequestTest, WaitPercentEncodesTheRunIdToo) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("a/b", "succeeded"));
  client.wait("a/b");
  EXPECT_EQ(h.transport->last().request.url, std::string(kTestBaseUrl) + "/runs/a%2Fb");
}

TEST(ClientRequestTest, EmptyRunIdIsRefusedBeforeAnyRequest) {
  Harness h;
  Client client = h.client();
  const auto error = expect_throws<ValidationError>([&] { client.get_run(""); });
  ASSERT_TRUE(error);
  EXPECT_THAT(error->what(), HasSubstr("run_id"));
  EXPECT_EQ(h.transport->count(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Logging

TEST(ClientLoggingTest, AtLeastOneDebugLinePerExchangeAndNeverTheKey) {
  Harness h;
  ClientOptions options = h.options();
  options.retry.max_retries = 1;
  Client client = h.client(options);
  const std::string key(kTestKey);
  h.transport->reply(201, run_json("run_1", "pending"));
  h.transport->reply(200, run_json("run_1", "processing"),
                     {{"Set-Cookie", "session=" + key}, {"X-Echo", "Bearer " + key}});
  h.transport->reply(401, error_json("Invalid API key " + key, "invalid_api_key"),
                     {{"X-Request-Id", "req_1"}, {"WWW-Authenticate", "Bearer " + key}});
  h.transport->fail_connection(false);
  h.transport->fail_timeout(true);

  client.create_run(fox());
  client.get_run("run_1");
  EXPECT_THROW(client.get_run("run_1"), AuthenticationError);
  EXPECT_THROW(client.get_run("run_1"), TimeoutError);  // two exchanges: refused, then timeout
  EXPECT_EQ(h.transport->count(), 5u);

  EXPECT_GE(h.log_count(LogLevel::Debug), 5u);
  for (const auto& [level, line] : h.logs()) {
    EXPECT_THAT(line, Not(HasSubstr(key)));
    EXPECT_THAT(line, Not(HasSubstr("4f9c2b7a1e0d")));
  }
}

TEST(ClientLoggingTest, DebugLineNamesMethodPathAndStatus) {
  Harness h;
  Client client = h.client();
  h.transport->reply(200, run_json("run_1", "pending"), {{"Content-Type", "application/json"}});
  client.get_run("run_1");
  bool found = false;
  for (const auto& [level, line] : h.logs()) {
    if (level != LogLevel::Debug) continue;
    found = true;
    EXPECT_THAT(line, HasSubstr("GET"));
    EXPECT_THAT(line, HasSubstr("/runs/run_1"));
    EXPECT_THAT(line, HasSubstr("200"));
    EXPECT_THAT(line, HasSubstr("Content-Type: application/json"));
    EXPECT_THAT(line, HasSubstr("Authorization: <redacted>"));
  }
  EXPECT_TRUE(found);
}

TEST(ClientLoggingTest, AThrowingLoggerDoesNotBreakTheCall) {
  Harness h;
  ClientOptions options = h.options();
  options.logger = [](LogLevel, std::string_view) { throw std::runtime_error("logger broke"); };
  Client client = h.client(options);
  h.transport->reply(200, run_json("run_1", "pending"));
  EXPECT_EQ(client.get_run("run_1").id, "run_1");
}

// ---------------------------------------------------------------------------------------------
// Downloads

TEST(ClientDownloadTest, SendsNoAuthorizationAndFollowsRedirects) {
  Harness h;
  TempDir dir;
  Client client = h.client();
  h.transport->reply(200, "\x89PNG fake", {{"Content-Type", "image/png"}});
  client.download("https://cdn.test/outputs/run_1-0.png", dir.path() / "out.png");

  const auto request = h.transport->last();
  EXPECT_EQ(request.request.method, "GET");
  EXPECT_EQ(request.request.url, "https://cdn.test/outputs/run_1-0.png");
  EXPECT_EQ(request.header("Authorization"), std::nullopt);
  for (const auto& [name, value] : request.request.headers) {
    EXPECT_THAT(value, Not(HasSubstr(std::string(kTestKey)))) << name;
  }
  EXPECT_TRUE(request.request.follow_redirects);
  EXPECT_EQ(request.request.max_response_bytes, 0u);  // no API size cap on outputs
  EXPECT_EQ(read_file(dir.path() / "out.png"), "\x89PNG fake");
  EXPECT_THAT(dir.files(), ElementsAre("out.png"));  // no temporary file left behind
}

TEST(ClientDownloadTest, FailureKeepsTheExistingFileAndLeavesNoTemporary) {
  Harness h;
  TempDir dir;
  Client client = h.client();
  write_file(dir.path() / "out.png", "old");
  h.transport->reply(404, "<html>Not Found</html>");
  EXPECT_THROW(client.download("https://cdn.test/x.png", dir.path() / "out.png"), NotFoundError);
  EXPECT_EQ(read_file(dir.path() / "out.png"), "old");
  EXPECT_THAT(dir.files(), ElementsAre("out.png"));
}

TEST(ClientDownloadTest, ServerErrorsAreRetried) {
  Harness h;
  TempDir dir;
  Client client = h.client();
  h.transport->reply(503, "");
  h.transport->fail_connection(true);
  h.transport->reply(200, "data", {{"Content-Type", "image/png"}});
  client.download("https://cdn.test/x.png", dir.path() / "x.png");
  EXPECT_EQ(read_file(dir.path() / "x.png"), "data");
  EXPECT_EQ(h.transport->count(), 3u);
}

// A custom transport that overrides only send() still serves both fetch forms: the default
// send_streaming hands the whole body over once.
TEST(ClientDownloadTest, FetchThroughATransportWithoutStreaming) {
  Harness h;
  Client client = h.client();
  h.transport->reply(503, "");
  h.transport->reply(200, "\x89PNG bytes", {{"Content-Type", "image/png"}});
  const FetchedOutput fetched = client.fetch("https://cdn.test/outputs/run_1-0.png");
  EXPECT_EQ(std::string(fetched.bytes.begin(), fetched.bytes.end()), "\x89PNG bytes");
  EXPECT_EQ(fetched.content_type, "image/png");
  EXPECT_EQ(h.transport->count(), 2u);  // the 503 was retried
  const auto request = h.transport->last();
  EXPECT_EQ(request.header("Authorization"), std::nullopt);
  EXPECT_EQ(request.request.max_response_bytes, Client::default_fetch_max_bytes);

  h.transport->reply(200, "streamed", {{"Content-Type", "image/webp"}});
  std::vector<std::string> pieces;
  EXPECT_EQ(client.fetch("https://cdn.test/x.webp",
                         [&](std::string_view chunk) { pieces.emplace_back(chunk); }),
            "image/webp");
  EXPECT_THAT(pieces, ElementsAre("streamed"));
  EXPECT_THROW(client.fetch("https://cdn.test/x.webp", 0), ValidationError);
  EXPECT_THROW(client.fetch("https://cdn.test/x.webp", std::function<void(std::string_view)>()),
               ValidationError);
  EXPECT_EQ(h.transport->count(), 3u);
}

TEST(ClientDownloadTest, NonHttpUrlIsRefused) {
  Harness h;
  TempDir dir;
  Client client = h.client();
  for (const char* url : {"file:///etc/passwd", "ftp://cdn.test/x.png", "x.png", ""}) {
    SCOPED_TRACE(url);
    EXPECT_THROW(client.download(url, dir.path() / "x.png"), ValidationError);
  }
  EXPECT_EQ(h.transport->count(), 0u);
}

runbase::Run succeeded_run(std::vector<std::string> urls) {
  runbase::Run run;
  run.id = "run_1";
  run.status = RunStatus::Succeeded;
  run.status_text = "succeeded";
  run.output_urls = std::move(urls);
  return run;
}

TEST(ClientDownloadTest, DownloadOutputsNamesFilesFromTheContentType) {
  Harness h;
  TempDir dir;
  Client client = h.client();
  h.transport->reply(200, "png-bytes", {{"Content-Type", "image/png"}});
  h.transport->reply(200, "jpeg-bytes", {{"content-type", "image/jpeg"}});
  h.transport->reply(200, "webp-bytes", {{"Content-Type", "image/webp; charset=binary"}});
  h.transport->reply(200, "tiff-bytes", {{"Content-Type", "application/octet-stream"}});
  h.transport->reply(200, "mystery-bytes");
  const runbase::Run run =
      succeeded_run({"https://cdn.test/a", "https://cdn.test/b.png", "https://cdn.test/c",
                     "https://cdn.test/d.tiff?sig=abc", "https://cdn.test/e"});
  const auto target = dir.path() / "nested" / "out";  // created when missing
  const auto paths = client.download_outputs(run, target);
  ASSERT_EQ(paths.size(), 5u);
  EXPECT_EQ(paths[0], target / "run_1-0.png");
  EXPECT_EQ(paths[1], target / "run_1-1.jpg");  // from the type, not the URL's .png
  EXPECT_EQ(paths[2], target / "run_1-2.webp");
  EXPECT_EQ(paths[3], target / "run_1-3.tiff");  // unknown type: the URL's extension
  EXPECT_EQ(paths[4], target / "run_1-4.bin");   // nothing to go on
  EXPECT_EQ(read_file(paths[0]), "png-bytes");
  EXPECT_EQ(read_file(paths[1]), "jpeg-bytes");
  EXPECT_EQ(read_file(paths[4]), "mystery-bytes");
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(target)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_THAT(names, ElementsAre("run_1-0.png", "run_1-1.jpg", "run_1-2.webp", "run_1-3.tiff",
                                 "run_1-4.bin"));
  for (const auto& request : h.transport->requests()) {
    EXPECT_EQ(request.header("Authorization"), std::nullopt);
    EXPECT_TRUE(request.request.follow_redirects);
  }
}

TEST(ClientDownloadTest, DownloadOutputsRefusesARunThatHasNotSucceeded) {
  Harness h;
  TempDir dir;
  Client client = h.client();
  for (RunStatus status :
       {RunStatus::Pending, RunStatus::Processing, RunStatus::Failed, RunStatus::Unknown}) {
    runbase::Run run = succeeded_run({"https://cdn.test/a.png"});
    run.status = status;
    const auto error =
        expect_throws<ValidationError>([&] { client.download_outputs(run, dir.path()); });
    ASSERT_TRUE(error);
    EXPECT_THAT(error->what(), HasSubstr("run_1"));
  }
  EXPECT_EQ(h.transport->count(), 0u);
  EXPECT_TRUE(dir.files().empty());
}

// ---------------------------------------------------------------------------------------------
// Threads and moves

TEST(ClientConcurrencyTest, OneClientFromManyThreads) {
  Harness h;
  Client client = h.client();
  h.transport->always_reply(200, run_json("run_1", "processing"));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        if (client.get_run("run_1").id == "run_1") ++ok;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(h.transport->count(), 100u);
}

TEST(ClientConcurrencyTest, AMovedClientKeepsWorking) {
  Harness h;
  Client first = h.client();
  Client second = std::move(first);
  h.transport->reply(200, run_json("run_1", "pending"));
  EXPECT_EQ(second.get_run("run_1").id, "run_1");
  Client third = h.client();
  third = std::move(second);
  h.transport->reply(200, run_json("run_2", "pending"));
  EXPECT_EQ(third.get_run("run_2").id, "run_2");
  EXPECT_EQ(third.base_url(), kTestBaseUrl);
}

}  // namespace
}  // namespace runbase
