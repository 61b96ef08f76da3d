#include "runbase/client.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <random>

#include "client_impl.hpp"
#include "curl_transport.hpp"
#include "json_codec.hpp"
#include "runbase/errors.hpp"
#include "runbase/version.hpp"
#include "text.hpp"
#include "url.hpp"

namespace runbase {

namespace {

using std::chrono::milliseconds;
using time_point = detail::Clock::time_point;

constexpr std::string_view kDefaultBaseUrl = "https://runbase.net/api/v1";
constexpr std::size_t kMaxApiResponseBytes = std::size_t{16} * 1024 * 1024;

std::string from_environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string trimmed(std::string text) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && is_space(text.back())) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && is_space(text[start])) ++start;
  return text.substr(start);
}

std::string resolve_api_key(const std::string& explicit_key) {
  std::string key =
      trimmed(explicit_key.empty() ? from_environment("RUNBASE_API_KEY") : explicit_key);
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
      trimmed(explicit_url.empty() ? from_environment("RUNBASE_BASE_URL") : explicit_url);
  if (url.empty()) url = std::string(kDefaultBaseUrl);
  return detail::checked_base_url(url);
}

std::shared_ptr<HttpTransport> resolve_transport(const ClientOptions& options) {
  return options.transport ? options.transport : make_curl_transport(options);
}

std::int64_t checked_spend_limit(std::int64_t limit) {
  if (limit < 0) {
    throw ValidationError("ClientOptions::spend_limit_usd_micros is negative (" +
                          std::to_string(limit) + "): use 0 for no limit.");
  }
  return limit;
}

// "image/png; charset=binary" -> "png"; falls back to the URL's own extension, then "bin".
std::string extension_for(std::string_view content_type, std::string_view url) {
  std::string type(content_type.substr(0, content_type.find(';')));
  type = trimmed(type);
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::pair<std::string_view, std::string_view> kKnown[] = {
      {"image/png", "png"}, {"image/jpeg", "jpg"},  {"image/jpg", "jpg"}, {"image/webp", "webp"},
      {"image/gif", "gif"}, {"image/avif", "avif"}, {"video/mp4", "mp4"}, {"video/webm", "webm"}};
  for (const auto& [known, extension] : kKnown) {
    if (type == known) return std::string(extension);
  }
  const std::string segment = detail::last_path_segment(url);
  const std::size_t dot = segment.rfind('.');
  if (dot != std::string::npos && segment.size() - dot - 1 <= 5 && segment.size() - dot - 1 > 0) {
    std::string extension = segment.substr(dot + 1);
    const bool plain = std::all_of(extension.begin(), extension.end(),
                                   [](unsigned char c) { return std::isalnum(c) != 0; });
    if (plain) return extension;
  }
  return "bin";
}

// A run id made safe as part of a file name.
std::string file_stem(std::string_view run_id) {
  std::string stem(run_id);
  for (char& c : stem) {
    const bool safe =
        std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
    if (!safe) c = '_';
  }
  return stem;
}

void remove_quietly(const std::filesystem::path& path) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

void rename_into_place(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code error;
  std::filesystem::rename(from, to, error);
  if (error) {
    remove_quietly(from);
    throw Error("Could not move the download to " + to.string() + ": " + error.message() + ".");
  }
}

}  // namespace

Client::Impl::Impl(const ClientOptions& options, std::shared_ptr<detail::Clock> clock,
                   const std::function<double()>& unit_random)
    : api_key_(resolve_api_key(options.api_key)),
      base_url_(resolve_base_url(options.base_url)),
      user_agent_("runbase-cpp/" + std::string(version()) +
                  (options.user_agent_suffix.empty() ? "" : " " + options.user_agent_suffix)),
      clock_(clock),
      transport_(resolve_transport(options)),
      api_({options.retry, options.request_timeout, options.logger, transport_, clock,
            std::make_shared<detail::RateLimiter>(options.rate_limit, clock), unit_random,
            base_url_}),
      download_({options.retry,
                 options.request_timeout,
                 options.logger,
                 transport_,
                 clock,
                 nullptr,
                 unit_random,
                 {}}),
      rate_limit_(options.rate_limit),
      spend_limit_(checked_spend_limit(options.spend_limit_usd_micros)),
      scheduler_(std::make_unique<detail::Scheduler>(
          clock, [this](const std::string& run_id, std::optional<time_point> deadline,
                        const CancellationToken* cancel, std::optional<int> deferred_attempt) {
            return get_run(run_id, deadline, cancel, deferred_attempt);
          })) {}

