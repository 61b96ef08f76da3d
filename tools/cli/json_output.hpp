#ifndef RUNBASE_TOOLS_CLI_JSON_OUTPUT_HPP
#define RUNBASE_TOOLS_CLI_JSON_OUTPUT_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <runbase/run.hpp>

#include "exit_codes.hpp"

namespace runbase::cli {

/// The `--json` objects, one per line on stdout (schema in docs/CLI.md). Run fields keep the API's
/// names (`id`, `status`, `costUsd`, `output.urls`, `createdAt`, ...) so a script written against
/// the HTTP API reads them unchanged; `files` lists what the command saved.

/// A run, with the files saved from it (omitted when empty).
std::string run_json(const Run& run, const std::vector<std::filesystem::path>& files = {});

/// A failure: `{"id"?, "error": {"kind", "message", "hint", "httpStatus"?, "code"?, ...},
/// "exitCode"}`. A failed run is the run object itself with `error.kind` "run_failed".
std::string failure_json(const Failure& failure, const std::exception_ptr& error);

/// One downloaded URL: `{"url", "file"}`.
std::string download_json(const std::string& url, const std::filesystem::path& file);

/// A failed download: `{"url", "error": {...}, "exitCode"}`.
std::string download_failure_json(const std::string& url, const Failure& failure);

/// One line of `runbase batch --dry-run`: its model and estimated price.
struct PriceEstimate {
  std::size_t line = 0;
  std::string model;
  std::optional<std::int64_t> cost_usd_micros;  ///< unset: the model has no known price
};

/// The `batch --dry-run --json` document: `{"dryRun": true, "lines": [{"line", "model",
/// "costUsd"}], "totalCostUsd", "unpricedLines"}`, prices in micro-USD as the API's `costUsd`
/// (null: unknown; the total counts the known ones).
std::string dry_run_json(const std::vector<PriceEstimate>& lines, std::int64_t total_usd_micros,
                         std::size_t unpriced_lines);

/// A batch item's object with `"line"`, its line in the batch file (1-based), added.
std::string with_line(const std::string& object_json, std::size_t line);

}  // namespace runbase::cli

#endif  // RUNBASE_TOOLS_CLI_JSON_OUTPUT_HPP
