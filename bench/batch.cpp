// bench/batch: how close a batch comes to what the rate budget allows, and what 1,000 waits in
// flight cost (docs/PERFORMANCE.md, "Batches").
//
//   runbase_bench_batch [--emulator PATH] [--sizes 20,50,200] [--latency-ms 1000] [--rate 10/2]
//   runbase_bench_batch --in-flight 1000 [--latency-ms 30000]
//
// Each measurement starts its own runbase-emulator on a free loopback port (the same budget at
// both ends) and a fresh Client, so nothing is learned from an earlier run. Counts come from the
// emulator's GET /_emulator/stats.
#include <nlohmann/json.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runbase/runbase.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

#ifdef RUNBASE_EMULATOR_PATH
constexpr const char* kDefaultEmulator = RUNBASE_EMULATOR_PATH;
#else
constexpr const char* kDefaultEmulator = "runbase-emulator";
#endif

/// runbase-emulator on 127.0.0.1, a free port; stopped (SIGTERM) and reaped on destruction.
class Emulator {
 public:
  Emulator(const std::string& path, std::vector<std::string> args) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    args.insert(args.begin(), {path, "--host", "127.0.0.1", "--port", "0"});
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    const int spawned =
        ::posix_spawnp(&pid_, path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (spawned != 0) {
      ::close(fds[0]);
      throw std::runtime_error("cannot start " + path);
    }
    // "runbase-emulator listening on http://HOST:PORT/api/v1"
    std::string line;
    char c = 0;
    while (::read(fds[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(fds[0]);
    const std::size_t at = line.find("http://");
    if (at == std::string::npos) throw std::runtime_error("the emulator did not start: " + line);
    base_url_ = line.substr(at);
    root_url_ = base_url_.substr(0, base_url_.find("/api/v1"));
  }
  ~Emulator() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  const std::string& base_url() const { return base_url_; }

  nlohmann::json stats() const {
    runbase::ClientOptions options;
    auto transport = runbase::make_curl_transport(options);
    runbase::HttpRequest request;
    request.method = "GET";
    request.url = root_url_ + "/_emulator/stats";
    request.timeout = milliseconds(10000);
    const runbase::HttpResponse response = transport->send(request);
    if (response.status != 200)
      throw std::runtime_error("stats: HTTP " + std::to_string(response.status));
    return nlohmann::json::parse(response.body);
  }

 private:
  pid_t pid_ = -1;
  std::string base_url_;
  std::string root_url_;
};

long status_field(const char* name) {  // from /proc/self/status, e.g. "VmRSS" (kB), "Threads"
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(name) + ":";
  while (std::getline(status, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stol(line.substr(prefix.size()));
  }
  return -1;
}

std::uint64_t count(const nlohmann::json& stats, const char* group, const char* key) {
  const auto& object = stats[group];
  const auto it = object.find(key);
  return it == object.end() ? 0 : it->get<std::uint64_t>();
}

runbase::GptImage1Input input(std::size_t i) {
  runbase::GptImage1Input in;
  in.prompt = "bench image " + std::to_string(i);
  return in;
}

int run_batches(const std::string& emulator_path, const std::vector<std::size_t>& sizes,
                long latency_ms, int requests, long per_ms) {
  std::printf("budget %d requests per %.1f s at both ends, emulator latency %ld ms (+/-25%%)\n\n",
              requests, static_cast<double>(per_ms) / 1000.0, latency_ms);
  std::printf("%6s %10s %10s %7s %8s %8s %6s %10s\n", "runs", "wall s", "bound s", "ratio",
              "creates", "polls", "429s", "polls/run");
  int status = 0;
  for (const std::size_t n : sizes) {
    const std::string rate =
        std::to_string(requests) + "/" + std::to_string(static_cast<double>(per_ms) / 1000.0);
    Emulator emulator(emulator_path, {"--latency-ms", std::to_string(latency_ms), "--rate-limit",
                                      rate, "--balance-usd", "1000"});
    runbase::ClientOptions options;
    options.api_key = "sk-bench";
    options.base_url = emulator.base_url();
    options.rate_limit = runbase::RateLimit{requests, milliseconds(per_ms)};
    runbase::Client client(options);
    std::vector<runbase::GptImage1Input> inputs;
    for (std::size_t i = 0; i < n; ++i) inputs.push_back(input(i));

    const auto started = Clock::now();
    const auto results = client.generate_batch(inputs);
    const double wall = std::chrono::duration<double>(Clock::now() - started).count();
    std::size_t failed = 0;
    for (const auto& result : results) failed += result.run ? 0u : 1u;

    // Every run needs a create and a poll: 2N requests, `requests` per window, the first window
    // at once. And the last create cannot go before its window, nor its poll before its run is
    // done (the shortest run: the emulator's latency less 25%).
    const double window_s = static_cast<double>(per_ms) / 1000.0;
    const double windows = std::ceil(2.0 * static_cast<double>(n) / requests) - 1.0;
    const double last_create_window = std::floor(static_cast<double>(n - 1) / requests);
    const double bound =
        std::max(windows * window_s,
                 last_create_window * window_s + 0.75 * static_cast<double>(latency_ms) / 1000.0);
    const nlohmann::json stats = emulator.stats();
    const std::uint64_t creates = count(stats, "requests", "create");
    const std::uint64_t polls = count(stats, "requests", "get");
    const std::uint64_t limited = count(stats, "responses", "429");
    std::printf("%6zu %10.2f %10.2f %7.3f %8llu %8llu %6llu %10.2f%s\n", n, wall, bound,
                wall / bound, static_cast<unsigned long long>(creates),
                static_cast<unsigned long long>(polls), static_cast<unsigned long long>(limited),
                static_cast<double>(polls) / static_cast<double>(n),
                failed > 0 ? "  (some runs failed!)" : "");
    if (failed > 0 || limited > 0) status = 1;
  }
  return status;
}

int run_in_flight(const std::string& emulator_path, std::size_t n, long latency_ms) {
  Emulator emulator(emulator_path, {"--latency-ms", std::to_string(latency_ms), "--rate-limit", "0",
                                    "--balance-usd", "1000"});
  const long rss_before = status_field("VmRSS");
  const long threads_before = status_field("Threads");
  runbase::ClientOptions options;
  options.api_key = "sk-bench";
  options.base_url = emulator.base_url();
  options.rate_limit.requests = 0;
  runbase::Client client(options);

  std::atomic<std::size_t> created{0};
  runbase::WaitOptions wait;
  wait.timeout = milliseconds(latency_ms * 4);
  wait.on_update = [&](const runbase::Run& run) {
    if (run.status == runbase::RunStatus::Pending) ++created;
  };
  const auto started = Clock::now();
  std::vector<std::future<runbase::Run>> futures;
  futures.reserve(n);
  for (std::size_t i = 0; i < n; ++i) futures.push_back(client.generate_async(input(i), wait));
  while (created.load() < n) std::this_thread::sleep_for(milliseconds(50));
  const double create_s = std::chrono::duration<double>(Clock::now() - started).count();
  // All created, none finished yet (latency well above the time to create them): measure while
  // every wait is in flight, over a few seconds of polling.
  long rss_peak = 0;
  long threads_peak = 0;
  for (int i = 0; i < 10; ++i) {
    rss_peak = std::max(rss_peak, status_field("VmRSS"));
    threads_peak = std::max(threads_peak, status_field("Threads"));
    std::this_thread::sleep_for(milliseconds(500));
  }
  std::size_t succeeded = 0;
  for (auto& future : futures) {
    try {
      succeeded += future.get().status == runbase::RunStatus::Succeeded ? 1u : 0u;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "run failed: %s\n", e.what());
    }
  }
  const double total_s = std::chrono::duration<double>(Clock::now() - started).count();
  const nlohmann::json stats = emulator.stats();
  std::printf(
      "%zu generate_async in flight on one Client (emulator latency %ld ms, no rate limit)\n", n,
      latency_ms);
  std::printf("  created in %.2f s, all done in %.2f s, %zu succeeded\n", create_s, total_s,
              succeeded);
  std::printf("  process RSS: %ld kB before the Client, %ld kB peak with all in flight (+%ld kB)\n",
              rss_before, rss_peak, rss_peak - rss_before);
  std::printf("  threads: %ld before the Client, %ld peak (+%ld)\n", threads_before, threads_peak,
              threads_peak - threads_before);
  std::printf("  polls: %llu (%.2f per run)\n",
              static_cast<unsigned long long>(count(stats, "requests", "get")),
              static_cast<double>(count(stats, "requests", "get")) / static_cast<double>(n));
  return succeeded == n ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string emulator = kDefaultEmulator;
  std::vector<std::size_t> sizes = {20, 50, 200};
  long latency_ms = -1;
  int requests = 10;
  long per_ms = 2000;
  std::size_t in_flight = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--emulator") {
      emulator = value();
    } else if (arg == "--sizes") {
      sizes.clear();
      std::string list = value();
      for (std::size_t at = 0; at < list.size();) {
        const std::size_t comma = std::min(list.find(',', at), list.size());
        sizes.push_back(std::stoul(list.substr(at, comma - at)));
        at = comma + 1;
      }
    } else if (arg == "--latency-ms") {
      latency_ms = std::stol(value());
    } else if (arg == "--rate") {
      const std::string rate = value();
      const std::size_t slash = rate.find('/');
      requests = std::stoi(rate.substr(0, slash));
      per_ms = std::lround(std::stod(rate.substr(slash + 1)) * 1000.0);
    } else if (arg == "--in-flight") {
      in_flight = std::stoul(value());
    } else {
      std::fprintf(stderr,
                   "usage: %s [--emulator PATH] [--sizes 20,50,200] [--latency-ms MS] "
                   "[--rate N/SECONDS] | --in-flight N [--latency-ms MS]\n",
                   argv[0]);
      return 2;
    }
  }
  try {
    if (in_flight > 0)
      return run_in_flight(emulator, in_flight, latency_ms < 0 ? 30000 : latency_ms);
    return run_batches(emulator, sizes, latency_ms < 0 ? 1000 : latency_ms, requests, per_ms);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench/batch: %s\n", e.what());
    return 1;
  }
}
