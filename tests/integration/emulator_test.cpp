// runbase-emulator over real HTTP: the binary, started on port 0 by EmulatorProcess, driven with
// cpp-httplib's client (and one bare socket, to see that [drop] sends nothing).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "rate_window.hpp"
#include "support/emulator_process.hpp"

namespace {

using json = nlohmann::json;
using runbase::testing::EmulatorProcess;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A connection the emulator closed under a client must not kill the test process.
const bool sigpipe_ignored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

constexpr const char* gpt1 = "openai/gpt-image-1";

struct Reply {
  int status = 0;  // 0: no HTTP answer at all
  httplib::Error error = httplib::Error::Success;
  std::string body;
  httplib::Headers headers;

  json body_json() const { return json::parse(body, nullptr, false); }
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  std::string code() const {
    const json j = body_json();
    if (!j.is_object() || !j.contains("error") || !j["error"].is_object() ||
        !j["error"].contains("code")) {
      return {};
    }
    return j["error"]["code"].get<std::string>();
  }
  std::string message() const {
    const json j = body_json();
    if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) {
      return {};
    }
    return j["error"].value("message", "");
  }
};

std::string describe(const Reply& reply) { return std::to_string(reply.status) + " " + reply.body; }

// One keep-alive connection to the emulator, speaking as one API key.
class Api {
 public:
  explicit Api(const EmulatorProcess& emulator, std::string key = "sk-test")
      : client_("127.0.0.1", emulator.port()), key_(std::move(key)) {
    client_.set_keep_alive(true);
    // httplib writes a POST's headers and body separately: without this, Nagle and the peer's
    // delayed ACK add 40 ms to every POST on a reused connection.
    client_.set_tcp_nodelay(true);
    client_.set_connection_timeout(5);
    client_.set_read_timeout(10);
  }

  Reply create_json(const json& body) { return create_raw(body.dump()); }

  Reply create(const std::string& prompt, const std::string& extra_input = "") {
    json input = {{"prompt", prompt}};
    if (!extra_input.empty()) {
      input.update(json::parse(extra_input));
    }
    return create_json(json{{"model", gpt1}, {"input", input}});
  }

  Reply create_raw(const std::string& body, std::optional<std::string> authorization = {}) {
    return send("POST", "/api/v1/runs", body, authorization);
  }

  Reply get(const std::string& id, std::optional<std::string> authorization = {}) {
    return send("GET", "/api/v1/runs/" + id, "", authorization);
  }

  // Sent with every later request too (e.g. what a proxy adds: X-Forwarded-Host).
  void set_extra_headers(httplib::Headers headers) { extra_headers_ = std::move(headers); }

  // authorization: the whole header value; unset: "Bearer <key>"; empty: no header.
  Reply send(const std::string& method, const std::string& path, const std::string& body,
             std::optional<std::string> authorization = {}) {
    httplib::Headers headers = extra_headers_;
    const std::string auth = authorization ? *authorization : "Bearer " + key_;
    if (!auth.empty()) {
      headers.emplace("Authorization", auth);
    }
    httplib::Result result{nullptr, httplib::Error::Unknown};
    if (method == "POST") {
      result = client_.Post(path.c_str(), headers, body, "application/json");
    } else if (method == "GET") {
      result = client_.Get(path.c_str(), headers);
    } else if (method == "DELETE") {
      result = client_.Delete(path.c_str(), headers);
    } else {
      ADD_FAILURE() << "unsupported method " << method;
    }
    Reply reply;
    if (!result) {
      reply.error = result.error();
      return reply;
    }
    reply.status = result->status;
    reply.body = result->body;
    reply.headers = result->headers;
    return reply;
  }

  // A URL from output.urls, fetched without the Authorization header (like from the CDN).
  Reply download(const std::string& url) {
    const std::regex pattern(R"(http://([^/:]+):(\d+)(/.*))");
    std::smatch m;
    if (!std::regex_match(url, m, pattern)) {
      ADD_FAILURE() << "not an emulator URL: " << url;
      return {};
    }
    httplib::Client cdn(m[1].str(), std::stoi(m[2].str()));
    cdn.set_read_timeout(10);
    const auto result = cdn.Get(m[3].str().c_str());
    Reply reply;
    if (!result) {
      reply.error = result.error();
      return reply;
    }
    reply.status = result->status;
    reply.body = result->body;
    reply.headers = result->headers;
    return reply;
  }

 private:
  httplib::Client client_;
  std::string key_;
  httplib::Headers extra_headers_;
};

// Creates a gpt-image-1 run and returns its id (the test fails if the create does).
std::string create_run(Api& api, const std::string& prompt, const std::string& extra_input = "") {
  const Reply reply = api.create(prompt, extra_input);
  EXPECT_EQ(reply.status, 200) << describe(reply);
  return reply.body_json().value("id", "");
}

// Polls the run every 10 ms until its status is `status`, or `limit` passes. Returns the last
// body (or null if no successful read).
json wait_for_status(Api& api, const std::string& id, const std::string& status,
                     milliseconds limit = milliseconds(5000)) {
  const auto deadline = Clock::now() + limit;
  json last;
  while (true) {
    const Reply reply = api.get(id);
    if (reply.status == 200) {
      last = reply.body_json();
    }
    if (last.is_object() && last.value("status", "") == status) {
      return last;
    }
    if (Clock::now() >= deadline) {
      ADD_FAILURE() << "run " << id << " did not become " << status << " within " << limit.count()
                    << " ms; last reply " << describe(reply);
      return last;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
}

json stats(const EmulatorProcess& emulator) { return json::parse(emulator.stats_json()); }

// "2026-06-01T12:00:04.200Z" -> milliseconds since the epoch.
long long parse_timestamp(const std::string& text) {
  std::tm tm{};
  int millis = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis) != 7) {
    ADD_FAILURE() << "not a timestamp: " << text;
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<long long>(timegm(&tm)) * 1000 + millis;
}

const std::regex timestamp_format(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");

std::uint32_t be32(const std::string& bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    value = (value << 8U) | static_cast<unsigned char>(bytes.at(at + i));
  }
  return value;
}

// --- Start, routes, headers
// -----------------------------------------------------------------------

TEST(EmulatorTest, PrintsTheListeningLineWithTheChosenPort) {
  EmulatorProcess emulator;
  EXPECT_GT(emulator.port(), 0);
  EXPECT_NE(emulator.port(), 8787);
  EXPECT_EQ(emulator.base_url(), "http://127.0.0.1:" + std::to_string(emulator.port()) + "/api/v1");
  EXPECT_EQ(emulator.stop(), 0);
}

TEST(EmulatorTest, CreateAnswersPendingWithIdModelAndCost) {
  EmulatorProcess emulator;
  Api api(emulator);
  const Reply reply = api.create("A red fox");
  ASSERT_EQ(reply.status, 200) << describe(reply);
  EXPECT_EQ(reply.header("Content-Type"), "application/json");
  const json body = reply.body_json();
  ASSERT_TRUE(body.is_object());
  EXPECT_EQ(body.size(), 4U) << body;
  EXPECT_TRUE(std::regex_match(body.value("id", ""), std::regex("run_[a-z0-9]{24}"))) << body;
  EXPECT_EQ(body.value("model", ""), gpt1);
  EXPECT_EQ(body.value("status", ""), "pending");
  EXPECT_EQ(body.value("costUsd", 0), 50000);
}

TEST(EmulatorTest, EveryResponseCarriesARequestId) {
  EmulatorProcess emulator({"--rate-limit", "1/60"});
  Api api(emulator);
  std::set<std::string> ids;
  const std::vector<Reply> replies = {
      api.create("A red fox"),                         // 200
      api.create("A red fox"),                         // 429
      api.get("run_unknown", std::string()),           // 401
      api.send("GET", "/nowhere", "", std::string()),  // 404
  };
  for (const auto& reply : replies) {
    const std::string id = reply.header("X-Request-Id");
    EXPECT_TRUE(std::regex_match(id, std::regex("req_[0-9a-f]{24}"))) << describe(reply);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), replies.size());
}

