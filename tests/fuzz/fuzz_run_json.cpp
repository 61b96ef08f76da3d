// Fuzzes the JSON the SDK reads from and writes for the server: parse_run (a 2xx body),
// parse_error_envelope (any error body), and the create-request encoders fed with what a caller
// may pass (a raw input_json, a model id, a prompt and image URLs).
//
// Properties: parse_run either returns a run with a non-empty id and the body kept verbatim, or
// throws ProtocolError; it reads exactly what decoding the parsed nlohmann document gives (it
// reads the parser's events instead, for speed: `reference_run` is that document decode);
// parse_error_envelope never throws; the encoders either throw ValidationError or return a JSON
// object {"model", "input"}. Any other exception aborts.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "json_codec.hpp"
#include "runbase/errors.hpp"
#include "runbase/models.hpp"
#include "runbase/run.hpp"

namespace {

void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

std::string string_or_empty(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The run a parsed document describes, read field by field: the oracle for parse_run. Empty when
// the body is not one JSON object with a string id.
std::optional<runbase::Run> reference_run(const std::string& body) {
  const auto document = nlohmann::json::parse(body, nullptr, false);
  if (document.is_discarded() || !document.is_object()) return std::nullopt;
  runbase::Run run;
  run.id = string_or_empty(document, "id");
  if (run.id.empty()) return std::nullopt;
  run.model = string_or_empty(document, "model");
  run.status_text = string_or_empty(document, "status");
  run.status = runbase::parse_run_status(run.status_text);
  if (const auto cost = document.find("costUsd"); cost != document.end()) {
    if (cost->is_number_integer()) {
      run.cost_usd_micros = cost->get<std::int64_t>();
    } else if (cost->is_number_float()) {
      const double value = cost->get<double>();
      if (std::isfinite(value) && std::fabs(value) < 9.2e18) {
        run.cost_usd_micros = static_cast<std::int64_t>(value);
      }
    }
  }
  const auto output = document.find("output");
  if (output != document.end() && output->is_object()) {
    const auto urls = output->find("urls");
    if (urls != output->end() && urls->is_array()) {
      for (const auto& url : *urls) {
        if (url.is_string()) run.output_urls.push_back(url.get<std::string>());
      }
    }
  }
  const auto error = document.find("error");
  if (error != document.end() && !error->is_null()) {
    if (error->is_string()) {
      run.error = runbase::RunError{error->get<std::string>(), {}};
    } else if (error->is_object()) {
      run.error =
          runbase::RunError{string_or_empty(*error, "message"), string_or_empty(*error, "code")};
    } else {
      run.error = runbase::RunError{error->dump(), {}};
    }
  }
  if (run.status == runbase::RunStatus::Failed && !run.error) run.error = runbase::RunError{};
  run.created_at = string_or_empty(document, "createdAt");
  run.completed_at = string_or_empty(document, "completedAt");
  run.raw_json = body;
  return run;
}

bool same_run(const runbase::Run& a, const runbase::Run& b) {
  const auto same_error = [](const std::optional<runbase::RunError>& x,
                             const std::optional<runbase::RunError>& y) {
    if (x.has_value() != y.has_value()) return false;
    return !x || (x->message == y->message && x->code == y->code);
  };
  return a.id == b.id && a.model == b.model && a.status == b.status &&
         a.status_text == b.status_text && a.cost_usd_micros == b.cost_usd_micros &&
         a.output_urls == b.output_urls && same_error(a.error, b.error) &&
         a.created_at == b.created_at && a.completed_at == b.completed_at &&
         a.raw_json == b.raw_json;
}

void check_create_body(const std::string& body, std::string_view model) {
  const auto document = nlohmann::json::parse(body, nullptr, false);
  check(document.is_object(), "encoded create request is a JSON object");
  check(document.size() == 2, "encoded create request has exactly model and input");
  check(document["model"].is_string() && document["model"].get<std::string>() == model,
        "encoded model round-trips");
  check(document["input"].is_object(), "encoded input is an object");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  const std::optional<runbase::Run> expected = reference_run(text);
  try {
    const runbase::Run run = runbase::detail::parse_run(text, "GET /runs/fuzz");
    check(expected.has_value(), "parse_run accepts only what the document decode accepts");
    check(same_run(run, *expected), "parse_run reads what the document decode reads");
    check(!run.id.empty(), "a parsed run has an id");
    check(run.raw_json == text, "raw_json is the whole body");
    check(run.status == runbase::parse_run_status(run.status_text), "status matches its text");
    check(run.status != runbase::RunStatus::Failed || run.error.has_value(),
          "a failed run carries an error");
  } catch (const runbase::ProtocolError& error) {
    check(!expected.has_value(), "parse_run refuses only what the document decode refuses");
    check(error.outcome_unknown(), "an unreadable 2xx leaves the outcome unknown");
  }

  const runbase::detail::ErrorEnvelope envelope = runbase::detail::parse_error_envelope(text);
  (void)envelope;

  // What a caller may hand to create_run(model, input_json).
  try {
    check_create_body(runbase::detail::encode_create_request("openai/gpt-image-1", text),
                      "openai/gpt-image-1");
  } catch (const runbase::ValidationError&) {
  }
  try {
    check_create_body(runbase::detail::encode_create_request(text, "{\"prompt\":\"a cat\"}"), text);
  } catch (const runbase::ValidationError&) {
  }

  // What a caller may put in a GptImage1Input: validate() first, as create_run does.
  runbase::GptImage1Input input;
  const std::size_t split = text.find('\n');
  input.prompt = text.substr(0, split);
  if (split != std::string::npos) input.image_urls.push_back(text.substr(split + 1));
  input.aspect_ratio = runbase::AspectRatio::Landscape;
  try {
    input.validate();
    check_create_body(runbase::detail::encode_create_request(input),
                      runbase::GptImage1Input::model_id);
  } catch (const runbase::ValidationError&) {
  }
  return 0;
}
