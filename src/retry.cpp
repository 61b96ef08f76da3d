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

std::string seconds_text(milliseconds delay) {
  const long long tenths = delay.count() / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

}  // namespace

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

    AttemptFacts facts;
    facts.kind = kind;
    facts.attempt = attempt;
    facts.deadline = deadline;
    std::optional<HttpResponse> response;  // set when the server answered
    std::exception_ptr error;              // set when it did not, or answered an error
    std::string summary;                   // for the retry log line
    try {
      response =
          file ? config_.transport->send_to_file(request, *file) : config_.transport->send(request);
    } catch (const ConnectionError& e) {
      error = std::current_exception();
      facts.outcome.type = AttemptOutcome::Type::ConnectionFailed;
      facts.outcome.outcome_unknown = e.outcome_unknown();
      summary = e.what();
    } catch (const TimeoutError& e) {
      error = std::current_exception();
      facts.outcome.type = AttemptOutcome::Type::TimedOut;
      facts.outcome.outcome_unknown = e.outcome_unknown();
      summary = e.what();
    }
    permit.finish();
    const milliseconds elapsed = std::chrono::duration_cast<milliseconds>(clock.now() - started);

    if (response) {
      if (logging()) {
        std::string line = "HTTP " + target + " -> " + std::to_string(response->status) + " in " +
                           std::to_string(elapsed.count()) + " ms, " +
                           std::to_string(response->body.size()) +
                           " bytes; request headers: " + describe_headers(request.headers) +
                           "; response headers: " + describe_headers(response->headers);
        log(LogLevel::Debug, line);
      }
      if (response->status < 200 || response->status >= 300) {
        HttpError mapped = make_http_error(*response, request.method, path, clock.system_now());
        error = std::move(mapped.error);
        facts.outcome.type = AttemptOutcome::Type::HttpError;
        facts.outcome.http_kind = mapped.kind;
        facts.outcome.status = response->status;
        facts.outcome.retry_after = mapped.retry_after;
        summary = "HTTP " + std::to_string(response->status);
      }
    } else if (logging()) {
      log(LogLevel::Debug, "HTTP " + target + " failed after " + std::to_string(elapsed.count()) +
                               " ms: " + summary);
    }

    facts.now = clock.now();
    // A success needs no jitter: the common path draws no random number.
    if (facts.outcome.type != AttemptOutcome::Type::Success) facts.jitter = random_unit();
    const RetryDecision decision = decide_retry(config_.retry, facts);
    if (decision.pause_all_until && config_.limiter) {
      config_.limiter->pause_until(*decision.pause_all_until);
    }
    switch (decision.action) {
      case RetryDecision::Action::Return:
        return std::move(*response);
      case RetryDecision::Action::Throw:
        std::rethrow_exception(error);
      case RetryDecision::Action::RetryAt:
        break;
    }

    log(LogLevel::Warning, "Retrying " + target + " in " + seconds_text(decision.delay) +
                               " after " + summary + " (retry " + std::to_string(attempt + 1) +
                               " of " + std::to_string(config_.retry.max_retries) + ").");
    if (defer) throw RetryLater(decision.at, attempt + 1);
    if (!clock.sleep_until(decision.at, cancel)) {
      throw CancelledError("Cancelled while waiting to retry " + target + ".");
    }
  }
}

}  // namespace runbase::detail