std::vector<std::pair<std::string, std::string>> Client::Impl::api_headers(bool with_body) const {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Authorization", "Bearer " + api_key_},
      {"Accept", "application/json"},
      {"User-Agent", user_agent_}};
  if (with_body) headers.emplace_back("Content-Type", "application/json");
  return headers;
}

std::optional<time_point> Client::Impl::deadline_after(milliseconds timeout) {
  if (timeout.count() <= 0) return std::nullopt;
  return clock_->now() + timeout;
}

void Client::Impl::reserve_spend(std::int64_t& share) {
  std::lock_guard<std::mutex> lock(spend_mutex_);
  share = last_run_cost_;
  if (spend_limit_ > 0) {
    const std::int64_t committed = spent_.load() + spend_reserved_;
    if (committed >= spend_limit_ || committed + share > spend_limit_) {
      throw SpendLimitError(
          "Spend limit reached: this Client has spent " + std::to_string(spent_.load()) +
              " micro-USD" +
              (spend_reserved_ > 0
                   ? " (and " + std::to_string(spend_reserved_) + " more for creates in flight)"
                   : std::string()) +
              " of its " + std::to_string(spend_limit_) +
              " (ClientOptions::spend_limit_usd_micros), and a run costs about " +
              std::to_string(share) + "; no request was sent. Raise the limit or use a new Client.",
          spend_limit_, committed);
    }
  }
  spend_reserved_ += share;
}

void Client::Impl::settle_spend(std::int64_t share, const Run* created) {
  std::lock_guard<std::mutex> lock(spend_mutex_);
  spend_reserved_ -= share;
  if (created == nullptr) return;
  const std::int64_t cost = std::max<std::int64_t>(0, created->cost_usd_micros);
  if (cost > 0) last_run_cost_ = cost;
  if (created->status == RunStatus::Failed) return;  // failed at once: refunded at once
  spent_ += cost;
  if (!created->is_terminal()) charged_[created->id] = cost;
}

void Client::Impl::note_refund(const Run& run) {
  if (!run.is_terminal()) return;
  std::lock_guard<std::mutex> lock(spend_mutex_);
  const auto it = charged_.find(run.id);
  if (it == charged_.end()) return;
  if (run.status == RunStatus::Failed) spent_ -= it->second;  // "You never pay for failed runs"
  charged_.erase(it);
}

Run Client::Impl::create_run(std::string body, std::string_view model,
                             std::optional<time_point> deadline) {
  std::int64_t share = 0;
  reserve_spend(share);  // refuses before anything is sent
  HttpRequest request;
  request.method = "POST";
  request.url = base_url_ + "/runs";
  request.headers = api_headers(true);
  request.body = std::move(body);
  request.max_response_bytes = kMaxApiResponseBytes;
  Run run;
  try {
    HttpResponse response =
        api_.execute(std::move(request), detail::RequestKind::Create, deadline, nullptr);
    run = detail::parse_run(std::move(response.body), "POST /runs");
  } catch (...) {
    settle_spend(share, nullptr);
    throw;
  }
  settle_spend(share, &run);
  api_.log(LogLevel::Info, "Created run " + run.id + " (" + std::string(model) + ", " +
                               std::to_string(run.cost_usd_micros) + " micro-USD).");
  return run;
}

Run Client::Impl::create_run(const GptImage1Input& input, std::optional<time_point> deadline) {
  input.validate();
  return create_run(detail::encode_create_request(input), GptImage1Input::model_id, deadline);
}

