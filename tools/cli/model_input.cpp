#include "model_input.hpp"

#include <nlohmann/json.hpp>
#include <runbase/errors.hpp>

#include <array>
#include <string_view>
#include <utility>

#include "exit_codes.hpp"

namespace runbase::cli {

namespace {

using nlohmann::json;

constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kShortNames{{
    {"gpt-image-1", GptImage1Input::model_id},
    {"gpt-image-1.5", GptImage15Input::model_id},
    {"gpt-image-2", GptImage2Input::model_id},
}};

// "--aspect-ratio" as a flag, "\"aspect_ratio\"" as a JSON key.
std::string field_name(std::string_view key, FieldNaming naming) {
  if (naming == FieldNaming::JsonKey) return "\"" + std::string(key) + "\"";
  std::string flag = "--" + std::string(key);
  for (char& c : flag) {
    if (c == '_') c = '-';
  }
  return flag;
}

// The value of `key`, parsed by `parse`; a value it refuses throws ValidationError listing
// `allowed`.
template <typename Parse>
auto parse_value(const std::string& value, Parse parse, std::string_view key,
                 std::string_view model, std::string_view allowed, FieldNaming naming) {
  const auto parsed = parse(value);
  if (!parsed) {
    throw ValidationError(field_name(key, naming) + " \"" + value + "\" is not one of " +
                          std::string(model) + "'s values: use " + std::string(allowed) + ".");
  }
  return *parsed;
}

template <typename Input>
Input typed_input(const InputFields& fields) {
  Input input;
  input.prompt = fields.prompt;
  input.image_urls = fields.image_urls;
  return input;
}

ModelInput any_model_input(const std::string& model, const InputFields& fields) {
  json input = {{"prompt", fields.prompt}};
  if (fields.aspect_ratio) input["aspect_ratio"] = *fields.aspect_ratio;
  if (fields.quality) input["quality"] = *fields.quality;
  if (fields.resolution) input["resolution"] = *fields.resolution;
  if (!fields.image_urls.empty()) input["image_urls"] = fields.image_urls;
  try {
    return ModelInput(model, input.dump());
  } catch (const json::type_error&) {  // a string that is not UTF-8
    throw ValidationError("The input of " + model +
                          " is not valid UTF-8: pass the prompt and values UTF-8 encoded.");
  }
}

}  // namespace

std::string full_model_id(const std::string& name) {
  for (const auto& [short_name, id] : kShortNames) {
    if (name == short_name) return std::string(id);
  }
  return name;
}

bool has_typed_input(const std::string& model_id) {
  for (const auto& entry : kShortNames) {
    if (model_id == entry.second) return true;
  }
  return false;
}

void check_model_takes(const std::string& model_id, bool quality, bool resolution,
                       FieldNaming naming) {
  if (!has_typed_input(model_id)) return;
  const auto refuse = [&](std::string_view key, std::string_view taker) {
    const std::string message =
        field_name(key, naming) + " is not an input of " + model_id + ": only " +
        std::string(taker) + " takes it" +
        (naming == FieldNaming::Flag ? " (pass --model " + std::string(taker) + ")" : "") + ".";
    if (naming == FieldNaming::Flag) throw UsageError(message);
    throw ValidationError(message);
  };
  if (quality && model_id != GptImage15Input::model_id) {
    refuse("quality", GptImage15Input::model_id);
  }
  if (resolution && model_id != GptImage2Input::model_id) {
    refuse("resolution", GptImage2Input::model_id);
  }
}

ModelInput make_model_input(const InputFields& fields, FieldNaming naming) {
  const std::string model = full_model_id(fields.model);
  check_model_takes(model, fields.quality.has_value(), fields.resolution.has_value(), naming);
  constexpr std::string_view kGptImage1Ratios = "1:1, 3:2 or 2:3";
  std::optional<ModelInput> result;
  if (model == GptImage1Input::model_id) {
    auto input = typed_input<GptImage1Input>(fields);
    if (fields.aspect_ratio) {
      input.aspect_ratio = parse_value(*fields.aspect_ratio, parse_aspect_ratio, "aspect_ratio",
                                       model, kGptImage1Ratios, naming);
    }
    result.emplace(std::move(input));
  } else if (model == GptImage15Input::model_id) {
    auto input = typed_input<GptImage15Input>(fields);
    if (fields.aspect_ratio) {
      input.aspect_ratio = parse_value(*fields.aspect_ratio, parse_aspect_ratio, "aspect_ratio",
                                       model, kGptImage1Ratios, naming);
    }
    if (fields.quality) {
      input.quality =
          parse_value(*fields.quality, parse_quality, "quality", model, "medium or high", naming);
    }
    result.emplace(std::move(input));
  } else if (model == GptImage2Input::model_id) {
    auto input = typed_input<GptImage2Input>(fields);
    if (fields.aspect_ratio) {
      input.aspect_ratio =
          parse_value(*fields.aspect_ratio, parse_gpt_image2_aspect_ratio, "aspect_ratio", model,
                      "1:1, 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9 or 21:9", naming);
    }
    if (fields.resolution) {
      input.resolution = parse_value(*fields.resolution, parse_resolution, "resolution", model,
                                     "1K, 2K or 4K", naming);
    }
    result.emplace(std::move(input));
  } else {
    result.emplace(any_model_input(model, fields));
  }
  result->validate();
  return std::move(*result);
}

}  // namespace runbase::cli
