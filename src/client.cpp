#include "runbase/client.hpp"

#include <cstdlib>
#include <utility>

#include "client_impl.hpp"
#include "curl_transport.hpp"
#include "runbase/errors.hpp"
#include "runbase/version.hpp"
#include "sync_wait.hpp"
#include "text.hpp"
#include "url.hpp"

namespace runbase {

namespace {

using time_point = detail::Clock::time_point;

constexpr std::string_view kDefaultBaseUrl = "https://runbase.net/api/v1";

std::string from_environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string resolve_api_key(const std::string& explicit_key) {
  std::string key =
      detail::trimmed(explicit_key.empty() ? from_environment("RUNBASE_API_KEY") : explicit_key);
  if (key.empty()) {
    throw ValidationError(
        "No API key: set the RUNBASE_API_KEY environment variable or ClientOptions::api_key to "
        "your sk-... key (runbase.net, Settings -> API Keys).");
  }
  for (char c : key) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      throw ValidationError(
          "The API key contains control characters; copy it again from "
          "Settings -> API Keys.");
    }
  }
  return key;
}

std::string resolve_base_url(const std::string& explicit_url) {
  std::string url =
      detail::trimmed(explicit_url.empty() ? from_environment("RUNBASE_BASE_URL") : explicit_url);
  if (url.empty()) url = std::string(kDefaultBaseUrl);
  return detail::checked_base_url(url);
}

std::shared_ptr<HttpTransport> resolve_transport(const ClientOptions& options) {
  return options.transport ? options.transport : make_curl_transport(options);
}

// The loop's HTTP: the libcurl transport's own non-blocking path, else the user's transport
// (which has only the blocking send) on a few threads.
std::unique_ptr<detail::LoopHttp> make_loop_http(const std::shared_ptr<HttpTransport>& transport) {
  if (auto curl = std::dynamic_pointer_cast<detail::CurlTransport>(transport)) {
    return detail::make_curl_loop_http(std::move(curl));
  }
  constexpr std::size_t kCustomTransportThreads = 8;
  return detail::make_pooled_loop_http(transport, kCustomTransportThreads);
}

}  // namespace

struct Client::Impl::Resolved {
  std::string api_key;
  std::string base_url;
  std::shared_ptr<HttpTransport> transport;
};

Client::Impl::Impl(const ClientOptions& options, std::shared_ptr<detail::Clock> clock,
                   const std::function<double()>& unit_random)
    // Braced: the members are resolved in this order, so errors are reported in it.
    : Impl(Resolved{resolve_api_key(options.api_key), resolve_base_url(options.base_url),
                    resolve_transport(options)},
           options, std::move(clock), unit_random) {}

Client::Impl::Impl(Resolved resolved, const ClientOptions& options,
                   std::shared_ptr<detail::Clock> clock, const std::function<double()>& unit_random)
    : clock_(std::move(clock)),
      transport_(std::move(resolved.transport)),
      ledger_(options.spend_limit_usd_micros),
      api_({std::move(resolved.api_key), std::move(resolved.base_url),
            "runbase-cpp/" + std::string(version()) +
                (options.user_agent_suffix.empty() ? "" : " " + options.user_agent_suffix),
            options.retry, options.request_timeout, options.rate_limit, options.logger, transport_,
            clock_, unit_random},
           ledger_),
      downloader_({options.retry,
                   options.request_timeout,
                   options.logger,
                   transport_,
                   clock_,
                   nullptr,  // no rate limit and no size cap: outputs live on a CDN
                   unit_random,
                   {}},
                  api_.user_agent()),
      loop_(std::make_unique<detail::EventLoop>(clock_, make_loop_http(transport_))),
      async_api_(std::make_unique<detail::AsyncRetryLoop>(*loop_, api_.executor_config())),
      scheduler_(std::make_unique<detail::Scheduler>(
          clock_, *loop_,
          [api = &api_](const std::string& run_id, std::optional<time_point> deadline,
                        const CancellationToken* cancel) {
            return api->get(run_id, deadline, cancel);
          },
          [this](const std::string& run_id, std::optional<time_point> deadline,
                 detail::Scheduler::GetRunDone done) {
            get_on_loop(run_id, deadline, std::move(done));
          })) {}

Client::Impl::~Impl() { loop_->stop(); }

void Client::Impl::get_on_loop(const std::string& run_id, std::optional<time_point> deadline,
                               Completion done) {
  HttpRequest request;
  try {
    request = api_.get_request(run_id);
  } catch (...) {
    done(std::nullopt, std::current_exception());
    return;
  }
  async_api_->send(std::move(request), detail::RequestKind::Read, deadline,
                   [this, run_id, done = std::move(done)](std::optional<HttpResponse> response,
                                                          std::exception_ptr error) {
                     std::optional<Run> run;
                     if (response) {
                       try {
                         run = api_.read_run(std::move(*response), run_id);
                       } catch (...) {
                         error = std::current_exception();
                       }
                     }
                     done(std::move(run), std::move(error));
                   });
}

