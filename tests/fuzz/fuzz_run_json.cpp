// Fuzzes the JSON the SDK reads from and writes for the server: parse_run (a 2xx body),
// parse_error_envelope (any error body), and the create-request encoders fed with what a caller
// may pass (a raw input_json, a model id, a prompt and image URLs).
//
// Properties: parse_run either returns a run with a non-empty id and the body kept verbatim, or
// throws ProtocolError; parse_error_envelope never throws; the encoders either throw
// ValidationError or return a JSON object {"model", "input"}. Any other exception aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
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

  try {
    const runbase::Run run = runbase::detail::parse_run(text, "GET /runs/fuzz");
    check(!run.id.empty(), "a parsed run has an id");
    check(run.raw_json == text, "raw_json is the whole body");
    check(run.status == runbase::parse_run_status(run.status_text), "status matches its text");
    check(run.status != runbase::RunStatus::Failed || run.error.has_value(),
          "a failed run carries an error");
  } catch (const runbase::ProtocolError& error) {
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
