#include "cli_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

extern char** environ;

namespace runbase::testing {

namespace {

using Clock = std::chrono::steady_clock;

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

ProcessResult run_process(const ProcessOptions& options) {
  if (options.args.empty()) throw std::runtime_error("run_process: no program");

  // Everything the child needs is built before fork(): after it, only exec-safe calls.
  std::vector<std::string> args = options.args;
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "RUNBASE_", 8) != 0) env.emplace_back(*entry);
  }
  for (const auto& [name, value] : options.env) env.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("run_process: pipe2 failed");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw std::runtime_error("run_process: pipe2 failed");
  }
  // A pipe whose read end is closed before the child exists: its first write meets no reader.
  int closed_pipe[2] = {-1, -1};
  if (options.stdout_to == StdoutTo::ClosedPipe) {
    if (::pipe2(closed_pipe, O_CLOEXEC) != 0) throw std::runtime_error("run_process: pipe2 failed");
    close_fd(closed_pipe[0]);
  }
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("run_process: fork failed");
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    if (options.stdout_to == StdoutTo::ClosedPipe) ::dup2(closed_pipe[1], STDOUT_FILENO);
    if (options.stdout_to == StdoutTo::DevFull) {
      const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
      if (full < 0 || ::dup2(full, STDOUT_FILENO) < 0) ::_exit(125);
    }
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  close_fd(closed_pipe[1]);

  ProcessResult result;
  std::array<int, 2> fds = {out_pipe[0], err_pipe[0]};
  const auto deadline = Clock::now() + options.timeout;
  bool timed_out = false;
  std::size_t seen_err = 0;
  while (fds[0] >= 0 || fds[1] >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    std::array<pollfd, 2> polled = {pollfd{fds[0], POLLIN, 0}, pollfd{fds[1], POLLIN, 0}};
    constexpr std::chrono::milliseconds kTick{5};
    const int wait_ms =
        static_cast<int>(options.on_tick ? std::min(kTick, left).count() : left.count());
    const int ready = ::poll(polled.data(), polled.size(), wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    for (std::size_t i = 0; i < polled.size(); ++i) {
      if (fds[i] < 0 || (polled[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buffer[4096];
      const ssize_t got = ::read(fds[i], buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        close_fd(fds[i]);
        continue;
      }
      (i == 0 ? result.out : result.err).append(buffer, static_cast<std::size_t>(got));
    }
    if (options.on_stderr && result.err.size() != seen_err) {
      seen_err = result.err.size();
      const int signal = options.on_stderr(result.err);
      if (signal != 0) {
        ::kill(pid, signal);
        result.signal_sent = signal;
      }
      result.interrupted = result.interrupted || signal == SIGINT;
    }
    if (options.on_tick) {
      const int signal = options.on_tick();
      if (signal != 0) {
        ::kill(pid, signal);
        result.signal_sent = signal;
      }
      result.interrupted = result.interrupted || signal == SIGINT;
    }
  }
  close_fd(fds[0]);
  close_fd(fds[1]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    result.exit_code = -1;
    result.err += "\n[run_process: killed after the timeout]\n";
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

TempDir::TempDir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "runbase-cli-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

bool is_png_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 8> head{};
  if (!in.read(head.data(), head.size())) return false;
  static constexpr std::array<unsigned char, 8> kSignature = {0x89, 'P',  'N',  'G',
                                                              '\r', '\n', 0x1A, '\n'};
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (static_cast<unsigned char>(head[i]) != kSignature[i]) return false;
  }
  in.seekg(0, std::ios::end);
  return in.tellg() > 100;
}

}  // namespace runbase::testing
