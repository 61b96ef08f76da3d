// The libcurl transport against real servers on loopback. No test touches the network; no test
// sleeps: stalls end when the test releases them, and waits are on conditions.

#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "curl_transport.hpp"
#include "runbase/errors.hpp"
#include "runbase/options.hpp"
#include "support/hostile_server.hpp"
#include "support/test_tls.hpp"

namespace runbase {
namespace {

using namespace std::chrono_literals;
using detail::CurlTransport;
using detail::CurlTransportOptions;
using test_support::LoopbackServer;
using test_support::RawServer;
using test_support::RefusingPort;
using test_support::TempDir;
using test_support::TlsFiles;
using test_support::UnansweredPort;

// Loopback requests must not go through a proxy the developer's shell may set.
[[maybe_unused]] const bool proxies_cleared = [] {
  for (const char* name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    ::unsetenv(name);
  }
  return true;
}();

constexpr const char* secret = "sk-live-0123456789abcdef";

HttpRequest make_request(std::string method, std::string url, std::string body = {}) {
  HttpRequest request;
  request.method = std::move(method);
  request.url = std::move(url);
  request.body = std::move(body);
  request.timeout = 10s;  // a bound for a broken test, never reached by a passing one
  return request;
}

// Runs `f` and returns the exception of type E it throws; a test failure otherwise.
template <typename E, typename F>
std::optional<E> thrown(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected exception: " << e.what();
    return std::nullopt;
  }
  ADD_FAILURE() << "no exception was thrown";
  return std::nullopt;
}

std::string gzip(const std::string& data) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    throw std::runtime_error("deflateInit2");
  }
  std::string out(deflateBound(&stream, static_cast<uLong>(data.size())), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&stream, Z_FINISH);
  deflateEnd(&stream);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(stream.total_out);
  return out;
}

// Bytes where every 4 KiB block differs, so a misplaced or repeated chunk shows.
std::string pattern_bytes(std::size_t size) {
  std::string data;
  data.reserve(size);
  for (std::size_t block = 0; data.size() < size; ++block) {
    std::string text = "block " + std::to_string(block) + " ";
    text.resize(4096, static_cast<char>('a' + block % 26));
    data += text;
  }
  data.resize(size);
  return data;
}

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string data(std::filesystem::file_size(file), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  return data;
}

class TransportTest : public ::testing::Test {
 protected:
  // Declared first, destroyed last: the transport closes its keep-alive connections before the
  // server stops.
  LoopbackServer server;
  std::unique_ptr<CurlTransport> transport =
      std::make_unique<CurlTransport>(CurlTransportOptions{});

  // Starts `server` as a stand-in HTTP proxy: whatever it is asked for, it answers "via proxy".
  void serve_as_proxy() {
    server.server().Get(".*", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("via proxy", "text/plain");
    });
    server.start();
  }
};

TEST_F(TransportTest, RoundTripsJsonWithHeaders) {
  server.server().Post("/runs", [](const httplib::Request& req, httplib::Response& res) {
    res.status = 201;
    res.set_header("X-Request-Id", "req_123");
    res.set_content(R"({"echo":)" + req.body + "}", "application/json");
  });
  server.start();

  HttpRequest request = make_request("POST", server.url("/runs"), R"({"model":"m"})");
  request.headers = {{"Content-Type", "application/json"},
                     {"X-Custom", "abc"},
                     {"Authorization", std::string("Bearer ") + secret}};
  const HttpResponse response = transport->send(request);

  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(response.body, R"({"echo":{"model":"m"}})");
  ASSERT_NE(response.find_header("x-request-id"), nullptr);
  EXPECT_EQ(*response.find_header("x-request-id"), "req_123");
  bool name_as_received = false;
  for (const auto& header : response.headers) name_as_received |= header.first == "X-Request-Id";
  EXPECT_TRUE(name_as_received);
  const auto received = server.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].header("Content-Type"), "application/json");
  EXPECT_EQ(received[0].header("X-Custom"), "abc");
}

