#include "support/hostile_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

extern char** environ;

namespace runbase::test_support {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::string loopback_url(bool tls, int port, std::string_view path) {
  return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port) +
         std::string(path);
}

// A TCP socket bound to 127.0.0.1 at a free port; returns it and sets `port`.
int bind_loopback(int& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    fail("bind");
  }
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    fail("getsockname");
  }
  port = ntohs(address.sin_port);
  return fd;
}

// A TCP connection to 127.0.0.1:`port`; -1 if it cannot be made.
int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::size_t content_length(std::string_view head) {
  // Finds "content-length:" in the request head, case-insensitively. Just enough to read the
  // whole request before closing (closing with unread data would send a reset instead).
  std::string lower(head);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto at = lower.find("\ncontent-length:");
  if (at == std::string::npos) return 0;
  return static_cast<std::size_t>(std::strtoull(lower.c_str() + at + 16, nullptr, 10));
}

// httplib listens with a backlog of 5: more clients connecting at once overflow it and the kernel
// drops their SYNs, costing each a 1 s retransmit. listen() again on the same socket raises it.
template <typename Base>
class WideBacklog : public Base {
 public:
  using Base::Base;
  bool raise_backlog() { return ::listen(this->svr_sock_, SOMAXCONN) == 0; }
};

}  // namespace

// ---- LoopbackServer ---------------------------------------------------------------------------

LoopbackServer::LoopbackServer() {
  auto server = std::make_unique<WideBacklog<httplib::Server>>();
  raise_backlog_ = [raw = server.get()] { return raw->raise_backlog(); };
  server_ = std::move(server);
  setup();
}

LoopbackServer::LoopbackServer(const TlsFiles& tls) : tls_(true) {
  auto server = std::make_unique<WideBacklog<httplib::SSLServer>>(tls.cert.string().c_str(),
                                                                  tls.key.string().c_str());
  raise_backlog_ = [raw = server.get()] { return raw->raise_backlog(); };
  server_ = std::move(server);
  if (!server_->is_valid()) throw std::runtime_error("SSLServer could not load the certificate");
  setup();
}

void LoopbackServer::setup() {
  // Enough workers that every idle keep-alive connection of a test can hold one.
  server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_->set_keep_alive_timeout(2);
  // httplib closes a connection after 5 requests by default; reuse tests need more.
  server_->set_keep_alive_max_count(1000);
  // Headers and body go out in separate writes; without this, Nagle and delayed ACKs add 40 ms
  // to every reply on a reused connection.
  server_->set_tcp_nodelay(true);
  server_->set_pre_routing_handler([this](const httplib::Request& request, httplib::Response&) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      received_.push_back({request.method, request.target, request.headers});
      remote_ports_.insert(request.remote_port);
    }
    changed_.notify_all();
    return httplib::Server::HandlerResponse::Unhandled;
  });
}

LoopbackServer::~LoopbackServer() { stop(); }

void LoopbackServer::start() {
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("could not bind a loopback port");
  if (!raise_backlog_()) throw std::runtime_error("could not raise the listen backlog");
  // The socket already listens (bind_to_any_port does it), so clients may connect at once; wait
  // for the accept loop anyway, because stop() only works on a server that is running.
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!server_->is_running()) {
    if (Clock::now() > deadline) throw std::runtime_error("the loopback server did not start");
    std::this_thread::yield();
  }
}

void LoopbackServer::stop() {
  release();
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

std::string LoopbackServer::url(std::string_view path) const {
  return loopback_url(tls_, port_, path);
}

std::size_t LoopbackServer::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return received_.size();
}

std::size_t LoopbackServer::connections() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return remote_ports_.size();
}

std::vector<LoopbackServer::ReceivedRequest> LoopbackServer::received() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return received_;
}

bool LoopbackServer::wait_for_requests(std::size_t count, std::chrono::milliseconds limit) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, limit, [&] { return received_.size() >= count; });
}

