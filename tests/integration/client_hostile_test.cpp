// The Client over the real libcurl transport against servers that misbehave in ways the emulator
// does not: HTML errors, redirects, huge bodies, stalls, dropped connections, untrusted TLS.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "runbase/runbase.hpp"
#include "support/hostile_server.hpp"
#include "support/test_tls.hpp"

namespace {

using namespace std::chrono_literals;
using runbase::test_support::LoopbackServer;
using runbase::test_support::RawServer;
using runbase::test_support::TempDir;

constexpr const char* kKey = "sk-hostile-test-key-0123456789";
constexpr const char* kRunJson =
    R"({"id":"run_1","model":"openai/gpt-image-1","status":"succeeded","costUsd":50000,)"
    R"("output":{"urls":[]},"createdAt":"2026-06-01T12:00:00.000Z","completedAt":"2026-06-01T12:00:04.200Z"})";

// kRunJson with another id and status.
std::string run_json(const std::string& id, const std::string& status = "succeeded") {
  std::string body = kRunJson;
  body.replace(body.find("run_1"), 5, id);
  body.replace(body.find("succeeded"), 9, status);
  return body;
}

runbase::ClientOptions options_for(const std::string& base_url) {
  runbase::ClientOptions options;
  options.api_key = kKey;
  options.base_url = base_url;
  options.retry.initial_backoff = 1ms;
  options.retry.max_backoff = 5ms;
  options.request_timeout = 5s;
  return options;
}

// Polls every 20 ms, within 30 s: for servers whose runs are done at once.
runbase::WaitOptions quick_polls() {
  runbase::WaitOptions wait;
  wait.poll_interval = 20ms;
  wait.max_poll_interval = 20ms;
  wait.timeout = 30s;
  return wait;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(ClientHostileTest, HtmlServiceUnavailableOnGetIsRetriedThenAServerError) {
  LoopbackServer server;
  server.server().Get(R"(/api/v1/runs/(.*))", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content("<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                    "text/html");
  });
  server.start();
  runbase::Client client(options_for(server.url("/api/v1")));
  try {
    client.get_run("run_1");
    FAIL() << "expected ServerError";
  } catch (const runbase::ServerError& e) {
    EXPECT_EQ(e.status(), 503);
    EXPECT_TRUE(e.code().empty());
    EXPECT_TRUE(e.outcome_unknown());
    const std::string what = e.what();
    EXPECT_NE(what.find("503"), std::string::npos) << what;
    EXPECT_NE(what.find("GET /runs/run_1"), std::string::npos) << what;
  }
  EXPECT_EQ(server.requests(), 3u) << "one attempt and the two retries of the default policy";
}

// A network blip longer than a poll's own retries (three attempts): the first five polls of each
// run are cut off mid-reply. Neither a sync nor an async wait ends on it; each run was created
// once.
TEST(ClientHostileTest, WaitsPollThroughABlipLongerThanAPollsRetries) {
  std::atomic<int> created{0};
  auto cut = std::make_shared<std::map<std::string, int>>();
  auto cut_mutex = std::make_shared<std::mutex>();
  LoopbackServer server;  // after what its handlers use: it stops before they are gone
  server.server().Post("/api/v1/runs", [&created](const httplib::Request&, httplib::Response& res) {
    res.status = 201;
    res.set_content(run_json("run_" + std::to_string(++created), "pending"), "application/json");
  });
  server.server().Get(R"(/api/v1/runs/(run_\w+))", [cut, cut_mutex](const httplib::Request& req,
                                                                    httplib::Response& res) {
    const std::string id = req.matches[1];
    // No timestamps: the duration learned from the first run is what the client saw (ms),
    // not kRunJson's 4.2 s, which would put the second run's first poll seconds away.
    const std::string body = R"({"id":")" + id +
                             R"(","model":"openai/gpt-image-1","status":"succeeded",)"
                             R"("costUsd":50000,"output":{"urls":[]}})";
    bool cut_off = false;
    {
      std::lock_guard<std::mutex> lock(*cut_mutex);
      cut_off = ++(*cut)[id] <= 5;
    }
    if (!cut_off) {
      res.set_content(body, "application/json");
      return;
    }
    // Half the promised body, then the connection closes.
    res.set_content_provider(body.size(), "application/json",
                             [body](std::size_t, std::size_t, httplib::DataSink& sink) {
                               sink.write(body.data(), body.size() / 2);
                               return false;
                             });
  });
  server.start();
  runbase::ClientOptions options = options_for(server.url("/api/v1"));
  options.rate_limit.requests = 0;
  runbase::Client client(options);
  const runbase::WaitOptions wait = quick_polls();
  runbase::GptImage1Input input;
  input.prompt = "a lamp";
  EXPECT_EQ(client.generate(input, wait).status, runbase::RunStatus::Succeeded);
  EXPECT_EQ(client.generate_async(input, wait).get().status, runbase::RunStatus::Succeeded);

