#include "emulator.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "connections.hpp"
#include "model_schemas.hpp"
#include "png_image.hpp"
#include "rate_window.hpp"
#include "socket_drop.hpp"

namespace runbase::emulator {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;
using std::chrono::milliseconds;

// Fault tokens, matched anywhere in input.prompt (lower case, brackets included).
constexpr std::string_view fail_token = "[fail]";
constexpr std::string_view slow_token = "[slow]";
constexpr std::string_view never_token = "[never]";
constexpr std::string_view error_token = "[500]";
constexpr std::string_view drop_token = "[drop]";

// Set by a handler that dropped its connection; removed before the (unsendable) answer.
constexpr const char* dropped_marker = "X-Emulator-Dropped";

constexpr std::size_t max_body_bytes = 1024 * 1024;
constexpr std::size_t image_cache_entries = 32;
constexpr std::size_t stats_runs_listed = 100;  // GET /_emulator/stats lists the newest runs only

// How long a connection closed after its answer keeps reading (and discarding) what the client
// still sends, so that closing does not reset the connection before the client reads the answer.
constexpr milliseconds linger_time{2000};

// Waits up to `timeout` for `events` on `fd`; true if they came (or an error or hang-up did).
bool wait_for_socket(int fd, short events, milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
    pollfd pfd{fd, events, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(0, left.count())));
    if (ready >= 0 || errno != EINTR) {
      return ready > 0;
    }
  }
}

// "ip" and port of a socket address, as httplib gives them (numeric, IPv6 without brackets).
void endpoint_of(const sockaddr_storage& address, socklen_t length, std::string& ip, int& port) {
  char host[NI_MAXHOST] = {};
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, host, sizeof host, nullptr,
                    0, NI_NUMERICHOST) != 0) {
    return;
  }
  ip = host;
  if (address.ss_family == AF_INET) {
    port = ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  } else if (address.ss_family == AF_INET6) {
    port = ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
}

// A connection's socket as httplib reads and writes it: what httplib's own SocketStream does
// (0.11 does not export it), with the same timeouts. Reads are buffered, since httplib reads the
// request line and headers a byte at a time.
class SocketStream final : public httplib::Stream {
 public:
  SocketStream(socket_t sock, milliseconds read_timeout, milliseconds write_timeout)
      : sock_(sock), read_timeout_(read_timeout), write_timeout_(write_timeout) {}

  bool is_readable() const override { return wait_for_socket(sock_, POLLIN, read_timeout_); }
  bool is_writable() const override { return wait_for_socket(sock_, POLLOUT, write_timeout_); }

  ssize_t read(char* ptr, std::size_t size) override {
    if (begin_ == end_) {
      if (!is_readable()) {
        return -1;
      }
      if (size >= sizeof buffer_) {
        return receive(ptr, size);
      }
      const ssize_t got = receive(buffer_, sizeof buffer_);
      if (got <= 0) {
        return got;
      }
      begin_ = 0;
      end_ = static_cast<std::size_t>(got);
    }
    const std::size_t n = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_ + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, std::size_t size) override {
    if (!is_writable()) {
      return -1;
    }
    while (true) {
      const ssize_t sent = ::send(sock_, ptr, size, MSG_NOSIGNAL);
      if (sent >= 0 || errno != EINTR) {
        return sent;
      }
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      endpoint_of(address, length, ip, port);
    }
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      endpoint_of(address, length, ip, port);
    }
  }

  socket_t socket() const override { return sock_; }

  // Bytes of the next request already read (a pipelining client).
  bool buffered() const { return begin_ != end_; }

 private:
  ssize_t receive(char* ptr, std::size_t size) {
    while (true) {
      const ssize_t got = ::recv(sock_, ptr, size, 0);
      if (got >= 0 || errno != EINTR) {
        return got;
      }
    }
  }

  socket_t sock_;
  milliseconds read_timeout_;
  milliseconds write_timeout_;
  char buffer_[4096];
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

// Shuts the sending side down (the answer is out) and reads what the client still sends until it
// closes, for up to linger_time: a close with unread bytes would reset the connection, and the
// client could lose the answer before reading it.
void linger_and_close_reading(int fd) {
  ::shutdown(fd, SHUT_WR);
  const auto deadline = SteadyClock::now() + linger_time;
  char discard[16384];
  while (true) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0 || !wait_for_socket(fd, POLLIN, left)) {
      return;
    }
    const ssize_t got = ::recv(fd, discard, sizeof discard, 0);
    if (got == 0 || (got < 0 && errno != EINTR)) {
      return;
    }
  }
}

// httplib::Server plus what 0.11 lacks: a listen backlog above its compiled-in 5 (64 clients
// connecting at once would otherwise see SYNs dropped and retried a second later), a stop
// that also works before listen_after_bind() has started (Server::stop() is a no-op then), its
// own keep-alive loop, which tells a ConnectionTable when each connection is idle (so an idle one
// can be closed when every worker is taken), and a way for a handler to close its connection
// after its answer.
class HttpServer : public httplib::Server {
 public:
  explicit HttpServer(ConnectionTable& table) : table_(table) {}

