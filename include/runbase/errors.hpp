#ifndef RUNBASE_ERRORS_HPP
#define RUNBASE_ERRORS_HPP

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "runbase/export.hpp"
#include "runbase/run.hpp"

namespace runbase {

/// Base of every exception the SDK throws.
///
/// `what()` is one sentence a person can act on; it never contains the API key. Copies share their
/// state, so copying an error never allocates or throws.
///
/// Thread safety: immutable after construction; safe to read from many threads.
class RUNBASE_EXPORT Error : public std::runtime_error {
 public:
  /// `message` becomes `what()`, with API keys and bearer tokens redacted.
  explicit Error(const std::string& message, bool outcome_unknown = false);
  ~Error() override;
  /// Shares the message with the original: never allocates or throws.
  Error(const Error&) = default;
  /// Shares the message with `other`: never allocates or throws.
  Error& operator=(const Error&) = default;

  /// True when the request may have reached the server and its effect is unknown: a timeout or
  /// broken connection after the request was sent, a 5xx, or an unreadable 2xx reply. For
  /// `create_run` this means a run may exist and be billed; the SDK never resends it, the caller
  /// decides. False for 4xx rejections, connections never established and errors raised before
  /// anything was sent.
  bool outcome_unknown() const noexcept { return outcome_unknown_; }

 private:
  bool outcome_unknown_;
};

/// Bad input or configuration, found before any request was sent: an empty prompt, six image
/// URLs, an empty run id, no API key, an `http://` base URL to a host that is not loopback.
class RUNBASE_EXPORT ValidationError : public Error {
 public:
  /// `message` should name the field and what to change. `outcome_unknown()` is always false.
  explicit ValidationError(const std::string& message);
  ~ValidationError() override;
};

/// A create refused by the Client itself: it would take this Client's spending past
/// `ClientOptions::spend_limit_usd_micros`. Nothing was sent. A `ValidationError`, so code that
/// catches those keeps working.
class RUNBASE_EXPORT SpendLimitError : public ValidationError {
 public:
  /// `limit_usd_micros`: the limit; `committed_usd_micros`: what this Client had spent, plus what
  /// its creates in flight would, when the create was refused.
  SpendLimitError(const std::string& message, std::int64_t limit_usd_micros,
                  std::int64_t committed_usd_micros);
  ~SpendLimitError() override;
  /// `ClientOptions::spend_limit_usd_micros` of the Client that refused.
  std::int64_t limit_usd_micros() const noexcept;
  /// What that Client had spent, plus its creates in flight, when it refused.
  std::int64_t committed_usd_micros() const noexcept;

 private:
  std::int64_t limit_usd_micros_;
  std::int64_t committed_usd_micros_;
};

/// What the server said when it answered with an HTTP error.
struct ApiErrorDetails {
  int status = 0;          ///< the HTTP status, 4xx or 5xx
  std::string code;        ///< `error.code` from the envelope; empty when absent
  std::string message;     ///< `error.message` from the envelope; empty when absent
  std::string body;        ///< the whole response body (never holds the API key)
  std::string request_id;  ///< from `X-Request-Id`, when sent
  std::string method;      ///< "GET" or "POST"
  std::string path;        ///< e.g. "/runs" or "/runs/run_123"
  std::optional<std::chrono::milliseconds> retry_after;  ///< from `Retry-After`, when sent
};

/// The server answered with an HTTP error status. Statuses with no class of their own (405, 409,
/// 413, ...) are thrown as `ApiError` itself.
class RUNBASE_EXPORT ApiError : public Error {
 public:
  /// The SDK builds these from the response; construct one yourself only to fake a server
  /// error in tests. `details` is kept as given, not redacted.
  ApiError(const std::string& message, ApiErrorDetails details, bool outcome_unknown = false);
  ~ApiError() override;

  /// The HTTP status, e.g. 404 or 503; it decides which subclass was thrown.
  int status() const noexcept;
  /// `error.code` (for example "invalid_input"); may be empty.
  const std::string& code() const noexcept;
  /// `error.message` as the server sent it; may be empty.
  const std::string& server_message() const noexcept;
  /// The whole response body, API keys redacted; may be empty, or not JSON.
  const std::string& body() const noexcept;
  /// `X-Request-Id` if the server sent one: quote it to support.
  const std::string& request_id() const noexcept;
  /// All of the above plus `Retry-After` and the request's method and path. The reference stays
  /// valid as long as this error or a copy of it lives.
  const ApiErrorDetails& details() const noexcept;

