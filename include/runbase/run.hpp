#ifndef RUNBASE_RUN_HPP
#define RUNBASE_RUN_HPP

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runbase/export.hpp"

namespace runbase {

/// Where a run is in its lifecycle: pending -> processing -> succeeded | failed.
enum class RunStatus {
  Pending,     ///< queued until a worker takes it
  Processing,  ///< being generated upstream
  Succeeded,   ///< done: `Run::output_urls` holds the result
  Failed,      ///< done: `Run::error` says why; the cost was refunded
  Unknown,     ///< a status this SDK does not know; the raw text is in `Run::status_text`
};

/// "pending", "processing", "succeeded", "failed" or "unknown".
RUNBASE_EXPORT std::string_view to_string(RunStatus status) noexcept;

/// Parses the service's status text; anything else gives `RunStatus::Unknown`.
RUNBASE_EXPORT RunStatus parse_run_status(std::string_view text) noexcept;

/// Why a run failed, as the service said it. The service may send a plain string (then `code` is
/// empty) or an object `{message, code}`.
struct RunError {
  std::string message;  ///< may be empty when the service gave no reason
  std::string code;     ///< may be empty
};

/// A run as the service last described it.
///
/// Thread safety: a plain value; distinct objects may be used from different threads.
struct RUNBASE_EXPORT Run {
  /// "run_...", never empty: what `Client::get_run` and `Client::wait` take.
  std::string id;
  /// e.g. "openai/gpt-image-1"; empty when the service omitted it.
  std::string model;
  /// `Unknown` also for a status text this SDK does not know.
  RunStatus status = RunStatus::Unknown;
  std::string status_text;               ///< the raw status string, kept for `Unknown`
  std::int64_t cost_usd_micros = 0;      ///< `costUsd` in micro-USD (50000 = $0.05); 0 when absent
  std::vector<std::string> output_urls;  ///< `output.urls`
  std::optional<RunError> error;         ///< set when failed
  std::string created_at;                ///< ISO-8601 UTC as sent; empty when absent or null
  std::string completed_at;              ///< ISO-8601 UTC as sent; empty when absent or null
  std::string raw_json;                  ///< the whole response body

  /// True when the run will not change any more: `Succeeded` or `Failed`.
  bool is_terminal() const noexcept;
};

}  // namespace runbase

#endif  // RUNBASE_RUN_HPP