TEST(EmulatorTest, UnknownRouteIs404NotFoundWithTheEnvelope) {
  EmulatorProcess emulator;
  Api api(emulator);
  for (const auto& path : {"/", "/api/v1", "/api/v2/runs", "/api/v1/runs/x/y", "/files/x"}) {
    const Reply reply = api.send("GET", path, "");
    EXPECT_EQ(reply.status, 404) << path << ": " << describe(reply);
    EXPECT_EQ(reply.code(), "not_found") << path;
    EXPECT_FALSE(reply.message().empty()) << path;
  }
}

TEST(EmulatorTest, WrongMethodOnAKnownRouteIs405) {
  EmulatorProcess emulator;
  Api api(emulator);
  const Reply list = api.send("GET", "/api/v1/runs", "");
  EXPECT_EQ(list.status, 405) << describe(list);
  EXPECT_EQ(list.code(), "method_not_allowed");
  EXPECT_EQ(list.header("Allow"), "POST");
  const Reply cancel = api.send("DELETE", "/api/v1/runs/run_x", "");
  EXPECT_EQ(cancel.status, 405) << describe(cancel);
  EXPECT_EQ(cancel.header("Allow"), "GET");
}

TEST(EmulatorTest, BodyOverOneMebibyteIs413WithTheEnvelope) {
  EmulatorProcess emulator;
  Api api(emulator);
  const Reply reply = api.create_raw(std::string(1100 * 1024, 'a'));
  EXPECT_EQ(reply.status, 413);
  EXPECT_EQ(reply.code(), "payload_too_large");
  EXPECT_EQ(stats(emulator)["runs_created"], 0);
}

TEST(EmulatorTest, HelpDocumentsEveryFlagAndFaultToken) {
  FILE* pipe = ::popen(RUNBASE_EMULATOR_PATH " --help", "r");
  ASSERT_NE(pipe, nullptr);
  std::string help;
  char buffer[512];
  size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    help.append(buffer, got);
  }
  EXPECT_EQ(::pclose(pipe), 0);
  for (const char* item :
       {"--host",        "--port",     "--latency-ms", "--rate-limit",   "--api-key",
        "--balance-usd", "--data-dir", "--fault-rate", "--error-format", "--seed",
        "--threads",     "--max-runs", "--public-url", "--verbose",      "[fail]",
        "[slow]",        "[never]",    "[500]",        "[drop]",         "/_emulator/stats",
        "SIGTERM"}) {
    EXPECT_NE(help.find(item), std::string::npos) << item << " is not in --help";
  }
}

TEST(EmulatorTest, ABusyPortOrABadFlagFailsToStart) {
  EmulatorProcess first;
  EXPECT_THROW(EmulatorProcess({"--port", std::to_string(first.port())}), std::runtime_error);
  EXPECT_THROW(EmulatorProcess({"--rate-limit", "many"}), std::runtime_error);
}

// --- Authentication
// -------------------------------------------------------------------------------

TEST(EmulatorTest, MissingOrMalformedAuthorizationIs401MissingApiKey) {
  EmulatorProcess emulator;
  Api api(emulator);
  const std::string body = json{{"model", gpt1}, {"input", {{"prompt", "x"}}}}.dump();
  for (const std::string header : {"", "sk-test", "Basic c2stdGVzdA==", "Bearer", "Bearer "}) {
    const Reply post = api.create_raw(body, header);
    EXPECT_EQ(post.status, 401) << "'" << header << "': " << describe(post);
    EXPECT_EQ(post.code(), "missing_api_key") << "'" << header << "'";
    const Reply get = api.get("run_x", header);
    EXPECT_EQ(get.status, 401) << "'" << header << "': " << describe(get);
    EXPECT_EQ(get.code(), "missing_api_key") << "'" << header << "'";
  }
}

TEST(EmulatorTest, AKeyThatIsNotAcceptedIs401InvalidApiKey) {
  EmulatorProcess emulator;
  Api api(emulator);
  for (const std::string header : {"Bearer nope", "Bearer sk-", "Bearer pk-live-123"}) {
    const Reply reply = api.create_raw("{}", header);
    EXPECT_EQ(reply.status, 401) << header << ": " << describe(reply);
    EXPECT_EQ(reply.code(), "invalid_api_key") << header;
  }
  // The scheme is case-insensitive, as HTTP says.
  EXPECT_EQ(api.get("run_x", "bearer sk-test").status, 404);
}

TEST(EmulatorTest, ApiKeyFlagsListTheOnlyAcceptedKeys) {
  EmulatorProcess emulator({"--api-key", "sk-one", "--api-key", "sk-two"});
  Api one(emulator, "sk-one");
  Api two(emulator, "sk-two");
  Api three(emulator, "sk-three");
  EXPECT_EQ(one.create("A red fox").status, 200);
  EXPECT_EQ(two.create("A red fox").status, 200);
  const Reply rejected = three.create("A red fox");
  EXPECT_EQ(rejected.status, 401) << describe(rejected);
  EXPECT_EQ(rejected.code(), "invalid_api_key");
}

// --- Request validation
// ---------------------------------------------------------------------------

TEST(EmulatorTest, BodyThatIsNotJsonIs400InvalidJson) {
  EmulatorProcess emulator;
  Api api(emulator);
  for (const std::string body : {"", "{", "model=openai/gpt-image-1", "{\"model\": }"}) {
    const Reply reply = api.create_raw(body);
    EXPECT_EQ(reply.status, 400) << "'" << body << "': " << describe(reply);
    EXPECT_EQ(reply.code(), "invalid_json") << "'" << body << "'";
  }
}

TEST(EmulatorTest, ModelMissingOrNotAStringIs400MissingModel) {
  EmulatorProcess emulator;
  Api api(emulator);
  for (const std::string body :
       {R"({})", R"([])", R"("openai/gpt-image-1")", R"({"input":{"prompt":"x"}})",
        R"({"model":7,"input":{"prompt":"x"}})", R"({"model":null,"input":{"prompt":"x"}})"}) {
    const Reply reply = api.create_raw(body);
    EXPECT_EQ(reply.status, 400) << body << ": " << describe(reply);
    EXPECT_EQ(reply.code(), "missing_model") << body;
  }
}

TEST(EmulatorTest, InputMissingOrNotAnObjectIs400MissingInput) {
  EmulatorProcess emulator;
  Api api(emulator);
  for (const std::string body :
       {R"({"model":"openai/gpt-image-1"})", R"({"model":"openai/gpt-image-1","input":"x"})",
        R"({"model":"openai/gpt-image-1","input":["x"]})",
        R"({"model":"openai/gpt-image-1","input":null})"}) {
    const Reply reply = api.create_raw(body);
    EXPECT_EQ(reply.status, 400) << body << ": " << describe(reply);
    EXPECT_EQ(reply.code(), "missing_input") << body;
  }
}

TEST(EmulatorTest, UnknownModelIs400ModelNotFound) {
  EmulatorProcess emulator;
  Api api(emulator);
  for (const std::string model : {"openai/dall-e-3", "", "gpt-image-1", "OPENAI/GPT-IMAGE-1"}) {
    const Reply reply = api.create_json(json{{"model", model}, {"input", {{"prompt", "x"}}}});
    EXPECT_EQ(reply.status, 400) << model << ": " << describe(reply);
    EXPECT_EQ(reply.code(), "model_not_found") << model;
  }
}

