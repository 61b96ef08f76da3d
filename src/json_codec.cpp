#include "json_codec.hpp"

#include <nlohmann/json.hpp>

#include <cmath>

#include "runbase/errors.hpp"
#include "text.hpp"

namespace runbase::detail {

using nlohmann::json;

namespace {

std::string string_or_empty(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

}  // namespace

ErrorEnvelope parse_error_envelope(std::string_view body) noexcept {
  try {
    const json document = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!document.is_object()) return {};
    const auto error = document.find("error");
    if (error == document.end()) return {};
    if (error->is_string()) return {error->get<std::string>(), {}};
    if (!error->is_object()) return {};
    return {string_or_empty(*error, "message"), string_or_empty(*error, "code")};
  } catch (...) {
    return {};
  }
}

namespace {
// JSON carries text only as UTF-8; nlohmann refuses anything else when writing. validate()
// checks the fields first, so this is the backstop for callers that skip it.
std::string dump_request(const json& body) {
  try {
    return body.dump();
  } catch (const json::exception&) {
    throw ValidationError(
        "The request holds text that is not valid UTF-8 (the model id, the prompt or an image "
        "URL); pass every string UTF-8 encoded.");
  }
}
}  // namespace

std::string encode_create_request(const GptImage1Input& input) {
  json body_input = json::object();
  body_input["prompt"] = input.prompt;
  if (input.aspect_ratio) body_input["aspect_ratio"] = std::string(to_string(*input.aspect_ratio));
  if (!input.image_urls.empty()) body_input["image_urls"] = input.image_urls;
  json body = {{"model", std::string(GptImage1Input::model_id)}, {"input", std::move(body_input)}};
  return dump_request(body);
}

std::string encode_create_request(std::string_view model, std::string_view input_json) {
  if (model.empty()) {
    throw ValidationError("model is empty: pass a model id such as \"openai/gpt-image-1\".");
  }
  json input = json::parse(input_json, nullptr, /*allow_exceptions=*/false);
  if (input.is_discarded() || !input.is_object()) {
    throw ValidationError("input_json must be a JSON object such as {\"prompt\": \"...\"}; got: " +
                          excerpt(input_json, 80));
  }
  if (utf8_length(model) == std::string::npos) {
    throw ValidationError(
        "model is not valid UTF-8: pass a model id such as \"openai/gpt-image-1\".");
  }
  json body = {{"model", std::string(model)}, {"input", std::move(input)}};
  return dump_request(body);
}

Run parse_run(std::string body, std::string_view context) {
  const json document = json::parse(body, nullptr, /*allow_exceptions=*/false);
  const std::string where = " (" + std::string(context) + ")";
  if (document.is_discarded() || !document.is_object()) {
    throw ProtocolError("The server's reply is not a JSON object" + where + ": " +
                            excerpt(body, 200) + ". Check base_url points at the Runbase API.",
                        true);
  }
  Run run;
  run.id = string_or_empty(document, "id");
  if (run.id.empty()) {
    throw ProtocolError("The server's reply has no run id" + where + ": " + excerpt(body, 200),
                        true);
  }
  run.model = string_or_empty(document, "model");
  run.status_text = string_or_empty(document, "status");
  run.status = parse_run_status(run.status_text);
  if (const auto cost = document.find("costUsd"); cost != document.end()) {
    if (cost->is_number_integer()) {
      run.cost_usd_micros = cost->get<std::int64_t>();
    } else if (cost->is_number_float()) {
      // Out of int64's range (or not finite) is nonsense for a price: read it as absent.
      const double value = cost->get<double>();
      if (std::isfinite(value) && std::fabs(value) < 9.2e18) {
        run.cost_usd_micros = static_cast<std::int64_t>(value);
      }
    }
  }
  if (const auto output = document.find("output");
      output != document.end() && output->is_object()) {
    if (const auto urls = output->find("urls"); urls != output->end() && urls->is_array()) {
      for (const auto& url : *urls) {
        if (url.is_string()) run.output_urls.push_back(url.get<std::string>());
      }
    }
  }
  if (const auto error = document.find("error"); error != document.end() && !error->is_null()) {
    if (error->is_string()) {
      run.error = RunError{error->get<std::string>(), {}};
    } else if (error->is_object()) {
      run.error = RunError{string_or_empty(*error, "message"), string_or_empty(*error, "code")};
    } else {
      run.error = RunError{error->dump(), {}};
    }
  }
  if (run.status == RunStatus::Failed && !run.error) run.error = RunError{};
  run.created_at = string_or_empty(document, "createdAt");
  run.completed_at = string_or_empty(document, "completedAt");
  run.raw_json = std::move(body);
  return run;
}

}  // namespace runbase::detail
