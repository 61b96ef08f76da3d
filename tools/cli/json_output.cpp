#include "json_output.hpp"

#include <nlohmann/json.hpp>
#include <runbase/errors.hpp>

namespace runbase::cli {

namespace {

using nlohmann::json;

// Error texts may quote server bodies: never let invalid UTF-8 throw while printing them.
std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json run_object(const Run& run) {
  json object = json::object();
  object["id"] = run.id;
  object["model"] = run.model;
  object["status"] = run.status_text.empty() ? std::string(to_string(run.status)) : run.status_text;
  object["costUsd"] = run.cost_usd_micros;
  object["output"] = {{"urls", run.output_urls}};
  object["createdAt"] = run.created_at.empty() ? json(nullptr) : json(run.created_at);
  object["completedAt"] = run.completed_at.empty() ? json(nullptr) : json(run.completed_at);
  if (run.error) {
    object["error"] = {{"message", run.error->message}, {"code", run.error->code}};
  }
  return object;
}

json error_object(const Failure& failure) {
  json error = {{"kind", failure.kind}, {"message", failure.message}};
  if (!failure.hint.empty()) error["hint"] = failure.hint;
  if (failure.http_status != 0) error["httpStatus"] = failure.http_status;
  if (!failure.error_code.empty()) error["code"] = failure.error_code;
  if (!failure.request_id.empty()) error["requestId"] = failure.request_id;
  error["outcomeUnknown"] = failure.outcome_unknown;
  return error;
}

}  // namespace

std::string run_json(const Run& run, const std::vector<std::filesystem::path>& files) {
  json object = run_object(run);
  if (!files.empty()) {
    json list = json::array();
    for (const auto& file : files) list.push_back(file.string());
    object["files"] = std::move(list);
  }
  return dump(object);
}

std::string failure_json(const Failure& failure, const std::exception_ptr& error) {
  json object = json::object();
  try {
    if (error) std::rethrow_exception(error);
  } catch (const RunFailedError& e) {
    object = run_object(e.run());
  } catch (...) {
  }
  if (!failure.run_id.empty()) object["id"] = failure.run_id;
  json details = error_object(failure);
  if (object.contains("error") && object["error"].is_object()) {
    // A failed run: keep the run's own message and code, add the CLI's classification.
    details["message"] = object["error"]["message"];
    if (!object["error"]["code"].get<std::string>().empty()) {
      details["code"] = object["error"]["code"];
    }
  }
  object["error"] = std::move(details);
  object["exitCode"] = to_int(failure.code);
  return dump(object);
}

std::string download_json(const std::string& url, const std::filesystem::path& file) {
  return dump(json{{"url", url}, {"file", file.string()}});
}

std::string download_failure_json(const std::string& url, const Failure& failure) {
  return dump(
      json{{"url", url}, {"error", error_object(failure)}, {"exitCode", to_int(failure.code)}});
}

std::string dry_run_json(const std::vector<PriceEstimate>& lines, std::int64_t total_usd_micros,
                         std::size_t unpriced_lines) {
  json list = json::array();
  for (const PriceEstimate& estimate : lines) {
    list.push_back(
        {{"line", estimate.line},
         {"model", estimate.model},
         {"costUsd", estimate.cost_usd_micros ? json(*estimate.cost_usd_micros) : json(nullptr)}});
  }
  json object = json::object();
  object["dryRun"] = true;
  object["lines"] = std::move(list);
  object["totalCostUsd"] = total_usd_micros;
  object["unpricedLines"] = unpriced_lines;
  return dump(object);
}

std::string with_line(const std::string& object_json, std::size_t line) {
  json object = json::parse(object_json);
  object["line"] = line;
  return dump(object);
}

}  // namespace runbase::cli
