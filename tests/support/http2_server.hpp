#ifndef RUNBASE_TESTS_SUPPORT_HTTP2_SERVER_HPP
#define RUNBASE_TESTS_SUPPORT_HTTP2_SERVER_HPP

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "support/test_tls.hpp"

namespace runbase::test_support {

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

#endif  // RUNBASE_TESTS_SUPPORT_HTTP2_SERVER_HPP
