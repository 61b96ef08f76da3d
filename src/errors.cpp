#include <ctime>
#include <utility>

#include "error_mapping.hpp"
#include "json_codec.hpp"
#include "redact.hpp"
#include "runbase/errors.hpp"
#include "text.hpp"

namespace runbase {

Error::Error(const std::string& message, bool outcome_unknown)
    : std::runtime_error(detail::redact(message)), outcome_unknown_(outcome_unknown) {}
Error::~Error() = default;

ValidationError::ValidationError(const std::string& message) : Error(message, false) {}
ValidationError::~ValidationError() = default;

SpendLimitError::SpendLimitError(const std::string& message, std::int64_t limit_usd_micros,
                                 std::int64_t committed_usd_micros)
    : ValidationError(message),
      limit_usd_micros_(limit_usd_micros),
      committed_usd_micros_(committed_usd_micros) {}
SpendLimitError::~SpendLimitError() = default;
std::int64_t SpendLimitError::limit_usd_micros() const noexcept { return limit_usd_micros_; }
std::int64_t SpendLimitError::committed_usd_micros() const noexcept {
  return committed_usd_micros_;
}

ApiError::ApiError(const std::string& message, ApiErrorDetails details, bool outcome_unknown)
    : Error(message, outcome_unknown),
      details_(std::make_shared<const ApiErrorDetails>(std::move(details))) {}
ApiError::~ApiError() = default;
int ApiError::status() const noexcept { return details_->status; }
const std::string& ApiError::code() const noexcept { return details_->code; }
const std::string& ApiError::server_message() const noexcept { return details_->message; }
const std::string& ApiError::body() const noexcept { return details_->body; }
const std::string& ApiError::request_id() const noexcept { return details_->request_id; }
const ApiErrorDetails& ApiError::details() const noexcept { return *details_; }

BadRequestError::~BadRequestError() = default;
AuthenticationError::~AuthenticationError() = default;
InsufficientCreditsError::~InsufficientCreditsError() = default;
PermissionDeniedError::~PermissionDeniedError() = default;
NotFoundError::~NotFoundError() = default;
RateLimitError::~RateLimitError() = default;
std::optional<std::chrono::milliseconds> RateLimitError::retry_after() const noexcept {
  return details().retry_after;
}
UsageExceededError::~UsageExceededError() = default;
ServerError::~ServerError() = default;
std::optional<std::chrono::milliseconds> ServerError::retry_after() const noexcept {
  return details().retry_after;
}

ConnectionError::ConnectionError(const std::string& message, bool outcome_unknown)
    : Error(message, outcome_unknown) {}
ConnectionError::~ConnectionError() = default;

TimeoutError::TimeoutError(const std::string& message, bool outcome_unknown, std::string run_id)
    : Error(message, outcome_unknown),
      run_id_(std::make_shared<const std::string>(std::move(run_id))) {}
TimeoutError::~TimeoutError() = default;
const std::string& TimeoutError::run_id() const noexcept { return *run_id_; }

namespace {
std::string run_failed_message(const Run& run) {
  std::string message = "Run " + run.id + " failed";
  if (run.error) {
    message += ": ";
    message += run.error->message.empty() ? "(no message)" : run.error->message;
    if (!run.error->code.empty()) message += " [" + run.error->code + "]";
  }
  message += ". Its cost was refunded; change the input or try again.";
  return message;
}
}  // namespace

RunFailedError::RunFailedError(Run run)
    : Error(run_failed_message(run), false), run_(std::make_shared<const Run>(std::move(run))) {}
RunFailedError::~RunFailedError() = default;
const Run& RunFailedError::run() const noexcept { return *run_; }

ProtocolError::ProtocolError(const std::string& message, bool outcome_unknown)
    : Error(message, outcome_unknown) {}
ProtocolError::~ProtocolError() = default;

CancelledError::CancelledError(const std::string& message, std::string run_id)
    : Error(message, false), run_id_(std::make_shared<const std::string>(std::move(run_id))) {}
CancelledError::CancelledError(const std::string& message, std::string run_id, bool outcome_unknown)
    : Error(message, outcome_unknown),
      run_id_(std::make_shared<const std::string>(std::move(run_id))) {}
CancelledError::~CancelledError() = default;
const std::string& CancelledError::run_id() const noexcept { return *run_id_; }

namespace detail {

namespace {

constexpr std::size_t kBodyExcerptBytes = 200;

const char* reason_phrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "HTTP error";
  }
}

// What the person reading the error should do next, by class and code.
std::string advice(int status, const std::string& code) {
  if (code == "insufficient_balance" || status == 402) {
    return "Top up the account's credits (Settings -> Credits), then try again.";
  }
  if (code == "missing_api_key") {
    return "Send a key: set RUNBASE_API_KEY or ClientOptions::api_key to your sk-... key.";
  }
  if (code == "invalid_api_key" || status == 401) {
    return "Check the API key: it may be wrong, disabled or expired; create or re-enable one "
           "in Settings -> API Keys.";
  }
  if (code == "api_key_spend_limit_exceeded") {
    return "The key's lifetime spend limit is reached; raise it in Settings -> API Keys.";
  }
  if (code == "ip_not_allowed") {
    return "This machine's IP is not on the key's allow-list; add it in Settings -> API Keys.";
  }
  if (status == 403) return "The key may not do this; check its settings in Settings -> API Keys.";
  if (code == "USAGE_EXCEEDED") {
    return "The key's usage quota is used up; contact support@runbase.net or use another key.";
  }
  if (status == 429) {
    return "Too many requests for this key; lower ClientOptions::rate_limit or spread the work "
           "over time.";
  }
  if (code == "run_not_found" || status == 404) {
    return "Check the run id, and that the run was created with this API key.";
  }
  if (code == "model_not_found") return "Check the model id (provider/name) on the models page.";
  if (status == 400) return "Fix the request; the message says which field.";
  if (status >= 500) {
    return "The service failed; try again later, and contact support@runbase.net if it persists.";
  }
  return "";
}

}  // namespace

