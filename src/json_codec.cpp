#include "json_codec.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "error_mapping.hpp"
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

namespace {
// The fields every GPT Image input has; unset ones are omitted.
template <typename Input>
json input_object(const Input& input) {
  json body_input = json::object();
  body_input["prompt"] = input.prompt;
  if (input.aspect_ratio) body_input["aspect_ratio"] = std::string(to_string(*input.aspect_ratio));
  if (!input.image_urls.empty()) body_input["image_urls"] = input.image_urls;
  return body_input;
}
}  // namespace

std::string encode_create_request(const GptImage1Input& input) {
  json body = {{"model", std::string(GptImage1Input::model_id)}, {"input", input_object(input)}};
  return dump_request(body);
}

std::string encode_input(const GptImage1Input& input) { return dump_request(input_object(input)); }

std::string encode_input(const GptImage15Input& input) {
  json body_input = input_object(input);
  if (input.quality) body_input["quality"] = std::string(to_string(*input.quality));
  return dump_request(body_input);
}

std::string encode_input(const GptImage2Input& input) {
  json body_input = input_object(input);
  if (input.resolution) body_input["resolution"] = std::string(to_string(*input.resolution));
  return dump_request(body_input);
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

namespace {

// Reads a run straight from the parser's events, without building a document: the decode of
// every poll, and the largest part of the SDK's own work per request (see docs/PERFORMANCE.md).
// It gives what decoding the parsed document would: the last of a repeated key counts, a field of
// the wrong type reads as absent, and anything else in the body is skipped. An `error` that is
// neither null, a string nor an object is kept as its JSON text, which only a document gives:
// `error_needs_document()` asks the caller to parse for that one value.
class RunReader {
 public:
  explicit RunReader(Run& run) : run_(run) {}

  bool is_object() const noexcept { return is_object_; }
  bool error_needs_document() const noexcept { return odd_error_; }

  bool null() { return scalar(/*odd_error=*/false); }
  bool boolean(bool) { return scalar(true); }
  bool number_integer(std::int64_t value) {
    if (field_ == Field::Cost && skipped_ == 0) run_.cost_usd_micros = value;
    return scalar(true);
  }
  bool number_unsigned(std::uint64_t value) {
    // Wraps as reading the document's number as int64 does.
    if (field_ == Field::Cost && skipped_ == 0) {
      run_.cost_usd_micros = static_cast<std::int64_t>(value);
    }
    return scalar(true);
  }
  bool number_float(double value, const std::string&) {
    // Out of int64's range (or not finite) is nonsense for a price: read it as absent.
    if (field_ == Field::Cost && skipped_ == 0 && std::isfinite(value) &&
        std::fabs(value) < 9.2e18) {
      run_.cost_usd_micros = static_cast<std::int64_t>(value);
    }
    return scalar(true);
  }
  bool string(std::string& value) {
    if (scopes_.empty()) return false;  // not an object: nothing more to read
    if (skipped_ == 0) {
      if (scopes_.back() == Scope::Urls) {
        run_.output_urls.push_back(std::move(value));
      } else if (field_ == Field::Error) {
        run_.error = RunError{std::move(value), {}};
      } else if (std::string* target = text_field(field_)) {
        *target = std::move(value);
      }
    }
    return scalar(false);
  }
  bool binary(nlohmann::json::binary_t&) { return scalar(true); }

  bool start_object(std::size_t) {
    if (scopes_.empty()) {
      is_object_ = true;
      scopes_.push_back(Scope::Run);
      return true;
    }
    if (skipped_ == 0 && field_ == Field::Output) {
      scopes_.push_back(Scope::Output);
    } else if (skipped_ == 0 && field_ == Field::Error) {
      run_.error = RunError{};
      scopes_.push_back(Scope::ErrorObject);
    } else {
      ++skipped_;
    }
    field_ = Field::None;
    return true;
  }
  bool start_array(std::size_t) {
    if (scopes_.empty()) return false;  // not an object: nothing more to read
    if (skipped_ == 0 && field_ == Field::Urls) {
      scopes_.push_back(Scope::Urls);
    } else {
      if (skipped_ == 0 && field_ == Field::Error) odd_error_ = true;
      ++skipped_;
    }
    field_ = Field::None;
    return true;
  }
  bool end_object() { return end(); }
  bool end_array() { return end(); }

  bool key(std::string& name) {
    field_ = Field::None;
    if (skipped_ != 0) return true;
    switch (scopes_.back()) {
      case Scope::Run:
        field_ = run_field(name);
        break;
      case Scope::Output:
        if (name == "urls") field_ = Field::Urls;
        break;
      case Scope::ErrorObject:
        if (name == "message") field_ = Field::ErrorMessage;
        if (name == "code") field_ = Field::ErrorCode;
        break;
      case Scope::Urls:
        break;
    }
    // A key given again replaces what its earlier value gave.
    switch (field_) {
      case Field::Cost:
        run_.cost_usd_micros = 0;
        break;
      case Field::Output:
      case Field::Urls:
        run_.output_urls.clear();
        break;
      case Field::Error:
        run_.error.reset();
        odd_error_ = false;
        break;
      default:
        if (std::string* target = text_field(field_)) target->clear();
        break;
    }
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) {
    error_at_ = position;
    return false;
  }
  /// Where the JSON turned out malformed (in bytes read, the end of input counted as one).
  std::size_t error_at() const noexcept { return error_at_; }

 private:
  enum class Scope : unsigned char { Run, Output, Urls, ErrorObject };
  enum class Field : unsigned char {
    None,
    Id,
    Model,
    Status,
    Cost,
    CreatedAt,
    CompletedAt,
    Output,
    Urls,
    Error,
    ErrorMessage,
    ErrorCode
  };

  static Field run_field(std::string_view name) noexcept {
    if (name == "id") return Field::Id;
    if (name == "model") return Field::Model;
    if (name == "status") return Field::Status;
    if (name == "costUsd") return Field::Cost;
    if (name == "output") return Field::Output;
    if (name == "error") return Field::Error;
    if (name == "createdAt") return Field::CreatedAt;
    if (name == "completedAt") return Field::CompletedAt;
    return Field::None;
  }

  std::string* text_field(Field field) noexcept {
    switch (field) {
      case Field::Id:
        return &run_.id;
      case Field::Model:
        return &run_.model;
      case Field::Status:
        return &run_.status_text;
      case Field::CreatedAt:
        return &run_.created_at;
      case Field::CompletedAt:
        return &run_.completed_at;
      case Field::ErrorMessage:
        return &run_.error->message;
      case Field::ErrorCode:
        return &run_.error->code;
      default:
        return nullptr;
    }
  }

  // After a value that is not a container: the key's value has been read. `odd_error`: the value
  // is one an `error` keeps as its JSON text.
  bool scalar(bool odd_error) {
    if (scopes_.empty()) return false;  // not an object: nothing more to read
    if (skipped_ == 0 && field_ == Field::Error && odd_error) odd_error_ = true;
    field_ = Field::None;
    return true;
  }

  bool end() {
    if (skipped_ != 0) {
      --skipped_;
    } else {
      scopes_.pop_back();
    }
    field_ = Field::None;
    return true;
  }

  Run& run_;
  // The containers that hold fields of a run, outermost first; the containers inside them that
  // hold none are only counted, so a deeply nested body costs no memory.
  std::vector<Scope> scopes_;
  std::size_t skipped_ = 0;
  Field field_ = Field::None;  // what the value after the last key gives
  bool is_object_ = false;
  bool odd_error_ = false;
  std::size_t error_at_ = 0;
};

}  // namespace

Run parse_run(std::string body, std::string_view context) {
  Run run;
  RunReader reader(run);
  const bool read = json::sax_parse(body, &reader);
  const auto where = [&] { return " (" + std::string(context) + ")"; };
  if (!read && !body.empty() && reader.error_at() > body.size()) {
    // Well-formed up to where it stops: the end of the reply went missing on the way.
    throw TruncatedReplyError("The server's reply ends before its JSON does" + where() +
                                  ": the connection was cut after " + std::to_string(body.size()) +
                                  " bytes.",
                              true);
  }
  if (!read || !reader.is_object()) {
    throw ProtocolError("The server's reply is not a JSON object" + where() + ": " +
                            excerpt(body, 200) + ". Check base_url points at the Runbase API.",
                        true);
  }
  if (run.id.empty()) {
    throw ProtocolError("The server's reply has no run id" + where() + ": " + excerpt(body, 200),
                        true);
  }
  if (reader.error_needs_document()) {
    run.error = RunError{json::parse(body).at("error").dump(), {}};
  }
  run.status = parse_run_status(run.status_text);
  if (run.status == RunStatus::Failed && !run.error) run.error = RunError{};
  run.raw_json = std::move(body);
  return run;
}

}  // namespace runbase::detail
