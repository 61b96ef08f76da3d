#ifndef RUNBASE_TOOLS_CLI_INTERRUPT_HPP
#define RUNBASE_TOOLS_CLI_INTERRUPT_HPP

#include <atomic>
#include <thread>

#include <runbase/cancellation.hpp>

namespace runbase::cli {

/// While alive, the first SIGINT (Ctrl-C) or SIGTERM cancels `token` instead of killing the
/// process, so a wait or a download ends with `CancelledError` and the command can clean up (no
/// `.part` file is left), print the run id to resume with and, with `--json`, its object. A second
/// signal of the same kind kills as usual. A signal handler may not lock or notify, so it only
/// writes a byte to a pipe; a helper thread reads it and calls `CancellationToken::cancel()`.
///
/// Thread safety: one InterruptGuard at a time per process (it owns the SIGINT and SIGTERM
/// dispositions).
class InterruptGuard {
 public:
  explicit InterruptGuard(CancellationToken& token);
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  /// True once a SIGINT or SIGTERM arrived.
  bool interrupted() const noexcept { return signal_.load() != 0; }
  /// The first of those signals that arrived (SIGINT or SIGTERM), or 0.
  int signal() const noexcept { return signal_.load(); }

 private:
  CancellationToken& token_;
  std::atomic<int> signal_{0};
  int read_fd_ = -1;
  int write_fd_ = -1;
  bool installed_int_ = false;
  bool installed_term_ = false;
  std::thread watcher_;
};

}  // namespace runbase::cli

#endif  // RUNBASE_TOOLS_CLI_INTERRUPT_HPP
