#ifndef RUNBASE_SRC_RETRY_HPP
#define RUNBASE_SRC_RETRY_HPP

#include <chrono>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "clock.hpp"
#include "rate_limiter.hpp"
#include "retry_decision.hpp"
#include "runbase/options.hpp"
#include "runbase/transport.hpp"

namespace runbase::detail {

/// The one blocking retry loop of the SDK: sends a request through the rate limiter and the
/// transport, turns HTTP errors into exceptions, and does what `decide_retry` (the rule, in
/// retry_decision.hpp) says after each attempt.
///
/// Thread safety: safe from many threads (its parts are).
class RequestExecutor {
 public:
  struct Config {
    RetryPolicy retry;
    std::chrono::milliseconds request_timeout{60000};
    std::function<void(LogLevel, std::string_view)> logger;
    std::shared_ptr<HttpTransport> transport;
    std::shared_ptr<Clock> clock;
    std::shared_ptr<RateLimiter> limiter;  ///< null: no client-side budget (downloads)
    std::function<double()> unit_random;   ///< [0, 1); null: a thread-local generator
    /// Requests under this URL are named by the path below it in messages ("POST /runs", as the
    /// API docs write them); others by their whole path. Empty: whole paths.
    std::string base_url;
  };

  explicit RequestExecutor(Config config);

  /// Receives a 2xx body piece by piece (HttpTransport::send_streaming).
  using BodySink = std::function<void(std::string_view)>;

  /// Returns the 2xx response or throws the mapped error. With `deadline`, nothing is retried
  /// past it and each attempt's timeout is clipped to the time left. With `file`, a 2xx body is
  /// streamed there (HttpTransport::send_to_file); with `on_data`, to it, and an attempt that
  /// fails once `on_data` has had a byte is not retried (the bytes cannot be taken back).
  HttpResponse execute(HttpRequest request, RequestKind kind,
                       std::optional<Clock::time_point> deadline, const CancellationToken* cancel,
                       const std::filesystem::path* file = nullptr,
                       const BodySink* on_data = nullptr);

  /// What both drivers (this and the event loop's `AsyncRetryLoop`) do after an attempt that
  /// started at `started` ended with `response` or `error` (a transport exception): log the
  /// exchange, turn an error status into its exception (into `error`), decide with
  /// `decide_retry`, hold the rate budget after a 429, and announce a retry. `body_delivered`:
  /// part of the body already went to an `on_data` (AttemptFacts::body_delivered).
  RetryDecision assess(const HttpRequest& request, RequestKind kind, int attempt,
                       std::optional<Clock::time_point> deadline,
                       const std::optional<HttpResponse>& response, std::exception_ptr& error,
                       Clock::time_point started, bool body_delivered = false);

  const Config& config() const noexcept { return config_; }
  Clock& clock() const noexcept { return *config_.clock; }
  void log(LogLevel level, std::string_view line) const;
  bool logging() const noexcept { return static_cast<bool>(config_.logger); }

 private:
  HttpResponse run(HttpRequest request, RequestKind kind, std::optional<Clock::time_point> deadline,
                   const CancellationToken* cancel, const std::filesystem::path* file,
                   const BodySink* on_data);
  double random_unit();

  Config config_;
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_RETRY_HPP