  std::size_t posts = 0;
  std::size_t gets = 0;
  for (const auto& request : server.received()) (request.method == "POST" ? posts : gets) += 1;
  EXPECT_EQ(posts, 2u);
  EXPECT_EQ(gets, 12u);  // five cut off, then the answer, per run
}

// A poll that fails and will be retried must not hold up the event loop through the back-off:
// other runs are polled meanwhile, then the retry goes out.
TEST(ClientHostileTest, AnAsyncPollInRetryBackoffDoesNotHoldUpOtherRuns) {
  std::atomic<int> created{0};
  std::atomic<bool> slow_failed{false};
  LoopbackServer server;  // after what its handlers use: it stops before they are gone
  server.server().Post("/api/v1/runs", [&created](const httplib::Request&, httplib::Response& res) {
    const std::string id = ++created == 1 ? "run_slow" : "run_quick";
    res.status = 201;
    res.set_content(R"({"id":")" + id +
                        R"(","model":"openai/gpt-image-1","status":"pending",)"
                        R"("costUsd":50000,"createdAt":"2026-06-01T12:00:00.000Z"})",
                    "application/json");
  });
  server.server().Get(R"(/api/v1/runs/(run_\w+))",
                      [&slow_failed](const httplib::Request& req, httplib::Response& res) {
                        const std::string id = req.matches[1];
                        if (id == "run_slow" && !slow_failed.exchange(true)) {
                          // Retried after exactly this long: no jitter decides the order below.
                          res.status = 503;
                          res.set_header("Retry-After", "2");
                          res.set_content("busy", "text/plain");
                          return;
                        }
                        res.set_content(run_json(id), "application/json");
                      });
  server.start();
  runbase::ClientOptions options = options_for(server.url("/api/v1"));
  options.rate_limit.requests = 0;
  runbase::Client client(options);
  const runbase::WaitOptions wait = quick_polls();
  runbase::GptImage1Input input;
  input.prompt = "a lamp";
  auto slow = client.generate_async(input, wait);
  // The quick run starts once the server has seen the slow run's create and first poll, so its
  // own create and polls cannot overtake that first poll (async creates run side by side).
  ASSERT_TRUE(server.wait_for_requests(2, 10s));
  auto quick = client.generate_async(input, wait);
  EXPECT_EQ(quick.get().id, "run_quick");
  EXPECT_EQ(slow.get().id, "run_slow");

  // Seen from the server: the quick run was polled between the slow run's 503 and its retry.
  std::vector<std::string> order;
  for (const auto& request : server.received()) {
    if (request.method == "GET")
      order.push_back(request.target.substr(request.target.rfind('/') + 1));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"run_slow", "run_quick", "run_slow"}));
}

// With the rate limit off, a fan-out of async creates goes out at most 256 at a time; the rest
// wait in the Client, their request timeouts not yet running, so a server that is slow to answer
// them all is not flooded into time-outs (each a create of unknown outcome).
TEST(ClientHostileTest, AFanOutKeepsAtMost256RequestsOnTheWire) {
  constexpr int kRuns = 300;
  std::atomic<int> on_wire{0};
  std::atomic<int> peak{0};
  std::atomic<int> created{0};
  LoopbackServer server;  // after what its handlers use: it stops before they are gone
  server.server().new_task_queue = [] { return new httplib::ThreadPool(kRuns + 8); };
  server.server().Post("/api/v1/runs", [&](const httplib::Request&, httplib::Response& res) {
    const int now = ++on_wire;
    for (int seen = peak.load(); now > seen && !peak.compare_exchange_weak(seen, now);) {
    }
    server.stall();  // answered once the test has counted what arrived
    --on_wire;
    res.status = 201;
    res.set_content(run_json("run_" + std::to_string(++created), "pending"), "application/json");
  });
  server.server().Get(R"(/api/v1/runs/(run_\d+))",
                      [](const httplib::Request& req, httplib::Response& res) {
                        res.set_content(run_json(req.matches[1]), "application/json");
                      });
  server.start();
  runbase::ClientOptions options = options_for(server.url("/api/v1"));
  options.rate_limit.requests = 0;
  runbase::Client client(options);
  runbase::WaitOptions wait;
  wait.poll_interval = 10ms;
  runbase::GptImage1Input input;
  input.prompt = "a lamp";
  std::vector<std::future<runbase::Run>> futures;
  for (int i = 0; i < kRuns; ++i) futures.push_back(client.generate_async(input, wait));

  ASSERT_TRUE(server.wait_for_requests(256, 20s));
  // Without the cap the other 44 arrive within milliseconds; with it, none until one is answered.
  EXPECT_FALSE(server.wait_for_requests(257, 500ms)) << server.requests() << " requests arrived";
  server.release();
  for (auto& future : futures) EXPECT_EQ(future.get().status, runbase::RunStatus::Succeeded);
  EXPECT_EQ(peak.load(), 256);
  EXPECT_EQ(created.load(), kRuns);  // every create sent once
}