// Pooled handles keep their options between requests: each request must still go out as itself,
// with nothing of the one before (method, body, headers, redirects) carried over.
TEST_F(TransportTest, AReusedHandleSendsEachRequestAsItself) {
  const auto echo = [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.method + "|" + req.body + "|" + req.get_header_value("X-Step"),
                    "text/plain");
  };
  server.server().Post("/echo", echo);
  server.server().Get("/echo", echo);
  server.server().Put("/echo", echo);
  server.server().Get("/moved", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/echo", 302);
  });
  server.start();

  const auto send = [&](std::string method, std::string body, std::string step,
                        bool follow = false) {
    HttpRequest request = make_request(std::move(method), server.url("/echo"), std::move(body));
    if (!step.empty()) request.headers = {{"X-Step", std::move(step)}};
    if (follow) {
      request.url = server.url("/moved");
      request.follow_redirects = true;
    }
    return transport->send(request).body;
  };
  EXPECT_EQ(send("POST", R"({"n":1})", "a"), R"(POST|{"n":1}|a)");
  EXPECT_EQ(send("GET", "", "b"), "GET||b");
  EXPECT_EQ(send("GET", "", ""), "GET||");
  EXPECT_EQ(send("PUT", "put body", "c"), "PUT|put body|c");
  EXPECT_EQ(send("POST", "", "d"), "POST||d");
  EXPECT_EQ(send("GET", "", "e", /*follow=*/true), "GET||e");
  // And the next API call does not follow a redirect again.
  HttpRequest api = make_request("GET", server.url("/moved"));
  EXPECT_EQ(transport->send(api).status, 302);

  const auto received = server.received();
  ASSERT_EQ(received.size(), 8u);
  for (const std::size_t get : {1u, 2u, 5u, 6u, 7u}) {
    EXPECT_EQ(received[get].method, "GET") << get;
    EXPECT_EQ(received[get].header("Content-Length"), "") << get;
  }
  EXPECT_EQ(received[2].header("X-Step"), "");
  EXPECT_EQ(received[4].header("Content-Length"), "0");
}

TEST_F(TransportTest, ReturnsHtml503AsAResponse) {
  server.server().Get("/runs/r1", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content("<html><body>Service Unavailable</body></html>", "text/html");
  });
  server.start();

  const HttpResponse response = transport->send(make_request("GET", server.url("/runs/r1")));
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body, "<html><body>Service Unavailable</body></html>");
  ASSERT_NE(response.find_header("content-type"), nullptr);
  EXPECT_EQ(*response.find_header("content-type"), "text/html");
}

TEST_F(TransportTest, DoesNotFollowRedirectsOnApiRequests) {
  server.server().Get("/old", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/new", 302);
  });
  server.server().Get("/new", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("moved", "text/plain");
  });
  server.start();

  const HttpResponse response = transport->send(make_request("GET", server.url("/old")));
  EXPECT_EQ(response.status, 302);
  ASSERT_NE(response.find_header("Location"), nullptr);
  EXPECT_EQ(*response.find_header("Location"), "/new");
  EXPECT_EQ(server.requests(), 1u);
}

TEST_F(TransportTest, FollowsRedirectsOnDownloads) {
  server.server().Get("/old", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/new", 302);
  });
  server.server().Get("/new", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("X-Final", "yes");
    res.set_content("moved", "text/plain");
  });
  server.start();

  HttpRequest request = make_request("GET", server.url("/old"));
  request.follow_redirects = true;
  const HttpResponse response = transport->send(request);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "moved");
  EXPECT_NE(response.find_header("X-Final"), nullptr);
  EXPECT_EQ(response.find_header("Location"), nullptr) << "headers are the final response's";
  EXPECT_EQ(server.requests(), 2u);
}

TEST_F(TransportTest, StopsAfterFiveRedirects) {
  server.server().Get("/loop", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/loop", 302);
  });
  server.start();

  HttpRequest request = make_request("GET", server.url("/loop"));
  request.follow_redirects = true;
  const auto error = thrown<ProtocolError>([&] { transport->send(request); });
  ASSERT_TRUE(error);
  EXPECT_NE(std::string(error->what()).find("redirected more than 5 times"), std::string::npos);
  EXPECT_EQ(server.requests(), 6u);
}

