// runbase-emulator: a local Runbase API that keeps state and fails on request.
#ifndef RUNBASE_EMULATOR_EMULATOR_HPP
#define RUNBASE_EMULATOR_EMULATOR_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace runbase::emulator {

/// How a failed run's `error` field is written.
enum class ErrorFormat {
  String,  ///< "error": "message" (the default, RUNBASE.md section 16)
  Object,  ///< "error": {"message": "...", "code": "generation_failed"}
};

/// Everything the command line sets.
struct Config {
  std::string host = "127.0.0.1";
  int port = 8787;                          ///< 0: a free port
  std::chrono::milliseconds latency{3000};  ///< median create -> terminal, +/-25% jitter
  int rate_limit_requests = 20;             ///< per key, POST and GET together; <= 0: off
  std::chrono::milliseconds rate_limit_window{10000};
  std::vector<std::string> api_keys;         ///< accepted keys; empty: any key starting "sk-"
  std::int64_t balance_micros = 10'000'000;  ///< each key's prepaid balance
  /// Each key's lifetime spend limit (net of refunds); a create past it is 403
  /// api_key_spend_limit_exceeded. 0: none.
  std::int64_t spend_limit_micros = 0;
  /// Runs each key may create; the next create is 429 USAGE_EXCEEDED. 0: none.
  int usage_quota = 0;
  /// Client addresses allowed (as the service's per-key allow-list, here for every key); any other
  /// gets 403 ip_not_allowed. Empty: any.
  std::vector<std::string> allowed_ips;
  std::string data_dir;     ///< empty: a temporary folder, removed on exit
  double fault_rate = 0.0;  ///< share of API requests answered 500 or 429
  ErrorFormat error_format = ErrorFormat::String;
  std::optional<std::uint64_t> seed;  ///< ids, jitter and faults; unset: random
  std::size_t threads = 128;          ///< worker threads = concurrent connections
  /// Runs kept: past it, the oldest finished runs are forgotten (a GET of one is 404
  /// run_not_found). Runs not yet finished are always kept.
  std::size_t max_runs = 10000;
  /// Base of the output URLs in run replies ("https://emu.example.com"), for an emulator behind a
  /// TLS front end or proxy. Empty: from X-Forwarded-Proto/X-Forwarded-Host, else the Host header.
  std::string public_url;
  bool verbose = false;  ///< one line per request on stderr
};

/// The emulator: routes, state and the HTTP server (cpp-httplib).
///
/// Usage: construct, bind(), print the URL, run() (blocks) on one thread, stop() from another.
/// The process must ignore SIGPIPE (the constructor sets it so): a `[drop]` fault shuts a
/// connection down under the server, whose next write to it then fails.
///
/// Thread safety: stop(), stats_json() and the accessors are safe from any thread once bind()
/// has returned; bind() and run() are called once each, in that order.
class Emulator {
 public:
  /// Creates the data directory (a temporary one when config.data_dir is empty).
  /// Throws std::runtime_error if it cannot.
  explicit Emulator(Config config);
  /// Stops the server if it runs and removes the temporary data directory.
  ~Emulator();

  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  /// Binds and listens; returns the port (the chosen one for port 0). Throws std::runtime_error
  /// if the address cannot be bound.
  int bind();

  /// Serves until stop(). Returns false if the server failed.
  bool run();

  /// Stops accepting, ends idle keep-alive connections and makes run() return.
  void stop();

  /// "http://HOST:PORT/api/v1", valid after bind().
  std::string base_url() const;

  /// The directory the generated images are kept in.
  const std::string& data_dir() const;

  /// The body of GET /_emulator/stats.
  std::string stats_json() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace runbase::emulator

#endif  // RUNBASE_EMULATOR_EMULATOR_HPP