// The Client end to end over HTTP/2, as with any server that accepts it over TLS (nghttpd speaks
// nothing else).
TEST(ClientHostileTest, GetRunWaitAndDownloadOverHttp2) {
#ifndef RUNBASE_NGHTTPD
  GTEST_SKIP() << "nghttpd not found at configure time (Debian: nghttp2-server)";
#else
  TempDir dir;
  const auto tls = runbase::test_support::make_self_signed_certificate(dir.path());
  const std::filesystem::path root = dir.path() / "htdocs";
  std::filesystem::create_directories(root / "api" / "v1" / "runs");
  std::filesystem::create_directories(root / "cdn");
  runbase::test_support::Http2Server server(RUNBASE_NGHTTPD, root, tls);
  std::string run = kRunJson;
  run.replace(run.find(R"("urls":[])"), 9, R"("urls":[")" + server.url("/cdn/0.png") + R"("])");
  std::ofstream(root / "api" / "v1" / "runs" / "run_1", std::ios::binary) << run;
  const std::string png = "\x89PNG\r\n\x1a\n not really an image";
  std::ofstream(root / "cdn" / "0.png", std::ios::binary) << png;

  runbase::ClientOptions options = options_for(server.url("/api/v1"));
  options.ca_bundle = tls.cert.string();
  runbase::Client client(options);
  const runbase::Run fetched = client.get_run("run_1");
  EXPECT_EQ(fetched.status, runbase::RunStatus::Succeeded);
  EXPECT_EQ(fetched.cost_usd_micros, 50000);
  const runbase::Run waited = client.wait("run_1");
  ASSERT_EQ(waited.output_urls.size(), 1u);
  const auto files = client.download_outputs(waited, dir.path() / "out");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(read_file(files[0]), png);
  try {
    client.get_run("run_missing");
    FAIL() << "expected NotFoundError";
  } catch (const runbase::NotFoundError& e) {
    EXPECT_EQ(e.status(), 404);
  }
#endif
}

TEST(ClientHostileTest, ServerErrorOnCreateIsNeverResent) {
  LoopbackServer server;
  server.server().Post("/api/v1/runs", [](const httplib::Request&, httplib::Response& res) {
    res.status = 502;
    res.set_content("Bad Gateway", "text/plain");
  });
  server.start();
  runbase::Client client(options_for(server.url("/api/v1")));
  runbase::GptImage1Input input;
  input.prompt = "a lamp";
  EXPECT_THROW(client.create_run(input), runbase::ServerError);
  EXPECT_EQ(server.requests(), 1u);
}

TEST(ClientHostileTest, RedirectOnAnApiCallIsAProtocolErrorAndTheKeyGoesNowhere) {
  LoopbackServer elsewhere;
  elsewhere.server().Get(R"(/.*)", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kRunJson, "application/json");
  });
  elsewhere.start();
  LoopbackServer server;
  const std::string target = elsewhere.url("/api/v1/runs/run_1");
  // The handler gets its own copy (see LoopbackServer): nothing TSan sees orders its reads
  // before the test's locals go, until the server stops.
  server.server().Get(
      R"(/api/v1/runs/(.*))",
      [target](const httplib::Request&, httplib::Response& res) { res.set_redirect(target, 302); });
  server.start();
  runbase::Client client(options_for(server.url("/api/v1")));
  EXPECT_THROW(client.get_run("run_1"), runbase::ProtocolError);
  EXPECT_EQ(elsewhere.requests(), 0u);
}