HttpError make_http_error(const HttpResponse& response, std::string_view method,
                          std::string_view path, std::chrono::system_clock::time_point now) {
  HttpError mapped;
  const int status = response.status;
  mapped.kind = status >= 300 && status < 400 ? ErrorKind::Redirect
                : status == 429               ? ErrorKind::RateLimited
                : status >= 500               ? ErrorKind::Server
                                              : ErrorKind::Client;
  try {
    if (const std::string* value = response.find_header("Retry-After")) {
      mapped.retry_after = parse_retry_after(*value, now);
    }
    if (mapped.kind == ErrorKind::Redirect) {
      const std::string* location = response.find_header("Location");
      std::string message = "The server answered " + std::to_string(status) + " redirecting to " +
                            (location ? excerpt(*location, kBodyExcerptBytes) : "(no Location)") +
                            " (" + std::string(method) + " " + std::string(path) +
                            "); API calls never follow redirects, so the API key is not sent on. "
                            "Set base_url to the final address.";
      mapped.error = std::make_exception_ptr(ProtocolError(message, false));
      return mapped;
    }

    ApiErrorDetails details;
    details.status = status;
    const ErrorEnvelope envelope = parse_error_envelope(response.body);
    details.code = envelope.code;
    details.message = redact(envelope.message);
    details.body = redact(response.body);
    details.method = std::string(method);
    details.path = std::string(path);
    if (const std::string* id = response.find_header("X-Request-Id")) details.request_id = *id;
    details.retry_after = mapped.retry_after;

    std::string message = std::to_string(status);
    if (!details.code.empty()) message += " " + details.code;
    message += ": ";
    if (!details.message.empty()) {
      message += excerpt(details.message, kBodyExcerptBytes);
    } else if (response.body.empty()) {
      message += reason_phrase(status);
    } else {
      message += std::string(reason_phrase(status)) +
                 ", body: " + excerpt(response.body, kBodyExcerptBytes);
    }
    message += " (" + details.method + " " + details.path + ")";
    if (!details.request_id.empty()) message += " [request id " + details.request_id + "]";
    const std::string next = advice(status, details.code);
    if (!next.empty()) message += ". " + next;

    // A 5xx may have been acted on before the server failed: the outcome is unknown.
    const bool unknown = status >= 500;
    switch (status) {
      case 400:
        mapped.error = std::make_exception_ptr(BadRequestError(message, std::move(details)));
        break;
      case 401:
        mapped.error = std::make_exception_ptr(AuthenticationError(message, std::move(details)));
        break;
      case 402:
        mapped.error =
            std::make_exception_ptr(InsufficientCreditsError(message, std::move(details)));
        break;
      case 403:
        mapped.error = std::make_exception_ptr(PermissionDeniedError(message, std::move(details)));
        break;
      case 404:
        mapped.error = std::make_exception_ptr(NotFoundError(message, std::move(details)));
        break;
      case 429:
        if (details.code == "USAGE_EXCEEDED") {
          mapped.kind = ErrorKind::UsageExceeded;
          mapped.error = std::make_exception_ptr(UsageExceededError(message, std::move(details)));
        } else {
          mapped.error = std::make_exception_ptr(RateLimitError(message, std::move(details)));
        }
        break;
      default:
        mapped.error =
            unknown ? std::make_exception_ptr(ServerError(message, std::move(details), unknown))
                    : std::make_exception_ptr(ApiError(message, std::move(details), false));
        break;
    }
  } catch (...) {
    // Only allocation can fail above; keep the class right even then.
    mapped.error = std::current_exception();
  }
  return mapped;
}

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) noexcept {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;

  bool all_digits = true;
  for (char c : value) all_digits = all_digits && c >= '0' && c <= '9';
  if (all_digits) {
    if (value.size() > 9) return std::chrono::milliseconds(std::chrono::hours(24 * 365));
    long long seconds = 0;
    for (char c : value) seconds = seconds * 10 + (c - '0');
    return std::chrono::milliseconds(seconds * 1000);
  }

  // IMF-fixdate, the only date form HTTP/1.1 senders may generate: "Sun, 06 Nov 1994 08:49:37 GMT".
  if (value.size() != 29 || value.substr(25) != " GMT" || value[3] != ',') return std::nullopt;
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const auto number = [&](std::size_t at, std::size_t digits, int& out) {
    out = 0;
    for (std::size_t k = at; k < at + digits; ++k) {
      if (value[k] < '0' || value[k] > '9') return false;
      out = out * 10 + (value[k] - '0');
    }
    return true;
  };
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  const std::size_t month_at = kMonths.find(value.substr(8, 3));
  if (month_at == std::string_view::npos || month_at % 3 != 0) return std::nullopt;
  if (!number(5, 2, day) || !number(12, 4, year) || !number(17, 2, hour) ||
      !number(20, 2, minute) || !number(23, 2, second)) {
    return std::nullopt;
  }
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 || year < 1970) {
    return std::nullopt;
  }
  const std::int64_t epoch_seconds = unix_seconds(
      year, static_cast<unsigned>(month_at / 3) + 1, static_cast<unsigned>(day),
      static_cast<unsigned>(hour), static_cast<unsigned>(minute), static_cast<unsigned>(second));
  // In milliseconds since the epoch: a system_clock time_point (nanoseconds here) would overflow
  // for dates past 2262, and a server may send any year up to 9999.
  const std::int64_t at_ms = epoch_seconds * 1000;
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  if (at_ms <= now_ms) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(at_ms - now_ms);
}

}  // namespace detail
}  // namespace runbase