TEST_F(TransportTest, DoesNotFollowRedirectsToOtherProtocols) {
  server.server().Get("/ftp", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("ftp://127.0.0.1/file", 302);
  });
  server.start();

  HttpRequest request = make_request("GET", server.url("/ftp"));
  request.follow_redirects = true;
  EXPECT_TRUE(thrown<ProtocolError>([&] { transport->send(request); }));
}

TEST_F(TransportTest, RefusesUrlsThatAreNotHttp) {
  const auto error =
      thrown<ConnectionError>([&] { transport->send(make_request("GET", "ftp://127.0.0.1/x")); });
  ASSERT_TRUE(error);
  EXPECT_FALSE(error->outcome_unknown());
}

TEST_F(TransportTest, RejectsLineBreaksInHeaders) {
  server.start();
  HttpRequest request = make_request("GET", server.url("/"));
  request.headers = {{"X-Custom", "a\r\nX-Injected: 1"}};
  EXPECT_TRUE(thrown<ValidationError>([&] { transport->send(request); }));
  EXPECT_EQ(server.requests(), 0u);
}

TEST_F(TransportTest, RefusesBodyOverMaxResponseBytes) {
  const std::string body(2 * 1024 * 1024, 'x');
  // The handler serves its own copy (see LoopbackServer): as far as TSan can see, nothing orders
  // its reads on a server thread before the test frees `body`, until the server stops.
  server.server().Get("/big", [body](const httplib::Request&, httplib::Response& res) {
    res.set_content(body, "application/octet-stream");
  });
  server.start();

  HttpRequest request = make_request("GET", server.url("/big"));
  request.max_response_bytes = 1024 * 1024;
  const auto error = thrown<ProtocolError>([&] { transport->send(request); });
  ASSERT_TRUE(error);
  EXPECT_NE(std::string(error->what()).find("response larger than 1048576 bytes"),
            std::string::npos)
      << error->what();
  EXPECT_TRUE(error->outcome_unknown());

  request.max_response_bytes = body.size();  // exactly at the cap is fine
  EXPECT_EQ(transport->send(request).body.size(), body.size());
}

TEST_F(TransportTest, CountsDecodedBytesAgainstTheCap) {
  // 4 MiB of zeros compress to a few KiB: the cap must apply to what is decoded.
  const std::string bomb = gzip(std::string(4 * 1024 * 1024, '\0'));
  server.server().Get("/bomb", [bomb](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Encoding", "gzip");
    res.set_content(bomb, "application/octet-stream");
  });
  server.start();

  HttpRequest request = make_request("GET", server.url("/bomb"));
  request.max_response_bytes = 1024 * 1024;
  EXPECT_TRUE(thrown<ProtocolError>([&] { transport->send(request); }));
}

TEST_F(TransportTest, DecodesGzipResponses) {
  std::string plain;
  for (int i = 0; i < 2000; ++i) plain += R"({"id":"run_)" + std::to_string(i) + R"("},)";
  const std::string compressed = gzip(plain);
  ASSERT_LT(compressed.size(), plain.size() / 4);
  server.server().Get("/gz", [compressed](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Encoding", "gzip");
    res.set_content(compressed, "application/octet-stream");
  });
  server.start();

  const HttpResponse response = transport->send(make_request("GET", server.url("/gz")));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, plain);
  const auto received = server.received();
  ASSERT_EQ(received.size(), 1u);
  const std::string accept_encoding = received[0].header("Accept-Encoding");
  EXPECT_NE(accept_encoding.find("gzip"), std::string::npos) << accept_encoding;
}