TEST(EmulatorTest, EverySchemaRuleIs400InvalidInputNamingTheField) {
  EmulatorProcess emulator({"--rate-limit", "0"});
  Api api(emulator);
  const std::string long_prompt(4001, 'a');
  const std::vector<std::pair<json, std::string>> cases = {
      {json::object(), "input.prompt"},                                    // required
      {{{"prompt", 42}}, "input.prompt"},                                  // a string
      {{{"prompt", ""}}, "input.prompt"},                                  // at least 1 character
      {{{"prompt", long_prompt}}, "input.prompt"},                         // at most 4000
      {{{"prompt", "x"}, {"aspect_ratio", "4:3"}}, "input.aspect_ratio"},  // not one of the three
      {{{"prompt", "x"}, {"aspect_ratio", 1}}, "input.aspect_ratio"},
      {{{"prompt", "x"}, {"aspect_ratio", nullptr}}, "input.aspect_ratio"},
      {{{"prompt", "x"}, {"image_urls", "https://a.example/1.png"}}, "input.image_urls"},
      {{{"prompt", "x"},
        {"image_urls",
         {"https://a.example/1.png", "https://a.example/2.png", "https://a.example/3.png",
          "https://a.example/4.png", "https://a.example/5.png", "https://a.example/6.png"}}},
       "input.image_urls"},  // at most 5
      {{{"prompt", "x"}, {"image_urls", {"https://a.example/1.png", 7}}}, "input.image_urls[1]"},
      {{{"prompt", "x"}, {"image_urls", {"ftp://a.example/1.png"}}}, "input.image_urls[0]"},
      {{{"prompt", "x"}, {"image_urls", {"a.example/1.png"}}}, "input.image_urls[0]"},
      {{{"prompt", "x"}, {"image_urls", {"https://"}}}, "input.image_urls[0]"},
      {{{"prompt", "x"}, {"resolution", "1K"}}, "input.resolution"},  // unknown key
      {{{"prompt", "x"}, {"n", 2}}, "input.n"},
  };
  for (const auto& [input, field] : cases) {
    const Reply reply = api.create_json(json{{"model", gpt1}, {"input", input}});
    EXPECT_EQ(reply.status, 400) << input << ": " << describe(reply);
    EXPECT_EQ(reply.code(), "invalid_input") << input;
    EXPECT_NE(reply.message().find(field), std::string::npos)
        << input << ": the message \"" << reply.message() << "\" does not name " << field;
  }
}

TEST(EmulatorTest, ValidInputsAtTheLimitsAreAccepted) {
  EmulatorProcess emulator({"--rate-limit", "0"});
  Api api(emulator);
  std::string accented;  // 4000 code points, 8000 bytes: the limit counts characters
  for (int i = 0; i < 4000; ++i) {
    accented += "\xc3\xa9";
  }
  const std::vector<json> inputs = {
      {{"prompt", std::string(4000, 'a')}},
      {{"prompt", accented}},
      {{"prompt", "x"}, {"aspect_ratio", "1:1"}},
      {{"prompt", "x"}, {"aspect_ratio", "3:2"}},
      {{"prompt", "x"}, {"aspect_ratio", "2:3"}},
      {{"prompt", "x"}, {"image_urls", json::array()}},
      {{"prompt", "x"},
       {"image_urls",
        {"https://a.example/1.png", "http://a.example/2.png", "HTTPS://a.example/3.png",
         "https://a.example/4.png", "https://a.example/5.png"}}},
  };
  for (const auto& input : inputs) {
    const Reply reply = api.create_json(json{{"model", gpt1}, {"input", input}});
    EXPECT_EQ(reply.status, 200) << input.dump().substr(0, 120) << ": " << describe(reply);
  }
}

TEST(EmulatorTest, TheOtherModelsInTheTableHaveTheirOwnSchemaAndPrice) {
  EmulatorProcess emulator({"--rate-limit", "0"});
  Api api(emulator);
  struct Case {
    json body;
    int status;
    std::int64_t cost;
  };
  const std::vector<Case> cases = {
      {{{"model", "openai/gpt-image-1.5"}, {"input", {{"prompt", "x"}}}}, 200, 30000},
      {{{"model", "openai/gpt-image-1.5"}, {"input", {{"prompt", "x"}, {"quality", "high"}}}},
       200,
       160000},
      {{{"model", "openai/gpt-image-1.5"}, {"input", {{"prompt", "x"}, {"quality", "low"}}}},
       400,
       0},
      {{{"model", "openai/gpt-image-2"},
        {"input", {{"prompt", "x"}, {"aspect_ratio", "16:9"}, {"resolution", "2K"}}}},
       200,
       70000},
      {{{"model", "openai/gpt-image-2"}, {"input", {{"prompt", "x"}, {"aspect_ratio", "auto"}}}},
       400,
       0},
      {{{"model", "openai/gpt-image-2"},
        {"input",
         {{"prompt", "x"},
          {"image_urls",
           {"https://a.example/1", "https://a.example/2", "https://a.example/3",
            "https://a.example/4", "https://a.example/5"}}}}},
       400,
       0},
      // The Runbase quickstart's request, verbatim.
      {{{"model", "google/nano-banana-2"},
        {"input",
         {{"prompt", "A cozy bookshop interior with warm lighting, watercolor style"},
          {"aspect_ratio", "1:1"}}}},
       200,
       40000},
  };
  for (const auto& c : cases) {
    const Reply reply = api.create_json(c.body);
    EXPECT_EQ(reply.status, c.status) << c.body << ": " << describe(reply);
    if (c.status == 200) {
      EXPECT_EQ(reply.body_json().value("costUsd", std::int64_t{0}), c.cost) << c.body;
      EXPECT_EQ(reply.body_json().value("model", ""), c.body["model"]);
    } else {
      EXPECT_EQ(reply.code(), "invalid_input") << c.body;
    }
  }
}

// --- Runs: visibility, lifecycle, outputs
// ---------------------------------------------------------

TEST(EmulatorTest, UnknownRunAndAnotherKeysRunAre404RunNotFound) {
  EmulatorProcess emulator;
  Api alice(emulator, "sk-alice");
  Api bob(emulator, "sk-bob");
  const std::string id = create_run(alice, "A red fox");
  EXPECT_EQ(alice.get(id).status, 200);
  for (const std::string& probe : {id, std::string("run_doesnotexist"), std::string("x")}) {
    const Reply reply = bob.get(probe);
    EXPECT_EQ(reply.status, 404) << probe << ": " << describe(reply);
    EXPECT_EQ(reply.code(), "run_not_found") << probe;
  }
}

TEST(EmulatorTest, RunGoesPendingProcessingSucceededWithTimestamps) {
  // 1 s: the processing phase (at least 675 ms) is seen even on a loaded machine.
  EmulatorProcess emulator({"--latency-ms", "1000", "--rate-limit", "0"});
  Api api(emulator);
  const long long before =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::string id = create_run(api, "A red fox");

  // Poll until terminal, keeping the sequence of distinct statuses.
  std::vector<std::string> seen;
  json last;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    const Reply reply = api.get(id);
    ASSERT_EQ(reply.status, 200) << describe(reply);
    last = reply.body_json();
    const std::string status = last.value("status", "");
    if (seen.empty() || seen.back() != status) {
      seen.push_back(status);
    }
    if (status == "succeeded" || status == "failed") {
      break;
    }
    if (status == "pending" || status == "processing") {
      EXPECT_FALSE(last.contains("output")) << last;
      EXPECT_FALSE(last.contains("completedAt")) << last;
      EXPECT_FALSE(last.contains("error")) << last;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  // Statuses only move forward; the run was seen processing on its way.
  const std::vector<std::string> order = {"pending", "processing", "succeeded"};
  std::size_t at = 0;
  for (const auto& status : seen) {
    while (at < order.size() && order[at] != status) {
      ++at;
    }
    ASSERT_LT(at, order.size()) << "status " << status << " out of order";
  }
  EXPECT_NE(std::find(seen.begin(), seen.end(), "processing"), seen.end());
  ASSERT_EQ(seen.back(), "succeeded") << last;

  EXPECT_EQ(last.value("id", ""), id);
  EXPECT_EQ(last.value("model", ""), gpt1);
  EXPECT_EQ(last.value("costUsd", 0), 50000);
  EXPECT_FALSE(last.contains("error"));
  ASSERT_TRUE(last["output"]["urls"].is_array());
  EXPECT_EQ(last["output"]["urls"].size(), 1U);
  const std::string created = last.value("createdAt", "");
  const std::string completed = last.value("completedAt", "");
  EXPECT_TRUE(std::regex_match(created, timestamp_format)) << created;
  EXPECT_TRUE(std::regex_match(completed, timestamp_format)) << completed;
  const long long created_ms = parse_timestamp(created);
  EXPECT_GE(created_ms, before - 1000);  // the emulator and the test share a clock
  const long long took = parse_timestamp(completed) - created_ms;
  EXPECT_GE(took, 750) << created << " -> " << completed;  // 1000 ms +/- 25%
  EXPECT_LE(took, 1250) << created << " -> " << completed;
}

TEST(EmulatorTest, RunIsPendingRightAfterCreate) {
  EmulatorProcess emulator({"--latency-ms", "20000"});
  Api api(emulator);
  const std::string id = create_run(api, "A red fox");
  const Reply reply = api.get(id);  // pending lasts a tenth of 15..25 s, capped at 1 s
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body_json().value("status", ""), "pending") << reply.body;
}

