#ifndef RUNBASE_TESTS_SUPPORT_HOSTILE_SERVER_HPP
#define RUNBASE_TESTS_SUPPORT_HOSTILE_SERVER_HPP

#include <httplib.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/test_tls.hpp"

namespace runbase::test_support {

/// A cpp-httplib server (plain HTTP, or HTTPS with the given certificate) on 127.0.0.1 at a free
/// port, serving from its own thread, for the cases the emulator does not do: HTML errors,
/// redirects, huge bodies, stalls.
///
/// Register routes on `server()`, then `start()`. Every request is counted and recorded
/// (`received()`) before its handler runs, with the client's port, so a test can wait until a
/// request has arrived, count the connections its requests came on and check what the client sent.
/// A handler that calls `stall()` blocks until `release()` (or `stop()`): a stall that ends when
/// the test says, not after a sleep. The destructor releases stalls and stops; destroy the client
/// transport first, or its idle keep-alive connections hold server threads until the keep-alive
/// timeout (2 s here).
///
/// Handlers run on the server's threads. What they share with the test must be synchronised: the
/// reply reaching the client orders them, but ThreadSanitizer cannot see through a socket (nor into
/// Debian's uninstrumented cpp-httplib), so a test reads what the server saw through `received()`
/// rather than through variables a handler wrote, and gives a handler its own copy of the data it
/// serves rather than a reference to the test's (the server's threads are only joined, which TSan
/// does see, after the test's locals are gone).
///
/// Thread safety: `requests`, `connections`, `received`, `wait_for_requests`, `stall`, `release`
/// are safe from any thread; set routes before `start()`.
class LoopbackServer {
 public:
  /// One request as it reached routing: what the client sent, without the body (which is read
  /// after routing).
  struct ReceivedRequest {
    std::string method;
    /// As on the request line: a path, or an absolute URL when the client went through a proxy.
    std::string target;
    httplib::Headers headers;

    /// The first value of header `name` (case-insensitive); empty if there is none.
    std::string header(const std::string& name) const;
  };

  LoopbackServer();
  explicit LoopbackServer(const TlsFiles& tls);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  /// The underlying server, to register routes on. Its pre-routing handler is taken (counting).
  httplib::Server& server() noexcept { return *server_; }

  /// Binds to 127.0.0.1 at a free port and serves until `stop()`; returns once it is serving.
  void start();
  /// Releases stalled handlers, stops serving and joins the thread. Idempotent.
  void stop();

  int port() const noexcept { return port_; }
  /// "http://127.0.0.1:<port><path>" (https for a TLS server).
  std::string url(std::string_view path = "/") const;

  /// Requests that reached routing so far.
  std::size_t requests() const;
  /// Distinct client connections (remote ports) those requests came on.
  std::size_t connections() const;
  /// Those requests, in the order they arrived. A copy, so the test can read it while the server
  /// serves on.
  std::vector<ReceivedRequest> received() const;
  /// Waits until at least `count` requests have arrived; false if `limit` passed first.
  bool wait_for_requests(std::size_t count,
                         std::chrono::milliseconds limit = std::chrono::seconds(5)) const;

  /// Called from a handler: blocks until `release()` or `stop()`.
  void stall();
  /// Lets every stalled handler (and every later `stall()`) continue.
  void release();

 private:
  void setup();

  std::unique_ptr<httplib::Server> server_;
  std::function<bool()> raise_backlog_;
  bool tls_ = false;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<ReceivedRequest> received_;
  std::set<int> remote_ports_;
  bool released_ = false;
};

/// A bare TCP listener on 127.0.0.1, no HTTP library, for what a real server must never do. For
/// each connection it reads the request (up to the blank line, then a Content-Length body), writes
/// `reply` verbatim (empty: nothing at all) and closes the connection. With an empty reply the
/// client sees a connection dropped after its request was read; with a truncated reply, a partial
/// response. Connections are served one at a time.
///
/// Thread safety: the counters are safe from any thread.
class RawServer {
 public:
  explicit RawServer(std::string reply = {});
  ~RawServer();
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;

  int port() const noexcept { return port_; }
  std::string url(std::string_view path = "/") const;
  /// Connections accepted so far.
  std::size_t connections() const noexcept { return connections_.load(); }
  /// Complete requests read so far.
  std::size_t requests() const noexcept { return requests_.load(); }

 private:
  void serve();
  void handle(int client);

  std::string reply_;
  int listener_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> requests_{0};
  std::thread thread_;
};

/// A loopback port where connections are refused: a socket is bound to it (so nothing else can
/// take it) but never listens, so the kernel answers a connection attempt with a reset.
///
/// Thread safety: immutable.
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  int port() const noexcept { return port_; }
  std::string url(std::string_view path = "/") const;

 private:
  int socket_ = -1;
  int port_ = 0;
};

/// A loopback port where connection attempts hang: it listens with a backlog of 0 that one filler
/// connection already fills and nothing accepts, so the kernel drops further SYNs and a client's
/// connect times out. Nothing of a request can be sent to it.
///
/// Thread safety: immutable.
class UnansweredPort {
 public:
  UnansweredPort();
  ~UnansweredPort();
  UnansweredPort(const UnansweredPort&) = delete;
  UnansweredPort& operator=(const UnansweredPort&) = delete;

  int port() const noexcept { return port_; }
  std::string url(std::string_view path = "/") const;

 private:
  int listener_ = -1;
  int filler_ = -1;
  int port_ = 0;
};

/// nghttpd (Debian's nghttp2-server), an HTTP/2-only server, serving the files under `root` over
/// TLS on 127.0.0.1 at a free port, as a child process: cpp-httplib cannot speak HTTP/2, and the
/// transport offers it on every TLS connection. nghttpd refuses HTTP/1.1 on TLS, so a request it
/// answers went over HTTP/2. A file answers GET and POST alike, with status 200.
///
/// Thread safety: not shared between threads.
class Http2Server {
 public:
  /// Starts `nghttpd` (its path) and returns once it listens. Throws std::runtime_error when it
  /// cannot be started or does not listen within 10 s.
  Http2Server(const std::string& nghttpd, const std::filesystem::path& root, const TlsFiles& tls);
  /// Stops the server (SIGTERM, then SIGKILL after 5 s).
  ~Http2Server();
  Http2Server(const Http2Server&) = delete;
  Http2Server& operator=(const Http2Server&) = delete;

  int port() const noexcept { return port_; }
  /// "https://127.0.0.1:<port><path>".
  std::string url(std::string_view path = "/") const;

 private:
  bool start(const std::string& nghttpd, const std::filesystem::path& root, const TlsFiles& tls,
             int port, std::string& output);
  void stop() noexcept;

  TempDir log_dir_;  // nghttpd's output, quoted if it does not start
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace runbase::test_support

#endif  // RUNBASE_TESTS_SUPPORT_HOSTILE_SERVER_HPP
