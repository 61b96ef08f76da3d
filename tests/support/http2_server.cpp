#include "support/http2_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace runbase::test_support {
namespace {

using Clock = std::chrono::steady_clock;

// A port the kernel has just handed out and taken back. nghttpd cannot be asked for port 0 and
// say which it got; another process taking this one in between is caught by `start` (nghttpd
// exits) and the whole start is tried again on another port.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  if (port == 0) throw std::runtime_error("Http2Server: no free loopback port");
  return port;
}

bool accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

}  // namespace

Http2Server::Http2Server(const std::string& nghttpd, const std::filesystem::path& root,
                         const TlsFiles& tls) {
  std::string output;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (start(nghttpd, root, tls, free_port(), output)) return;
  }
  throw std::runtime_error("Http2Server: " + nghttpd + " did not start; it said: " + output);
}

Http2Server::~Http2Server() { stop(); }

std::string Http2Server::url(std::string_view path) const {
  return "https://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

bool Http2Server::start(const std::string& nghttpd, const std::filesystem::path& root,
                        const TlsFiles& tls, int port, std::string& output) {
  const std::filesystem::path log = log_dir_.path() / "nghttpd.log";
  std::vector<std::string> args = {nghttpd,          "-d",
                                   root.string(),    "--address",
                                   "127.0.0.1",      std::to_string(port),
                                   tls.key.string(), tls.cert.string()};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  const int spawned =
      ::posix_spawn(&pid_, nghttpd.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    pid_ = -1;
    throw std::runtime_error("Http2Server: cannot start " + nghttpd + ": " +
                             std::strerror(spawned));
  }

  // Ready once it accepts a connection; it says nothing when it starts listening.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: the port was taken, say
      pid_ = -1;
      std::ifstream in(log);
      output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      return false;
    }
    if (accepts(port)) {
      port_ = port;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop();
  output = "nothing listening on port " + std::to_string(port) + " after 10 s";
  return false;
}

void Http2Server::stop() noexcept {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    pid_t done = 0;
    while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (done == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
}

}  // namespace runbase::test_support