  // Called from a handler (or the post-routing handler): the connection is closed once this
  // answer is written, after reading off what the client still sends.
  static void close_after_answer() { close_after_answer_ = true; }

  void raise_backlog(int backlog) {
    const socket_t sock = svr_sock_;
    if (sock != INVALID_SOCKET) {
      ::listen(sock, backlog);
    }
  }

  void close_listener() {
    const socket_t sock = svr_sock_.exchange(INVALID_SOCKET);
    if (sock != INVALID_SOCKET) {
      ::shutdown(sock, SHUT_RDWR);
      ::close(sock);
    }
  }

 private:
  // Replaces httplib's loop (detail::process_server_socket), with the same limits: up to
  // keep_alive_max_count_ requests, each awaited for keep_alive_timeout_sec_.
  bool process_and_close_socket(socket_t sock) override {
    const auto connection = table_.start(sock);
    SocketStream stream(sock, milliseconds(read_timeout_sec_ * 1000 + read_timeout_usec_ / 1000),
                        milliseconds(write_timeout_sec_ * 1000 + write_timeout_usec_ / 1000));
    const milliseconds keep_alive(keep_alive_timeout_sec_ * 1000);
    bool ok = false;
    bool linger = false;
    for (std::size_t left = keep_alive_max_count_;
         left > 0 && svr_sock_ != INVALID_SOCKET &&
         table_.wait_for_request(connection, stream.buffered(), keep_alive);
         --left) {
      close_after_answer_ = false;
      bool closed = false;
      ok = process_request(stream, left == 1, closed, nullptr);
      linger = close_after_answer_;
      if (!ok || closed || linger) {
        break;
      }
      if (!stream.buffered()) {  // else the next request is already here: busy still
        table_.set_idle(connection);
      }
    }
    if (linger) {
      linger_and_close_reading(sock);
    }
    table_.finish(connection);  // before close: the table never touches a reused descriptor
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
  }

  ConnectionTable& table_;
  static thread_local bool close_after_answer_;
};

thread_local bool HttpServer::close_after_answer_ = false;

// One worker thread per connection (httplib serves a keep-alive connection on one thread for its
// whole life); counts the connections accepted, and tells the table, which closes an idle one if
// the new one would find no worker free.
class ConnectionPool : public httplib::ThreadPool {
 public:
  ConnectionPool(std::size_t threads, std::atomic<std::uint64_t>& accepted, ConnectionTable& table)
      : httplib::ThreadPool(threads), accepted_(accepted), table_(table) {}

  void enqueue(std::function<void()> fn) override {
    ++accepted_;
    table_.accepted();
    httplib::ThreadPool::enqueue(std::move(fn));
  }

 private:
  std::atomic<std::uint64_t>& accepted_;
  ConnectionTable& table_;
};

enum class Status { Pending, Processing, Succeeded, Failed };

const char* status_name(Status status) {
  switch (status) {
    case Status::Pending:
      return "pending";
    case Status::Processing:
      return "processing";
    case Status::Succeeded:
      return "succeeded";
    case Status::Failed:
      return "failed";
  }
  return "unknown";
}

struct Run {
  std::string id;
  std::string key;
  std::string model;
  std::string prompt;
  std::int64_t cost = 0;
  ImageSize size;
  SteadyClock::time_point created;
  SystemClock::time_point created_wall;
  milliseconds pending_for{0};
  milliseconds latency{0};  // create -> terminal
  bool fail = false;
  bool never = false;
  std::uint64_t polls = 0;
};

// The status is a function of the time since create, computed on every read.
Status status_at(const Run& run, SteadyClock::time_point now) {
  const auto age = now - run.created;
  if (age < run.pending_for) {
    return Status::Pending;
  }
  if (run.never || age < run.latency) {
    return Status::Processing;
  }
  return run.fail ? Status::Failed : Status::Succeeded;
}

struct Account {
  std::int64_t balance = 0;
  std::int64_t spent = 0;  // lifetime spend, net of refunds: what a spend limit counts
  int runs_created = 0;    // what a usage quota counts
  std::vector<std::string> unsettled_failures;  // runs that will fail and are not yet refunded
};

bool contains(std::string_view text, std::string_view token) {
  return text.find(token) != std::string_view::npos;
}