void Client::Impl::create_on_loop(const detail::CreateRequest& request,
                                  std::optional<time_point> deadline, Completion done) {
  HttpRequest http;
  std::shared_ptr<detail::SpendLedger::Reservation> reservation;
  try {
    // Built first, as the blocking path does: a bad raw input is a ValidationError.
    http = api_.create_request(request);
    reservation = std::make_shared<detail::SpendLedger::Reservation>(api_.reserve(request));
  } catch (...) {
    done(std::nullopt, std::current_exception());
    return;
  }
  async_api_->send(std::move(http), detail::RequestKind::Create, deadline,
                   [this, model = request.model, reservation, done = std::move(done)](
                       std::optional<HttpResponse> response, std::exception_ptr error) {
                     std::optional<Run> run;
                     if (response) {
                       try {
                         run = api_.read_created(std::move(*response), model, *reservation);
                       } catch (...) {
                         error = std::current_exception();
                       }
                     }
                     done(std::move(run), std::move(error));
                   });
}

Run Client::Impl::create_run(const detail::CreateRequest& request,
                             std::optional<time_point> deadline) {
  return api_.create(request, deadline);
}

Run Client::Impl::get_run(std::string_view run_id, const CallOptions& options) {
  return api_.get(run_id, detail::deadline_after(*clock_, options.timeout), options.cancel);
}

Run Client::Impl::wait(std::string_view run_id, const WaitOptions& options) {
  return detail::sync_wait(*scheduler_, run_id, options,
                           detail::deadline_after(*clock_, options.timeout), true, std::nullopt);
}

Run Client::Impl::generate(const ModelInput& input, const WaitOptions& options) {
  const auto deadline = detail::deadline_after(*clock_, options.timeout);
  if (options.cancel != nullptr && options.cancel->cancelled()) {
    // Checked before the create: after it, a run exists and is billed.
    throw CancelledError("Cancelled before the run was created; nothing was sent or billed.");
  }
  // The deadline covers the create too: its retries (a 429's Retry-After) must fit before it.
  Run created = create_run(detail::make_create_request(input), deadline);
  if (options.on_update) options.on_update(created);
  if (created.is_terminal()) {
    if (created.status == RunStatus::Failed) throw RunFailedError(std::move(created));
    return created;
  }
  const std::string id = created.id;
  return detail::sync_wait(*scheduler_, id, options, deadline, false, std::move(created));
}

namespace detail {
Client ClientAccess::make(const ClientOptions& options, std::shared_ptr<Clock> clock,
                          const std::function<double()>& unit_random) {
  return Client(std::make_unique<Client::Impl>(options, std::move(clock), unit_random));
}
}  // namespace detail

Client::Client() : Client(ClientOptions{}) {}

// By value, as API.md declares it, so callers may move their options in.
Client::Client(ClientOptions options)  // NOLINT(performance-unnecessary-value-param)
    : impl_(std::make_unique<Impl>(options, detail::make_real_clock(), nullptr)) {}

Client::Client(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Run Client::create_run(const GptImage1Input& input) {
  return impl_->create_run(detail::make_create_request(input));
}

Run Client::create_run(std::string_view model, std::string_view input_json) {
  return impl_->create_run(detail::CreateRequest{std::string(model), std::string(input_json)});
}

Run Client::create_run(const ModelInput& input) {
  return impl_->create_run(detail::make_create_request(input));
}

Run Client::get_run(std::string_view run_id) { return impl_->get_run(run_id, CallOptions{}); }

Run Client::get_run(std::string_view run_id, const CallOptions& options) {
  return impl_->get_run(run_id, options);
}

Run Client::wait(std::string_view run_id, const WaitOptions& options) {
  return impl_->wait(run_id, options);
}

Run Client::generate(const GptImage1Input& input, const WaitOptions& options) {
  return impl_->generate(ModelInput(input), options);
}

Run Client::generate(const ModelInput& input, const WaitOptions& options) {
  return impl_->generate(input, options);
}

// The forms without CallOptions are those with none: one path each.
FetchedOutput Client::fetch(std::string_view url, std::size_t max_bytes) {
  return fetch(url, CallOptions{}, max_bytes);
}

std::string Client::fetch(std::string_view url,
                          const std::function<void(std::string_view)>& on_data) {
  return fetch(url, on_data, CallOptions{});
}

FetchedOutput Client::fetch(std::string_view url, const CallOptions& options,
                            std::size_t max_bytes) {
  auto [body, content_type] = impl_->downloader().fetch(url, max_bytes, options);
  return FetchedOutput{std::vector<std::uint8_t>(body.begin(), body.end()),
                       std::move(content_type)};
}

std::string Client::fetch(std::string_view url,
                          const std::function<void(std::string_view)>& on_data,
                          const CallOptions& options) {
  return impl_->downloader().fetch(url, on_data, options);
}

void Client::download(std::string_view url, const std::filesystem::path& destination,
                      const CallOptions& options) {
  impl_->downloader().download(url, destination, options);
}

std::vector<std::filesystem::path> Client::download_outputs(const Run& run,
                                                            const std::filesystem::path& directory,
                                                            const CallOptions& options) {
  return impl_->downloader().download_outputs(run, directory, options);
}

void Client::download(std::string_view url, const std::filesystem::path& destination) {
  download(url, destination, CallOptions{});
}

std::vector<std::filesystem::path> Client::download_outputs(
    const Run& run, const std::filesystem::path& directory) {
  return download_outputs(run, directory, CallOptions{});
}

const std::string& Client::base_url() const noexcept { return impl_->base_url(); }

std::int64_t Client::spent_usd_micros() const noexcept { return impl_->spent_usd_micros(); }

}  // namespace runbase
