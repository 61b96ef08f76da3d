#ifndef RUNBASE_SRC_CLIENT_IMPL_HPP
#define RUNBASE_SRC_CLIENT_IMPL_HPP

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "clock.hpp"
#include "rate_limiter.hpp"
#include "retry.hpp"
#include "runbase/client.hpp"

namespace runbase {

class Client::Impl {
 public:
  Impl(ClientOptions options, std::shared_ptr<detail::Clock> clock,
       std::function<double()> unit_random);

  Run create_run(std::string body, std::string_view model);
  Run get_run(std::string_view run_id, std::optional<detail::Clock::time_point> deadline,
              const CancellationToken* cancel);
  /// Polls until terminal. `poll_now`: ask at once (wait) or after the first interval
  /// (generate: a run just created is never done). `last` is the run as already known, if any.
  Run wait(std::string_view run_id, const WaitOptions& options,
           std::optional<detail::Clock::time_point> deadline, bool poll_now,
           std::optional<Run> last);
  /// Downloads to a temporary file beside `destination_dir` and returns it with the response's
  /// Content-Type; the caller renames it.
  std::pair<std::filesystem::path, std::string> download_to_temp(
      std::string_view url, const std::filesystem::path& destination_dir);

  const std::string& base_url() const noexcept { return base_url_; }
  std::optional<detail::Clock::time_point> deadline_after(std::chrono::milliseconds timeout);

 private:
  std::vector<std::pair<std::string, std::string>> api_headers(bool with_body) const;
  void note_unknown_status(const Run& run);

  std::string api_key_;
  std::string base_url_;
  std::string user_agent_;
  std::shared_ptr<detail::Clock> clock_;
  std::shared_ptr<HttpTransport> transport_;  // one for API calls and downloads: one pool
  detail::RequestExecutor api_;       // rate-limited, with the API response cap
  detail::RequestExecutor download_;  // no rate limit, no cap: outputs live on a CDN
  std::mutex unknown_statuses_mutex_;
  std::set<std::string> unknown_statuses_;  // logged once each
};

namespace detail {

/// Builds Clients with an injected clock and jitter source, for the unit tests.
struct ClientAccess {
  static Client make(ClientOptions options, std::shared_ptr<Clock> clock,
                     std::function<double()> unit_random);
};

}  // namespace detail
}  // namespace runbase

#endif  // RUNBASE_SRC_CLIENT_IMPL_HPP
