#ifndef RUNBASE_TRANSPORT_HPP
#define RUNBASE_TRANSPORT_HPP

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runbase/cancellation.hpp"
#include "runbase/export.hpp"

namespace runbase {

/// Severity of a line passed to `ClientOptions::logger`.
enum class LogLevel { Debug, Info, Warning };

/// One HTTP request, as the Client hands it to an `HttpTransport`.
struct HttpRequest {
  std::string method;  ///< "GET" or "POST"
  std::string url;     ///< absolute http(s) URL, already percent-encoded
  /// In order. API calls carry the key in `Authorization`: never log that value.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                      ///< JSON for POST; empty for GET
  std::chrono::milliseconds timeout{0};  ///< whole request; 0: none
  bool follow_redirects = false;         ///< true only for downloads
  std::size_t max_response_bytes = 0;    ///< 0: no cap
  /// When set, a transport should abort the transfer soon after `cancel()` and throw
  /// `CancelledError`. Transports that ignore it are still correct, only slower to stop.
  const CancellationToken* cancel = nullptr;
};

/// One HTTP response, error statuses included.
struct RUNBASE_EXPORT HttpResponse {
  int status = 0;  ///< of the last response, after any redirects followed
  std::vector<std::pair<std::string, std::string>> headers;  ///< names as received
  std::string body;  ///< empty for a 2xx that `send_to_file` wrote to its file

  /// The first header of that name, compared case-insensitively; nullptr when absent.
  const std::string* find_header(std::string_view name) const noexcept;
};

/// The seam between the Client and the network: implement it to run the SDK over another HTTP
/// stack, to record traffic, or to script replies in tests.
///
/// Thread safety: implementations must be safe to call from many threads at once; one Client
/// shares its transport between all its calls.
class RUNBASE_EXPORT HttpTransport {
 public:
  HttpTransport() = default;
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;
  virtual ~HttpTransport();

  /// Returns any HTTP response, error statuses included. Throws `ConnectionError` or
  /// `TimeoutError` (with `outcome_unknown()` true once any byte of the request may have been
  /// sent), or `ProtocolError` when `max_response_bytes` is exceeded.
  virtual HttpResponse send(const HttpRequest& request) = 0;

  /// Like `send`, but a 2xx body is written to `file` (created or truncated) instead of being
  /// returned; any other status returns its body as `send` does. The default calls `send` and
  /// writes the body; the libcurl transport streams it, so a download never sits in memory.
  virtual HttpResponse send_to_file(const HttpRequest& request, const std::filesystem::path& file);

  /// Like `send`, but a 2xx body is handed to `on_data` piece by piece as it arrives instead of
  /// being returned (`max_response_bytes` still counts every byte); any other status returns its
  /// body as `send` does. What `on_data` throws ends the transfer and is thrown from here. The
  /// default calls `send` and hands over the whole body at once; the libcurl transport streams.
  virtual HttpResponse send_streaming(const HttpRequest& request,
                                      const std::function<void(std::string_view)>& on_data);
};

}  // namespace runbase

#endif  // RUNBASE_TRANSPORT_HPP