TEST(EmulatorTest, LatencyHasJitterAroundTheMedian) {
  EmulatorProcess emulator({"--latency-ms", "200", "--rate-limit", "0"});
  Api api(emulator);
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    ids.push_back(create_run(api, "run " + std::to_string(i)));
  }
  std::set<long long> durations;
  for (const auto& id : ids) {
    const json run = wait_for_status(api, id, "succeeded");
    const long long took =
        parse_timestamp(run.value("completedAt", "")) - parse_timestamp(run.value("createdAt", ""));
    EXPECT_GE(took, 150);
    EXPECT_LE(took, 250);
    durations.insert(took);
  }
  EXPECT_GT(durations.size(), 1U) << "eight runs took exactly as long";
}

TEST(EmulatorTest, OutputIsAPngOfTheAspectRatiosSizeServedWithoutAuth) {
  EmulatorProcess emulator({"--latency-ms", "20", "--rate-limit", "0"});
  Api api(emulator);
  const std::map<std::string, std::pair<std::uint32_t, std::uint32_t>> sizes = {
      {"1:1", {1024, 1024}}, {"3:2", {1536, 1024}}, {"2:3", {1024, 1536}}};
  for (const auto& [ratio, size] : sizes) {
    const std::string id = create_run(api, "A red fox", R"({"aspect_ratio":")" + ratio + "\"}");
    const json run = wait_for_status(api, id, "succeeded");
    const std::string url = run["output"]["urls"][0].get<std::string>();
    EXPECT_TRUE(std::regex_match(
        url, std::regex("http://127\\.0\\.0\\.1:\\d+/files/generated/" + id + "\\.png")))
        << url;
    const Reply png = api.download(url);
    ASSERT_EQ(png.status, 200) << ratio;
    EXPECT_EQ(png.header("Content-Type"), "image/png");
    ASSERT_GT(png.body.size(), 33U);
    EXPECT_EQ(png.body.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << ratio;
    EXPECT_EQ(png.body.substr(12, 4), "IHDR");
    EXPECT_EQ(be32(png.body, 16), size.first) << ratio;
    EXPECT_EQ(be32(png.body, 20), size.second) << ratio;
  }
  // No default aspect ratio given: 1:1.
  const json square = wait_for_status(api, create_run(api, "A red fox"), "succeeded");
  const Reply png = api.download(square["output"]["urls"][0].get<std::string>());
  EXPECT_EQ(be32(png.body, 16), 1024U);
  EXPECT_EQ(be32(png.body, 20), 1024U);
}

TEST(EmulatorTest, FileOfAnUnfinishedOrUnknownRunIs404) {
  EmulatorProcess emulator({"--latency-ms", "20000"});
  Api api(emulator);
  const std::string id = create_run(api, "A red fox");
  const Reply early = api.download(emulator.root_url() + "/files/generated/" + id + ".png");
  EXPECT_EQ(early.status, 404);
  EXPECT_EQ(early.code(), "not_found");
  EXPECT_EQ(api.download(emulator.root_url() + "/files/generated/run_nope.png").status, 404);
}

TEST(EmulatorTest, TheImageIsDeterministicPerPrompt) {
  std::string fox;
  std::string fox_again;
  std::string owl;
  {
    EmulatorProcess emulator({"--latency-ms", "10", "--rate-limit", "0"});
    Api api(emulator);
    const auto image = [&](const std::string& prompt) {
      const json run = wait_for_status(api, create_run(api, prompt), "succeeded");
      return api.download(run["output"]["urls"][0].get<std::string>()).body;
    };
    fox = image("A red fox");
    fox_again = image("A red fox");
    owl = image("An owl at night");
  }
  EXPECT_FALSE(fox.empty());
  EXPECT_EQ(fox, fox_again);
  EXPECT_NE(fox, owl);
  // Another process (its own cache and data directory) draws the same picture.
  EmulatorProcess other({"--latency-ms", "10"});
  Api api(other);
  const json run = wait_for_status(api, create_run(api, "A red fox"), "succeeded");
  EXPECT_EQ(api.download(run["output"]["urls"][0].get<std::string>()).body, fox);
}

// --- Rate limit
// -----------------------------------------------------------------------------------

TEST(EmulatorTest, RateWindowRejectsWithRetryAfterAndSlides) {
  // 3 per 2 s with a 1 s gap: every step below has a second of slack on a loaded machine.
  EmulatorProcess emulator({"--rate-limit", "3/2"});
  Api api(emulator);
  // An unknown run answers 404 when admitted, 429 when not: the cheapest probe.
  const auto admitted = [&] {
    const Reply reply = api.get("run_unknown");
    EXPECT_TRUE(reply.status == 404 || reply.status == 429) << describe(reply);
    return reply.status == 404;
  };
  const auto t0 = Clock::now();
  ASSERT_TRUE(admitted());                          // 1 at t0
  std::this_thread::sleep_for(milliseconds(1000));  // time must pass between 1 and 2-3
  ASSERT_TRUE(admitted());                          // 2 at t0+1000
  ASSERT_TRUE(admitted());                          // 3
  const Reply limited = api.get("run_unknown");
  ASSERT_EQ(limited.status, 429) << describe(limited);
  EXPECT_EQ(limited.code(), "RATE_LIMITED");
  EXPECT_EQ(limited.message(), "Rate limit exceeded");
  // Whole seconds, rounded up from the ~1 s until request 1 leaves.
  const std::string retry_after = limited.header("Retry-After");
  EXPECT_TRUE(retry_after == "1" || retry_after == "2") << retry_after;

  // Rejected requests are not counted: poll until request 1 leaves the window.
  const auto poll_until_admitted = [&](milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (admitted()) {
        return Clock::now();
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    ADD_FAILURE() << "never admitted again";
    return Clock::now();
  };
  const auto first_free = poll_until_admitted(milliseconds(5000));
  EXPECT_GE(first_free - t0, milliseconds(2000));
  // Sliding, not fixed: only request 1 left; 2 and 3 still fill the window.
  EXPECT_FALSE(admitted());
  const auto second_free = poll_until_admitted(milliseconds(5000));
  EXPECT_GE(second_free - t0, milliseconds(3000));
}

TEST(EmulatorTest, RateWindowIsPerKeyAndSharedByPostAndGet) {
  EmulatorProcess emulator({"--rate-limit", "2/60"});
  Api alice(emulator, "sk-alice");
  Api bob(emulator, "sk-bob");
  const std::string id = create_run(alice, "A red fox");  // POST: 1
  EXPECT_EQ(alice.get(id).status, 200);                   // GET: 2
  EXPECT_EQ(alice.get(id).status, 429);
  EXPECT_EQ(alice.create("A red fox").status, 429);
  const Reply other = bob.create("A red fox");
  EXPECT_EQ(other.status, 200) << describe(other);
  const Reply limited = alice.get(id);
  const int retry_after = std::atoi(limited.header("Retry-After").c_str());
  EXPECT_GE(retry_after, 59);
  EXPECT_LE(retry_after, 60);
}

TEST(EmulatorTest, RateLimitZeroTurnsItOff) {
  EmulatorProcess emulator({"--rate-limit", "0"});
  Api api(emulator);
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(api.get("run_unknown").status, 404) << i;
  }
}

// --- Balance
// --------------------------------------------------------------------------------------