std::string iso8601(SystemClock::time_point tp) {
  const auto ms = std::chrono::duration_cast<milliseconds>(tp.time_since_epoch()).count();
  const auto secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const auto millis = static_cast<int>(ms - static_cast<long long>(secs) * 1000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[40];
  std::snprintf(out, sizeof out, "%s.%03dZ", date, millis);
  return out;
}

// "$0.05", "$10.00", "$0.012345".
std::string usd(std::int64_t micros) {
  char text[48];
  std::snprintf(text, sizeof text, "%s$%lld.%06lld", micros < 0 ? "-" : "",
                static_cast<long long>(std::llabs(micros) / 1000000),
                static_cast<long long>(std::llabs(micros) % 1000000));
  std::string out = text;
  while (out.size() > 3 && out.back() == '0' && out[out.size() - 3] != '.') {
    out.pop_back();
  }
  return out;
}

std::string mask_key(const std::string& key) {
  if (key.size() <= 7) {
    return key.substr(0, 3) + "...";
  }
  return key.substr(0, 3) + "..." + key.substr(key.size() - 4);
}

std::string lower(std::string text) {
  for (auto& c : text) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return text;
}

// "host" as it goes in a URL: IPv6 literals in brackets.
std::string url_host(const std::string& host) {
  if (host.find(':') != std::string::npos && host.front() != '[') {
    return "[" + host + "]";
  }
  return host;
}

void send_json(httplib::Response& res, int status, const ordered_json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message,
                const std::string& code) {
  ordered_json error;
  error["message"] = message;
  if (!code.empty()) {
    error["code"] = code;
  }
  ordered_json body;
  body["error"] = std::move(error);
  send_json(res, status, body);
}

bool is_admin_path(const std::string& path) { return path.rfind("/_emulator/", 0) == 0; }

// The first value of an X-Forwarded-* header ("https, http" after two proxies: the client's own),
// without surrounding blanks.
std::string first_forwarded(const std::string& value) {
  const std::string first = value.substr(0, value.find(','));
  const auto begin = first.find_first_not_of(" \t");
  if (begin == std::string::npos) {
    return {};
  }
  return first.substr(begin, first.find_last_not_of(" \t") - begin + 1);
}

}  // namespace

struct Emulator::Impl {
  explicit Impl(Config cfg)
      : config(std::move(cfg)), rate(config.rate_limit_requests, config.rate_limit_window) {
    if (config.seed) {
      rng.seed(*config.seed);
    } else {
      std::random_device device;
      rng.seed((static_cast<std::uint64_t>(device()) << 32U) ^ device());
    }
    make_data_dir();
  }

  ~Impl() {
    stop();
    if (remove_data_dir && !data_dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(data_dir, ignored);
    }
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void make_data_dir() {
    namespace fs = std::filesystem;
    if (!config.data_dir.empty()) {
      std::error_code error;
      fs::create_directories(config.data_dir, error);
      if (error || !fs::is_directory(config.data_dir)) {
        throw std::runtime_error("cannot create the data directory " + config.data_dir + ": " +
                                 error.message());
      }
      data_dir = config.data_dir;
      return;
    }
    std::error_code error;
    fs::path base = fs::temp_directory_path(error);
    if (error) {
      base = "/tmp";
    }
    std::string pattern = (base / "runbase-emulator-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("cannot create a temporary data directory in " + base.string() +
                               ": " + std::strerror(errno));
    }
    data_dir = pattern;
    remove_data_dir = true;
  }

  // --- HTTP plumbing ----------------------------------------------------------------------------

  int bind() {
    server.new_task_queue = [this] {
      return new ConnectionPool(config.threads, connections, connection_table);
    };
    server.set_keep_alive_max_count(100000);
    server.set_tcp_nodelay(true);
    server.set_payload_max_length(max_body_bytes);
    // httplib's default sets SO_REUSEPORT, which lets a second emulator bind the same port and
    // share its connections; SO_REUSEADDR alone still allows a quick restart.
    server.set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    setup_routes();
    errno = 0;
    int bound = -1;
    if (config.port == 0) {
      bound = server.bind_to_any_port(config.host);
    } else if (server.bind_to_port(config.host, config.port)) {
      bound = config.port;
    }
    if (bound <= 0) {
      const int saved = errno;
      throw std::runtime_error("cannot listen on " + url_host(config.host) + ":" +
                               std::to_string(config.port) +
                               (saved != 0 ? std::string(": ") + std::strerror(saved) : ""));
    }
    server.raise_backlog(1024);
    port = bound;
    return bound;
  }

  bool run() { return server.listen_after_bind(); }

  void stop() {
    if (stopping.exchange(true)) {
      return;
    }
    server.close_listener();
    // Idle keep-alive connections would otherwise hold their worker (and so run()) for up to
    // the keep-alive timeout.
    if (port > 0) {
      shutdown_connections_for_reading(port);
    }
  }

  std::string base_url() const {
    return "http://" + url_host(config.host) + ":" + std::to_string(port) + "/api/v1";
  }

