// Runs a program (the runbase CLI, an example) as a child process for the CLI tests.
#ifndef RUNBASE_TESTS_INTEGRATION_CLI_PROCESS_HPP
#define RUNBASE_TESTS_INTEGRATION_CLI_PROCESS_HPP

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace runbase::testing {

/// Where the child's stdout goes.
enum class StdoutTo {
  Pipe,        ///< captured into ProcessResult::out
  ClosedPipe,  ///< a pipe nobody reads: its read end is closed before the child starts
  DevFull,     ///< /dev/full: every write fails with ENOSPC
};

struct ProcessOptions {
  std::vector<std::string> args;  ///< args[0]: the program's path
  /// Set in the child's environment, after every RUNBASE_* variable of the test's own environment
  /// was removed (so a developer's real key can never reach a test).
  std::vector<std::pair<std::string, std::string>> env;
  std::string cwd;                           ///< empty: the test's
  std::chrono::milliseconds timeout{20000};  ///< then SIGKILL, and exit_code is -1
  /// When set: called each time the child's stderr grows, with all of it so far, on the thread
  /// of `run_process` (it may run another process meanwhile). Returns a signal to send the child
  /// now (SIGINT, SIGKILL, ...), or 0.
  std::function<int(const std::string& err)> on_stderr;
  /// When set: called every few milliseconds while the child runs, to wait for a condition the
  /// child's output does not show (a file appearing). Returns a signal to send now, or 0.
  std::function<int()> on_tick;
  StdoutTo stdout_to = StdoutTo::Pipe;
};

struct ProcessResult {
  int exit_code = -1;  ///< the exit status; 128 + N when killed by signal N; -1 on timeout
  std::string out;
  std::string err;
  bool interrupted = false;  ///< SIGINT was sent
  int signal_sent = 0;       ///< the last signal on_stderr or on_tick asked for, or 0
};

/// Runs the program to its end (or the timeout) and returns what it printed.
/// Throws std::runtime_error if it cannot be started.
ProcessResult run_process(const ProcessOptions& options);

/// A fresh empty directory under the system's temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// True when `path` is a file that starts with the PNG signature and is more than a header.
bool is_png_file(const std::string& path);

}  // namespace runbase::testing

#endif  // RUNBASE_TESTS_INTEGRATION_CLI_PROCESS_HPP
