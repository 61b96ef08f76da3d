#ifndef RUNBASE_SRC_CLIENT_IMPL_HPP
#define RUNBASE_SRC_CLIENT_IMPL_HPP

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api_caller.hpp"
#include "async_retry.hpp"
#include "clock.hpp"
#include "create_request.hpp"
#include "downloader.hpp"
#include "event_loop.hpp"
#include "runbase/client.hpp"
#include "scheduler.hpp"
#include "spend_ledger.hpp"

namespace runbase {

/// What a Client is made of, wired together: the options resolved once, the clock, the
/// transport (one pool for API calls and downloads), the spend ledger, the API caller, the
/// downloader, the event loop with its request driver, and the Scheduler behind every wait. The
/// work is theirs; this forwards. docs/ARCHITECTURE.md draws the whole.
///
/// Thread safety: safe from many threads (every part is).
class Client::Impl {
 public:
  using Completion = std::function<void(std::optional<Run>, std::exception_ptr)>;

  Impl(const ClientOptions& options, std::shared_ptr<detail::Clock> clock,
       const std::function<double()>& unit_random);
  /// Stops the event loop first: nothing of it runs once the parts below are destroyed.
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  /// POST /runs, the one create path. With `deadline` (generate's), the create's retries and
  /// its request timeout end by then too.
  Run create_run(const detail::CreateRequest& request,
                 std::optional<detail::Clock::time_point> deadline = std::nullopt);
  Run get_run(std::string_view run_id, const CallOptions& options);
  Run wait(std::string_view run_id, const WaitOptions& options);
  Run generate(const ModelInput& input, const WaitOptions& options);
  std::future<Run> generate_async(const ModelInput& input, WaitOptions options);  // batch.cpp
  /// The callback form: `done` is called once, on the event loop's thread.
  void generate_async(const ModelInput& input, WaitOptions options, Completion done);
  /// On the event loop's thread: `POST /runs` through the loop's driver, spend reserved before
  /// and settled after; `done` (on the loop's thread) gets the created run or the error.
  void create_on_loop(const detail::CreateRequest& request,
                      std::optional<detail::Clock::time_point> deadline, Completion done);
  std::vector<BatchResult> generate_batch(const std::vector<ModelInput>& inputs,
                                          const BatchOptions& options);  // batch.cpp

  std::int64_t spent_usd_micros() const noexcept { return ledger_.spent(); }
  detail::Downloader& downloader() noexcept { return downloader_; }
  const std::string& base_url() const noexcept { return api_.base_url(); }

 private:
  /// ClientOptions checked and completed from the environment, in the order their errors are
  /// reported: the key, the base URL, the transport, the spend limit.
  struct Resolved;
  Impl(Resolved resolved, const ClientOptions& options, std::shared_ptr<detail::Clock> clock,
       const std::function<double()>& unit_random);
  /// generate_async's work on the loop: the create, then the watch; reports go to `sink`.
  void start_generate(detail::CreateRequest request, WaitOptions options,
                      std::shared_ptr<detail::WaitSink> sink);
  /// GET /runs/<id> through the loop's driver (the Scheduler's watched polls).
  void get_on_loop(const std::string& run_id, std::optional<detail::Clock::time_point> deadline,
                   Completion done);

  std::shared_ptr<detail::Clock> clock_;
  std::shared_ptr<HttpTransport> transport_;  // one for API calls and downloads: one pool
  detail::SpendLedger ledger_;                // before api_, which refers to it
  detail::ApiCaller api_;
  detail::Downloader downloader_;
  std::unique_ptr<detail::EventLoop> loop_;
  std::unique_ptr<detail::AsyncRetryLoop> async_api_;  // the loop's driver: loop thread only
  // Last: destroyed first. The loop is stopped before (in ~Impl), so none of it runs meanwhile.
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