  void setup_routes() {
    // The body is read here, not by httplib: 0.11 reads a chunked body whole, whatever its size
    // and set_payload_max_length (a 300 MB one took 534 MB before its 413).
    server.Post("/api/v1/runs", [this](const httplib::Request& req, httplib::Response& res,
                                       const httplib::ContentReader& reader) {
      std::string body;
      if (read_body(req, reader, res, body)) {
        handle_create(req, body, res);
      }
    });
    server.Get(R"(/api/v1/runs/([^/]+))", [this](const httplib::Request& req,
                                                 httplib::Response& res) { handle_get(req, res); });
    server.Get(
        R"(/files/generated/([^/]+)\.png)",
        [this](const httplib::Request& req, httplib::Response& res) { handle_file(req, res); });
    server.Get("/_emulator/stats", [this](const httplib::Request&, httplib::Response& res) {
      res.status = 200;
      res.set_content(stats(), "application/json");
    });
    // Before routing, where cpp-httplib has not yet read (or refused) a body: `curl -X POST` sends
    // a POST with no Content-Length, which a route would answer with a 400.
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (req.path != "/_emulator/reset" || req.method != "POST") {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      reset();
      res.status = 200;
      res.set_content(stats(), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    });
    const auto unrouted = [this](const httplib::Request& req, httplib::Response& res) {
      handle_unrouted(req, res);
    };
    server.Get(".*", unrouted);
    server.Post(".*", unrouted);
    server.Put(".*", unrouted);
    server.Patch(".*", unrouted);
    server.Delete(".*", unrouted);
    server.Options(".*", unrouted);

    // Errors httplib answers itself (malformed request, body over the limit) get the envelope.
    server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&,
                                                                     httplib::Response& res) {
      if (!res.body.empty() || res.content_provider_) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      switch (res.status) {
        case 404:
          send_error(res, 404, "Not found", "not_found");
          break;
        case 413:
          send_error(res, 413, "Request body too large (the limit is 1 MiB)", "payload_too_large");
          break;
        case 414:
          send_error(res, 414, "Request URI too long", "uri_too_long");
          break;
        default:
          send_error(res, res.status, "Malformed HTTP request", "bad_request");
          break;
      }
      return httplib::Server::HandlerResponse::Handled;
    }));

    // Runs after every handler and before a byte of the answer is written: the request id, and
    // the counters (so a client that has its answer always finds it counted).
    server.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (res.get_header_value("Connection") == "close") {
        res.headers.erase("Keep-Alive");
      }
      if (!res.has_header("X-Request-Id")) {
        res.set_header("X-Request-Id", request_id());
      }
      const bool dropped = res.has_header(dropped_marker);
      if (dropped) {
        res.headers.erase(dropped_marker);
      }
      // A dropped request was counted by drop() itself, before the connection went: counted
      // here, after it, a client could read the stats before the count.
      if (!is_admin_path(req.path) && !dropped) {
        count(req, res.status);
      }
      if (config.verbose) {
        std::fprintf(stderr, "runbase-emulator: %s %s %s %s\n", req.method.c_str(),
                     req.path.c_str(), dropped ? "dropped" : std::to_string(res.status).c_str(),
                     res.get_header_value("X-Request-Id").c_str());
      }
    });
  }

  void count(const httplib::Request& req, int status) {
    const std::lock_guard<std::mutex> lock(mutex);
    if (req.method == "POST" && req.path == "/api/v1/runs") {
      ++requests_create;
    } else if ((req.method == "GET" || req.method == "HEAD") &&
               req.path.rfind("/api/v1/runs/", 0) == 0) {
      ++requests_get;
    } else if (req.path.rfind("/files/", 0) == 0) {
      ++requests_files;
    } else {
      ++requests_other;
    }
    ++responses[status];
  }

  void handle_unrouted(const httplib::Request& req, httplib::Response& res) {
    std::string allowed;
    if (req.path == "/api/v1/runs") {
      allowed = "POST";
    } else if (req.path.rfind("/api/v1/runs/", 0) == 0 && req.path.size() > 13 &&
               req.path.find('/', 13) == std::string::npos) {
      allowed = "GET";
    } else if (req.path == "/_emulator/stats" || req.path.rfind("/files/generated/", 0) == 0) {
      allowed = "GET";
    } else if (req.path == "/_emulator/reset") {
      allowed = "POST";
    }
    if (!allowed.empty() && req.method != allowed && !(allowed == "GET" && req.method == "HEAD")) {
      res.set_header("Allow", allowed);
      send_error(res, 405, req.method + " is not allowed on " + req.path + " (use " + allowed + ")",
                 "method_not_allowed");
      return;
    }
    send_error(res, 404, "No route for " + req.method + " " + req.path, "not_found");
  }

  // --- The API --------------------------------------------------------------------------------

  std::string request_id() {
    static constexpr char hex[] = "0123456789abcdef";
    std::string id = "req_";
    const std::lock_guard<std::mutex> lock(mutex);
    for (int i = 0; i < 24; ++i) {
      id += hex[rng() % 16];
    }
    return id;
  }

  // --fault-rate: true when this request was answered with a random 500 or 429.
  bool inject_fault(httplib::Response& res) {
    if (config.fault_rate <= 0.0) {
      return false;
    }
    bool is_500 = false;
    {
      const std::lock_guard<std::mutex> lock(mutex);
      if (std::uniform_real_distribution<double>(0.0, 1.0)(rng) >= config.fault_rate) {
        return false;
      }
      is_500 = (rng() & 1U) == 0;
    }
    if (is_500) {
      send_error(res, 500, "Internal server error", "");
    } else {
      res.set_header("Retry-After", "1");
      send_error(res, 429, "Rate limit exceeded", "RATE_LIMITED");
    }
    return true;
  }

  // Sets `key` from "Authorization: Bearer <key>", or answers 401.
  bool authenticate(const httplib::Request& req, httplib::Response& res, std::string& key) {
    const std::string header = req.get_header_value("Authorization");
    const auto space = header.find(' ');
    std::string token;
    if (space != std::string::npos && lower(header.substr(0, space)) == "bearer") {
      const auto start = header.find_first_not_of(' ', space);
      if (start != std::string::npos) {
        token = header.substr(start);
      }
    }
    if (token.empty() || token.find_first_of(" \t") != std::string::npos) {
      send_error(res, 401, "Missing or malformed Authorization header: send 'Bearer sk-...'",
                 "missing_api_key");
      return false;
    }
    const bool accepted = config.api_keys.empty()
                              ? token.size() > 3 && token.rfind("sk-", 0) == 0
                              : std::find(config.api_keys.begin(), config.api_keys.end(), token) !=
                                    config.api_keys.end();
    if (!accepted) {
      send_error(res, 401, "Invalid API key", "invalid_api_key");
      return false;
    }
    const auto& allowed = config.allowed_ips;
    if (!allowed.empty() &&
        std::find(allowed.begin(), allowed.end(), req.remote_addr) == allowed.end()) {
      send_error(res, 403,
                 "IP address " + req.remote_addr +
                     " is not on this API key's allow-list; add it in Settings -> API Keys",
                 "ip_not_allowed");
      return false;
    }
    key = std::move(token);
    return true;
  }

  // The per-key sliding window, shared by POST and GET.
  bool admit(const std::string& key, httplib::Response& res) {
    RateWindow::Decision decision;
    {
      const std::lock_guard<std::mutex> lock(mutex);
      decision = rate.admit(key, SteadyClock::now());
    }
    if (decision.admitted) {
      return true;
    }
    const auto seconds = std::max<long long>(1, (decision.retry_after.count() + 999) / 1000);
    res.set_header("Retry-After", std::to_string(seconds));
    send_error(res, 429, "Rate limit exceeded", "RATE_LIMITED");
    return false;
  }

  Account& account(const std::string& key) {
    auto it = accounts.find(key);
    if (it == accounts.end()) {
      it = accounts.emplace(key, Account{config.balance_micros, 0, 0, {}}).first;
    }
    return it->second;
  }

  // Refunds the runs of this account that have failed by `now` (failure is computed on read, so
  // the refund is too). Call with the lock held.
  void settle(Account& acc, SteadyClock::time_point now) {
    auto& pending = acc.unsettled_failures;
    pending.erase(std::remove_if(pending.begin(), pending.end(),
                                 [&](const std::string& id) {
                                   const Run& run = runs.at(id);
                                   if (status_at(run, now) != Status::Failed) {
                                     return false;
                                   }
                                   acc.balance += run.cost;
                                   acc.spent -= run.cost;
                                   return true;
                                 }),
                  pending.end());
  }

  // --max-runs: forgets the oldest finished runs while more than the limit are kept (a long soak
  // test would otherwise grow without end). A failed run is refunded first. Runs not finished are
  // kept whatever their number: forgetting one would lose a run a client is still waiting for.
  // Call with the lock held.
  void evict_runs(SteadyClock::time_point now) {
    auto it = run_order.begin();
    while (runs.size() > config.max_runs && it != run_order.end()) {
      const auto found = runs.find(*it);
      const Status status = status_at(found->second, now);
      if (status != Status::Succeeded && status != Status::Failed) {
        ++it;
        continue;
      }
      if (status == Status::Failed) {
        settle(account(found->second.key), now);
      }
      runs.erase(found);
      it = run_order.erase(it);
      ++runs_evicted;
    }
  }

  std::string new_run_id() {
    static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string id = "run_";
    for (int i = 0; i < 24; ++i) {
      id += alphabet[rng() % (sizeof alphabet - 1)];
    }
    return id;
  }

  // Reads the request body into `body`, up to max_body_bytes. Past that (or a body that breaks
  // off, or bad chunked encoding) it answers 413 (or 400) at once, without reading the rest, and
  // closes the connection after the answer: the rest of the body cannot be told from a next
  // request.
  bool read_body(const httplib::Request& req, const httplib::ContentReader& reader,
                 httplib::Response& res, std::string& body) {
    const bool chunked =
        lower(req.get_header_value("Transfer-Encoding")).find("chunked") != std::string::npos;
    bool too_large = false;
    if (!chunked && !req.has_header("Content-Length")) {
      return true;  // no body (HTTP/1.1: neither a length nor chunks)
    }
    if (!chunked) {
      const std::string length = req.get_header_value("Content-Length");
      char* end = nullptr;
      errno = 0;
      const unsigned long long declared = std::strtoull(length.c_str(), &end, 10);
      too_large = errno == ERANGE || declared > max_body_bytes;
    }
    if (!too_large) {
      const bool read = reader([&](const char* data, std::size_t length) {
        if (body.size() + length > max_body_bytes) {
          too_large = true;
          return false;
        }
        body.append(data, length);
        return true;
      });
      if (read) {
        return true;
      }
    }
    HttpServer::close_after_answer();
    res.set_header("Connection", "close");
    if (too_large) {
      send_error(res, 413, "Request body too large (the limit is 1 MiB)", "payload_too_large");
    } else {
      send_error(res, 400, "The request body ended early or its chunked encoding is broken",
                 "bad_request");
    }
    return false;
  }

  void handle_create(const httplib::Request& req, const std::string& request_body,
                     httplib::Response& res) {
    if (inject_fault(res)) {
      return;
    }
    std::string key;
    if (!authenticate(req, res, key) || !admit(key, res)) {
      return;
    }

    const json body = json::parse(request_body, nullptr, false);
    if (body.is_discarded()) {
      send_error(res, 400, "Request body is not valid JSON", "invalid_json");
      return;
    }
    if (!body.is_object() || !body.contains("model") || !body["model"].is_string()) {
      send_error(res, 400, "model is required and must be a string like \"openai/gpt-image-1\"",
                 "missing_model");
      return;
    }
    if (!body.contains("input") || !body["input"].is_object()) {
      send_error(res, 400, "input is required and must be an object", "missing_input");
      return;
    }
    const auto& model_id = body["model"].get_ref<const std::string&>();
    const ModelSchema* model = find_model(model_id);
    if (model == nullptr) {
      send_error(res, 400, "Model not found: " + model_id, "model_not_found");
      return;
    }
    const json& input = body["input"];
    const std::string problem = validate_input(*model, input);
    if (!problem.empty()) {
      send_error(res, 400, problem, "invalid_input");
      return;
    }
    const auto& prompt = input["prompt"].get_ref<const std::string&>();

    // Faults at create: neither makes a run nor charges.
    if (contains(prompt, drop_token)) {
      drop(req, res);
      return;
    }
    if (contains(prompt, error_token)) {
      send_error(res, 500, "Internal server error", "");
      return;
    }

    const std::int64_t cost = cost_micros(*model, input);
    const auto now = SteadyClock::now();
    ordered_json reply;
    {
      const std::lock_guard<std::mutex> lock(mutex);
      Account& acc = account(key);
      settle(acc, now);
      if (config.usage_quota > 0 && acc.runs_created >= config.usage_quota) {
        send_error(res, 429, "Usage quota exceeded for this API key", "USAGE_EXCEEDED");
        return;
      }
      if (config.spend_limit_micros > 0 && acc.spent + cost > config.spend_limit_micros) {
        send_error(res, 403,
                   "This API key's spend limit of " + usd(config.spend_limit_micros) +
                       " is reached; raise it in Settings -> API Keys",
                   "api_key_spend_limit_exceeded");
        return;
      }
      if (acc.balance < cost) {
        send_error(res, 402,
                   "Insufficient balance: this run costs " + usd(cost) + ", the balance is " +
                       usd(acc.balance),
                   "insufficient_balance");
        return;
      }
      Run run;
      do {
        run.id = new_run_id();
      } while (runs.count(run.id) != 0);
      run.key = key;
      run.model = model->id;
      run.prompt = prompt;
      run.cost = cost;
      run.size = output_size(*model, input);
      run.created = now;
      run.created_wall = SystemClock::now();
      const double jitter = std::uniform_real_distribution<double>(0.75, 1.25)(rng);
      double latency_ms = static_cast<double>(config.latency.count()) * jitter;
      if (contains(prompt, slow_token)) {
        latency_ms *= 10.0;
      }
      run.latency = milliseconds(static_cast<long long>(latency_ms + 0.5));
      run.pending_for = std::min(milliseconds(1000), run.latency / 10);
      run.fail = contains(prompt, fail_token);
      run.never = contains(prompt, never_token);

      acc.balance -= cost;
      acc.spent += cost;
      ++acc.runs_created;
      if (run.fail && !run.never) {
        acc.unsettled_failures.push_back(run.id);
      }
      ++runs_created;
      run_order.push_back(run.id);
      reply["id"] = run.id;
      reply["model"] = run.model;
      reply["status"] = "pending";
      reply["costUsd"] = run.cost;
      runs.emplace(run.id, std::move(run));
      evict_runs(now);
    }
    send_json(res, 200, reply);
  }

  // [drop]: close the connection without answering (see socket_drop.hpp).
  void drop(const httplib::Request& req, httplib::Response& res) {
    {
      const std::lock_guard<std::mutex> lock(mutex);
      ++drops;
      ++requests_create;  // only creates are dropped
    }
    res.set_header(dropped_marker, "1");
    res.status = 500;
    std::string peer = req.remote_addr;
    if (const auto scope = peer.find('%'); scope != std::string::npos) {
      peer.erase(scope);
    }
    if (!shutdown_connection(req.local_port, peer, req.remote_port)) {
      // Not expected; the next best thing httplib allows: the status line and headers go out,
      // then the body fails and the connection is closed.
      std::fprintf(stderr, "runbase-emulator: [drop] could not find the connection's socket\n");
      res.set_chunked_content_provider("application/json",
                                       [](std::size_t, httplib::DataSink&) { return false; });
    }
  }

  // Where clients reach the emulator, for output URLs: --public-url; else the scheme and host a
  // TLS front end or proxy passed on in X-Forwarded-Proto and X-Forwarded-Host; else http and
  // the Host header (or the address bound to).
  std::string public_base(const httplib::Request& req) const {
    if (!config.public_url.empty()) {
      std::string base = config.public_url;
      while (!base.empty() && base.back() == '/') {
        base.pop_back();
      }
      return base;
    }
    std::string scheme = lower(first_forwarded(req.get_header_value("X-Forwarded-Proto")));
    if (scheme != "https" && scheme != "http") {
      scheme = "http";
    }
    std::string host = first_forwarded(req.get_header_value("X-Forwarded-Host"));
    if (host.empty() || host.find_first_of("/\\@?# ") != std::string::npos) {
      host = req.get_header_value("Host");
    }
    if (host.empty()) {
      const std::string bound =
          (config.host == "0.0.0.0" || config.host == "::") ? "127.0.0.1" : config.host;
      host = url_host(bound) + ":" + std::to_string(port);
    }
    return scheme + "://" + host;
  }

  ordered_json run_json(const Run& run, Status status, const std::string& base) const {
    ordered_json j;
    j["id"] = run.id;
    j["status"] = status_name(status);
    j["model"] = run.model;
    j["costUsd"] = run.cost;
    if (status == Status::Succeeded) {
      j["output"]["urls"] = ordered_json::array({base + "/files/generated/" + run.id + ".png"});
    }
    if (status == Status::Failed) {
      const std::string message =
          "The provider failed to generate the image (the prompt contains [fail])";
      if (config.error_format == ErrorFormat::Object) {
        j["error"] = {{"message", message}, {"code", "generation_failed"}};
      } else {
        j["error"] = message;
      }
    }
    j["createdAt"] = iso8601(run.created_wall);
    if (status == Status::Succeeded || status == Status::Failed) {
      j["completedAt"] = iso8601(run.created_wall + run.latency);
    }
    return j;
  }

  void handle_get(const httplib::Request& req, httplib::Response& res) {
    if (inject_fault(res)) {
      return;
    }
    std::string key;
    if (!authenticate(req, res, key) || !admit(key, res)) {
      return;
    }
    const std::string id = req.matches[1];
    ordered_json reply;
    {
      const std::lock_guard<std::mutex> lock(mutex);
      const auto it = runs.find(id);
      if (it == runs.end() || it->second.key != key) {
        send_error(res, 404, "No run with this ID for your account", "run_not_found");
        return;
      }
      Run& run = it->second;
      ++run.polls;
      reply = run_json(run, status_at(run, SteadyClock::now()), public_base(req));
    }
    send_json(res, 200, reply);
  }

  // --- Output files (no auth, like the CDN) ---------------------------------------------------

  void handle_file(const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    std::string prompt;
    ImageSize size;
    {
      const std::lock_guard<std::mutex> lock(mutex);
      const auto it = runs.find(id);
      if (it == runs.end() || status_at(it->second, SteadyClock::now()) != Status::Succeeded) {
        send_error(res, 404, "No file at " + req.path, "not_found");
        return;
      }
      prompt = it->second.prompt;
      size = it->second.size;
    }
    std::shared_ptr<const std::string> png;
    try {
      png = image(prompt, size);
    } catch (const std::exception& e) {
      send_error(res, 500, std::string("Cannot produce the image: ") + e.what(), "");
      return;
    }
    res.status = 200;
    res.set_content_provider(
        png->size(), "image/png",
        [png](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
          return sink.write(png->data() + offset, length);
        });
  }

  // The image for a prompt and size: from memory, else from the data directory, else drawn and
  // saved there.
  std::shared_ptr<const std::string> image(const std::string& prompt, ImageSize size) {
    char name[64];
    std::snprintf(name, sizeof name, "%016llx-%dx%d.png",
                  static_cast<unsigned long long>(prompt_seed(prompt)), size.width, size.height);
    {
      const std::lock_guard<std::mutex> lock(image_mutex);
      const auto it = images.find(name);
      if (it != images.end()) {
        return it->second;
      }
    }
    const std::filesystem::path path = std::filesystem::path(data_dir) / name;
    std::shared_ptr<const std::string> png;
    std::ifstream in(path, std::ios::binary);
    if (in) {
      png = std::make_shared<const std::string>(std::istreambuf_iterator<char>(in),
                                                std::istreambuf_iterator<char>());
    } else {
      png = std::make_shared<const std::string>(encode_png(size, prompt_seed(prompt)));
      // Write then rename, so a reader never sees half a file.
      const std::filesystem::path temp = path.string() + ".tmp" + std::to_string(::getpid()) + "-" +
                                         std::to_string(++temp_counter);
      {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        out.write(png->data(), static_cast<std::streamsize>(png->size()));
      }
      std::error_code ignored;
      std::filesystem::rename(temp, path, ignored);
      if (ignored) {
        std::filesystem::remove(temp, ignored);
      }
    }
    const std::lock_guard<std::mutex> lock(image_mutex);
    const auto inserted = images.emplace(name, png);
    if (inserted.second) {
      image_order.emplace_back(name);
      if (image_order.size() > image_cache_entries) {
        images.erase(image_order.front());
        image_order.pop_front();
      }
    }
    return inserted.first->second;
  }

  // --- /_emulator/reset -----------------------------------------------------------------------

  // Back to the state at start, for a test suite that shares one emulator between its tests: no
  // runs, every key's balance, spend and quota as configured, empty rate windows, counters at 0.
  // The random sequence (--seed) and the connections count go on.
  void reset() {
    const std::lock_guard<std::mutex> lock(mutex);
    runs.clear();
    run_order.clear();
    accounts.clear();
    rate = RateWindow(config.rate_limit_requests, config.rate_limit_window);
    requests_create = requests_get = requests_files = requests_other = 0;
    runs_created = 0;
    runs_evicted = 0;
    drops = 0;
    responses.clear();
  }

  // --- /_emulator/stats -----------------------------------------------------------------------

  std::string stats() {
    const auto now = SteadyClock::now();
    const std::lock_guard<std::mutex> lock(mutex);
    ordered_json j;
    j["requests"] = {{"create", requests_create},
                     {"get", requests_get},
                     {"files", requests_files},
                     {"other", requests_other}};
    j["responses"] = ordered_json::object();
    for (const auto& entry : responses) {
      j["responses"][std::to_string(entry.first)] = entry.second;
    }
    j["runs_created"] = runs_created;
    j["runs_kept"] = runs.size();
    j["runs_evicted"] = runs_evicted;
    j["drops"] = drops;
    j["connections"] = connections.load();
    j["idle_connections_closed"] = connection_table.closed_for_newer();
    // The newest runs only, oldest first: 40,000 runs would be 160 MB of JSON.
    j["runs"] = ordered_json::array();
    const std::size_t skipped =
        run_order.size() > stats_runs_listed ? run_order.size() - stats_runs_listed : 0;
    for (auto id = run_order.begin() + static_cast<std::ptrdiff_t>(skipped); id != run_order.end();
         ++id) {
      const Run& run = runs.at(*id);
      ordered_json r;
      r["id"] = run.id;
      r["model"] = run.model;
      r["prompt"] = run.prompt;
      r["status"] = status_name(status_at(run, now));
      r["polls"] = run.polls;
      r["costUsd"] = run.cost;
      r["createdAt"] = iso8601(run.created_wall);
      j["runs"].push_back(std::move(r));
    }
    j["accounts"] = ordered_json::array();
    for (auto& entry : accounts) {
      settle(entry.second, now);
      j["accounts"].push_back(
          {{"key", mask_key(entry.first)}, {"balanceUsd", entry.second.balance}});
    }
    return j.dump();
  }

  Config config;
  std::string data_dir;
  bool remove_data_dir = false;
  ConnectionTable connection_table{config.threads};
  HttpServer server{connection_table};
  int port = -1;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> connections{0};

  std::mutex mutex;  // guards everything below it
  std::mt19937_64 rng;
  RateWindow rate;
  std::map<std::string, Run> runs;
  std::deque<std::string> run_order;  // oldest first
  std::map<std::string, Account> accounts;
  std::uint64_t requests_create = 0;
  std::uint64_t requests_get = 0;
  std::uint64_t requests_files = 0;
  std::uint64_t requests_other = 0;
  std::uint64_t runs_created = 0;
  std::uint64_t runs_evicted = 0;
  std::uint64_t drops = 0;
  std::map<int, std::uint64_t> responses;

  std::mutex image_mutex;  // guards the image cache
  std::map<std::string, std::shared_ptr<const std::string>> images;
  std::deque<std::string> image_order;
  std::atomic<std::uint64_t> temp_counter{0};
};

Emulator::Emulator(Config config) {
  // A [drop] shuts a connection down under httplib, whose next write must fail, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  impl_ = std::make_unique<Impl>(std::move(config));
}

Emulator::~Emulator() = default;

int Emulator::bind() { return impl_->bind(); }

bool Emulator::run() { return impl_->run(); }

void Emulator::stop() { impl_->stop(); }

std::string Emulator::base_url() const { return impl_->base_url(); }

const std::string& Emulator::data_dir() const { return impl_->data_dir; }

std::string Emulator::stats_json() const { return impl_->stats(); }

}  // namespace runbase::emulator
