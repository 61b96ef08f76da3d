#ifndef RUNBASE_SRC_JSON_CODEC_HPP
#define RUNBASE_SRC_JSON_CODEC_HPP

#include <string>
#include <string_view>

#include "runbase/models.hpp"
#include "runbase/run.hpp"

// The only place JSON is read or written: nlohmann/json never crosses into the public headers.
namespace runbase::detail {

/// `{"error":{"message","code"}}`, tolerant of anything else: fields that are missing or not
/// strings come back empty, and so does everything for a body that is not the envelope.
struct ErrorEnvelope {
  std::string message;
  std::string code;
};
ErrorEnvelope parse_error_envelope(std::string_view body) noexcept;

/// `{"model": ..., "input": {...}}` for GPT Image 1; unset fields are omitted.
std::string encode_create_request(const GptImage1Input& input);

/// The `input` object of that body alone, so a typed input can travel as a
/// `CreateRequest` (create_request.hpp) like any raw one.
std::string encode_input(const GptImage1Input& input);
std::string encode_input(const GptImage15Input& input);
std::string encode_input(const GptImage2Input& input);

/// `{"model": ..., "input": <input_json>}`. Throws ValidationError when `input_json` is not a
/// JSON object.
std::string encode_create_request(std::string_view model, std::string_view input_json);

/// A run from a 2xx body. Unknown fields are ignored, an unknown status is kept as text, `error`
/// may be a string or `{message, code}`, absent and null fields read as empty. Throws
/// ProtocolError (outcome unknown: the request was served) when the body is not a JSON object or
/// has no string `id`. `context` names the call, e.g. "POST /runs".
Run parse_run(std::string body, std::string_view context);

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_JSON_CODEC_HPP
