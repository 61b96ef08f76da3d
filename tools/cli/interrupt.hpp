#ifndef RUNBASE_TOOLS_CLI_INTERRUPT_HPP
#define RUNBASE_TOOLS_CLI_INTERRUPT_HPP

#include <atomic>
#include <thread>

#include <runbase/cancellation.hpp>

namespace runbase::cli {

/// While alive, the first SIGINT (Ctrl-C) cancels `token` instead of killing the process, so a
/// wait ends with `CancelledError` and the command can print the run id to resume with. A second
/// SIGINT kills as usual. A signal handler may not lock or notify, so it only writes a byte to a
/// pipe; a helper thread reads it and calls `CancellationToken::cancel()`.
///
/// Thread safety: one InterruptGuard at a time per process (it owns the SIGINT disposition).
class InterruptGuard {
 public:
  explicit InterruptGuard(CancellationToken& token);
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  /// True once a SIGINT arrived.
  bool interrupted() const noexcept { return interrupted_.load(); }

 private:
  CancellationToken& token_;
  std::atomic<bool> interrupted_{false};
  int read_fd_ = -1;
  int write_fd_ = -1;
  bool installed_ = false;
  std::thread watcher_;
};

}  // namespace runbase::cli

#endif  // RUNBASE_TOOLS_CLI_INTERRUPT_HPP
