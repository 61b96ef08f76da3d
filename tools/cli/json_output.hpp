#ifndef RUNBASE_TOOLS_CLI_JSON_OUTPUT_HPP
#define RUNBASE_TOOLS_CLI_JSON_OUTPUT_HPP

#include <exception>
#include <filesystem>
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

/// A batch item's object with `"line"`, its line in the batch file (1-based), added.
std::string with_line(const std::string& object_json, std::size_t line);

}  // namespace runbase::cli

#endif  // RUNBASE_TOOLS_CLI_JSON_OUTPUT_HPP