TEST_F(TransportTest, TimesOutOnAStalledServerWithOutcomeUnknown) {
  server.server().Post("/runs", [&](const httplib::Request&, httplib::Response& res) {
    server.stall();
    res.set_content("{}", "application/json");
  });
  server.start();

  HttpRequest request = make_request("POST", server.url("/runs"), "{}");
  request.timeout = 300ms;
  const auto error = thrown<TimeoutError>([&] { transport->send(request); });
  ASSERT_TRUE(error);
  EXPECT_TRUE(error->outcome_unknown());
  EXPECT_NE(std::string(error->what()).find("300 ms"), std::string::npos) << error->what();
  EXPECT_EQ(server.requests(), 1u);
}

TEST_F(TransportTest, RefusedConnectionIsNeverSent) {
  const RefusingPort refusing;
  HttpRequest request = make_request("POST", refusing.url("/runs"), "{}");
  request.headers = {{"Authorization", std::string("Bearer ") + secret}};
  const auto error = thrown<ConnectionError>([&] { transport->send(request); });
  ASSERT_TRUE(error);
  EXPECT_FALSE(error->outcome_unknown());
  const std::string what = error->what();
  EXPECT_NE(what.find("127.0.0.1:" + std::to_string(refusing.port())), std::string::npos) << what;
  EXPECT_EQ(what.find("sk-"), std::string::npos) << what;
}

TEST_F(TransportTest, ConnectTimeoutIsNeverSent) {
  const UnansweredPort unanswered;
  CurlTransportOptions options;
  options.connect_timeout = 200ms;
  CurlTransport quick(options);
  const auto error = thrown<TimeoutError>(
      [&] { quick.send(make_request("POST", unanswered.url("/runs"), "{}")); });
  ASSERT_TRUE(error);
  EXPECT_FALSE(error->outcome_unknown()) << error->what();
  EXPECT_NE(std::string(error->what()).find("connect_timeout"), std::string::npos);
}

TEST_F(TransportTest, DroppedConnectionAfterTheRequestIsOutcomeUnknown) {
  const RawServer dropping;  // reads the request, then closes without a word
  HttpRequest request = make_request("POST", dropping.url("/runs"), R"({"model":"m"})");
  request.headers = {{"Authorization", std::string("Bearer ") + secret}};
  const auto error = thrown<ConnectionError>([&] { transport->send(request); });
  ASSERT_TRUE(error);
  EXPECT_TRUE(error->outcome_unknown());
  EXPECT_EQ(std::string(error->what()).find("sk-"), std::string::npos) << error->what();
  // Billing safety: libcurl did not quietly send the create a second time.
  EXPECT_EQ(dropping.requests(), 1u);
  EXPECT_EQ(dropping.connections(), 1u);
}

TEST_F(TransportTest, TruncatedReplyIsOutcomeUnknown) {
  const RawServer truncating("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"id\":");
  const auto error = thrown<ConnectionError>(
      [&] { transport->send(make_request("GET", truncating.url("/runs/r1"))); });
  ASSERT_TRUE(error);
  EXPECT_TRUE(error->outcome_unknown());
}

TEST_F(TransportTest, ReusesOneConnectionForSequentialGets) {
  server.server().Get("/runs/r1", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"id":"r1"})", "application/json");
  });
  server.start();

  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(transport->send(make_request("GET", server.url("/runs/r1"))).status, 200);
  }
  EXPECT_EQ(server.requests(), 10u);
  EXPECT_EQ(server.connections(), 1u);
}

TEST_F(TransportTest, PostsOnAFreshConnectionEachTime) {
  server.server().Post("/runs", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"id":"r1"})", "application/json");
  });
  server.server().Get("/runs/r1", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"id":"r1"})", "application/json");
  });
  server.start();

  EXPECT_EQ(transport->send(make_request("GET", server.url("/runs/r1"))).status, 200);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(transport->send(make_request("POST", server.url("/runs"), "{}")).status, 200);
  }
  EXPECT_EQ(server.connections(), 4u) << "each POST opens its own connection";
  EXPECT_EQ(transport->send(make_request("GET", server.url("/runs/r1"))).status, 200);
  EXPECT_EQ(server.connections(), 4u) << "a GET reuses an open connection";
}

