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
constexpr std::size_t kMaxApiResponseBytes = 16u * 1024u * 1024u;

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
  std::string key = trimmed(explicit_key.empty() ? from_environment("RUNBASE_API_KEY")
                                                 : explicit_key);
  if (key.empty()) {
    throw ValidationError(
        "No API key: set the RUNBASE_API_KEY environment variable or ClientOptions::api_key to "
        "your sk-... key (runbase.net, Settings -> API Keys).");
  }
  for (char c : key) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      throw ValidationError("The API key contains control characters; copy it again from "
                            "Settings -> API Keys.");
    }
  }
  return key;
}

std::string resolve_base_url(const std::string& explicit_url) {
  std::string url = trimmed(explicit_url.empty() ? from_environment("RUNBASE_BASE_URL")
                                                 : explicit_url);
  if (url.empty()) url = std::string(kDefaultBaseUrl);
  return detail::checked_base_url(url);
}

std::shared_ptr<HttpTransport> resolve_transport(const ClientOptions& options) {
  return options.transport ? options.transport : make_curl_transport(options);
}

std::string seconds_text(milliseconds duration) {
  const long long tenths = duration.count() / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

// "image/png; charset=binary" -> "png"; falls back to the URL's own extension, then "bin".
std::string extension_for(std::string_view content_type, std::string_view url) {
  std::string type(content_type.substr(0, content_type.find(';')));
  type = trimmed(type);
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::pair<std::string_view, std::string_view> kKnown[] = {
      {"image/png", "png"},  {"image/jpeg", "jpg"}, {"image/jpg", "jpg"},   {"image/webp", "webp"},
      {"image/gif", "gif"},  {"image/avif", "avif"}, {"video/mp4", "mp4"}, {"video/webm", "webm"}};
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
    const bool safe = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' ||
                      c == '.';
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

Client::Impl::Impl(ClientOptions options, std::shared_ptr<detail::Clock> clock,
                   std::function<double()> unit_random)
    : api_key_(resolve_api_key(options.api_key)),
      base_url_(resolve_base_url(options.base_url)),
      user_agent_("runbase-cpp/" + std::string(version()) +
                  (options.user_agent_suffix.empty() ? "" : " " + options.user_agent_suffix)),
      clock_(clock),
      transport_(resolve_transport(options)),
      api_({options.retry, options.request_timeout, options.logger, transport_,
            clock, std::make_shared<detail::RateLimiter>(options.rate_limit, clock),
            unit_random}),
      download_({options.retry, options.request_timeout, options.logger,
                 transport_, clock, nullptr, unit_random}) {}

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

Run Client::Impl::create_run(std::string body, std::string_view model) {
  HttpRequest request;
  request.method = "POST";
  request.url = base_url_ + "/runs";
  request.headers = api_headers(true);
  request.body = std::move(body);
  request.max_response_bytes = kMaxApiResponseBytes;
  HttpResponse response =
      api_.execute(std::move(request), detail::RequestKind::Create, std::nullopt, nullptr);
  Run run = detail::parse_run(std::move(response.body), "POST /runs");
  api_.log(LogLevel::Info, "Created run " + run.id + " (" + std::string(model) + ", " +
                               std::to_string(run.cost_usd_micros) + " micro-USD).");
  return run;
}

Run Client::Impl::get_run(std::string_view run_id, std::optional<time_point> deadline,
                          const CancellationToken* cancel) {
  if (run_id.empty()) {
    throw ValidationError("run_id is empty: pass the id returned by create_run (\"run_...\").");
  }
  HttpRequest request;
  request.method = "GET";
  request.url = base_url_ + "/runs/" + detail::percent_encode_segment(run_id);
  request.headers = api_headers(false);
  request.max_response_bytes = kMaxApiResponseBytes;
  HttpResponse response =
      api_.execute(std::move(request), detail::RequestKind::Read, deadline, cancel);
  Run run = detail::parse_run(std::move(response.body), "GET /runs/" + std::string(run_id));
  if (run.status == RunStatus::Unknown) note_unknown_status(run);
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
                       std::optional<time_point> deadline, bool poll_now,
                       std::optional<Run> last) {
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
    const std::string state = last_status.empty() ? std::string("not finished") : "still " + last_status;
    return TimeoutError("Run " + id + " is " + state + " after " +
                            seconds_text(std::chrono::duration_cast<milliseconds>(
                                clock_->now() - started)) +
                            " (WaitOptions::timeout). It keeps running and is billed; call "
                            "Client::wait(\"" + id + "\") to wait for it again.",
                        false, id);
  };
  const auto cancelled_error = [&] {
    return CancelledError("Stopped waiting for run " + id +
                              ": cancelled. The run goes on and is billed; call Client::wait(\"" +
                              id + "\") to wait for it again.",
                          id);
  };

  bool poll = poll_now;
  for (;;) {
    if (!poll) {
      time_point next = clock_->now() + interval;
      if (deadline && next > *deadline) next = *deadline;
      if (!clock_->sleep_until(next, options.cancel)) throw cancelled_error();
      interval = std::min(max_interval, interval + interval / 2);
    }
    poll = false;
    if (options.cancel != nullptr && options.cancel->cancelled()) throw cancelled_error();
    if (deadline && clock_->now() >= *deadline) throw deadline_error();

    Run run;
    try {
      run = get_run(id, deadline, options.cancel);
    } catch (const CancelledError&) {
      throw cancelled_error();
    } catch (const TimeoutError&) {
      if (deadline && clock_->now() >= *deadline) throw deadline_error();
      throw;
    }
    if (run.status_text != last_status) {
      last_status = run.status_text;
      if (options.on_update) options.on_update(run);
    }
    if (run.status == RunStatus::Succeeded) return run;
    if (run.status == RunStatus::Failed) throw RunFailedError(std::move(run));
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
    HttpResponse response =
        download_.execute(std::move(request), detail::RequestKind::Read, std::nullopt, nullptr,
                          &temp);
    const std::string* type = response.find_header("Content-Type");
    return {temp, type ? *type : std::string()};
  } catch (...) {
    remove_quietly(temp);
    throw;
  }
}

namespace detail {
Client ClientAccess::make(ClientOptions options, std::shared_ptr<Clock> clock,
                          std::function<double()> unit_random) {
  return Client(std::make_unique<Client::Impl>(std::move(options), std::move(clock),
                                               std::move(unit_random)));
}
}  // namespace detail

Client::Client() : Client(ClientOptions{}) {}

Client::Client(ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options), detail::make_real_clock(), nullptr)) {}

Client::Client(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Run Client::create_run(const GptImage1Input& input) {
  input.validate();
  return impl_->create_run(detail::encode_create_request(input), GptImage1Input::model_id);
}

Run Client::create_run(std::string_view model, std::string_view input_json) {
  return impl_->create_run(detail::encode_create_request(model, input_json), model);
}

Run Client::get_run(std::string_view run_id) { return impl_->get_run(run_id, std::nullopt, nullptr); }

Run Client::wait(std::string_view run_id, const WaitOptions& options) {
  return impl_->wait(run_id, options, impl_->deadline_after(options.timeout), true, std::nullopt);
}

Run Client::generate(const GptImage1Input& input, const WaitOptions& options) {
  const auto deadline = impl_->deadline_after(options.timeout);
  Run created = create_run(input);
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

}  // namespace runbase