TEST(ClientHostileTest, HugeBodyIsCutOffAsAProtocolError) {
  LoopbackServer server;
  server.server().Get(R"(/api/v1/runs/(.*))", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(17u * 1024u * 1024u, ' '), "application/json");
  });
  server.start();
  runbase::Client client(options_for(server.url("/api/v1")));
  try {
    client.get_run("run_1");
    FAIL() << "expected ProtocolError";
  } catch (const runbase::ProtocolError& e) {
    EXPECT_NE(std::string(e.what()).find("16777216"), std::string::npos) << e.what();
  }
}

TEST(ClientHostileTest, NonJsonSuccessIsAProtocolErrorWithUnknownOutcome) {
  LoopbackServer server;
  server.server().Post("/api/v1/runs", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("<html>welcome to the captive portal</html>", "text/html");
  });
  server.start();
  runbase::Client client(options_for(server.url("/api/v1")));
  runbase::GptImage1Input input;
  input.prompt = "a lamp";
  try {
    client.create_run(input);
    FAIL() << "expected ProtocolError";
  } catch (const runbase::ProtocolError& e) {
    EXPECT_TRUE(e.outcome_unknown()) << "the create may have been billed";
  }
  EXPECT_EQ(server.requests(), 1u);
}

TEST(ClientHostileTest, StalledPollEndsAtTheWaitDeadline) {
  LoopbackServer server;
  server.server().Get(R"(/api/v1/runs/(.*))", [&](const httplib::Request&, httplib::Response& res) {
    server.stall();
    res.set_content(kRunJson, "application/json");
  });
  server.start();
  runbase::Client client(options_for(server.url("/api/v1")));
  runbase::WaitOptions wait;
  wait.timeout = 300ms;
  try {
    client.wait("run_1", wait);
    FAIL() << "expected TimeoutError";
  } catch (const runbase::TimeoutError& e) {
    EXPECT_EQ(e.run_id(), "run_1") << e.what();
  }
  server.release();
}

TEST(ClientHostileTest, DroppedCreateIsAConnectionErrorWithUnknownOutcomeAndIsNotResent) {
  RawServer server;  // reads the request, then closes without a byte of answer
  runbase::Client client(options_for(server.url("/api/v1")));
  runbase::GptImage1Input input;
  input.prompt = "a lamp";
  try {
    client.create_run(input);
    FAIL() << "expected ConnectionError";
  } catch (const runbase::ConnectionError& e) {
    EXPECT_TRUE(e.outcome_unknown()) << e.what();
  }
  EXPECT_EQ(server.requests(), 1u);
}

TEST(ClientHostileTest, DroppedPollIsRetried) {
  RawServer server;
  runbase::Client client(options_for(server.url("/api/v1")));
  EXPECT_THROW(client.get_run("run_1"), runbase::ConnectionError);
  EXPECT_EQ(server.requests(), 3u);
}

TEST(ClientHostileTest, SelfSignedCertificateIsRefusedUnlessTrustedThroughCaBundle) {
  TempDir dir;
  const runbase::test_support::TlsFiles tls =
      runbase::test_support::make_self_signed_certificate(dir.path());
  LoopbackServer server(tls);
  server.server().Get(R"(/api/v1/runs/(.*))", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kRunJson, "application/json");
  });
  server.start();

  runbase::ClientOptions untrusting_options = options_for(server.url("/api/v1"));
  std::vector<std::string> warnings;  // this thread's: the sync get_run logs on it
  untrusting_options.logger = [&warnings](runbase::LogLevel level, std::string_view line) {
    if (level == runbase::LogLevel::Warning) warnings.emplace_back(line);
  };
  runbase::Client untrusting(untrusting_options);
  try {
    untrusting.get_run("run_1");
    FAIL() << "expected ConnectionError";
  } catch (const runbase::ConnectionError& e) {
    EXPECT_FALSE(e.outcome_unknown()) << "nothing is sent before the handshake succeeds";
    EXPECT_NE(std::string(e.what()).find("ca_bundle"), std::string::npos) << e.what();
  }
  EXPECT_EQ(server.requests(), 0u);
  // A certificate that does not verify never will: not retried, no back-off spent on it.
  EXPECT_TRUE(warnings.empty()) << warnings.front();

  runbase::ClientOptions trusting = options_for(server.url("/api/v1"));
  trusting.ca_bundle = tls.cert.string();
  EXPECT_EQ(runbase::Client(trusting).get_run("run_1").status, runbase::RunStatus::Succeeded);
}