TEST_F(TransportTest, SendsFromEightThreadsAtOnce) {
  server.server().Get(R"(/runs/(\w+))", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.matches[1].str(), "text/plain");
  });
  server.start();

  constexpr int threads = 8;
  constexpr int per_thread = 25;
  std::atomic<int> wrong{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const std::string id = "t" + std::to_string(t) + "n" + std::to_string(i);
        try {
          const HttpResponse response =
              transport->send(make_request("GET", server.url("/runs/" + id)));
          if (response.status != 200 || response.body != id) ++wrong;
        } catch (const std::exception&) {
          ++wrong;
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(server.requests(), static_cast<std::size_t>(threads * per_thread));
  EXPECT_LE(server.connections(), static_cast<std::size_t>(threads))
      << "connections are reused across threads";
}

// Over TLS the transport offers HTTP/2, so with a server that takes it (most HTTPS front ends
// do) every call goes over it. nghttpd speaks nothing else: each answer below came over HTTP/2.
TEST(Http2TransportTest, GetsPostsAndDownloadsOverHttp2) {
#ifndef RUNBASE_NGHTTPD
  GTEST_SKIP() << "nghttpd not found at configure time (Debian: nghttp2-server)";
#else
  const TempDir dir;
  const TlsFiles tls = test_support::make_self_signed_certificate(dir.path());
  const std::filesystem::path root = dir.path() / "htdocs";
  std::filesystem::create_directories(root / "runs");
  const std::string run = R"({"id":"run_h2","status":"succeeded"})";
  std::ofstream(root / "runs" / "run_h2", std::ios::binary) << run;
  const std::string image = pattern_bytes(3 * 1024 * 1024 + 17);
  std::ofstream(root / "image.png", std::ios::binary) << image;
  test_support::Http2Server server(RUNBASE_NGHTTPD, root, tls);

  CurlTransportOptions options;
  options.ca_bundle = tls.cert.string();
  CurlTransport h2(options);
  for (int i = 0; i < 2; ++i) {
    HttpRequest get = make_request("GET", server.url("/runs/run_h2"));
    get.headers = {{"Authorization", std::string("Bearer ") + secret}, {"Accept", "*/*"}};
    const HttpResponse response = h2.send(get);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, run);
    // HTTP/2 header names arrive in lower case.
    ASSERT_NE(response.find_header("Content-Length"), nullptr);
    bool lower_case = false;
    for (const auto& header : response.headers) lower_case |= header.first == "content-length";
    EXPECT_TRUE(lower_case);
  }
  const HttpResponse posted = h2.send(make_request("POST", server.url("/runs/run_h2"), "{}"));
  EXPECT_EQ(posted.status, 200);
  EXPECT_EQ(posted.body, run);

  HttpRequest download = make_request("GET", server.url("/image.png"));
  download.follow_redirects = true;
  const std::filesystem::path file = dir.path() / "out.png";
  EXPECT_EQ(h2.send_to_file(download, file).status, 200);
  EXPECT_EQ(read_file(file), image);

  const HttpResponse missing = h2.send(make_request("GET", server.url("/runs/none")));
  EXPECT_EQ(missing.status, 404);
#endif
}

TEST_F(TransportTest, RefusesASelfSignedCertificate) {
  const TempDir dir;
  const TlsFiles tls = test_support::make_self_signed_certificate(dir.path());
  LoopbackServer tls_server(tls);
  tls_server.server().Get("/runs/r1", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{}", "application/json");
  });
  tls_server.start();
  CurlTransport system_trust{CurlTransportOptions{}};

  const auto error = thrown<ConnectionError>(
      [&] { system_trust.send(make_request("GET", tls_server.url("/runs/r1"))); });
  ASSERT_TRUE(error);
  EXPECT_FALSE(error->outcome_unknown());
  const std::string what = error->what();
  EXPECT_NE(what.find("ca_bundle"), std::string::npos) << what;
  EXPECT_NE(what.find("cannot be turned off"), std::string::npos) << what;
  EXPECT_EQ(tls_server.requests(), 0u);
}

