#include "exchange_log.hpp"

#include "redact.hpp"
#include "runbase/errors.hpp"
#include "url.hpp"

namespace runbase::detail {

namespace {

std::string seconds_text(std::chrono::milliseconds delay) {
  const long long tenths = delay.count() / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

}  // namespace

void log_line(const Logger& logger, LogLevel level, std::string_view line) noexcept {
  if (!logger) return;
  try {
    logger(level, redact(line));
  } catch (...) {
    // A throwing logger must not turn a successful call into a failure.
  }
}

std::string display_path(const std::string& url, const std::string& base_url) {
  if (!base_url.empty() && url.size() > base_url.size() &&
      url.compare(0, base_url.size(), base_url) == 0 && url[base_url.size()] == '/') {
    return url.substr(base_url.size());
  }
  return path_of(url);
}

std::string request_target(const HttpRequest& request, const std::string& base_url) {
  return request.method + " " + display_path(request.url, base_url);
}

std::string exchange_line(const std::string& target, const HttpRequest& request,
                          const HttpResponse& response, std::chrono::milliseconds elapsed) {
  return "HTTP " + target + " -> " + std::to_string(response.status) + " in " +
         std::to_string(elapsed.count()) + " ms, " + std::to_string(response.body.size()) +
         " bytes; request headers: " + describe_headers(request.headers) +
         "; response headers: " + describe_headers(response.headers);
}

std::string failure_line(const std::string& target, std::chrono::milliseconds elapsed,
                         std::string_view summary) {
  return "HTTP " + target + " failed after " + std::to_string(elapsed.count()) +
         " ms: " + std::string(summary);
}

std::string retry_line(const std::string& target, std::chrono::milliseconds delay,
                       std::string_view summary, int attempt, int max_retries) {
  return "Retrying " + target + " in " + seconds_text(delay) + " after " + std::string(summary) +
         " (retry " + std::to_string(attempt + 1) + " of " + std::to_string(max_retries) + ").";
}

AttemptOutcome transport_outcome(const std::exception_ptr& error, std::string& summary) {
  AttemptOutcome outcome;
  outcome.type = AttemptOutcome::Type::Other;
  try {
    std::rethrow_exception(error);
  } catch (const LastingConnectionError& e) {
    summary = e.what();  // Other: never retried
  } catch (const ConnectionError& e) {
    outcome.type = AttemptOutcome::Type::ConnectionFailed;
    outcome.outcome_unknown = e.outcome_unknown();
    summary = e.what();
  } catch (const TimeoutError& e) {
    outcome.type = AttemptOutcome::Type::TimedOut;
    outcome.outcome_unknown = e.outcome_unknown();
    summary = e.what();
  } catch (const std::exception& e) {
    summary = e.what();
  } catch (...) {
    summary = "unknown error";
  }
  return outcome;
}

}  // namespace runbase::detail