TEST(ClientHostileTest, DownloadFollowsRedirectsAndNeverSendsTheKey) {
  LoopbackServer server;
  const std::string png("\x89PNG\r\n\x1a\n-pretend-image-bytes", 28);
  server.server().Get("/files/moved.png", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/cdn/image.png", 302);
  });
  // The handler serves its own copy of `png` (see LoopbackServer).
  server.server().Get("/cdn/image.png", [png](const httplib::Request&, httplib::Response& res) {
    res.set_content(png, "image/png");
  });
  server.start();
  runbase::Client client(options_for(server.url("/api/v1")));
  TempDir dir;
  runbase::Run run;
  run.id = "run_1";
  run.status = runbase::RunStatus::Succeeded;
  run.output_urls = {server.url("/files/moved.png")};
  const auto files = client.download_outputs(run, dir.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename(), "run_1-0.png");
  EXPECT_EQ(read_file(files[0]), png);
  const auto received = server.received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].target, "/files/moved.png");
  EXPECT_EQ(received[1].target, "/cdn/image.png");
  for (const auto& request : received) EXPECT_EQ(request.header("Authorization"), "");
}

// fetch: an output's bytes in memory, as download would save them: redirects followed, the key
// never sent, a cap on what a host can make the process hold.
TEST(ClientHostileTest, FetchHoldsTheBytesInMemoryCappedAndWithoutTheKey) {
  LoopbackServer server;
  std::string image("\x89PNG\r\n\x1a\n", 8);
  image.append(300000, 'x');
  server.server().Get("/files/moved.png", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/cdn/image.png", 302);
  });
  server.server().Get("/cdn/image.png", [image](const httplib::Request&, httplib::Response& res) {
    res.set_content(image, "image/png");
  });
  server.start();
  runbase::Client client(options_for(server.url("/api/v1")));

  const runbase::FetchedOutput fetched = client.fetch(server.url("/files/moved.png"));
  EXPECT_EQ(std::string(fetched.bytes.begin(), fetched.bytes.end()), image);
  EXPECT_EQ(fetched.content_type, "image/png");

  // Streamed: the same bytes, in more than one piece, none of it held whole by the SDK.
  std::string streamed;
  int pieces = 0;
  const std::string type = client.fetch(server.url("/cdn/image.png"), [&](std::string_view chunk) {
    streamed.append(chunk);
    ++pieces;
  });
  EXPECT_EQ(streamed, image);
  EXPECT_GT(pieces, 1);
  EXPECT_EQ(type, "image/png");

  try {
    client.fetch(server.url("/cdn/image.png"), 100000);
    ADD_FAILURE() << "a body over max_bytes was accepted";
  } catch (const runbase::ProtocolError& e) {
    EXPECT_NE(std::string(e.what()).find("larger than 100000 bytes"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(client.fetch("file:///etc/passwd"), runbase::ValidationError);
  for (const auto& request : server.received()) EXPECT_EQ(request.header("Authorization"), "");
}

// A streamed fetch cut off after bytes were handed over is not retried (the bytes would be handed
// over twice); one that fails before any byte is, like a download. What on_data throws stops it.
TEST(ClientHostileTest, AStreamedFetchIsRetriedOnlyBeforeItsFirstByte) {
  auto gets = std::make_shared<std::atomic<int>>(0);
  LoopbackServer server;
  const std::string body(100000, 'b');
  server.server().Get("/cut.png", [gets, body](const httplib::Request&, httplib::Response& res) {
    ++*gets;
    res.set_content_provider(body.size(), "image/png",
                             [body](std::size_t, std::size_t, httplib::DataSink& sink) {
                               sink.write(body.data(), body.size() / 2);
                               return false;  // half the promised body, then the connection ends
                             });
  });
  auto flaky = std::make_shared<std::atomic<int>>(0);
  server.server().Get("/flaky.png", [flaky, body](const httplib::Request&, httplib::Response& res) {
    if (++*flaky == 1) {
      res.status = 503;
      res.set_content("busy", "text/plain");
      return;
    }
    res.set_content(body, "image/png");
  });
  server.start();
  runbase::Client client(options_for(server.url("/api/v1")));

  std::size_t received = 0;
  EXPECT_THROW(client.fetch(server.url("/cut.png"),
                            [&](std::string_view chunk) { received += chunk.size(); }),
               runbase::ConnectionError);
  EXPECT_EQ(gets->load(), 1);  // not sent again
  EXPECT_GT(received, 0u);
  EXPECT_LT(received, body.size());

  std::string whole;
  client.fetch(server.url("/flaky.png"), [&](std::string_view chunk) { whole.append(chunk); });
  EXPECT_EQ(whole, body);  // the 503 gave no bytes: retried, and each byte came once
  EXPECT_EQ(flaky->load(), 2);

  struct Enough {};
  EXPECT_THROW(client.fetch(server.url("/flaky.png"), [](std::string_view) { throw Enough{}; }),
               Enough);
}

// CallOptions bound a download, a fetch and a get by a deadline of the caller's, retries and their
// pauses included, and a token ends them at once; nothing is left on disk.
TEST(ClientHostileTest, CallOptionsEndDownloadsAndGetsAtTheCallersDeadlineOrCancel) {
  LoopbackServer server;
  server.server().Get("/files/stalled.png", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(1000000, "image/png",
                             [&server](std::size_t, std::size_t, httplib::DataSink& sink) {
                               sink.write("\x89PNG\r\n\x1a\n", 8);
                               server.stall();  // part of the body, then nothing
                               return false;
                             });
  });
  server.server().Get(R"(/api/v1/runs/(.*))", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_header("Retry-After", "30");  // a pause the call's deadline must cut short
    res.set_content("busy", "text/plain");
  });
  server.start();
  runbase::Client client(options_for(server.url("/api/v1")));
  TempDir dir;
  const auto started = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::steady_clock::now() - started; };

  runbase::CallOptions soon;
  soon.timeout = 300ms;
  EXPECT_THROW(client.download(server.url("/files/stalled.png"), dir.path() / "a.png", soon),
               runbase::TimeoutError);
  EXPECT_LT(elapsed(), 4s);  // request_timeout is 5 s: the call's deadline ended it
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));

  EXPECT_THROW(client.get_run("run_1", soon), runbase::ServerError);  // no 30 s pause
  EXPECT_LT(elapsed(), 4s);

  runbase::CancellationToken token;
  runbase::CallOptions cancellable;
  cancellable.cancel = &token;
  std::thread canceller([&] {
    server.wait_for_requests(3);  // the fetch below has begun (after the download and the get)
    token.cancel();
  });
  EXPECT_THROW(client.fetch(server.url("/files/stalled.png"), cancellable),
               runbase::CancelledError);
  canceller.join();
  EXPECT_LT(elapsed(), 4s);

  // Cancelled in a retry's 30 s pause: the pause ends at once.
  runbase::CancellationToken pause_token;
  runbase::CallOptions in_pause;
  in_pause.cancel = &pause_token;
  std::thread pause_canceller([&] {
    server.wait_for_requests(4);  // the get below was answered 503, Retry-After 30
    pause_token.cancel();
  });
  EXPECT_THROW(client.get_run("run_1", in_pause), runbase::CancelledError);
  pause_canceller.join();
  EXPECT_LT(elapsed(), 4s);
  server.release();
}