TEST(EmulatorTest, BalanceRunsOutInto402PerKey) {
  EmulatorProcess emulator({"--balance-usd", "0.10"});
  Api alice(emulator, "sk-alice");
  EXPECT_EQ(alice.create("one").status, 200);
  EXPECT_EQ(alice.create("two").status, 200);
  const Reply broke = alice.create("three");
  EXPECT_EQ(broke.status, 402) << describe(broke);
  EXPECT_EQ(broke.code(), "insufficient_balance");
  EXPECT_NE(broke.message().find("$0.05"), std::string::npos) << broke.message();
  // A rejected request is not charged, and each key has its own balance.
  EXPECT_EQ(alice.create("four").status, 402);
  Api bob(emulator, "sk-bob");
  EXPECT_EQ(bob.create("one").status, 200);
  EXPECT_EQ(stats(emulator)["runs_created"], 3);
}

TEST(EmulatorTest, SpendLimitIs403AndCountsRefunds) {
  EmulatorProcess emulator(
      {"--spend-limit-usd", "0.10", "--latency-ms", "50", "--rate-limit", "0"});
  Api api(emulator);
  const std::string failing = create_run(api, "refunded [fail]");
  create_run(api, "one");
  const Reply refused = api.create("two");
  EXPECT_EQ(refused.status, 403) << describe(refused);
  EXPECT_EQ(refused.code(), "api_key_spend_limit_exceeded");
  wait_for_status(api, failing, "failed");
  // The refund lowers the spend again, so one more run fits under the limit.
  EXPECT_EQ(api.create("two").status, 200);
  EXPECT_EQ(api.create("three").status, 403);
}

TEST(EmulatorTest, UsageQuotaIs429UsageExceededWithoutRetryAfter) {
  EmulatorProcess emulator({"--usage-quota", "1", "--rate-limit", "0"});
  Api api(emulator);
  EXPECT_EQ(api.create("one").status, 200);
  const Reply spent = api.create("two");
  EXPECT_EQ(spent.status, 429) << describe(spent);
  EXPECT_EQ(spent.code(), "USAGE_EXCEEDED");
  EXPECT_EQ(spent.header("Retry-After"), "");
  EXPECT_EQ(Api(emulator, "sk-other").create("one").status, 200);  // the quota is per key
}

TEST(EmulatorTest, AllowListRefusesOtherAddressesWith403IpNotAllowed) {
  EmulatorProcess refusing({"--allow-ip", "192.0.2.1"});
  const Reply refused = Api(refusing).create("one");
  EXPECT_EQ(refused.status, 403) << describe(refused);
  EXPECT_EQ(refused.code(), "ip_not_allowed");
  EmulatorProcess allowing({"--allow-ip", "192.0.2.1", "--allow-ip", "127.0.0.1"});
  EXPECT_EQ(Api(allowing).create("one").status, 200);
}

TEST(EmulatorTest, AFailedRunIsRefunded) {
  // The [fail] run fails 750..1250 ms after create: the three creates come well before.
  EmulatorProcess emulator({"--balance-usd", "0.10", "--latency-ms", "1000", "--rate-limit", "0"});
  Api api(emulator);
  const std::string failing = create_run(api, "A red fox [fail]");
  create_run(api, "A red fox");
  EXPECT_EQ(api.create("A red fox").status, 402);
  const json failed = wait_for_status(api, failing, "failed");
  EXPECT_EQ(failed.value("costUsd", 0), 50000);
  // The refund is made when the run fails, whether or not it is read: create sees it.
  EXPECT_EQ(api.create("A red fox").status, 200);
  EXPECT_EQ(api.create("A red fox").status, 402);
}

// --- Fault tokens
// ---------------------------------------------------------------------------------

TEST(EmulatorTest, FailTokenEndsTheRunFailedWithAStringError) {
  EmulatorProcess emulator({"--latency-ms", "50", "--rate-limit", "0"});
  Api api(emulator);
  const json run = wait_for_status(api, create_run(api, "[fail] A red fox"), "failed");
  ASSERT_TRUE(run.contains("error")) << run;
  ASSERT_TRUE(run["error"].is_string()) << run;
  EXPECT_FALSE(run["error"].get<std::string>().empty());
  EXPECT_FALSE(run.contains("output")) << run;
  EXPECT_TRUE(std::regex_match(run.value("completedAt", ""), timestamp_format)) << run;
}

TEST(EmulatorTest, ErrorFormatObjectGivesMessageAndCode) {
  EmulatorProcess emulator({"--latency-ms", "50", "--error-format", "object"});
  Api api(emulator);
  const json run = wait_for_status(api, create_run(api, "A red fox [fail]"), "failed");
  ASSERT_TRUE(run["error"].is_object()) << run;
  EXPECT_FALSE(run["error"].value("message", "").empty()) << run;
  EXPECT_EQ(run["error"].value("code", ""), "generation_failed") << run;
}

TEST(EmulatorTest, SlowTokenTakesTenTimesTheLatency) {
  EmulatorProcess emulator({"--latency-ms", "80", "--rate-limit", "0"});
  Api api(emulator);
  const std::string slow = create_run(api, "A red fox [slow]");
  const std::string normal = create_run(api, "A red fox");
  const auto took = [](const json& run) {
    return parse_timestamp(run.value("completedAt", "")) -
           parse_timestamp(run.value("createdAt", ""));
  };
  const json normal_run = wait_for_status(api, normal, "succeeded");
  const std::string meanwhile = api.get(slow).body_json().value("status", "");
  EXPECT_TRUE(meanwhile == "pending" || meanwhile == "processing") << meanwhile;
  const json slow_run = wait_for_status(api, slow, "succeeded");
  EXPECT_LE(took(normal_run), 100);
  EXPECT_GE(took(slow_run), 600);  // 800 ms +/- 25%
  EXPECT_LE(took(slow_run), 1000);
}

TEST(EmulatorTest, NeverTokenStaysProcessing) {
  EmulatorProcess emulator({"--latency-ms", "50", "--rate-limit", "0"});
  Api api(emulator);
  const std::string never = create_run(api, "A red fox [never] [fail]");
  const std::string normal = create_run(api, "A red fox");
  wait_for_status(api, never, "processing");
  wait_for_status(api, normal, "succeeded");  // well past the never-run's own latency
  const json run = api.get(never).body_json();
  EXPECT_EQ(run.value("status", ""), "processing") << run;
  EXPECT_FALSE(run.contains("completedAt"));
}

TEST(EmulatorTest, FiveHundredTokenAnswers500AndMakesNoRun) {
  EmulatorProcess emulator({"--balance-usd", "0.05"});
  Api api(emulator);
  const Reply reply = api.create("A red fox [500]");
  EXPECT_EQ(reply.status, 500);
  EXPECT_EQ(reply.body_json(), json::parse(R"({"error":{"message":"Internal server error"}})"));
  EXPECT_FALSE(reply.header("X-Request-Id").empty());
  const json s = stats(emulator);
  EXPECT_EQ(s["runs_created"], 0);
  EXPECT_TRUE(s["runs"].empty());
  EXPECT_EQ(api.create("A red fox").status, 200);  // nothing was charged
}

// Sends `request` on a bare socket and returns every byte the emulator sent back until it closed
// the connection.
std::string bytes_answered(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string received;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) {
      continue;
    }
    char buffer[512];
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) {
      ::close(fd);
      return received;  // closed (or reset): the answer is complete
    }
    received.append(buffer, static_cast<std::size_t>(got));
  }
  ADD_FAILURE() << "the connection was not closed within 5 s";
  ::close(fd);
  return received;
}

