// Runs the real runbase-emulator binary for a test.
#ifndef RUNBASE_TESTS_SUPPORT_EMULATOR_PROCESS_HPP
#define RUNBASE_TESTS_SUPPORT_EMULATOR_PROCESS_HPP

#include <sys/types.h>
#include <string>
#include <vector>

namespace runbase::testing {

/// Starts runbase-emulator (built by this project; its path is compiled in) on 127.0.0.1 with
/// `--port 0`, plus `extra_args` (e.g. {"--latency-ms", "50", "--rate-limit", "0"}), and waits up
/// to 10 s for its "listening on" line, so a test never hangs on a broken emulator. The child's
/// stderr is the test's. The destructor stops it (SIGTERM, then SIGKILL after 5 s) and reaps it.
///
/// Throws std::runtime_error if the emulator cannot be started, exits, or does not print its
/// line in time (the message carries the exit status).
///
/// Thread safety: the accessors and stats_json() are safe from many threads; stop() and the
/// destructor are not safe concurrently with anything else.
class EmulatorProcess {
 public:
  explicit EmulatorProcess(std::vector<std::string> extra_args = {});
  ~EmulatorProcess();

  EmulatorProcess(const EmulatorProcess&) = delete;
  EmulatorProcess& operator=(const EmulatorProcess&) = delete;

  /// "http://127.0.0.1:PORT/api/v1": the SDK's base_url.
  const std::string& base_url() const { return base_url_; }
  /// "http://127.0.0.1:PORT": for /files/... and /_emulator/stats.
  const std::string& root_url() const { return root_url_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

  /// The body of GET /_emulator/stats (request, response and run counters as JSON; see
  /// docs/EMULATOR.md). Throws std::runtime_error if the emulator does not answer 200.
  std::string stats_json() const;

  /// Sends SIGTERM and waits for the exit (SIGKILL after 5 s). Returns the exit code, or 128 +
  /// the signal number if it was killed by one. Later calls return the same value.
  int stop();

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
  std::string base_url_;
  std::string root_url_;
};

}  // namespace runbase::testing

#endif  // RUNBASE_TESTS_SUPPORT_EMULATOR_PROCESS_HPP
