#ifndef RUNBASE_SRC_CLIENT_IMPL_HPP
#define RUNBASE_SRC_CLIENT_IMPL_HPP

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "clock.hpp"
#include "rate_limiter.hpp"
#include "retry.hpp"
#include "runbase/client.hpp"
#include "scheduler.hpp"

namespace runbase {

class Client::Impl {
 public:
  Impl(const ClientOptions& options, std::shared_ptr<detail::Clock> clock,
       const std::function<double()>& unit_random);

  /// POST /runs. With `deadline` (generate's), the create's retries and its request timeout end
  /// by then too. Not cancellable: a create cut off mid-flight may still have made the run.
  Run create_run(std::string body, std::string_view model,
                 std::optional<detail::Clock::time_point> deadline = std::nullopt);
  /// The same for a typed input: validated and encoded first, so nothing is sent if it is bad.
  Run create_run(const GptImage1Input& input,
                 std::optional<detail::Clock::time_point> deadline = std::nullopt);
  /// GET /runs/<id>. With `deferred_attempt` (the Scheduler's worker), that attempt only: a
  /// retry's back-off is thrown as `detail::RetryLater` instead of slept through.
  Run get_run(std::string_view run_id, std::optional<detail::Clock::time_point> deadline,
              const CancellationToken* cancel, std::optional<int> deferred_attempt = std::nullopt);
  /// Polls until terminal. `poll_now`: ask at once (wait) or after the first interval
  /// (generate: a run just created is never done). `last` is the run as already known, if any.
  Run wait(std::string_view run_id, const WaitOptions& options,
           std::optional<detail::Clock::time_point> deadline, bool poll_now,
           std::optional<Run> last);
  std::future<Run> generate_async(const GptImage1Input& input, WaitOptions options);  // batch.cpp
  std::vector<BatchResult> generate_batch(const std::vector<GptImage1Input>& inputs,
                                          const BatchOptions& options);  // batch.cpp
  std::int64_t spent_usd_micros() const noexcept { return spent_.load(); }
  /// Downloads to a temporary file beside `destination_dir` and returns it with the response's
  /// Content-Type; the caller renames it.
  std::pair<std::filesystem::path, std::string> download_to_temp(
      std::string_view url, const std::filesystem::path& destination_dir);

  const std::string& base_url() const noexcept { return base_url_; }
  std::optional<detail::Clock::time_point> deadline_after(std::chrono::milliseconds timeout);

 private:
  std::vector<std::pair<std::string, std::string>> api_headers(bool with_body) const;
  void note_unknown_status(const Run& run);
  // Spend: a create takes a share of the limit before it is sent (the last run's cost), which
  // becomes the run's real cost once created; a failed run seen later gives its cost back.
  void reserve_spend(std::int64_t& share);
  void settle_spend(std::int64_t share, const Run* created);
  void note_refund(const Run& run);
  /// How many runs a batch keeps created but unfinished when `max_in_flight` is 0.
  std::size_t batch_in_flight_limit(const BatchOptions& options) const;

  std::string api_key_;
  std::string base_url_;
  std::string user_agent_;
  std::shared_ptr<detail::Clock> clock_;
  std::shared_ptr<HttpTransport> transport_;  // one for API calls and downloads: one pool
  detail::RequestExecutor api_;               // rate-limited, with the API response cap
  detail::RequestExecutor download_;          // no rate limit, no cap: outputs live on a CDN
  std::mutex unknown_statuses_mutex_;
  std::set<std::string> unknown_statuses_;  // logged once each
  RateLimit rate_limit_;
  std::int64_t spend_limit_ = 0;
  std::mutex spend_mutex_;
  std::atomic<std::int64_t> spent_{0};
  std::int64_t spend_reserved_ = 0;  // shares of creates in flight
  std::int64_t last_run_cost_ = 0;   // what the next create is expected to cost
  std::unordered_map<std::string, std::int64_t> charged_;  // runs created, until seen finished
  // Last: destroyed first, its threads still using the members above until they are joined.
  std::unique_ptr<detail::Scheduler> scheduler_;
};

namespace detail {

/// Builds Clients with an injected clock and jitter source, for the unit tests.
struct ClientAccess {
  static Client make(const ClientOptions& options, std::shared_ptr<Clock> clock,
                     const std::function<double()>& unit_random);
};

}  // namespace detail
}  // namespace runbase

#endif  // RUNBASE_SRC_CLIENT_IMPL_HPP
