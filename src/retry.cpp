#include "retry.hpp"

#include <algorithm>
#include <random>

#include "error_mapping.hpp"
#include "redact.hpp"
#include "runbase/errors.hpp"
#include "url.hpp"

namespace runbase::detail {

namespace {

using std::chrono::milliseconds;

// Longest Retry-After the SDK sleeps through; a longer one is handed to the caller at once.
constexpr milliseconds kMaxRetryAfter{60000};

std::string seconds_text(milliseconds delay) {
  const long long tenths = delay.count() / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

struct Attempt {
  std::optional<HttpResponse> response;  // set when the server answered
  std::exception_ptr error;              // set when it did not, or answered an error
  bool retryable = false;
  std::optional<milliseconds> retry_after;
  std::string summary;  // for the retry log line
};

}  // namespace

milliseconds backoff_delay(const RetryPolicy& policy, int attempt, double unit_random) {
  const double initial =
      static_cast<double>(std::max<long long>(0, policy.initial_backoff.count()));
  const double cap = static_cast<double>(std::max<long long>(0, policy.max_backoff.count()));
  const double ceiling = std::min(cap, initial * std::ldexp(1.0, std::min(attempt, 30)));
  return milliseconds(static_cast<long long>(ceiling * std::clamp(unit_random, 0.0, 1.0)));
}

RequestExecutor::RequestExecutor(Config config) : config_(std::move(config)) {}

void RequestExecutor::log(LogLevel level, std::string_view line) const {
  if (!config_.logger) return;
  try {
    config_.logger(level, redact(line));
  } catch (...) {
    // A throwing logger must not turn a successful call into a failure.
  }
}

std::string RequestExecutor::display_path(const std::string& url) const {
  const std::string& base = config_.base_url;
  if (!base.empty() && url.size() > base.size() && url.compare(0, base.size(), base) == 0 &&
      url[base.size()] == '/') {
    return url.substr(base.size());
  }
  return path_of(url);
}

double RequestExecutor::random_unit() {
  if (config_.unit_random) return config_.unit_random();
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

HttpResponse RequestExecutor::execute(HttpRequest request, RequestKind kind,
                                      std::optional<Clock::time_point> deadline,
                                      const CancellationToken* cancel,
                                      const std::filesystem::path* file) {
  return run(std::move(request), kind, deadline, cancel, file, 0, false);
}

HttpResponse RequestExecutor::execute_deferring(HttpRequest request, RequestKind kind,
                                                std::optional<Clock::time_point> deadline,
                                                const CancellationToken* cancel, int attempt) {
  return run(std::move(request), kind, deadline, cancel, nullptr, std::max(0, attempt), true);
}

HttpResponse RequestExecutor::run(HttpRequest request, RequestKind kind,
                                  std::optional<Clock::time_point> deadline,
                                  const CancellationToken* cancel,
                                  const std::filesystem::path* file, int first_attempt,
                                  bool defer) {
  Clock& clock = *config_.clock;
  const std::string path = display_path(request.url);
  const std::string target = request.method + " " + path;
  request.cancel = cancel;

  for (int attempt = first_attempt;; ++attempt) {
    if (cancel != nullptr && cancel->cancelled()) {
      throw CancelledError("Cancelled before " + target + " was sent.");
    }
    if (deadline && clock.now() >= *deadline) {
      throw TimeoutError("The deadline passed before " + target + " could be sent.");
    }

    RateLimiter::Permit permit;
    if (config_.limiter) {
      permit = config_.limiter->acquire(deadline, cancel,
                                        kind == RequestKind::Create ? RateLimiter::Priority::Create
                                                                    : RateLimiter::Priority::Poll);
    }

    const Clock::time_point started = clock.now();
    request.timeout = config_.request_timeout;
    if (deadline) {
      const auto left = std::chrono::duration_cast<milliseconds>(*deadline - started);
      const milliseconds clipped = std::max(milliseconds(1), left);
      if (request.timeout.count() <= 0 || clipped < request.timeout) request.timeout = clipped;
    }

    Attempt result;
    try {
      result.response =
          file ? config_.transport->send_to_file(request, *file) : config_.transport->send(request);
    } catch (const ConnectionError& e) {
      result.error = std::current_exception();
      // A create is resent only when the connection was never established.
      result.retryable = kind == RequestKind::Read || !e.outcome_unknown();
      result.summary = e.what();
    } catch (const TimeoutError& e) {
      result.error = std::current_exception();
      result.retryable = kind == RequestKind::Read || !e.outcome_unknown();
      result.summary = e.what();
    }
    permit.finish();
    const milliseconds elapsed = std::chrono::duration_cast<milliseconds>(clock.now() - started);

    if (result.response) {
      const HttpResponse& response = *result.response;
      if (logging()) {
        std::string line = "HTTP " + target + " -> " + std::to_string(response.status) + " in " +
                           std::to_string(elapsed.count()) + " ms, " +
                           std::to_string(response.body.size()) +
                           " bytes; request headers: " + describe_headers(request.headers) +
                           "; response headers: " + describe_headers(response.headers);
        log(LogLevel::Debug, line);
      }
      if (response.status >= 200 && response.status < 300) return std::move(*result.response);
      HttpError mapped = make_http_error(response, request.method, path, clock.system_now());
      result.error = std::move(mapped.error);
      result.retryable = mapped.kind == ErrorKind::RateLimited ||
                         (mapped.kind == ErrorKind::Server && kind == RequestKind::Read);
      result.retry_after = mapped.retry_after;
      result.summary = "HTTP " + std::to_string(response.status);
      if (mapped.kind == ErrorKind::RateLimited && config_.limiter) {
        // The server's budget is spent: hold every request of this Client, not just this one.
        config_.limiter->pause_until(
            clock.now() +
            std::min(result.retry_after.value_or(config_.retry.initial_backoff), kMaxRetryAfter));
      }
    } else if (logging()) {
      log(LogLevel::Debug, "HTTP " + target + " failed after " + std::to_string(elapsed.count()) +
                               " ms: " + result.summary);
    }

    if (!result.retryable || attempt >= config_.retry.max_retries) {
      std::rethrow_exception(result.error);
    }
    milliseconds delay = backoff_delay(config_.retry, attempt, random_unit());
    if (result.retry_after) {
      // Honoured only when short enough to sleep through; otherwise the caller decides.
      if (*result.retry_after > kMaxRetryAfter) std::rethrow_exception(result.error);
      delay = *result.retry_after;
    } else if (result.response && result.response->status == 429) {
      delay = std::max(delay, config_.retry.initial_backoff);  // never straight back after a 429
    }
    const Clock::time_point resume = clock.now() + delay;
    if (deadline && resume >= *deadline) std::rethrow_exception(result.error);

    log(LogLevel::Warning, "Retrying " + target + " in " + seconds_text(delay) + " after " +
                               result.summary + " (retry " + std::to_string(attempt + 1) + " of " +
                               std::to_string(config_.retry.max_retries) + ").");
    if (defer) throw RetryLater(resume, attempt + 1);
    if (!clock.sleep_until(resume, cancel)) {
      throw CancelledError("Cancelled while waiting to retry " + target + ".");
    }
  }
}

}  // namespace runbase::detail
