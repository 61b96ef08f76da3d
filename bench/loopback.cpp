// get_run round trips per second on one keep-alive loopback connection: the SDK's Client against
// a plain libcurl easy-handle loop doing the same GET with the same headers, in the same process,
// against the same cpp-httplib server answering a canned run. Goal: the SDK at >= 95% of libcurl.
//
//   build-bench/bench/runbase_bench_loopback [--seconds S] [--rounds N]
//       Runs the SDK loop, the libcurl loop and a libcurl loop that also parses the JSON, S
//       seconds each (default 0.5), N rounds (default 15) in rotating order, and prints each
//       loop's median calls per second, the median of the rounds' SDK ratios to both, and the
//       calling thread's CPU time per call (columns "SDK us", "curl us", "+json us").
//   build-bench/bench/runbase_bench_loopback --calls N [--only sdk|curl|json]
//       N calls of each loop in turn (or of only one of them), untimed: for a profiler, e.g.
//       valgrind --tool=callgrind --toggle-collect='*SdkLoop*' --toggle-collect='*CurlLoop*' ...
//   build-bench/bench/runbase_bench_loopback --serve S
//       Only serves for S seconds and prints "port <n>" first: for bench/python_requests.py.
//
// The client rate limit is off and there is no logger: the loop measures the request path.
// Every request goes over one connection; the server counts the connections it saw, and a loop
// that opened more than one is reported.
#include <curl/curl.h>
#include <httplib.h>

#include <time.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runbase/runbase.hpp"

