#ifndef RUNBASE_SRC_ERROR_MAPPING_HPP
#define RUNBASE_SRC_ERROR_MAPPING_HPP

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "runbase/errors.hpp"
#include "runbase/transport.hpp"

namespace runbase::detail {

/// A ConnectionError no retry can cure: a certificate that does not verify, CA certificates that
/// cannot be loaded. Thrown by the libcurl transport; the retry rule hands it to the caller at
/// once instead of spending the retries (and the back-off) on it. Callers see a ConnectionError.
class LastingConnectionError final : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};

/// A 2xx reply whose JSON ends before it is complete: the connection was cut and the server sent
/// no length to tell (a close-delimited body, a proxy that lies about it). A poll that gets one is
/// repeated like a reset connection; callers see a ProtocolError.
class TruncatedReplyError final : public ProtocolError {
 public:
  using ProtocolError::ProtocolError;
};

/// What the retry loop needs to know about an HTTP error before deciding to retry.
enum class ErrorKind { Redirect, RateLimited, UsageExceeded, Server, Client };

/// An HTTP error response, read once: the exception for it and what the retry loop needs.
struct HttpError {
  std::exception_ptr error;
  ErrorKind kind = ErrorKind::Client;
  std::optional<std::chrono::milliseconds> retry_after;  ///< `Retry-After`, when sent and readable
};

/// The one place an HTTP error status (not 2xx) becomes an exception class: 400 BadRequestError,
/// 401 AuthenticationError, ... 5xx ServerError, other 4xx ApiError, 3xx ProtocolError. Never
/// throws while building: an empty, HTML or broken body still gives the right class with an
/// empty code. `now` resolves a Retry-After given as an HTTP date.
HttpError make_http_error(const HttpResponse& response, std::string_view method,
                          std::string_view path, std::chrono::system_clock::time_point now);

/// `Retry-After` as a delay: delta-seconds or an HTTP date (relative to `now`, never negative).
/// nullopt when absent or unreadable.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) noexcept;

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_ERROR_MAPPING_HPP