std::string LoopbackServer::ReceivedRequest::header(const std::string& name) const {
  const auto found = headers.find(name);
  return found == headers.end() ? std::string() : found->second;
}

void LoopbackServer::stall() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return released_; });
}

void LoopbackServer::release() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = true;
  }
  changed_.notify_all();
}

// ---- RawServer --------------------------------------------------------------------------------

RawServer::RawServer(std::string reply) : reply_(std::move(reply)) {
  listener_ = bind_loopback(port_);
  if (::listen(listener_, 16) != 0) {
    ::close(listener_);
    fail("listen");
  }
  if (::pipe2(wake_, O_CLOEXEC) != 0) {
    ::close(listener_);
    fail("pipe2");
  }
  thread_ = std::thread([this] { serve(); });
}

RawServer::~RawServer() {
  const char byte = 'x';
  (void)!::write(wake_[1], &byte, 1);
  thread_.join();
  ::close(listener_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

std::string RawServer::url(std::string_view path) const { return loopback_url(false, port_, path); }

void RawServer::serve() {
  for (;;) {
    pollfd fds[2] = {{listener_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    ++connections_;
    handle(client);
    ::close(client);
  }
}

void RawServer::handle(int client) {
  std::string received;
  std::size_t needed = std::string::npos;  // total bytes of the request, once the head is known
  char buffer[16384];
  while (needed == std::string::npos || received.size() < needed) {
    pollfd fds[2] = {{client, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, 5000) <= 0 || fds[1].revents != 0) return;
    const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
    if (n <= 0) return;
    received.append(buffer, static_cast<std::size_t>(n));
    if (needed == std::string::npos) {
      const auto end = received.find("\r\n\r\n");
      if (end != std::string::npos) needed = end + 4 + content_length(received.substr(0, end));
    }
  }
  ++requests_;
  std::size_t sent = 0;
  while (sent < reply_.size()) {
    const ssize_t n = ::send(client, reply_.data() + sent, reply_.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

// ---- RefusingPort -----------------------------------------------------------------------------

RefusingPort::RefusingPort() { socket_ = bind_loopback(port_); }

RefusingPort::~RefusingPort() { ::close(socket_); }

std::string RefusingPort::url(std::string_view path) const {
  return loopback_url(false, port_, path);
}

// ---- UnansweredPort ---------------------------------------------------------------------------

UnansweredPort::UnansweredPort() {
  listener_ = bind_loopback(port_);
  if (::listen(listener_, 0) != 0) {
    ::close(listener_);
    fail("listen");
  }
  // One connection fills a backlog of 0; the kernel then drops new SYNs instead of answering.
  filler_ = connect_loopback(port_);
  if (filler_ < 0) {
    const int error = errno;
    ::close(listener_);
    errno = error;
    fail("connect");
  }
}

UnansweredPort::~UnansweredPort() {
  ::close(filler_);
  ::close(listener_);
}

std::string UnansweredPort::url(std::string_view path) const {
  return loopback_url(false, port_, path);
}

// ---- Http2Server ------------------------------------------------------------------------------

Http2Server::Http2Server(const std::string& nghttpd, const std::filesystem::path& root,
                         const TlsFiles& tls) {
  std::string output;
  for (int attempt = 0; attempt < 3; ++attempt) {
    // nghttpd cannot be given port 0 and say which it got: take a free one from the kernel and
    // hand it back. Another process taking it in between makes nghttpd exit, and the next
    // attempt uses another port.
    int port = 0;
    ::close(bind_loopback(port));
    if (start(nghttpd, root, tls, port, output)) return;
  }
  throw std::runtime_error("Http2Server: " + nghttpd + " did not start; it said: " + output);
}

Http2Server::~Http2Server() { stop(); }

std::string Http2Server::url(std::string_view path) const {
  return loopback_url(true, port_, path);
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
    if (const int probe = connect_loopback(port); probe >= 0) {
      ::close(probe);
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