TEST_F(TransportTest, AcceptsASelfSignedCertificateFromTheCaBundle) {
  const TempDir dir;
  const TlsFiles tls = test_support::make_self_signed_certificate(dir.path());
  LoopbackServer tls_server(tls);
  tls_server.server().Get("/runs/r1", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"id":"r1"})", "application/json");
  });
  tls_server.start();
  ClientOptions options;
  options.ca_bundle = tls.cert.string();
  const std::shared_ptr<HttpTransport> trusting = make_curl_transport(options);

  for (int i = 0; i < 3; ++i) {
    const HttpResponse response = trusting->send(make_request("GET", tls_server.url("/runs/r1")));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, R"({"id":"r1"})");
  }
  EXPECT_EQ(tls_server.connections(), 1u);
}

TEST_F(TransportTest, ExplainsAnUnreadableCaBundle) {
  const TempDir dir;
  const TlsFiles tls = test_support::make_self_signed_certificate(dir.path());
  LoopbackServer tls_server(tls);
  tls_server.start();
  CurlTransportOptions options;
  options.ca_bundle = (dir.path() / "missing.pem").string();
  CurlTransport broken(options);

  const auto error =
      thrown<ConnectionError>([&] { broken.send(make_request("GET", tls_server.url("/"))); });
  ASSERT_TRUE(error);
  EXPECT_FALSE(error->outcome_unknown());
  EXPECT_NE(std::string(error->what()).find("missing.pem"), std::string::npos) << error->what();
}

TEST_F(TransportTest, CancelsAStalledRequest) {
  server.server().Get("/runs/r1", [&](const httplib::Request&, httplib::Response& res) {
    server.stall();
    res.set_content("{}", "application/json");
  });
  server.start();

  CancellationToken token;
  HttpRequest request = make_request("GET", server.url("/runs/r1"));
  request.timeout = 0ms;  // only the token can end it
  request.cancel = &token;
  auto pending = std::async(std::launch::async, [&] { return transport->send(request); });
  ASSERT_TRUE(server.wait_for_requests(1));
  token.cancel();
  if (pending.wait_for(10s) != std::future_status::ready) {
    server.release();  // let the transfer finish so the test can fail cleanly
    FAIL() << "cancellation did not stop the request";
  }
  EXPECT_TRUE(thrown<CancelledError>([&] { pending.get(); }));
}

TEST_F(TransportTest, DoesNotSendWhenAlreadyCancelled) {
  server.start();
  CancellationToken token;
  token.cancel();
  HttpRequest request = make_request("POST", server.url("/runs"), "{}");
  request.cancel = &token;
  EXPECT_TRUE(thrown<CancelledError>([&] { transport->send(request); }));
  EXPECT_EQ(server.requests(), 0u);
}

TEST_F(TransportTest, StreamsALargeDownloadToAFile) {
  // Shared, not referenced: the provider reads it on a server thread after the handler returned,
  // and the reference count, unlike the socket, orders those reads before the free for TSan.
  const auto content = std::make_shared<const std::string>(pattern_bytes(8 * 1024 * 1024));
  server.server().Get("/image.png", [content](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(
        content->size(), "image/png",
        [content](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
          const std::size_t chunk = std::min<std::size_t>(length, 65536);
          return sink.write(content->data() + offset, chunk);
        });
  });
  server.start();
  const TempDir dir;
  const auto file = dir.path() / "image.png";

  HttpRequest request = make_request("GET", server.url("/image.png"));
  request.follow_redirects = true;
  const HttpResponse response = transport->send_to_file(request, file);
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(response.body.empty());
  ASSERT_EQ(std::filesystem::file_size(file), content->size());
  EXPECT_TRUE(read_file(file) == *content);
}

