// Fuzzes the mapping of an HTTP error response to an exception (detail::make_http_error), with an
// arbitrary status, headers and body.
//
// An input reads like a raw HTTP response, so the seed corpus is readable and the fuzzer's
// mutations stay meaningful:
//   HTTP/1.1 <status> <reason>\r\n
//   <Name>: <value>\r\n ...
//   \r\n
//   <body>
// The status is whatever integer follows the first space (negative and huge ones included).
//
// Properties: building never throws; the exception's class follows the status alone (and the
// 429 code); status, code, request id, the redacted message and body, and Retry-After are carried;
// `what()` is a non-empty sentence and never shows an `sk-` key.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>

#include "error_mapping.hpp"
#include "json_codec.hpp"
#include "redact.hpp"
#include "runbase/errors.hpp"
#include "runbase/transport.hpp"
#include "text.hpp"

namespace {

void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

runbase::HttpResponse read_response(std::string_view text) {
  runbase::HttpResponse response;
  const std::size_t end_of_headers =
      text.find("\n\r\n") != std::string_view::npos
          ? text.find("\n\r\n") + 3
          : (text.find("\n\n") != std::string_view::npos ? text.find("\n\n") + 2 : text.size());
  std::string_view head = text.substr(0, end_of_headers);
  response.body = std::string(text.substr(end_of_headers));

  bool first = true;
  while (!head.empty()) {
    const std::size_t newline = head.find('\n');
    const std::string_view line = trim(head.substr(0, newline));
    head.remove_prefix(newline == std::string_view::npos ? head.size() : newline + 1);
    if (first) {
      first = false;
      // "HTTP/1.1 503 Service Unavailable": the integer after the first space, sign included.
      std::size_t at = line.find(' ');
      at = at == std::string_view::npos ? line.size() : at + 1;
      bool negative = at < line.size() && line[at] == '-';
      if (negative) ++at;
      long long status = 0;
      for (std::size_t digits = 0; at < line.size() && digits < 10; ++at, ++digits) {
        if (line[at] < '0' || line[at] > '9') break;
        status = status * 10 + (line[at] - '0');
      }
      response.status = static_cast<int>(negative ? -status : status);
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    response.headers.emplace_back(std::string(trim(line.substr(0, colon))),
                                  std::string(trim(line.substr(colon + 1))));
  }
  return response;
}

bool is_token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~' || c == '+' || c == '/' || c == '=';
}

// Every "sk-" that starts a token is followed by the redaction mark.
bool shows_no_key(std::string_view text) {
  for (std::size_t i = 0; i + 3 <= text.size(); ++i) {
    if (!runbase::detail::iequals(text.substr(i, 3), "sk-")) continue;
    if (i > 0 && is_token_char(text[i - 1])) continue;
    if (text.substr(i + 3, 3) != "***") return false;
  }
  return true;
}

const std::type_info& expected_class(int status, const std::string& code) {
  if (status >= 300 && status < 400) return typeid(runbase::ProtocolError);
  switch (status) {
    case 400:
      return typeid(runbase::BadRequestError);
    case 401:
      return typeid(runbase::AuthenticationError);
    case 402:
      return typeid(runbase::InsufficientCreditsError);
    case 403:
      return typeid(runbase::PermissionDeniedError);
    case 404:
      return typeid(runbase::NotFoundError);
    case 429:
      return code == "USAGE_EXCEEDED" ? typeid(runbase::UsageExceededError)
                                      : typeid(runbase::RateLimitError);
    default:
      return status >= 500 ? typeid(runbase::ServerError) : typeid(runbase::ApiError);
  }
}

void check_error(const runbase::HttpResponse& response, std::string_view method,
                 std::string_view path) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'750'000'000));
  const runbase::detail::HttpError mapped =
      runbase::detail::make_http_error(response, method, path, now);
  const std::exception_ptr& built = mapped.error;
  check(built != nullptr, "an error is always built");
  const runbase::detail::ErrorEnvelope envelope =
      runbase::detail::parse_error_envelope(response.body);
  try {
    std::rethrow_exception(built);
  } catch (const runbase::ApiError& error) {
    check(typeid(error) == expected_class(response.status, envelope.code),
          "the class follows the status");
    check(error.status() == response.status, "status() is the response's");
    check(error.code() == envelope.code, "code() is error.code");
    check(error.server_message() == runbase::detail::redact(envelope.message),
          "server_message() is error.message, redacted");
    check(error.body() == runbase::detail::redact(response.body), "body() is the redacted body");
    const std::string* id = response.find_header("X-Request-Id");
    check(error.request_id() == (id ? *id : std::string()), "request_id() is X-Request-Id");
    const std::string* retry_after = response.find_header("Retry-After");
    check(error.details().retry_after ==
              (retry_after ? runbase::detail::parse_retry_after(*retry_after, now) : std::nullopt),
          "retry_after is the header's");
    check(mapped.retry_after == error.details().retry_after, "the retry loop sees the same delay");
    check((mapped.kind == runbase::detail::ErrorKind::UsageExceeded) ==
              (typeid(error) == typeid(runbase::UsageExceededError)),
          "the retry loop tells a spent quota from a rate limit as the class does");
    check(error.outcome_unknown() == (response.status >= 500), "only a 5xx leaves it unknown");
    check(error.what()[0] != '\0', "what() says something");
    check(shows_no_key(error.what()), "what() never shows a key");
  } catch (const runbase::ProtocolError& error) {
    check(response.status >= 300 && response.status < 400, "only a 3xx is a protocol error");
    check(!error.outcome_unknown(), "a redirect was not acted on");
    check(shows_no_key(error.what()), "what() never shows a key");
  }
  // Anything else escapes and aborts: a wrong class is a bug.
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const runbase::HttpResponse response =
      read_response(std::string_view(reinterpret_cast<const char*>(data), size));
  check_error(response, "GET", "/api/v1/runs/run_123");
  check_error(response, "POST", "/api/v1/runs");
  return 0;
}