namespace {

using Clock = std::chrono::steady_clock;

const char* const kRunBody =
    R"({"id":"run_01J9Z8Q4X2V7","model":"openai/gpt-image-1","status":"succeeded",)"
    R"("costUsd":50000,"output":{"urls":["https://cdn.runbase.net/outputs/run_01J9Z8Q4X2V7/0.png"]},)"
    R"("createdAt":"2025-06-01T12:00:00.000Z","completedAt":"2025-06-01T12:00:41.512Z","error":null})";
const char* const kApiKey = "sk-bench-0123456789abcdef";
const char* const kRunId = "run_01J9Z8Q4X2V7";

class Server {
 public:
  Server() {
    server_.set_keep_alive_max_count(100'000'000);
    server_.set_keep_alive_timeout(60);
    // cpp-httplib writes the headers and the body in separate sends: without TCP_NODELAY, Nagle
    // holds the body until the client's delayed ACK (40 ms) and every round trip measures that.
    server_.set_tcp_nodelay(true);
    server_.Get(R"(/api/v1/runs/([A-Za-z0-9_\-]+))", [this](const httplib::Request& request,
                                                            httplib::Response& response) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        peers_.insert(request.remote_port);
      }
      if (request.get_header_value("Authorization") != std::string("Bearer ") + kApiKey) {
        response.status = 401;
        return;
      }
      response.set_header("X-Request-Id", "req_5d1c7f3a9b");
      // With a charset the type is not one cpp-httplib compresses: it would use brotli at its
      // highest quality, about 1 ms per reply, and the loop would time the server's compressor.
      response.set_content(kRunBody, "application/json; charset=utf-8");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("could not bind a loopback port");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Server() {
    server_.stop();
    thread_.join();
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return port_; }
  std::size_t connections_since_reset() {
    std::lock_guard<std::mutex> lock(mutex_);
    return peers_.size();
  }
  void reset_connections() {
    std::lock_guard<std::mutex> lock(mutex_);
    peers_.clear();
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::set<int> peers_;
};

struct Round {
  double per_second = 0;
  double cpu_us = 0;  // CPU time of the calling thread per call: what the client side costs
  std::size_t connections = 0;
};

double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

template <typename Call>
Round timed(Server& server, double seconds, Call&& call) {
  server.reset_connections();
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  std::size_t count = 0;
  const auto start = Clock::now();
  const double cpu_start = thread_cpu_seconds();
  auto now = start;
  while (now < until) {
    for (int i = 0; i < 50; ++i) call();  // the clock is read every 50 calls
    count += 50;
    now = Clock::now();
  }
  Round round;
  round.per_second =
      static_cast<double>(count) / std::chrono::duration<double>(now - start).count();
  round.cpu_us = (thread_cpu_seconds() - cpu_start) * 1e6 / static_cast<double>(count);
  round.connections = server.connections_since_reset();
  return round;
}

// The SDK: one Client, reused, as an application would.
class SdkLoop {
 public:
  explicit SdkLoop(int port) : client_(options(port)) {}
  void operator()() {
    runbase::Run run = client_.get_run(kRunId);
    if (run.status != runbase::RunStatus::Succeeded) throw std::runtime_error("unexpected run");
  }

 private:
  static runbase::ClientOptions options(int port) {
    runbase::ClientOptions options;
    options.api_key = kApiKey;
    options.base_url = "http://127.0.0.1:" + std::to_string(port) + "/api/v1";
    options.rate_limit.requests = 0;
    return options;
  }
  runbase::Client client_;
};

// Plain libcurl: one easy handle, reused, the same URL and headers the SDK sends (Authorization,
// Accept, User-Agent, and Accept-Encoding through CURLOPT_ACCEPT_ENCODING), the body collected
// into a string. With `parse_json`, the body is also parsed with nlohmann/json and its status
// read: the least a hand-written client does with the reply; without, only the GET is timed.
class CurlLoop {
 public:
  CurlLoop(int port, bool parse_json)
      : parse_json_(parse_json),
        url_("http://127.0.0.1:" + std::to_string(port) + "/api/v1/runs/" + kRunId),
        easy_(curl_easy_init()) {
    if (easy_ == nullptr) throw std::runtime_error("curl_easy_init failed");
    headers_ =
        curl_slist_append(headers_, (std::string("Authorization: Bearer ") + kApiKey).c_str());
    headers_ = curl_slist_append(headers_, "Accept: application/json");
    headers_ = curl_slist_append(
        headers_,
        (std::string("User-Agent: runbase-cpp/") + std::string(runbase::version())).c_str());
    curl_easy_setopt(easy_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(easy_, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &CurlLoop::on_body);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &body_);
  }
  ~CurlLoop() {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(easy_);
  }
  CurlLoop(const CurlLoop&) = delete;
  CurlLoop& operator=(const CurlLoop&) = delete;

  void operator()() {
    body_.clear();
    const CURLcode code = curl_easy_perform(easy_);
    long status = 0;
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK || status != 200) throw std::runtime_error("libcurl request failed");
    if (parse_json_) {
      const auto document = nlohmann::json::parse(body_, nullptr, false);
      if (!document.is_object() || document.value("status", "") != "succeeded") {
        throw std::runtime_error("unexpected run");
      }
    }
  }

 private:
  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
  }
  bool parse_json_;
  std::string url_;
  CURL* easy_;
  curl_slist* headers_ = nullptr;
  std::string body_;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0.5;
  int rounds = 15;
  double serve_seconds = -1;
  long calls = 0;
  std::string only;  // with --calls: "sdk", "curl" or "json" runs just that loop
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) {
      seconds = std::atof(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--rounds") == 0) {
      rounds = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--calls") == 0) {
      calls = std::atol(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--only") == 0) {
      only = argv[i + 1];
    } else if (std::strcmp(argv[i], "--serve") == 0) {
      serve_seconds = std::atof(argv[i + 1]);
    } else {
      std::fprintf(
          stderr,
          "usage: %s [--seconds S] [--rounds N] | --calls N [--only sdk|curl|json] | --serve S\n",
          argv[0]);
      return 2;
    }
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Server server;

  if (serve_seconds >= 0) {
    std::printf("port %d\n", server.port());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(serve_seconds));
    return 0;
  }

  SdkLoop sdk(server.port());
  CurlLoop raw(server.port(), false);
  CurlLoop raw_json(server.port(), true);
  if (calls > 0) {
    const long sdk_calls = only.empty() || only == "sdk" ? calls : 0;
    const long raw_calls = only.empty() || only == "curl" ? calls : 0;
    const long json_calls = only.empty() || only == "json" ? calls : 0;
    for (long i = 0; i < sdk_calls; ++i) sdk();
    for (long i = 0; i < raw_calls; ++i) raw();
    for (long i = 0; i < json_calls; ++i) raw_json();
    std::printf("%ld SDK calls, %ld libcurl calls, %ld libcurl + JSON calls, %zu connections\n",
                sdk_calls, raw_calls, json_calls, server.connections_since_reset());
    return 0;
  }
  // Warm up all three: connection established, allocator and caches settled.
  timed(server, 0.3, sdk);
  timed(server, 0.3, raw);
  timed(server, 0.3, raw_json);

  std::vector<double> rates[3], cpu[3], ratio_raw, ratio_json;
  bool one_connection = true;
  std::printf("%-6s %12s %12s %12s %8s %8s %8s %8s %8s\n", "round", "SDK/s", "libcurl/s", "+json/s",
              "SDK/cur", "SDK/+js", "SDK us", "curl us", "+json us");
  for (int round = 1; round <= rounds; ++round) {
    // Rotate the order, so drift in the machine's load hits all three alike.
    Round r[3];
    for (int k = 0; k < 3; ++k) {
      const int which = (k + round) % 3;
      if (which == 0) r[0] = timed(server, seconds, sdk);
      if (which == 1) r[1] = timed(server, seconds, raw);
      if (which == 2) r[2] = timed(server, seconds, raw_json);
    }
    ratio_raw.push_back(r[0].per_second / r[1].per_second);
    ratio_json.push_back(r[0].per_second / r[2].per_second);
    for (int k = 0; k < 3; ++k) {
      one_connection = one_connection && r[k].connections == 1;
      rates[k].push_back(r[k].per_second);
      cpu[k].push_back(r[k].cpu_us);
    }
    std::printf("%-6d %12.0f %12.0f %12.0f %7.1f%% %7.1f%% %8.1f %8.1f %8.1f\n", round,
                r[0].per_second, r[1].per_second, r[2].per_second,
                100 * r[0].per_second / r[1].per_second, 100 * r[0].per_second / r[2].per_second,
                r[0].cpu_us, r[1].cpu_us, r[2].cpu_us);
  }
  double m[3], c[3];
  for (int k = 0; k < 3; ++k) {
    m[k] = median(rates[k]);
    c[k] = median(cpu[k]);
  }
  // The ratio columns are the medians of the rounds' ratios: the three loops of a round run close
  // together, so a load that comes and goes on the machine cancels out of them.
  std::printf("%-6s %12.0f %12.0f %12.0f %7.1f%% %7.1f%% %8.1f %8.1f %8.1f\n", "median", m[0], m[1],
              m[2], 100 * median(ratio_raw), 100 * median(ratio_json), c[0], c[1], c[2]);
  std::printf(
      "per call: SDK get_run %.1f us, libcurl GET %.1f us, libcurl GET + JSON parse %.1f us; "
      "%s\n",
      1e6 / m[0], 1e6 / m[1], 1e6 / m[2],
      one_connection ? "one keep-alive connection per loop"
                     : "WARNING: a loop used more than one connection");
  std::printf("SDK at %.1f%% of plain libcurl (goal: 95%%), %.1f%% of libcurl + JSON parse\n",
              100 * median(ratio_raw), 100 * median(ratio_json));
  curl_global_cleanup();
  return 0;
}
