#include "retry.hpp"

#include <algorithm>
#include <random>

#include "error_mapping.hpp"
#include "exchange_log.hpp"
#include "runbase/errors.hpp"

namespace runbase::detail {

using std::chrono::milliseconds;

RequestExecutor::RequestExecutor(Config config) : config_(std::move(config)) {}

void RequestExecutor::log(LogLevel level, std::string_view line) const {
  log_line(config_.logger, level, line);
}

double RequestExecutor::random_unit() {
  if (config_.unit_random) return config_.unit_random();
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

HttpResponse RequestExecutor::execute(HttpRequest request, RequestKind kind,
                                      std::optional<Clock::time_point> deadline,
                                      const CancellationToken* cancel,
                                      const std::filesystem::path* file, const BodySink* on_data) {
  return run(std::move(request), kind, deadline, cancel, file, on_data);
}

HttpResponse RequestExecutor::run(HttpRequest request, RequestKind kind,
                                  std::optional<Clock::time_point> deadline,
                                  const CancellationToken* cancel,
                                  const std::filesystem::path* file, const BodySink* on_data) {
  Clock& clock = *config_.clock;
  const std::string target = request_target(request, config_.base_url);
  request.cancel = cancel;
  std::size_t delivered = 0;  // bytes handed to on_data, over all attempts
  BodySink counted;
  if (on_data != nullptr) {
    counted = [&delivered, on_data](std::string_view chunk) {
      delivered += chunk.size();
      (*on_data)(chunk);
    };
  }

  for (int attempt = 0;; ++attempt) {
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

    std::optional<HttpResponse> response;  // set when the server answered
    std::exception_ptr error;              // set when it did not, or answered an error
    try {
      if (file != nullptr) {
        response = config_.transport->send_to_file(request, *file);
      } else if (on_data != nullptr) {
        response = config_.transport->send_streaming(request, counted);
      } else {
        response = config_.transport->send(request);
      }
    } catch (const ConnectionError&) {
      error = std::current_exception();
    } catch (const TimeoutError&) {
      error = std::current_exception();
    }
    permit.finish();
    const RetryDecision decision =
        assess(request, kind, attempt, deadline, response, error, started, delivered > 0);
    switch (decision.action) {
      case RetryDecision::Action::Return:
        return std::move(*response);
      case RetryDecision::Action::Throw:
        std::rethrow_exception(error);
      case RetryDecision::Action::RetryAt:
        break;
    }
    if (!clock.sleep_until(decision.at, cancel)) {
      throw CancelledError("Cancelled while waiting to retry " + target + ".");
    }
  }
}

RetryDecision RequestExecutor::assess(const HttpRequest& request, RequestKind kind, int attempt,
                                      std::optional<Clock::time_point> deadline,
                                      const std::optional<HttpResponse>& response,
                                      std::exception_ptr& error, Clock::time_point started,
                                      bool body_delivered) {
  Clock& clock = *config_.clock;
  const std::string path = display_path(request.url, config_.base_url);
  const std::string target = request.method + " " + path;
  const milliseconds elapsed = std::chrono::duration_cast<milliseconds>(clock.now() - started);
  AttemptFacts facts;
  facts.kind = kind;
  facts.attempt = attempt;
  facts.deadline = deadline;
  facts.body_delivered = body_delivered;
  std::string summary;  // for the retry log line
  if (response) {
    if (logging()) log(LogLevel::Debug, exchange_line(target, request, *response, elapsed));
    if (response->status < 200 || response->status >= 300) {
      HttpError mapped = make_http_error(*response, request.method, path, clock.system_now());
      error = std::move(mapped.error);
      facts.outcome.type = AttemptOutcome::Type::HttpError;
      facts.outcome.http_kind = mapped.kind;
      facts.outcome.status = response->status;
      facts.outcome.retry_after = mapped.retry_after;
      summary = "HTTP " + std::to_string(response->status);
    }
  } else {
    facts.outcome = transport_outcome(error, summary);
    if (facts.outcome.type != AttemptOutcome::Type::Other && logging()) {
      log(LogLevel::Debug, failure_line(target, elapsed, summary));
    }
  }
  facts.now = clock.now();
  // A success needs no jitter: the common path draws no random number.
  if (facts.outcome.type != AttemptOutcome::Type::Success) facts.jitter = random_unit();
  const RetryDecision decision = decide_retry(config_.retry, facts);
  if (decision.pause_all_until && config_.limiter) {
    config_.limiter->pause_until(*decision.pause_all_until);
  }
  if (decision.action == RetryDecision::Action::RetryAt) {
    log(LogLevel::Warning,
        retry_line(target, decision.delay, summary, attempt, config_.retry.max_retries));
  }
  return decision;
}

}  // namespace runbase::detail