// Sends a create with [drop] on a bare socket and returns every byte the emulator sent back.
std::string bytes_answered_to_drop(int port) {
  const std::string body = R"({"model":"openai/gpt-image-1","input":{"prompt":"x [drop]"}})";
  return bytes_answered(port,
                        "POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Authorization: Bearer sk-test\r\nContent-Type: application/json\r\n"
                        "Content-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body);
}

TEST(EmulatorTest, DropTokenClosesTheConnectionWithoutAByteAndMakesNoRun) {
  EmulatorProcess emulator;
  EXPECT_EQ(bytes_answered_to_drop(emulator.port()), "");
  Api api(emulator);
  const Reply reply = api.create("A red fox [drop]");
  EXPECT_EQ(reply.status, 0);
  EXPECT_NE(reply.error, httplib::Error::Success);
  const json s = stats(emulator);
  EXPECT_EQ(s["runs_created"], 0);
  EXPECT_GE(s["drops"], 2);
  // The emulator carries on.
  EXPECT_EQ(api.create("A red fox").status, 200);
}

TEST(EmulatorTest, FaultRateAnswers500Or429AtRandom) {
  EmulatorProcess emulator({"--fault-rate", "0.5", "--seed", "42", "--rate-limit", "0"});
  Api api(emulator);
  std::map<int, int> counts;
  for (int i = 0; i < 200; ++i) {
    const Reply reply = api.get("run_unknown");
    ++counts[reply.status];
    if (reply.status == 500) {
      EXPECT_EQ(reply.body_json(), json::parse(R"({"error":{"message":"Internal server error"}})"));
    } else if (reply.status == 429) {
      EXPECT_EQ(reply.code(), "RATE_LIMITED");
      EXPECT_EQ(reply.header("Retry-After"), "1");
    } else {
      EXPECT_EQ(reply.status, 404) << describe(reply);
    }
  }
  EXPECT_GE(counts[404], 60);
  EXPECT_GE(counts[500], 25);
  EXPECT_GE(counts[429], 25);
  EXPECT_EQ(counts[404] + counts[500] + counts[429], 200);
}

TEST(EmulatorTest, FaultRateOneMakesNoRun) {
  EmulatorProcess emulator({"--fault-rate", "1", "--rate-limit", "0"});
  Api api(emulator);
  for (int i = 0; i < 20; ++i) {
    const int status = api.create("A red fox").status;
    EXPECT_TRUE(status == 500 || status == 429) << status;
  }
  const json s = stats(emulator);
  EXPECT_EQ(s["runs_created"], 0);
  EXPECT_EQ(s["requests"]["create"], 20);
  // The admin endpoint is not subject to faults.
  EXPECT_EQ(s["responses"].value("500", 0) + s["responses"].value("429", 0), 20);
}

// A bare TCP connection to the emulator (the test fails if it cannot connect).
int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  return fd;
}

// Reads one answer with a Content-Length body from `fd` (within 5 s); empty if the connection
// ended first.
std::string read_answer(int fd) {
  std::string received;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    const auto end = received.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::smatch m;
      const std::string head = received.substr(0, end);
      if (std::regex_search(head, m, std::regex("Content-Length: (\\d+)", std::regex::icase)) &&
          received.size() >= end + 4 + std::stoul(m[1].str())) {
        return received;
      }
    }
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) {
      continue;
    }
    char buffer[4096];
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) {
      return {};
    }
    received.append(buffer, static_cast<std::size_t>(got));
  }
  ADD_FAILURE() << "no whole answer within 5 s: " << received;
  return received;
}

// True if the emulator has closed `fd` (its end of file arrives within `limit`).
bool closed_by_emulator(int fd, milliseconds limit) {
  pollfd pfd{fd, POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(limit.count())) <= 0) {
    return false;
  }
  char byte = 0;
  return ::recv(fd, &byte, 1, MSG_DONTWAIT) <= 0;
}

// A create sent with `Transfer-Encoding: chunked` on a bare connection, from its headers.
std::string chunked_create_head() {
  return "POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-test\r\n"
         "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
}

std::string chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

TEST(EmulatorTest, AChunkedBodyIsReadAndCreatesARun) {
  EmulatorProcess emulator;
  const int fd = connect_to(emulator.port());
  const std::string request = chunked_create_head() + chunk(R"({"model":"openai/gpt-image-1",)") +
                              chunk(R"("input":{"prompt":"A red fox"}})") + chunk("");
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  const std::string answer = read_answer(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0U) << answer;
  ::close(fd);
  EXPECT_EQ(stats(emulator)["runs_created"], 1);
}

TEST(EmulatorTest, AChunkedBodyOverTheLimitIs413AsSoonAsItPassesIt) {
  EmulatorProcess emulator;
  const int fd = connect_to(emulator.port());
  int small = 64 * 1024;  // little buffered between the test and the emulator
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  const std::string head = chunked_create_head();
  ASSERT_EQ(::send(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));

  // Up to 64 MiB in 64 KiB chunks, until the answer comes.
  constexpr std::size_t body_limit = 64U * 1024 * 1024;
  const std::string piece = chunk(std::string(64 * 1024, 'a'));
  std::size_t sent = 0;
  std::size_t offset = 0;  // within `piece`
  std::string answer;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    pollfd pfd{fd, static_cast<short>(POLLIN | (sent < body_limit ? POLLOUT : 0)), 0};
    if (::poll(&pfd, 1, 100) <= 0) {
      continue;
    }
    if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char buffer[4096];
      const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
      if (got <= 0) {
        break;  // the emulator closed the connection after its answer
      }
      answer.append(buffer, static_cast<std::size_t>(got));
      continue;
    }
    if (answer.empty()) {
      const ssize_t put =
          ::send(fd, piece.data() + offset, piece.size() - offset, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (put > 0) {
        sent += static_cast<std::size_t>(put);
        offset = (offset + static_cast<std::size_t>(put)) % piece.size();
      }
    }
  }
  ::close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0U) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  EXPECT_NE(answer.find("payload_too_large"), std::string::npos) << answer;
  // Answered once the 1 MiB limit was passed, not after the whole 64 MiB: what was sent past
  // it is what the sockets' buffers held.
  EXPECT_LT(sent, body_limit / 4);
  EXPECT_EQ(stats(emulator)["runs_created"], 0);
}

TEST(EmulatorTest, AContentLengthOverTheLimitIs413BeforeTheBodyIsSent) {
  EmulatorProcess emulator;
  const int fd = connect_to(emulator.port());
  const std::string head =
      "POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-test\r\n"
      "Content-Type: application/json\r\nContent-Length: 314572800\r\n\r\n";
  const auto started = Clock::now();
  ASSERT_EQ(::send(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
  const std::string answer = read_answer(fd);
  // Not after the 5 s read timeout of waiting for 300 MB that never come.
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(3));
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0U) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  EXPECT_TRUE(closed_by_emulator(fd, milliseconds(5000)));
  ::close(fd);
}

// --- Connections
// ----------------------------------------------------------------------------------

