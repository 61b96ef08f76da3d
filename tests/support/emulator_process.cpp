#include "support/emulator_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <httplib.h>

#ifndef RUNBASE_EMULATOR_PATH
#error "RUNBASE_EMULATOR_PATH must name the runbase-emulator binary"
#endif

extern char** environ;

namespace runbase::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto start_timeout = std::chrono::seconds(10);
constexpr auto stop_timeout = std::chrono::seconds(5);
constexpr std::string_view listening_prefix = "runbase-emulator listening on http://";

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) {
    return "exited with code " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status));
  }
  return "ended with wait status " + std::to_string(status);
}

// Reads from `fd` until a newline, EOF or the deadline. Returns the line without the newline;
// `complete` tells whether a newline was seen.
std::string read_line(int fd, Clock::time_point deadline, bool& complete) {
  std::string line;
  complete = false;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return line;
    }
    pollfd pfd{fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      return line;
    }
    char buffer[256];
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      return line;
    }  // EOF: the emulator exited
    line.append(buffer, static_cast<std::size_t>(got));
    const auto newline = line.find('\n');
    if (newline != std::string::npos) {
      line.erase(newline);
      complete = true;
      return line;
    }
  }
}

}  // namespace

EmulatorProcess::EmulatorProcess(std::vector<std::string> extra_args) {
  std::vector<std::string> args = {RUNBASE_EMULATOR_PATH, "--host", "127.0.0.1", "--port", "0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& arg : args) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("EmulatorProcess: pipe2: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  // The child starts with default signal handling and nothing blocked, whatever the test set.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  const int spawned =
      ::posix_spawn(&pid_, args[0].c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (spawned != 0) {
    ::close(fds[0]);
    pid_ = -1;
    throw std::runtime_error("EmulatorProcess: cannot start " + args[0] + ": " +
                             std::strerror(spawned));
  }
  stdout_fd_ = fds[0];

  bool complete = false;
  const std::string line = read_line(stdout_fd_, Clock::now() + start_timeout, complete);
  const auto fail = [&](const std::string& why) {
    const int code = stop();
    throw std::runtime_error("EmulatorProcess: " + why + " (output: \"" + line +
                             "\"; the emulator's exit code: " + std::to_string(code) + ")");
  };
  if (!complete) {
    fail("no listening line within " + std::to_string(start_timeout.count()) + " s");
  }
  if (line.rfind(listening_prefix, 0) != 0) {
    fail("unexpected first line");
  }
  // "127.0.0.1:PORT/api/v1"
  const std::string rest = line.substr(listening_prefix.size());
  const auto colon = rest.rfind(':');
  const auto slash = rest.find('/', colon == std::string::npos ? 0 : colon);
  if (colon == std::string::npos || slash == std::string::npos) {
    fail("no port in the line");
  }
  port_ = std::atoi(rest.substr(colon + 1, slash - colon - 1).c_str());
  if (port_ <= 0) {
    fail("no port in the line");
  }
  root_url_ = "http://127.0.0.1:" + std::to_string(port_);
  base_url_ = root_url_ + "/api/v1";
}

EmulatorProcess::~EmulatorProcess() { stop(); }

std::string EmulatorProcess::stats_json() const {
  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  const auto result = client.Get("/_emulator/stats");
  if (!result) {
    throw std::runtime_error("EmulatorProcess: GET /_emulator/stats failed: " +
                             httplib::to_string(result.error()));
  }
  if (result->status != 200) {
    throw std::runtime_error("EmulatorProcess: GET /_emulator/stats answered " +
                             std::to_string(result->status));
  }
  return result->body;
}

int EmulatorProcess::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = Clock::now() + stop_timeout;
    pid_t done = 0;
    while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (done == 0) {
      ::kill(pid_, SIGKILL);
      done = ::waitpid(pid_, &status, 0);
    }
    if (done == pid_) {
      exit_code_ = WIFEXITED(status)     ? WEXITSTATUS(status)
                   : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                         : -1;
      if (exit_code_ != 0) {
        std::fprintf(stderr, "EmulatorProcess: runbase-emulator %s\n",
                     describe_wait_status(status).c_str());
      }
    }
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) {
    ::close(stdout_fd_);
    stdout_fd_ = -1;
  }
  return exit_code_;
}

}  // namespace runbase::testing