Run Client::Impl::get_run(std::string_view run_id, std::optional<time_point> deadline,
                          const CancellationToken* cancel, std::optional<int> deferred_attempt) {
  if (run_id.empty()) {
    throw ValidationError("run_id is empty: pass the id returned by create_run (\"run_...\").");
  }
  HttpRequest request;
  request.method = "GET";
  request.url = base_url_ + "/runs/" + detail::percent_encode_segment(run_id);
  request.headers = api_headers(false);
  request.max_response_bytes = kMaxApiResponseBytes;
  HttpResponse response =
      deferred_attempt
          ? api_.execute_deferring(std::move(request), detail::RequestKind::Read, deadline, cancel,
                                   *deferred_attempt)
          : api_.execute(std::move(request), detail::RequestKind::Read, deadline, cancel);
  Run run = detail::parse_run(std::move(response.body), "GET /runs/" + std::string(run_id));
  if (run.status == RunStatus::Unknown) note_unknown_status(run);
  note_refund(run);
  return run;
}

void Client::Impl::note_unknown_status(const Run& run) {
  {
    std::lock_guard<std::mutex> lock(unknown_statuses_mutex_);
    if (!unknown_statuses_.insert(run.status_text).second) return;
  }
  api_.log(LogLevel::Warning, "Run " + run.id + " has status \"" + run.status_text +
                                  "\", unknown to this SDK version; treating it as not finished.");
}

Run Client::Impl::wait(std::string_view run_id, const WaitOptions& options,
                       std::optional<time_point> deadline, bool poll_now, std::optional<Run> last) {
  if (run_id.empty()) {
    throw ValidationError("run_id is empty: pass the id returned by create_run (\"run_...\").");
  }
  const std::string id(run_id);
  const time_point started = clock_->now();
  const milliseconds first_interval = std::max(milliseconds(1), options.poll_interval);
  const milliseconds max_interval = std::max(first_interval, options.max_poll_interval);
  milliseconds interval = first_interval;
  std::string last_status = last ? last->status_text : std::string();

  const auto deadline_error = [&] {
    return detail::wait_timeout_error(
        id, last_status, std::chrono::duration_cast<milliseconds>(clock_->now() - started));
  };
  const auto cancelled_error = [&] { return detail::wait_cancelled_error(id); };

  // Polls run on this thread but are shared with every other wait on this run (sync or not):
  // a poll due while another is in flight joins it, one fetched since the last is reused.
  const detail::Scheduler::Attachment attachment(
      *scheduler_, id, poll_now ? std::nullopt : std::optional<time_point>(started));
  time_point fresh_since = started;
  // A run just created is never done: the first poll comes when the scheduler expects it to be.
  milliseconds pause(0);
  if (!poll_now) {
    pause = scheduler_->first_poll_delay(first_interval, max_interval);
    interval = detail::next_interval(interval, max_interval);
  }
  for (;;) {
    if (pause.count() > 0) {
      time_point next = clock_->now() + pause;
      if (deadline && next > *deadline) next = *deadline;
      if (!clock_->sleep_until(next, options.cancel)) throw cancelled_error();
    }
    if (options.cancel != nullptr && options.cancel->cancelled()) throw cancelled_error();
    if (deadline && clock_->now() >= *deadline) throw deadline_error();

    const time_point asked = clock_->now();
    Run run;
    try {
      run = scheduler_->poll(attachment, fresh_since, deadline, options.cancel);
    } catch (const CancelledError&) {
      throw cancelled_error();
    } catch (const TimeoutError& e) {
      if (deadline && clock_->now() >= *deadline) throw deadline_error();
      throw detail::wait_request_timeout(e, id);
    }
    fresh_since = asked + time_point::duration(1);
    if (run.status_text != last_status) {
      last_status = run.status_text;
      if (options.on_update) options.on_update(run);
    }
    if (run.status == RunStatus::Succeeded) return run;
    if (run.status == RunStatus::Failed) throw RunFailedError(std::move(run));
    pause = interval;
    interval = detail::next_interval(interval, max_interval);
  }
}