TEST(EmulatorTest, ServesSixtyFourConcurrentKeepAliveConnections) {
  EmulatorProcess emulator({"--rate-limit", "0", "--latency-ms", "10"});
  constexpr int clients = 64;
  constexpr int requests_each = 10;  // more than httplib's default keep-alive maximum of 5
  const auto connections_before = stats(emulator)["connections"].get<int>();

  std::mutex mutex;
  std::condition_variable all_connected;
  int connected = 0;
  std::atomic<int> ok{0};
  std::atomic<bool> timed_out{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      Api api(emulator, "sk-client-" + std::to_string(c));
      const Reply first = api.create("client " + std::to_string(c));
      if (first.status != 200) {
        return;
      }
      ++ok;
      const std::string id = first.body_json().value("id", "");
      {
        // Every client holds its connection open until all 64 are served at once.
        std::unique_lock<std::mutex> lock(mutex);
        ++connected;
        all_connected.notify_all();
        if (!all_connected.wait_for(lock, std::chrono::seconds(20),
                                    [&] { return connected == clients; })) {
          timed_out = true;
        }
      }
      for (int i = 1; i < requests_each; ++i) {
        if (api.get(id).status == 200) {
          ++ok;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_FALSE(timed_out) << "only " << connected << " clients were served at once";
  EXPECT_EQ(ok.load(), clients * requests_each);
  // One connection per client (the +1 is this stats request's own).
  const json s = stats(emulator);
  EXPECT_EQ(s["connections"].get<int>() - connections_before, clients + 1);
  EXPECT_EQ(s["runs_created"], clients);
}

TEST(EmulatorTest, IdleKeepAliveConnectionsMakeWayForANewClient) {
  constexpr int workers = 4;
  EmulatorProcess emulator({"--threads", std::to_string(workers), "--rate-limit", "0"});
  // As many connections as workers, each served once (so it holds its worker) and now idle, the
  // first for longest.
  std::vector<int> idle;
  for (int i = 0; i < workers; ++i) {
    idle.push_back(connect_to(emulator.port()));
    const std::string request = "GET /_emulator/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    ASSERT_EQ(::send(idle.back(), request.data(), request.size(), 0),
              static_cast<ssize_t>(request.size()));
    ASSERT_EQ(read_answer(idle.back()).rfind("HTTP/1.1 200", 0), 0U);
  }
  const auto started = Clock::now();
  Api api(emulator);
  const Reply reply = api.create("A red fox");
  EXPECT_EQ(reply.status, 200) << describe(reply);
  // Not after the 5 s keep-alive timeout that frees every worker at once.
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(3));
  // The longest idle connection was closed for it, and only that one.
  EXPECT_TRUE(closed_by_emulator(idle[0], milliseconds(3000)));
  for (std::size_t i = 1; i < idle.size(); ++i) {
    EXPECT_FALSE(closed_by_emulator(idle[i], milliseconds(0))) << i;
  }
  // The stats request's own connection made room the same way (closing idle[1]).
  EXPECT_EQ(stats(emulator).value("idle_connections_closed", -1), 2);
  for (const int fd : idle) {
    ::close(fd);
  }
}

TEST(EmulatorTest, ConnectionsThatNeverSendARequestDoNotLockOutANewClient) {
  constexpr int workers = 4;
  EmulatorProcess emulator({"--threads", std::to_string(workers), "--rate-limit", "0"});
  std::vector<int> silent;
  for (int i = 0; i < workers; ++i) {
    silent.push_back(connect_to(emulator.port()));
  }
  const auto started = Clock::now();
  Api api(emulator);
  const Reply reply = api.create("A red fox");
  EXPECT_EQ(reply.status, 200) << describe(reply);
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(3));
  for (const int fd : silent) {
    ::close(fd);
  }
}

// --- Stats, shutdown, data directory
// --------------------------------------------------------------

TEST(EmulatorTest, StatsCountRequestsResponsesAndPollsPerRun) {
  EmulatorProcess emulator({"--latency-ms", "20000"});
  Api api(emulator);
  const std::string a = create_run(api, "prompt a");
  const std::string b = create_run(api, "prompt b");
  for (int i = 0; i < 3; ++i) {
    api.get(a);
  }
  api.get(b);
  api.get("run_unknown");
  api.create_raw("{");
  const json s = stats(emulator);
  EXPECT_EQ(s["requests"]["create"], 3);
  EXPECT_EQ(s["requests"]["get"], 5);
  EXPECT_EQ(s["responses"]["200"], 6);
  EXPECT_EQ(s["responses"]["404"], 1);
  EXPECT_EQ(s["responses"]["400"], 1);
  EXPECT_EQ(s["runs_created"], 2);
  ASSERT_EQ(s["runs"].size(), 2U);
  EXPECT_EQ(s["runs"][0]["id"], a);
  EXPECT_EQ(s["runs"][0]["prompt"], "prompt a");
  EXPECT_EQ(s["runs"][0]["polls"], 3);
  EXPECT_EQ(s["runs"][0]["status"], "pending");
  EXPECT_EQ(s["runs"][0]["model"], gpt1);
  EXPECT_EQ(s["runs"][1]["id"], b);
  EXPECT_EQ(s["runs"][1]["polls"], 1);
  ASSERT_EQ(s["accounts"].size(), 1U);
  EXPECT_EQ(s["accounts"][0]["balanceUsd"], 10'000'000 - 2 * 50000);
  // Reading the stats is not counted.
  EXPECT_EQ(stats(emulator)["requests"], s["requests"]);
}

