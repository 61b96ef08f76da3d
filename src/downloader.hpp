#ifndef RUNBASE_SRC_DOWNLOADER_HPP
#define RUNBASE_SRC_DOWNLOADER_HPP

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "retry.hpp"
#include "runbase/options.hpp"
#include "runbase/run.hpp"

namespace runbase::detail {

/// A run's outputs to disk (`Client::download`, `download_outputs`) or memory (`fetch`). Outputs
/// live on a CDN: no Authorization header, redirects followed, no API rate limit, and each file
/// is streamed to a temporary file beside its destination and renamed into place, so a
/// destination is never left half written.
///
/// Thread safety: safe from many threads (its executor is; temporary names are random).
class Downloader {
 public:
  /// `executor`: without a rate limiter or base URL (the API's do not apply to the CDN).
  Downloader(RequestExecutor::Config executor, std::string user_agent);

  /// Each call ends within `options.timeout` (0: no deadline but each attempt's timeout) and
  /// soon after `options.cancel` fires, leaving no partial file.
  void download(std::string_view url, const std::filesystem::path& destination,
                const CallOptions& options);
  /// Every output of a succeeded run into `directory` (created if missing), as
  /// `<run id>-<index>.<extension>`; the paths in the order of `run.output_urls`. One deadline
  /// for them all.
  std::vector<std::filesystem::path> download_outputs(const Run& run,
                                                      const std::filesystem::path& directory,
                                                      const CallOptions& options);
  /// `url`'s body in memory, refused past `max_bytes`, with its Content-Type.
  std::pair<std::string, std::string> fetch(std::string_view url, std::size_t max_bytes,
                                            const CallOptions& options);
  /// `url`'s body handed to `on_data` as it arrives; returns the Content-Type.
  std::string fetch(std::string_view url, const std::function<void(std::string_view)>& on_data,
                    const CallOptions& options);

 private:
  struct Limits {
    std::optional<Clock::time_point> deadline;
    const CancellationToken* cancel = nullptr;
  };
  Limits limits_of(const CallOptions& options) const;
  HttpRequest request_for(std::string_view url) const;
  /// Downloads to a temporary file in `destination_dir` and returns it with the response's
  /// Content-Type; the caller renames it.
  std::pair<std::filesystem::path, std::string> download_to_temp(
      std::string_view url, const std::filesystem::path& destination_dir, const Limits& limits);

  std::string user_agent_;
  RequestExecutor executor_;
};

/// "image/png; charset=binary" -> "png"; falls back to the URL's own extension when it is an
/// image or video type (png, jpg, webp, gif, avif, tiff, bmp, heic, mp4, webm), then "bin".
std::string extension_for(std::string_view content_type, std::string_view url);
/// A run id made safe as part of a file name.
std::string file_stem(std::string_view run_id);

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_DOWNLOADER_HPP
