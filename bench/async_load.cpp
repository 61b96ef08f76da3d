// bench/async_load: many generate_async waits on one Client against a loopback server whose polls
// are slow (docs/PERFORMANCE.md, "Async engine: stalled polls and held polls"). Public API only.
//
//   runbase_bench_async_load [--scenario stall|held|all] [--runs 1000,10000] [--quick] [--json]
//
// Scenario "stall": 6 generate_async runs, each done 0.5 s after its creation, but the server
// answers the first poll of the first run created only after 8 s. Reports when each future
// resolved; goal: the other five within 1.5 s (a stalled poll must not hold up the others).
//
// Scenario "held": N generate_async runs (N from --runs, one measurement each), each done 1 s
// after creation, every GET held 200 ms by the server, the Client's rate limit off, WaitOptions
// timeout 600 s. Reports the makespan against the latency bound (run duration + held poll + one
// poll interval: what it takes when every poll can run at once), futures that ended in
// TimeoutError (goal 0), the SDK's threads, the process's peak RSS over its RSS before the Client
// (goal < 50 MB at 10,000), CPU, and what the server saw (polls, peak polls in flight at once,
// connections). A measurement that runs past --max-seconds is cut off (its waits cancelled) and
// reported as "did not finish" with how many futures had resolved.
//
// The server is cpp-httplib on 127.0.0.1, port 0, with a thread per connection (a pool larger
// than the largest N, so it is not the bottleneck). By default it runs in a child process forked
// before anything else starts, so the threads, RSS and CPU read from /proc/self are the SDK's
// (plus this program's main thread) and not the server's: with 10,000 connections the server's
// threads' stacks alone would be tens of MB. --in-process-server runs it on threads of this
// process instead; its threads (all started before the Client) are then subtracted.
//
// Options (times in ms unless named):
//   --scenario stall|held|all  which to run (all)
//   --runs LIST                held: N for each measurement, comma-separated (1000,10000)
//   --quick                    --runs 200 (seconds with a concurrent engine)
//   --hold-ms 200 --duration-ms 1000 --poll-ms 1000 --max-poll-ms 5000 --timeout-s 600
//   --stall-runs 6 --stall-ms 8000 --stall-duration-ms 500 --stall-poll-ms 250
//   --stall-max-poll-ms 1000   the stall scenario
//   --max-seconds 900          cap on each measurement
//   --server-threads N         the server's pool (default: largest N + 64, at least 64)
//   --in-process-server        see above
//   --json                     also one JSON object per measurement, one line each
#include <httplib.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "runbase/runbase.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using json = nlohmann::json;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

