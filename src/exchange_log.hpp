#ifndef RUNBASE_SRC_EXCHANGE_LOG_HPP
#define RUNBASE_SRC_EXCHANGE_LOG_HPP

#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <string_view>

#include "retry_decision.hpp"
#include "runbase/transport.hpp"

namespace runbase::detail {

// What both request drivers (the blocking `RequestExecutor` and the loop's `AsyncRetryLoop`) say
// and decide about one attempt, so the two never drift apart.

using Logger = std::function<void(LogLevel, std::string_view)>;

/// Sends `line`, redacted, to `logger` (if any); a throwing logger is ignored.
void log_line(const Logger& logger, LogLevel level, std::string_view line) noexcept;

/// How a request is named in messages: "POST /runs" under `base_url` (as the API docs write
/// them), else the method and the URL's whole path.
std::string request_target(const HttpRequest& request, const std::string& base_url);
/// The path part of `request_target`.
std::string display_path(const std::string& url, const std::string& base_url);

/// The Debug line of an answered exchange.
std::string exchange_line(const std::string& target, const HttpRequest& request,
                          const HttpResponse& response, std::chrono::milliseconds elapsed);
/// The Debug line of an exchange that got no answer.
std::string failure_line(const std::string& target, std::chrono::milliseconds elapsed,
                         std::string_view summary);
/// The Warning line announcing a retry.
std::string retry_line(const std::string& target, std::chrono::milliseconds delay,
                       std::string_view summary, int attempt, int max_retries);

/// How an attempt that threw `error` (from the transport) ended, for `decide_retry`; `summary`
/// gets the error's text.
AttemptOutcome transport_outcome(const std::exception_ptr& error, std::string& summary);

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_EXCHANGE_LOG_HPP
