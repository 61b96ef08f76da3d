#ifndef RUNBASE_SRC_API_CALLER_HPP
#define RUNBASE_SRC_API_CALLER_HPP

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clock.hpp"
#include "create_request.hpp"
#include "rate_limiter.hpp"
#include "retry.hpp"
#include "runbase/options.hpp"
#include "runbase/run.hpp"
#include "runbase/transport.hpp"
#include "spend_ledger.hpp"

namespace runbase::detail {

/// The Runbase API as this Client calls it: its base URL, key and headers, and each call split
/// into a request builder and a response reader, so a blocking driver (`create`, `get`, below)
/// and an event loop can both send the same requests and read the same replies.
///
/// Thread safety: safe from many threads (the executor and the ledger are; the set of unknown
/// statuses has its own mutex).
class ApiCaller {
 public:
  struct Config {
    std::string api_key;   ///< resolved: never empty
    std::string base_url;  ///< resolved and checked, without the trailing slash
    std::string user_agent;
    RetryPolicy retry;
    std::chrono::milliseconds request_timeout{60000};
    RateLimit rate_limit;
    std::function<void(LogLevel, std::string_view)> logger;
    std::shared_ptr<HttpTransport> transport;
    std::shared_ptr<Clock> clock;
    std::function<double()> unit_random;  ///< [0, 1); null: a thread-local generator
  };

  /// `ledger` must outlive this: creates reserve from it, finished runs are refunded to it.
  ApiCaller(Config config, SpendLedger& ledger);
  ApiCaller(const ApiCaller&) = delete;
  ApiCaller& operator=(const ApiCaller&) = delete;

  // --- request builders and response readers -----------------------------------------------

  /// `POST /runs`. Throws ValidationError when the request is not one (create_request.hpp).
  HttpRequest create_request(const CreateRequest& request) const;
  /// The spend ledger's share for `request` (its model's list price, price_table.hpp). Throws
  /// SpendLimitError when it would pass the limit: call before sending.
  SpendLedger::Reservation reserve(const CreateRequest& request);
  /// Reads a 2xx reply to `create_request`, settles `reservation` (reserved before sending) with
  /// the run, and logs the "Created run ..." line.
  Run read_created(HttpResponse response, std::string_view model,
                   SpendLedger::Reservation& reservation);
  /// `GET /runs/<id>`, the id percent-encoded. Throws ValidationError when `run_id` is empty.
  HttpRequest get_request(std::string_view run_id) const;
  /// Reads a 2xx reply to `get_request`: an unknown status is logged once, a failed run that
  /// this Client paid for is refunded.
  Run read_run(HttpResponse response, std::string_view run_id);

  // --- blocking calls -----------------------------------------------------------------------

  /// `POST /runs` on this thread. With `deadline` (generate's), the create's retries and its
  /// request timeout end by then too. Not cancellable: a create cut off mid-flight may still
  /// have made the run. Refuses (SpendLimitError) before anything is sent.
  Run create(const CreateRequest& request, std::optional<Clock::time_point> deadline);
  /// `GET /runs/<id>` on this thread.
  Run get(std::string_view run_id, std::optional<Clock::time_point> deadline,
          const CancellationToken* cancel);
  /// The configuration of this caller's blocking driver, for the event loop's driver.
  const RequestExecutor::Config& executor_config() const noexcept { return executor_.config(); }

  // --- what another driver needs ------------------------------------------------------------

  const std::string& base_url() const noexcept { return base_url_; }
  const std::string& user_agent() const noexcept { return user_agent_; }
  const RetryPolicy& retry_policy() const noexcept { return retry_; }
  std::chrono::milliseconds request_timeout() const noexcept { return request_timeout_; }
  const RateLimit& rate_limit() const noexcept { return rate_limit_; }
  /// The Client's one request budget, shared by every API call whoever sends it.
  const std::shared_ptr<RateLimiter>& limiter() const noexcept { return limiter_; }
  const std::shared_ptr<Clock>& clock() const noexcept { return clock_; }
  const std::function<double()>& unit_random() const noexcept { return unit_random_; }
  SpendLedger& ledger() const noexcept { return *ledger_; }
  /// Through the user's logger, redacted; a logger that throws is ignored.
  void log(LogLevel level, std::string_view line) const { executor_.log(level, line); }
  bool logging() const noexcept { return executor_.logging(); }

 private:
  std::vector<std::pair<std::string, std::string>> api_headers(bool with_body) const;
  void log_created(const Run& run, std::string_view model, std::int64_t counted) const;
  void note_unknown_status(const Run& run);

  const std::string api_key_;
  const std::string base_url_;
  const std::string user_agent_;
  const RetryPolicy retry_;
  const std::chrono::milliseconds request_timeout_;
  const RateLimit rate_limit_;
  const std::shared_ptr<Clock> clock_;
  const std::function<double()> unit_random_;
  const std::shared_ptr<RateLimiter> limiter_;
  SpendLedger* const ledger_;
  RequestExecutor executor_;  // rate-limited, with the API response cap
  std::mutex unknown_statuses_mutex_;
  std::set<std::string> unknown_statuses_;  // logged once each
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_API_CALLER_HPP