long status_field(const char* name) {  // from /proc/self/status: "VmRSS", "VmHWM" (kB), "Threads"
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(name) + ":";
  while (std::getline(status, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stol(line.substr(prefix.size()));
  }
  return -1;
}

double cpu_seconds(int who) {  // RUSAGE_SELF: the process; RUSAGE_THREAD: the calling thread
  rusage usage{};
  getrusage(who, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

std::string iso8601(std::chrono::system_clock::time_point at) {
  const auto ms = std::chrono::duration_cast<milliseconds>(at.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char text[40];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + n, sizeof text - n, ".%03lldZ", static_cast<long long>(ms % 1000));
  return text;
}

// ---- The server ------------------------------------------------------------------------------

// One measurement's behaviour, from the key in its base URL: /b/k<i>-d<duration>-h<hold>-s<stall>.
struct Scenario {
  long duration_ms = 0;  // a run succeeds this long after its creation
  long hold_ms = 0;      // every GET is answered this long after it arrived
  long stall_ms = 0;     // ... except the first GET of the first run created: this long

  struct Created {
    Clock::time_point steady;
    std::chrono::system_clock::time_point wall;
  };
  std::unordered_map<std::string, Created> runs;
  std::string first_run;
  bool first_poll_taken = false;
  std::uint64_t creates = 0, polls = 0, in_flight = 0, peak_in_flight = 0;
  std::unordered_set<int> client_ports;  // distinct connections (remote ports) seen
};

// httplib listens with a backlog of 5; listen() again on its socket raises it (as the tests do).
class WideBacklogServer : public httplib::Server {
 public:
  bool raise_backlog() { return ::listen(this->svr_sock_, SOMAXCONN) == 0; }
};

class BenchServer {
 public:
  explicit BenchServer(std::size_t threads) {
    server_.new_task_queue = [threads] {
      // Small stacks for the pool (set only while it starts): a pool of 10,000 threads.
      pthread_attr_t saved, small;
      pthread_getattr_default_np(&saved);
      pthread_attr_init(&small);
      pthread_attr_setstacksize(&small, 256 * 1024);
      pthread_setattr_default_np(&small);
      auto* pool = new httplib::ThreadPool(threads);
      pthread_setattr_default_np(&saved);
      pthread_attr_destroy(&small);
      pthread_attr_destroy(&saved);
      return pool;
    };
    server_.set_keep_alive_max_count(1'000'000'000);
    server_.set_keep_alive_timeout(60);
    server_.set_tcp_nodelay(true);
    server_.set_read_timeout(120, 0);
    server_.set_write_timeout(120, 0);
    const std::string key = R"(/b/(k\d+-d\d+-h\d+-s\d+))";
    server_.Post(key + "/api/v1/runs",
                 [this](const httplib::Request& req, httplib::Response& res) { create(req, res); });
    server_.Get(key + R"(/api/v1/runs/([A-Za-z0-9_\-]+))",
                [this](const httplib::Request& req, httplib::Response& res) { poll(req, res); });
    server_.Get(key + "/_stats",
                [this](const httplib::Request& req, httplib::Response& res) { stats(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("could not bind a loopback port");
    if (!server_.raise_backlog()) throw std::runtime_error("could not raise the listen backlog");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~BenchServer() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    server_.stop();
    thread_.join();
  }
  BenchServer(const BenchServer&) = delete;
  BenchServer& operator=(const BenchServer&) = delete;

  int port() const { return port_; }

 private:
  Scenario& scenario(const std::string& key) {  // with mutex_ held
    auto it = scenarios_.find(key);
    if (it == scenarios_.end()) {
      Scenario s;
      long index = 0;
      std::sscanf(key.c_str(), "k%ld-d%ld-h%ld-s%ld", &index, &s.duration_ms, &s.hold_ms,
                  &s.stall_ms);
      it = scenarios_.emplace(key, std::move(s)).first;
    }
    return it->second;
  }

  static void reply(httplib::Response& res, int status, const json& body) {
    res.status = status;
    // With a charset the type is not one cpp-httplib compresses (bench/loopback.cpp).
    res.set_content(body.dump(), "application/json; charset=utf-8");
  }

  void create(const httplib::Request& req, httplib::Response& res) {
    std::string id;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      Scenario& s = scenario(req.matches[1]);
      id = "run_" + std::to_string(++next_run_);
      s.runs.emplace(id, Scenario::Created{Clock::now(), std::chrono::system_clock::now()});
      if (s.first_run.empty()) s.first_run = id;
      ++s.creates;
      s.client_ports.insert(req.remote_port);
    }
    reply(res, 200,
          {{"id", id}, {"model", "openai/gpt-image-1"}, {"status", "pending"}, {"costUsd", 50000}});
  }

  void poll(const httplib::Request& req, httplib::Response& res) {
    const std::string key = req.matches[1];
    const std::string id = req.matches[2];
    Scenario::Created created{};
    long duration_ms = 0;
    milliseconds hold{0};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      Scenario& s = scenario(key);
      ++s.polls;
      s.peak_in_flight = std::max(s.peak_in_flight, ++s.in_flight);
      s.client_ports.insert(req.remote_port);
      const auto it = s.runs.find(id);
      if (it == s.runs.end()) {
        --s.in_flight;
        reply(res, 404, {{"error", {{"message", "Run not found"}, {"code", "run_not_found"}}}});
        return;
      }
      created = it->second;
      duration_ms = s.duration_ms;
      hold = milliseconds(s.hold_ms);
      if (id == s.first_run && !s.first_poll_taken) {
        s.first_poll_taken = true;
        hold = milliseconds(s.stall_ms);
      }
    }
    {
      std::unique_lock<std::mutex> lock(mutex_);
      const auto until = Clock::now() + hold;
      wake_.wait_until(lock, until, [&] { return stopping_; });
      --scenario(key).in_flight;
    }
    const auto age = Clock::now() - created.steady;
    const auto duration = milliseconds(duration_ms);
    json body = {{"id", id},
                 {"model", "openai/gpt-image-1"},
                 {"costUsd", 50000},
                 {"createdAt", iso8601(created.wall)}};
    if (age >= duration) {
      body["status"] = "succeeded";
      body["output"] = {{"urls", {"https://cdn.runbase.net/outputs/" + id + "/0.png"}}};
      body["completedAt"] = iso8601(created.wall + duration);
    } else {
      body["status"] = age < duration / 4 ? "pending" : "processing";
      body["output"] = nullptr;
      body["completedAt"] = nullptr;
    }
    body["error"] = nullptr;
    reply(res, 200, body);
  }

  void stats(const httplib::Request& req, httplib::Response& res) {
    json body;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const Scenario& s = scenario(req.matches[1]);
      body = {{"creates", s.creates},
              {"polls", s.polls},
              {"peak_polls_in_flight", s.peak_in_flight},
              {"connections", s.client_ports.size()}};
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);  // meaningful when the server has its own process
    body["cpu_s"] = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                    static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
    body["threads"] = status_field("Threads");
    reply(res, 200, body);
  }

  WideBacklogServer server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::unordered_map<std::string, Scenario> scenarios_;
  std::uint64_t next_run_ = 0;
};

/// The server, in a child process (forked before this process starts any thread) or on threads
/// of this process.
class ServerHandle {
 public:
  ServerHandle(std::size_t threads, bool in_process) {
    if (in_process) {
      const long before = status_field("Threads");
      server_ = std::make_unique<BenchServer>(threads);
      port_ = server_->port();
      // The pool starts its threads as the accept loop starts: wait until they are all there.
      const auto deadline = Clock::now() + std::chrono::seconds(60);
      while (status_field("Threads") - before < static_cast<long>(threads) + 1 &&
             Clock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds(5));
      }
      server_threads_ = status_field("Threads") - before;
      return;
    }
    int to_parent[2], from_parent[2];
    if (::pipe(to_parent) != 0 || ::pipe(from_parent) != 0) throw std::runtime_error("pipe failed");
    const pid_t parent = ::getpid();
    child_ = ::fork();
    if (child_ < 0) throw std::runtime_error("fork failed");
    if (child_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(0);
      ::close(to_parent[0]);
      ::close(from_parent[1]);
      int port = -1;
      std::unique_ptr<BenchServer> server;
      try {
        server = std::make_unique<BenchServer>(threads);
        port = server->port();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "bench/async_load: server: %s\n", e.what());
      }
      if (::write(to_parent[1], &port, sizeof port) != sizeof port) ::_exit(1);
      char byte;
      while (::read(from_parent[0], &byte, 1) != 0 && errno == EINTR) {
      }
      ::_exit(0);  // the parent is done: no need to join 10,000 threads
    }
    ::close(to_parent[1]);
    ::close(from_parent[0]);
    control_ = from_parent[1];
    if (::read(to_parent[0], &port_, sizeof port_) != sizeof port_ || port_ <= 0) {
      ::close(to_parent[0]);
      throw std::runtime_error("the server process did not start");
    }
    ::close(to_parent[0]);
  }
  ~ServerHandle() {
    if (child_ > 0) {
      ::close(control_);
      int status = 0;
      ::waitpid(child_, &status, 0);
    }
  }
  ServerHandle(const ServerHandle&) = delete;
  ServerHandle& operator=(const ServerHandle&) = delete;

  int port() const { return port_; }
  bool in_process() const { return server_ != nullptr; }
  long server_threads() const { return server_threads_; }

  json stats(const std::string& key) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(30, 0);
    const auto res = client.Get(("/b/" + key + "/_stats").c_str());
    if (!res || res->status != 200) return json::object();
    return json::parse(res->body, nullptr, false);
  }

 private:
  std::unique_ptr<BenchServer> server_;
  pid_t child_ = -1;
  int control_ = -1;
  int port_ = 0;
  long server_threads_ = 0;
};

// ---- The client side ------------------------------------------------------------------------

struct Load {
  std::string name;
  std::size_t runs = 0;
  long duration_ms = 0, hold_ms = 0, stall_ms = 0;
  long poll_ms = 0, max_poll_ms = 0, timeout_ms = 0;
  double max_seconds = 900;
};

struct Outcome {
  double resolved_s = -1;  // since the first generate_async; -1: not resolved
  std::string run_id;
  std::string result;  // "succeeded", or the error class
};

struct LoadResult {
  std::vector<Outcome> outcomes;
  bool finished = false;
  std::size_t done = 0, succeeded = 0, timeouts = 0, cancelled = 0, other_errors = 0;
  std::string first_error;
  double submit_s = 0, makespan_s = 0, client_cpu_s = 0;
  long threads_before = 0, threads_peak = 0;
  long rss_before_kb = 0, rss_peak_kb = 0;
  json server;
};

std::string classify(std::future<runbase::Run>& future, Outcome& outcome,
                     std::string& first_error) {
  try {
    const runbase::Run run = future.get();
    outcome.run_id = run.id;
    return std::string(runbase::to_string(run.status));
  } catch (const runbase::TimeoutError& e) {
    if (first_error.empty()) first_error = e.what();
    return "TimeoutError";
  } catch (const runbase::CancelledError&) {
    return "CancelledError";
  } catch (const std::exception& e) {
    if (first_error.empty()) first_error = e.what();
    return "error";
  }
}

int g_key = 0;

LoadResult run_load(const ServerHandle& server, const Load& load) {
  const std::string key = "k" + std::to_string(++g_key) + "-d" + std::to_string(load.duration_ms) +
                          "-h" + std::to_string(load.hold_ms) + "-s" +
                          std::to_string(load.stall_ms);
  LoadResult r;
  r.outcomes.resize(load.runs);

  // The baseline: what earlier measurements left in the allocator given back, the peak reset.
  malloc_trim(0);
  {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
  }
  const bool hwm_reset = status_field("VmHWM") <= status_field("VmRSS") + 64;
  r.rss_before_kb = status_field("VmRSS");
  r.threads_before = status_field("Threads");
  long rss_sampled = r.rss_before_kb;
  const double cpu_before = cpu_seconds(RUSAGE_SELF);

  runbase::CancellationToken cap;
  {
    runbase::ClientOptions options;
    options.api_key = "sk-bench-async-load";
    options.base_url =
        "http://127.0.0.1:" + std::to_string(server.port()) + "/b/" + key + "/api/v1";
    options.rate_limit.requests = 0;
    runbase::Client client(options);

    runbase::WaitOptions wait;
    wait.poll_interval = milliseconds(load.poll_ms);
    wait.max_poll_interval = milliseconds(load.max_poll_ms);
    wait.timeout = milliseconds(load.timeout_ms);
    wait.cancel = &cap;

    std::vector<std::future<runbase::Run>> futures;
    futures.reserve(load.runs);
    const auto start = Clock::now();
    for (std::size_t i = 0; i < load.runs; ++i) {
      runbase::GptImage1Input input;
      input.prompt = "async load " + std::to_string(i);
      futures.push_back(client.generate_async(std::move(input), wait));
    }
    r.submit_s = seconds_since(start);
    // The sweep below is the benchmark's own work, not the SDK's: its CPU is left out.
    const double sweep_cpu_before = cpu_seconds(RUSAGE_THREAD);

    // Sweep the futures (a thread per future would add threads to the count), sampling the
    // process's threads and RSS every 50 ms.
    std::vector<std::size_t> pending(load.runs);
    for (std::size_t i = 0; i < load.runs; ++i) pending[i] = i;
    auto next_sample = Clock::now();
    auto sweep = [&] {
      std::size_t kept = 0;
      for (const std::size_t i : pending) {
        if (futures[i].wait_for(milliseconds(0)) == std::future_status::ready) {
          Outcome& o = r.outcomes[i];
          o.resolved_s = seconds_since(start);
          o.result = classify(futures[i], o, r.first_error);
          ++r.done;
        } else {
          pending[kept++] = i;
        }
      }
      pending.resize(kept);
      if (Clock::now() >= next_sample) {
        r.threads_peak = std::max(r.threads_peak, status_field("Threads"));
        rss_sampled = std::max(rss_sampled, status_field("VmRSS"));
        next_sample += milliseconds(50);
      }
    };
    while (!pending.empty() && seconds_since(start) < load.max_seconds) {
      sweep();
      std::this_thread::sleep_for(milliseconds(pending.size() > 100 ? 10 : 2));
    }
    r.finished = pending.empty();
    r.makespan_s = r.finished ? seconds_since(start) : load.max_seconds;
    if (!r.finished) {
      // Cut off: the waits still pending end with CancelledError (not counted as done).
      const std::size_t done_at_cap = r.done;
      cap.cancel();
      const auto grace = Clock::now() + std::chrono::seconds(60);
      while (!pending.empty() && Clock::now() < grace) {
        sweep();
        std::this_thread::sleep_for(milliseconds(5));
      }
      for (std::size_t i = 0; i < load.runs; ++i) {
        if (r.outcomes[i].resolved_s > load.max_seconds) r.outcomes[i].resolved_s = -1;
      }
      r.done = done_at_cap;
    }
    r.rss_peak_kb = hwm_reset ? std::max(status_field("VmHWM"), rss_sampled) : rss_sampled;
    r.client_cpu_s =
        cpu_seconds(RUSAGE_SELF) - cpu_before - (cpu_seconds(RUSAGE_THREAD) - sweep_cpu_before);
    // ~Client here: any future still pending ends with CancelledError.
  }
  for (const Outcome& o : r.outcomes) {
    if (o.result == "succeeded")
      ++r.succeeded;
    else if (o.result == "TimeoutError")
      ++r.timeouts;
    else if (o.result == "CancelledError" || o.result.empty())
      ++r.cancelled;
    else
      ++r.other_errors;
  }
  r.server = server.stats(key);
  return r;
}

std::string fmt(const char* format, double value) {
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

json common_json(const Load& load, const LoadResult& r, const ServerHandle& server) {
  return {
      {"bench", "async_load"},
      {"scenario", load.name},
      {"runs", load.runs},
      {"duration_ms", load.duration_ms},
      {"hold_ms", load.hold_ms},
      {"stall_ms", load.stall_ms},
      {"poll_ms", load.poll_ms},
      {"max_poll_ms", load.max_poll_ms},
      {"finished", r.finished},
      {"max_seconds", load.max_seconds},
      {"done", r.done},
      {"succeeded", r.succeeded},
      {"timeouts", r.timeouts},
      {"cancelled", r.cancelled},
      {"other_errors", r.other_errors},
      {"first_error", r.first_error},
      {"submit_s", r.submit_s},
      {"makespan_s", r.makespan_s},
      {"sdk_threads", r.threads_peak - r.threads_before},
      {"rss_before_mb", static_cast<double>(r.rss_before_kb) / 1024.0},
      {"rss_peak_over_before_mb", static_cast<double>(r.rss_peak_kb - r.rss_before_kb) / 1024.0},
      {"client_cpu_s", r.client_cpu_s},
      {"server_in_process", server.in_process()},
      {"server", r.server}};
}

int report_stall(const ServerHandle& server, const Load& load, const LoadResult& r, bool want_json,
                 double goal_s) {
  std::printf(
      "\n== stalled poll: %zu generate_async runs, each done %.1f s after creation; the first "
      "poll of the first run created is answered after %.1f s (poll %ld ms, max %ld ms)\n",
      load.runs, static_cast<double>(load.duration_ms) / 1000.0,
      static_cast<double>(load.stall_ms) / 1000.0, load.poll_ms, load.max_poll_ms);
  const std::string stalled_id = "run_";  // the server's first run of this key: lowest number
  std::size_t stalled = load.runs;
  long lowest = -1;
  for (std::size_t i = 0; i < load.runs; ++i) {
    const std::string& id = r.outcomes[i].run_id;
    if (id.rfind(stalled_id, 0) != 0) continue;
    const long n = std::atol(id.c_str() + stalled_id.size());
    if (lowest < 0 || n < lowest) {
      lowest = n;
      stalled = i;
    }
  }
  std::printf("  %-7s %-10s %-11s %s\n", "future", "run", "resolved", "");
  double others_max = 0;
  bool others_all = true;
  json others = json::array();
  for (std::size_t i = 0; i < load.runs; ++i) {
    const Outcome& o = r.outcomes[i];
    const std::string when = o.resolved_s < 0 ? "-" : fmt("%.2f s", o.resolved_s);
    std::printf("  %-7zu %-10s %-11s %s%s\n", i + 1, o.run_id.empty() ? "-" : o.run_id.c_str(),
                when.c_str(), o.result.c_str(), i == stalled ? "  (its first poll stalled)" : "");
    if (i == stalled) continue;
    others.push_back(o.resolved_s);
    if (o.resolved_s < 0 || o.result != "succeeded") others_all = false;
    others_max = std::max(others_max, o.resolved_s);
  }
  const bool met = others_all && others_max <= goal_s;
  std::printf("  the other %zu: last resolved at %.2f s (goal: within %.1f s): %s\n", load.runs - 1,
              others_max, goal_s, met ? "met" : "MISSED");
  std::printf("  server: %s polls, peak %s in flight, %s connections\n",
              r.server.value("polls", json(0)).dump().c_str(),
              r.server.value("peak_polls_in_flight", json(0)).dump().c_str(),
              r.server.value("connections", json(0)).dump().c_str());
  if (want_json) {
    json line = common_json(load, r, server);
    line["stalled_resolved_s"] = stalled < load.runs ? r.outcomes[stalled].resolved_s : -1.0;
    line["others_resolved_s"] = others;
    line["others_max_s"] = others_max;
    line["goal_s"] = goal_s;
    line["goal_met"] = met;
    std::printf("%s\n", line.dump().c_str());
  }
  std::fflush(stdout);
  return 0;
}

void report_held(const ServerHandle& server, const Load& load, const LoadResult& r,
                 bool want_json) {
  // If every poll could run at once: the run's duration, then the poll that finds it done (its
  // hold), at most one poll interval late.
  const double bound = static_cast<double>(load.duration_ms + load.hold_ms + load.poll_ms) / 1000.0;
  const double server_cpu = r.server.value("cpu_s", -1.0);
  std::printf(
      "\n== held polls: %zu generate_async runs, each done %.1f s after creation, every poll "
      "held %ld ms, rate limit off (poll %ld ms, max %ld ms, timeout %ld s)\n",
      load.runs, static_cast<double>(load.duration_ms) / 1000.0, load.hold_ms, load.poll_ms,
      load.max_poll_ms, load.timeout_ms / 1000);
  if (r.finished) {
    std::printf("  makespan             %.2f s (all %zu futures resolved)\n", r.makespan_s,
                load.runs);
  } else {
    std::printf("  makespan             did not finish in %.0f s: %zu of %zu futures resolved\n",
                load.max_seconds, r.done, load.runs);
  }
  std::printf("  latency bound        %.2f s (duration + hold + one poll interval)\n", bound);
  std::printf("  ratio                %s%.1f\n", r.finished ? "" : ">", r.makespan_s / bound);
  std::printf("  submitting           %.3f s for %zu generate_async calls\n", r.submit_s,
              load.runs);
  std::printf(
      "  outcomes             %zu succeeded, %zu TimeoutError (goal 0), %zu other errors%s\n",
      r.succeeded, r.timeouts, r.other_errors,
      r.finished ? "" : (", " + std::to_string(r.cancelled) + " cancelled at the cap").c_str());
  if (!r.first_error.empty()) std::printf("  first error          %s\n", r.first_error.c_str());
  std::printf(
      "  SDK threads          %ld (process peak %ld, %ld before the Client%s)\n",
      r.threads_peak - r.threads_before, r.threads_peak, r.threads_before,
      server.in_process()
          ? (", of them " + std::to_string(server.server_threads()) + " the server's").c_str()
          : "; the server is another process");
  std::printf(
      "  peak RSS over before %.1f MB (before the Client %.1f MB; goal < 50 MB at 10,000)\n",
      static_cast<double>(r.rss_peak_kb - r.rss_before_kb) / 1024.0,
      static_cast<double>(r.rss_before_kb) / 1024.0);
  std::printf(
      "  CPU                  SDK %.2f s (this process but the main thread's sweep)%s\n",
      r.client_cpu_s,
      server.in_process()
          ? ", the server's included"
          : (", server process " + fmt("%.2f s", server_cpu) + " (since it started)").c_str());
  std::printf(
      "  server saw           %s creates, %s polls (%.2f per run), peak %s polls in "
      "flight at once, %s connections\n",
      r.server.value("creates", json(0)).dump().c_str(),
      r.server.value("polls", json(0)).dump().c_str(),
      r.server.value("polls", 0.0) / static_cast<double>(load.runs),
      r.server.value("peak_polls_in_flight", json(0)).dump().c_str(),
      r.server.value("connections", json(0)).dump().c_str());
  if (want_json) {
    json line = common_json(load, r, server);
    line["bound_s"] = bound;
    line["ratio"] = r.makespan_s / bound;
    std::printf("%s\n", line.dump().c_str());
  }
  std::fflush(stdout);
}

std::vector<std::size_t> parse_list(const std::string& list) {
  std::vector<std::size_t> out;
  for (std::size_t at = 0; at < list.size();) {
    const std::size_t comma = std::min(list.find(',', at), list.size());
    out.push_back(std::stoul(list.substr(at, comma - at)));
    at = comma + 1;
  }
  return out;
}

void raise_fd_limit(std::size_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      std::fprintf(stderr, "bench/async_load: could not raise RLIMIT_NOFILE: %s\n",
                   std::strerror(errno));
    }
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    std::fprintf(stderr,
                 "bench/async_load: WARNING: open files limited to %llu, and up to %zu "
                 "connections may be needed (raise the hard limit: ulimit -Hn); expect "
                 "ConnectionErrors\n",
                 static_cast<unsigned long long>(limit.rlim_cur), wanted);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string scenario = "all";
  std::vector<std::size_t> runs = {1000, 10000};
  long hold_ms = 200, duration_ms = 1000, poll_ms = 1000, max_poll_ms = 5000, timeout_s = 600;
  long stall_runs = 6, stall_ms = 8000, stall_duration_ms = 500, stall_poll_ms = 250,
       stall_max_poll_ms = 1000;
  double max_seconds = 900;
  std::size_t server_threads = 0;
  bool in_process = false, want_json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (arg == "--scenario")
        scenario = value();
      else if (arg == "--runs")
        runs = parse_list(value());
      else if (arg == "--quick")
        runs = {200};
      else if (arg == "--hold-ms")
        hold_ms = std::stol(value());
      else if (arg == "--duration-ms")
        duration_ms = std::stol(value());
      else if (arg == "--poll-ms")
        poll_ms = std::stol(value());
      else if (arg == "--max-poll-ms")
        max_poll_ms = std::stol(value());
      else if (arg == "--timeout-s")
        timeout_s = std::stol(value());
      else if (arg == "--stall-runs")
        stall_runs = std::stol(value());
      else if (arg == "--stall-ms")
        stall_ms = std::stol(value());
      else if (arg == "--stall-duration-ms")
        stall_duration_ms = std::stol(value());
      else if (arg == "--stall-poll-ms")
        stall_poll_ms = std::stol(value());
      else if (arg == "--stall-max-poll-ms")
        stall_max_poll_ms = std::stol(value());
      else if (arg == "--max-seconds")
        max_seconds = std::stod(value());
      else if (arg == "--server-threads")
        server_threads = std::stoul(value());
      else if (arg == "--in-process-server")
        in_process = true;
      else if (arg == "--json")
        want_json = true;
      else
        throw std::invalid_argument(arg);
    } catch (const std::exception&) {
      std::fprintf(stderr,
                   "usage: %s [--scenario stall|held|all] [--runs 1000,10000] [--quick] [--json]\n"
                   "  [--hold-ms 200] [--duration-ms 1000] [--poll-ms 1000] [--max-poll-ms 5000]\n"
                   "  [--timeout-s 600] [--stall-runs 6] [--stall-ms 8000] "
                   "[--stall-duration-ms 500]\n"
                   "  [--stall-poll-ms 250] [--stall-max-poll-ms 1000] [--max-seconds 900]\n"
                   "  [--server-threads N] [--in-process-server]\n",
                   argv[0]);
      return 2;
    }
  }
  const bool do_stall = scenario == "all" || scenario == "stall";
  const bool do_held = scenario == "all" || scenario == "held";
  if (!do_stall && !do_held) {
    std::fprintf(stderr, "--scenario: stall, held or all\n");
    return 2;
  }
  std::size_t largest = do_stall ? static_cast<std::size_t>(stall_runs) : 0;
  if (do_held) largest = std::max(largest, *std::max_element(runs.begin(), runs.end()));
  if (server_threads == 0) server_threads = std::max<std::size_t>(64, largest + 64);
  // Client and server connections, both ends in this process with --in-process-server.
  raise_fd_limit((in_process ? 2 : 1) * largest + 256);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    ServerHandle server(server_threads, in_process);  // forks before any thread exists
    std::printf("server: cpp-httplib on 127.0.0.1:%d, %zu pool threads, %s\n", server.port(),
                server_threads, in_process ? "in this process" : "in a child process");
    std::fflush(stdout);
    if (do_stall) {
      Load load{"stall",           static_cast<std::size_t>(stall_runs),
                stall_duration_ms, 0,
                stall_ms,          stall_poll_ms,
                stall_max_poll_ms, timeout_s * 1000,
                max_seconds};
      const LoadResult r = run_load(server, load);
      report_stall(server, load, r, want_json, 1.5);
    }
    if (do_held) {
      for (const std::size_t n : runs) {
        Load load{"held",  n,           duration_ms,      hold_ms,    0,
                  poll_ms, max_poll_ms, timeout_s * 1000, max_seconds};
        const LoadResult r = run_load(server, load);
        report_held(server, load, r, want_json);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench/async_load: %s\n", e.what());
    return 1;
  }
  return 0;
}