TEST(EmulatorTest, ResetForgetsRunsBalancesRateWindowsAndCounts) {
  // A balance for one run, and a window of two requests a minute.
  EmulatorProcess emulator(
      {"--latency-ms", "20000", "--rate-limit", "2/60", "--balance-usd", "0.05"});
  Api api(emulator);
  const std::string first = create_run(api, "the only run the balance pays for");
  EXPECT_EQ(api.create("one too many").status, 402);
  EXPECT_EQ(api.get(first).status, 429);

  const Reply reset = api.send("POST", "/_emulator/reset", "", std::string());
  ASSERT_EQ(reset.status, 200) << describe(reset);
  const json after = reset.body_json();  // the stats, as after start
  EXPECT_TRUE(after["runs"].empty());
  EXPECT_TRUE(after["accounts"].empty());
  EXPECT_TRUE(after["responses"].empty());
  EXPECT_EQ(after["requests"]["create"], 0);
  EXPECT_EQ(after["requests"]["get"], 0);
  EXPECT_EQ(after["runs_created"], 0);

  EXPECT_EQ(api.get(first).status, 404);  // a fresh window admits it; the run is gone
  EXPECT_FALSE(create_run(api, "paid for by the balance again").empty());
  const json s = stats(emulator);
  EXPECT_EQ(s["runs_created"], 1);
  EXPECT_EQ(s["requests"]["get"], 1);

  const Reply wrong_method = api.send("GET", "/_emulator/reset", "", std::string());
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(stats(emulator)["runs_created"], 1);

  // As docs/EMULATOR.md shows it: `curl -X POST .../_emulator/reset` sends no body and no
  // Content-Length.
  const std::string answered = bytes_answered(
      emulator.port(),
      "POST /_emulator/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(answered.rfind("HTTP/1.1 200", 0), 0u) << answered;
  EXPECT_EQ(stats(emulator)["runs_created"], 0);
}

TEST(EmulatorTest, MaxRunsForgetsTheOldestFinishedRunsOnly) {
  // --latency-ms 0: a run has finished as soon as it is made, except a [never] run.
  EmulatorProcess emulator({"--max-runs", "3", "--latency-ms", "0", "--rate-limit", "0"});
  Api api(emulator);
  const std::string never_a = create_run(api, "never a [never]");
  const std::string never_b = create_run(api, "never b [never]");
  std::vector<std::string> done;
  for (int i = 0; i < 3; ++i) {
    done.push_back(create_run(api, "done " + std::to_string(i)));
  }
  // Five runs, three kept: the two oldest finished ones went, the unfinished older ones stayed.
  for (const auto& id : {done[0], done[1]}) {
    const Reply gone = api.get(id);
    EXPECT_EQ(gone.status, 404) << describe(gone);
    EXPECT_EQ(gone.code(), "run_not_found");
    EXPECT_EQ(gone.message(), api.get("run_neverexisted").message());
  }
  EXPECT_EQ(api.get(done[2]).body_json().value("status", ""), "succeeded");
  EXPECT_EQ(api.get(never_a).body_json().value("status", ""), "processing");
  EXPECT_EQ(api.get(never_b).body_json().value("status", ""), "processing");
  const json s = stats(emulator);
  EXPECT_EQ(s["runs_created"], 5);
  EXPECT_EQ(s.value("runs_kept", -1), 3);
  EXPECT_EQ(s.value("runs_evicted", -1), 2);
  ASSERT_EQ(s["runs"].size(), 3U);
  EXPECT_EQ(s["runs"][0]["id"], never_a);
  EXPECT_EQ(s["runs"][1]["id"], never_b);
  EXPECT_EQ(s["runs"][2]["id"], done[2]);
}

TEST(EmulatorTest, AnEvictedFailedRunIsRefundedFirst) {
  // A balance for two runs, and one run kept.
  EmulatorProcess emulator(
      {"--max-runs", "1", "--latency-ms", "0", "--rate-limit", "0", "--balance-usd", "0.10"});
  Api api(emulator);
  const std::string failed = create_run(api, "A red fox [fail]");
  EXPECT_FALSE(create_run(api, "second").empty());  // evicts the failed run
  EXPECT_EQ(api.get(failed).status, 404);
  // The failed run's $0.05 came back: a third run is paid for.
  EXPECT_FALSE(create_run(api, "third").empty());
  const json s = stats(emulator);
  EXPECT_EQ(s.value("runs_evicted", -1), 2);
  ASSERT_EQ(s["accounts"].size(), 1U);
  EXPECT_EQ(s["accounts"][0]["balanceUsd"], 0);
}

TEST(EmulatorTest, StatsListTheNewestHundredRunsAndCountTheRest) {
  EmulatorProcess emulator({"--latency-ms", "20000", "--rate-limit", "0"});
  Api api(emulator);
  std::vector<std::string> ids;
  for (int i = 0; i < 101; ++i) {
    ids.push_back(create_run(api, "run " + std::to_string(i)));
  }
  const json s = stats(emulator);
  EXPECT_EQ(s["runs_created"], 101);
  EXPECT_EQ(s.value("runs_kept", -1), 101);
  EXPECT_EQ(s.value("runs_evicted", -1), 0);
  ASSERT_EQ(s["runs"].size(), 100U);
  EXPECT_EQ(s["runs"][0]["id"], ids[1]);
  EXPECT_EQ(s["runs"][99]["id"], ids[100]);
  EXPECT_EQ(api.get(ids[0]).status, 200);  // not listed, still kept
}

// --- Output URLs behind a proxy
// -------------------------------------------------------------------

// The output URL of a run that has succeeded (--latency-ms 0), read with `api`'s headers.
std::string output_url(Api& api) {
  const std::string id = create_run(api, "A red fox");
  const json run = wait_for_status(api, id, "succeeded");
  if (!run.contains("output")) {
    return {};
  }
  return run["output"]["urls"][0].get<std::string>();
}

TEST(EmulatorTest, PublicUrlIsTheBaseOfOutputUrls) {
  EmulatorProcess emulator(
      {"--latency-ms", "0", "--rate-limit", "0", "--public-url", "https://emu.example.com/"});
  Api api(emulator);
  const std::string url = output_url(api);
  EXPECT_TRUE(std::regex_match(
      url, std::regex(R"(https://emu\.example\.com/files/generated/run_\w+\.png)")))
      << url;
  // The flag wins over what a proxy says.
  api.set_extra_headers({{"X-Forwarded-Proto", "http"}, {"X-Forwarded-Host", "other.example"}});
  EXPECT_EQ(output_url(api).rfind("https://emu.example.com/files/generated/", 0), 0U);
  EXPECT_THROW(EmulatorProcess({"--public-url", "emu.example.com"}), std::runtime_error);
}

TEST(EmulatorTest, OutputUrlsFollowXForwardedProtoAndHost) {
  EmulatorProcess emulator({"--latency-ms", "0", "--rate-limit", "0"});
  Api api(emulator);
  const std::string direct = "http://127.0.0.1:" + std::to_string(emulator.port()) + "/files/";
  EXPECT_EQ(output_url(api).rfind(direct, 0), 0U);

  api.set_extra_headers({{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "emu.example.com"}});
  EXPECT_EQ(output_url(api).rfind("https://emu.example.com/files/generated/run_", 0), 0U);

  // After two proxies each header has two values; the first is the client's.
  api.set_extra_headers(
      {{"X-Forwarded-Proto", "HTTPS, http"}, {"X-Forwarded-Host", " emu.example.com:8443 , lb"}});
  EXPECT_EQ(output_url(api).rfind("https://emu.example.com:8443/files/generated/run_", 0), 0U);

  // Only the scheme: the Host header gives the rest.
  api.set_extra_headers({{"X-Forwarded-Proto", "https"}});
  EXPECT_EQ(
      output_url(api).rfind("https://127.0.0.1:" + std::to_string(emulator.port()) + "/files/", 0),
      0U);

  // Nonsense is ignored.
  api.set_extra_headers({{"X-Forwarded-Proto", "gopher"}, {"X-Forwarded-Host", "evil/path"}});
  EXPECT_EQ(output_url(api).rfind(direct, 0), 0U);
}

// Points TMPDIR at a fresh directory for the test, and restores it.
class ScopedTmpdir {
 public:
  ScopedTmpdir() {
    if (const char* old = std::getenv("TMPDIR")) {
      old_ = old;
    }
    std::string pattern =
        (std::filesystem::temp_directory_path() / "emulator-test-XXXXXX").string();
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    path_ = pattern;
    ::setenv("TMPDIR", path_.c_str(), 1);
  }
  ~ScopedTmpdir() {
    if (old_) {
      ::setenv("TMPDIR", old_->c_str(), 1);
    } else {
      ::unsetenv("TMPDIR");
    }
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::optional<std::string> old_;
  std::filesystem::path path_;
};

std::vector<std::filesystem::path> files_under(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      files.push_back(entry.path());
    }
  }
  return files;
}

TEST(EmulatorTest, SigtermStopsCleanlyAndRemovesTheTemporaryDataDir) {
  ScopedTmpdir tmpdir;
  EmulatorProcess emulator({"--latency-ms", "10"});
  {
    Api api(emulator);
    const json run = wait_for_status(api, create_run(api, "A red fox"), "succeeded");
    ASSERT_EQ(api.download(run["output"]["urls"][0].get<std::string>()).status, 200);
  }
  const auto files = files_under(tmpdir.path());
  ASSERT_EQ(files.size(), 1U);
  EXPECT_EQ(files[0].extension(), ".png");
  EXPECT_EQ(emulator.stop(), 0);
  EXPECT_TRUE(std::filesystem::is_empty(tmpdir.path()));
}

TEST(EmulatorTest, SigtermStopsPromptlyWithAnIdleKeepAliveConnectionOpen) {
  EmulatorProcess emulator;
  Api api(emulator);
  ASSERT_EQ(api.create("A red fox").status, 200);  // the connection stays open, idle
  const auto started = Clock::now();
  EXPECT_EQ(emulator.stop(), 0);
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(3));  // not the 5 s keep-alive timeout
}

TEST(EmulatorTest, DataDirKeepsTheImagesAfterExit) {
  ScopedTmpdir tmpdir;
  const auto dir = tmpdir.path() / "images";
  {
    EmulatorProcess emulator({"--latency-ms", "10", "--data-dir", dir.string()});
    Api api(emulator);
    const json run = wait_for_status(api, create_run(api, "A red fox"), "succeeded");
    const Reply png = api.download(run["output"]["urls"][0].get<std::string>());
    ASSERT_EQ(png.status, 200);
    EXPECT_EQ(emulator.stop(), 0);
    const auto files = files_under(dir);
    ASSERT_EQ(files.size(), 1U);
    std::ifstream in(files[0], std::ios::binary);
    const std::string saved((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(saved, png.body);
  }
}

// --- The sliding window itself, with a made-up clock
// ----------------------------------------------

TEST(EmulatorRateWindowTest, AdmitsUpToTheLimitThenSlides) {
  using runbase::emulator::RateWindow;
  RateWindow window(3, milliseconds(1000));
  const RateWindow::Clock::time_point t0{};
  EXPECT_TRUE(window.admit("k", t0).admitted);
  EXPECT_TRUE(window.admit("k", t0 + milliseconds(400)).admitted);
  EXPECT_TRUE(window.admit("k", t0 + milliseconds(400)).admitted);
  const auto rejected = window.admit("k", t0 + milliseconds(700));
  EXPECT_FALSE(rejected.admitted);
  EXPECT_EQ(rejected.retry_after, milliseconds(300));
  EXPECT_TRUE(window.admit("other", t0 + milliseconds(700)).admitted);
  EXPECT_TRUE(window.admit("k", t0 + milliseconds(1000)).admitted);  // the first one left
  const auto again = window.admit("k", t0 + milliseconds(1001));
  EXPECT_FALSE(again.admitted);
  EXPECT_EQ(again.retry_after, milliseconds(399));
  EXPECT_TRUE(window.admit("k", t0 + milliseconds(1400)).admitted);
}

TEST(EmulatorRateWindowTest, ZeroTurnsItOff) {
  runbase::emulator::RateWindow window(0, std::chrono::milliseconds(1000));
  EXPECT_FALSE(window.enabled());
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(window.admit("k", {}).admitted);
  }
}

}  // namespace