std::pair<std::filesystem::path, std::string> Client::Impl::download_to_temp(
    std::string_view url, const std::filesystem::path& destination_dir) {
  if (!detail::is_http_url(url)) {
    throw ValidationError("Cannot download \"" + detail::excerpt(url, 100) +
                          "\": not an http(s) URL.");
  }
  thread_local std::mt19937_64 generator{std::random_device{}()};
  const std::filesystem::path temp =
      destination_dir / (".runbase-download-" + std::to_string(generator()) + ".part");
  HttpRequest request;
  request.method = "GET";
  request.url = std::string(url);
  // Never the Authorization header: outputs live on a CDN that needs no key.
  request.headers = {{"Accept", "*/*"}, {"User-Agent", user_agent_}};
  request.follow_redirects = true;
  try {
    HttpResponse response = download_.execute(std::move(request), detail::RequestKind::Read,
                                              std::nullopt, nullptr, &temp);
    const std::string* type = response.find_header("Content-Type");
    return {temp, type ? *type : std::string()};
  } catch (...) {
    remove_quietly(temp);
    throw;
  }
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

Run Client::create_run(const GptImage1Input& input) { return impl_->create_run(input); }

Run Client::create_run(std::string_view model, std::string_view input_json) {
  return impl_->create_run(detail::encode_create_request(model, input_json), model);
}

Run Client::get_run(std::string_view run_id) {
  return impl_->get_run(run_id, std::nullopt, nullptr);
}

Run Client::wait(std::string_view run_id, const WaitOptions& options) {
  return impl_->wait(run_id, options, impl_->deadline_after(options.timeout), true, std::nullopt);
}

Run Client::generate(const GptImage1Input& input, const WaitOptions& options) {
  const auto deadline = impl_->deadline_after(options.timeout);
  if (options.cancel != nullptr && options.cancel->cancelled()) {
    // Checked before the create: after it, a run exists and is billed.
    throw CancelledError("Cancelled before the run was created; nothing was sent or billed.");
  }
  // The deadline covers the create too: its retries (a 429's Retry-After) must fit before it.
  Run created = impl_->create_run(input, deadline);
  if (options.on_update) options.on_update(created);
  if (created.is_terminal()) {
    if (created.status == RunStatus::Failed) throw RunFailedError(std::move(created));
    return created;
  }
  const std::string id = created.id;
  return impl_->wait(id, options, deadline, false, std::move(created));
}

void Client::download(std::string_view url, const std::filesystem::path& destination) {
  std::filesystem::path directory = destination.parent_path();
  if (directory.empty()) directory = ".";
  auto [temp, content_type] = impl_->download_to_temp(url, directory);
  rename_into_place(temp, destination);
}

std::vector<std::filesystem::path> Client::download_outputs(
    const Run& run, const std::filesystem::path& directory) {
  if (run.status != RunStatus::Succeeded) {
    throw ValidationError("Run " + run.id + " is " + std::string(to_string(run.status)) +
                          ", not succeeded: wait for it (Client::wait) before downloading.");
  }
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    throw Error("Could not create the directory " + directory.string() + ": " + error.message() +
                ".");
  }
  std::vector<std::filesystem::path> paths;
  paths.reserve(run.output_urls.size());
  for (std::size_t index = 0; index < run.output_urls.size(); ++index) {
    const std::string& url = run.output_urls[index];
    auto [temp, content_type] = impl_->download_to_temp(url, directory);
    std::filesystem::path target = directory / (file_stem(run.id) + "-" + std::to_string(index) +
                                                "." + extension_for(content_type, url));
    rename_into_place(temp, target);
    paths.push_back(std::move(target));
  }
  return paths;
}

const std::string& Client::base_url() const noexcept { return impl_->base_url(); }

std::int64_t Client::spent_usd_micros() const noexcept { return impl_->spent_usd_micros(); }

}  // namespace runbase
