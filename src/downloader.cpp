#include "downloader.hpp"

#include <algorithm>
#include <cctype>
#include <random>
#include <system_error>

#include "runbase/errors.hpp"
#include "sync_wait.hpp"
#include "text.hpp"
#include "url.hpp"

namespace runbase::detail {

namespace {

std::string content_type(const HttpResponse& response) {
  const std::string* type = response.find_header("Content-Type");
  return type ? *type : std::string();
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

std::string extension_for(std::string_view content_type, std::string_view url) {
  std::string type(content_type.substr(0, content_type.find(';')));
  type = trimmed(type);
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::pair<std::string_view, std::string_view> kKnown[] = {
      {"image/png", "png"},   {"image/jpeg", "jpg"}, {"image/jpg", "jpg"},
      {"image/webp", "webp"}, {"image/gif", "gif"},  {"image/avif", "avif"},
      {"image/tiff", "tiff"}, {"image/bmp", "bmp"},  {"image/heic", "heic"},
      {"video/mp4", "mp4"},   {"video/webm", "webm"}};
  for (const auto& [known, extension] : kKnown) {
    if (type == known) return std::string(extension);
  }
  // The URL's own extension only when it names a media type: a server-chosen ".sh" or ".exe"
  // must not land in the user's folder as something a double-click runs.
  const std::string segment = last_path_segment(url);
  const std::size_t dot = segment.rfind('.');
  if (dot != std::string::npos) {
    const std::string_view extension = std::string_view(segment).substr(dot + 1);
    for (const auto& [known, media] : kKnown) {
      if (iequals(extension, media)) return std::string(media);
    }
    if (iequals(extension, "jpeg")) return "jpg";
    if (iequals(extension, "tif")) return "tiff";
  }
  return "bin";
}

std::string file_stem(std::string_view run_id) {
  std::string stem(run_id);
  for (char& c : stem) {
    const bool safe =
        std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
    if (!safe) c = '_';
  }
  return stem;
}

Downloader::Downloader(RequestExecutor::Config executor, std::string user_agent)
    : user_agent_(std::move(user_agent)), executor_(std::move(executor)) {}

HttpRequest Downloader::request_for(std::string_view url) const {
  if (!is_http_url(url)) {
    throw ValidationError("Cannot download \"" + excerpt(url, 100) + "\": not an http(s) URL.");
  }
  HttpRequest request;
  request.method = "GET";
  request.url = std::string(url);
  // Never the Authorization header: outputs live on a CDN that needs no key.
  request.headers = {{"Accept", "*/*"}, {"User-Agent", user_agent_}};
  request.follow_redirects = true;
  return request;
}

Downloader::Limits Downloader::limits_of(const CallOptions& options) const {
  return Limits{deadline_after(executor_.clock(), options.timeout), options.cancel};
}

std::pair<std::string, std::string> Downloader::fetch(std::string_view url, std::size_t max_bytes,
                                                      const CallOptions& options) {
  if (max_bytes == 0) {
    throw ValidationError("max_bytes is 0: pass the largest body you accept, in bytes.");
  }
  HttpRequest request = request_for(url);
  request.max_response_bytes = max_bytes;
  const Limits limits = limits_of(options);
  HttpResponse response =
      executor_.execute(std::move(request), RequestKind::Read, limits.deadline, limits.cancel);
  return {std::move(response.body), content_type(response)};
}

std::string Downloader::fetch(std::string_view url,
                              const std::function<void(std::string_view)>& on_data,
                              const CallOptions& options) {
  if (!on_data) throw ValidationError("on_data is empty: pass a function to receive the bytes.");
  HttpRequest request = request_for(url);
  const Limits limits = limits_of(options);
  const HttpResponse response = executor_.execute(
      std::move(request), RequestKind::Read, limits.deadline, limits.cancel, nullptr, &on_data);
  return content_type(response);
}

std::pair<std::filesystem::path, std::string> Downloader::download_to_temp(
    std::string_view url, const std::filesystem::path& destination_dir, const Limits& limits) {
  HttpRequest request = request_for(url);
  thread_local std::mt19937_64 generator{std::random_device{}()};
  const std::filesystem::path temp =
      destination_dir / (".runbase-download-" + std::to_string(generator()) + ".part");
  try {
    HttpResponse response = executor_.execute(std::move(request), RequestKind::Read,
                                              limits.deadline, limits.cancel, &temp);
    return {temp, content_type(response)};
  } catch (...) {
    remove_quietly(temp);
    throw;
  }
}

void Downloader::download(std::string_view url, const std::filesystem::path& destination,
                          const CallOptions& options) {
  std::filesystem::path directory = destination.parent_path();
  if (directory.empty()) directory = ".";
  auto [temp, content_type] = download_to_temp(url, directory, limits_of(options));
  rename_into_place(temp, destination);
}

std::vector<std::filesystem::path> Downloader::download_outputs(
    const Run& run, const std::filesystem::path& directory, const CallOptions& options) {
  const Limits limits = limits_of(options);
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
    auto [temp, content_type] = download_to_temp(url, directory, limits);
    std::filesystem::path target = directory / (file_stem(run.id) + "-" + std::to_string(index) +
                                                "." + extension_for(content_type, url));
    rename_into_place(temp, target);
    paths.push_back(std::move(target));
  }
  return paths;
}

}  // namespace runbase::detail