 private:
  std::shared_ptr<const ApiErrorDetails> details_;
};

/// 400: the request was malformed or the input failed the model's schema.
class RUNBASE_EXPORT BadRequestError : public ApiError {
 public:
  /// Same arguments as `ApiError`'s; construct one yourself only to fake this error in tests.
  using ApiError::ApiError;
  ~BadRequestError() override;
};

/// 401: no key, a malformed header, or a key that is invalid, disabled or expired.
class RUNBASE_EXPORT AuthenticationError : public ApiError {
 public:
  /// Same arguments as `ApiError`'s; construct one yourself only to fake this error in tests.
  using ApiError::ApiError;
  ~AuthenticationError() override;
};

/// 402 insufficient_balance: top up the account's credits.
class RUNBASE_EXPORT InsufficientCreditsError : public ApiError {
 public:
  /// Same arguments as `ApiError`'s; construct one yourself only to fake this error in tests.
  using ApiError::ApiError;
  ~InsufficientCreditsError() override;
};

/// 403: the key's spend limit is reached, or the caller's IP is not on its allow-list.
class RUNBASE_EXPORT PermissionDeniedError : public ApiError {
 public:
  /// Same arguments as `ApiError`'s; construct one yourself only to fake this error in tests.
  using ApiError::ApiError;
  ~PermissionDeniedError() override;
};

/// 404 run_not_found: no such run for this key.
class RUNBASE_EXPORT NotFoundError : public ApiError {
 public:
  /// Same arguments as `ApiError`'s; construct one yourself only to fake this error in tests.
  using ApiError::ApiError;
  ~NotFoundError() override;
};

/// 429 RATE_LIMITED (and a 429 with any code but USAGE_EXCEEDED). Retried automatically within
/// the retry policy; thrown when the retries or the deadline run out.
class RUNBASE_EXPORT RateLimitError : public ApiError {
 public:
  /// Same arguments as `ApiError`'s; construct one yourself only to fake this error in tests.
  using ApiError::ApiError;
  ~RateLimitError() override;
  /// The server's `Retry-After`, in seconds or as an HTTP date, when it sent one.
  std::optional<std::chrono::milliseconds> retry_after() const noexcept;
};

/// 429 USAGE_EXCEEDED: the key's usage quota is spent. Never retried.
class RUNBASE_EXPORT UsageExceededError : public ApiError {
 public:
  /// Same arguments as `ApiError`'s; construct one yourself only to fake this error in tests.
  using ApiError::ApiError;
  ~UsageExceededError() override;
};

/// 500 and every other 5xx. `outcome_unknown()` is true: the server may have acted.
class RUNBASE_EXPORT ServerError : public ApiError {
 public:
  /// Same arguments as `ApiError`'s; construct one yourself only to fake this error in tests.
  using ApiError::ApiError;
  ~ServerError() override;
  /// The server's `Retry-After`, when it sent one.
  std::optional<std::chrono::milliseconds> retry_after() const noexcept;
};

/// The server could not be reached, or the connection broke (TLS failures included).
class RUNBASE_EXPORT ConnectionError : public Error {
 public:
  /// `outcome_unknown`: true when the connection broke after the request may have been sent.
  explicit ConnectionError(const std::string& message, bool outcome_unknown = false);
  ~ConnectionError() override;
};

/// A request took longer than its timeout, or a wait passed its deadline.
class RUNBASE_EXPORT TimeoutError : public Error {
 public:
  /// `outcome_unknown`: true when the request may have been sent. `run_id`: empty unless a wait
  /// timed out (see `run_id()`).
  explicit TimeoutError(const std::string& message, bool outcome_unknown = false,
                        std::string run_id = {});
  ~TimeoutError() override;
  /// For a wait that passed its deadline: the run, still running (and billed), that can be
  /// waited on again with `Client::wait`. Empty otherwise.
  const std::string& run_id() const noexcept;

 private:
  std::shared_ptr<const std::string> run_id_;
};

/// The run ended `failed`. The service refunds a failed run.
class RUNBASE_EXPORT RunFailedError : public Error {
 public:
  /// `what()` is built from `run.id` and `run.error` and says the cost was refunded.
  explicit RunFailedError(Run run);
  ~RunFailedError() override;
  /// The failed run as last polled: its `error` says why (when the service said).
  const Run& run() const noexcept;

 private:
  std::shared_ptr<const Run> run_;
};

/// The server sent something the SDK cannot read: bad JSON, a missing `id`, a redirect on an API
/// call, a body over the size cap.
class RUNBASE_EXPORT ProtocolError : public Error {
 public:
  /// `outcome_unknown`: true when the request may have taken effect, e.g. an unreadable reply to
  /// a create.
  explicit ProtocolError(const std::string& message, bool outcome_unknown = false);
  ~ProtocolError() override;
};

/// The caller cancelled a wait through its `CancellationToken`. The run itself goes on.
class RUNBASE_EXPORT CancelledError : public Error {
 public:
  /// `run_id`: the run being waited on, empty if none. `outcome_unknown()` is false.
  explicit CancelledError(const std::string& message, std::string run_id = {});
  /// With `outcome_unknown` true when a request was cut off after it may have reached the server
  /// (a create in flight when its Client was destroyed: the run may exist and be billed).
  CancelledError(const std::string& message, std::string run_id, bool outcome_unknown);
  ~CancelledError() override;
  /// The run that was being waited on, if any: it still runs and can be waited on again.
  const std::string& run_id() const noexcept;

 private:
  std::shared_ptr<const std::string> run_id_;
};

}  // namespace runbase

#endif  // RUNBASE_ERRORS_HPP