TEST_F(TransportTest, KeepsTheErrorBodyOfAFailedDownloadAndWritesNoFile) {
  server.server().Get("/missing.png", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content(std::string(200 * 1024, 'e'), "text/html");
  });
  server.start();
  const TempDir dir;
  const auto file = dir.path() / "missing.png";

  HttpRequest request = make_request("GET", server.url("/missing.png"));
  request.follow_redirects = true;
  const HttpResponse response = transport->send_to_file(request, file);
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, std::string(64 * 1024, 'e'));
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST_F(TransportTest, RemovesAPartialDownload) {
  const RawServer truncating("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this");
  const TempDir dir;
  const auto file = dir.path() / "image.png";
  HttpRequest request = make_request("GET", truncating.url("/image.png"));
  request.follow_redirects = true;
  const auto error = thrown<ConnectionError>([&] { transport->send_to_file(request, file); });
  ASSERT_TRUE(error);
  EXPECT_TRUE(error->outcome_unknown());
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST_F(TransportTest, GoesThroughTheConfiguredProxy) {
  serve_as_proxy();
  CurlTransportOptions options;
  options.proxy = server.url("");
  CurlTransport proxied(options);

  // The host does not exist: only the proxy ever sees the name.
  const HttpResponse response =
      proxied.send(make_request("GET", "http://runbase.invalid/api/v1/runs/r1"));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "via proxy");
  const auto received = server.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].target, "http://runbase.invalid/api/v1/runs/r1");
}

// A proxy that refuses the tunnel (403, or 407 for credentials) opened nothing to the server: a
// create through it surely made no run, and the error says what to fix.
TEST_F(TransportTest, AProxyRefusingTheTunnelIsNotSentToTheServer) {
  for (const int status : {403, 407}) {
    RawServer proxy("HTTP/1.1 " + std::to_string(status) +
                    " Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    CurlTransportOptions options;
    options.proxy = proxy.url("");
    CurlTransport proxied(options);
    HttpRequest create = make_request("POST", "https://runbase.invalid/api/v1/runs", "{}");
    const auto error = thrown<ConnectionError>([&] { proxied.send(create); });
    ASSERT_TRUE(error) << status;
    EXPECT_FALSE(error->outcome_unknown()) << error->what();
    const std::string message = error->what();
    EXPECT_NE(message.find("refused to open a tunnel"), std::string::npos) << message;
    EXPECT_NE(message.find("HTTP " + std::to_string(status)), std::string::npos) << message;
    EXPECT_NE(message.find("nothing was sent"), std::string::npos) << message;
    if (status == 407) {
      EXPECT_NE(message.find("user:password"), std::string::npos) << message;
    }
    EXPECT_EQ(proxy.requests(), 1u);  // the CONNECT, and nothing after it
  }
}

// The key never travels to a proxy in clear text: a plain-http request that carries it (the
// emulator on loopback) goes straight to its server, even with a proxy configured.
TEST_F(TransportTest, AKeyedPlainHttpRequestNeverGoesThroughTheProxy) {
  serve_as_proxy();
  LoopbackServer api;
  api.server().Get("/api/v1/runs/r1", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("direct", "text/plain");
  });
  api.start();
  CurlTransportOptions options;
  options.proxy = server.url("");
  {
    CurlTransport proxied(options);
    HttpRequest request = make_request("GET", api.url("/api/v1/runs/r1"));
    request.headers.emplace_back("Authorization", std::string("Bearer ") + secret);
    EXPECT_EQ(proxied.send(request).body, "direct");
    // The same request without the key (a download) may use the proxy.
    EXPECT_EQ(proxied.send(make_request("GET", api.url("/api/v1/runs/r1"))).body, "via proxy");
  }
  EXPECT_EQ(server.requests(), 1u);
  EXPECT_EQ(api.requests(), 1u);
}

// An explicit proxy is the caller's choice: $no_proxy (set by the shell for other tools) does not
// silently bypass it.
TEST_F(TransportTest, AnExplicitProxyWinsOverNoProxy) {
  serve_as_proxy();
  ::setenv("no_proxy", "*", 1);
  CurlTransportOptions options;
  options.proxy = server.url("");
  CurlTransport proxied(options);
  const HttpResponse response = proxied.send(make_request("GET", "http://runbase.invalid/x.png"));
  ::unsetenv("no_proxy");
  EXPECT_EQ(response.body, "via proxy");
  EXPECT_EQ(server.requests(), 1u);
}

}  // namespace
}  // namespace runbase
