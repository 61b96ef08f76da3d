#ifndef RUNBASE_TOOLS_CLI_BOUNDED_TRANSPORT_HPP
#define RUNBASE_TOOLS_CLI_BOUNDED_TRANSPORT_HPP

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>

#include <runbase/runbase.hpp>

#include "exit_codes.hpp"

namespace runbase::cli {

/// Wraps a transport (the libcurl one) so that every request of one command obeys the command's
/// limits: each attempt's timeout is clipped to the time left before `deadline`, no attempt
/// starts after it (DeadlineError), and `stop` (cancelled on SIGINT or SIGTERM) aborts a transfer
/// at once with `CancelledError`. The SDK's downloader removes its `.part` file on either, so a
/// download cut short leaves nothing behind.
///
/// Thread safety: safe from many threads, like the transport it wraps; `stop` must outlive it.
class BoundedTransport : public HttpTransport {
 public:
  BoundedTransport(std::shared_ptr<HttpTransport> inner, const CancellationToken& stop,
                   std::optional<std::chrono::steady_clock::time_point> deadline);

  HttpResponse send(const HttpRequest& request) override;
  HttpResponse send_to_file(const HttpRequest& request, const std::filesystem::path& file) override;

 private:
  template <typename Send>
  HttpResponse bounded(const HttpRequest& request, Send&& send);

  std::shared_ptr<HttpTransport> inner_;
  const CancellationToken& stop_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

}  // namespace runbase::cli

#endif  // RUNBASE_TOOLS_CLI_BOUNDED_TRANSPORT_HPP