TEST(ClientHostileTest, FailedDownloadLeavesNoFileBehind) {
  LoopbackServer server;
  server.server().Get("/files/gone.png", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("not here", "text/plain");
  });
  server.start();
  runbase::Client client(options_for(server.url("/api/v1")));
  TempDir dir;
  EXPECT_THROW(client.download(server.url("/files/gone.png"), dir.path() / "image.png"),
               runbase::NotFoundError);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(ClientHostileTest, LogLinesNeverHoldTheKey) {
  LoopbackServer server;
  server.server().Get(R"(/api/v1/runs/(.*))", [](const httplib::Request&, httplib::Response& res) {
    // A hostile server echoing the key back in its body and a header.
    res.status = 400;
    res.set_header("X-Echo", std::string("Bearer ") + kKey);
    res.set_content(std::string(R"({"error":{"message":"bad key )") + kKey + R"(","code":"x"}})",
                    "application/json");
  });
  server.start();
  std::vector<std::string> lines;
  runbase::ClientOptions options = options_for(server.url("/api/v1"));
  options.logger = [&](runbase::LogLevel, std::string_view line) { lines.emplace_back(line); };
  runbase::Client client(options);
  try {
    client.get_run("run_1");
    FAIL() << "expected BadRequestError";
  } catch (const runbase::BadRequestError& e) {
    EXPECT_EQ(std::string(e.what()).find(kKey), std::string::npos) << e.what();
    EXPECT_EQ(e.body().find(kKey), std::string::npos) << e.body();
  }
  ASSERT_FALSE(lines.empty());
  for (const std::string& line : lines) EXPECT_EQ(line.find(kKey), std::string::npos) << line;
}

}  // namespace
