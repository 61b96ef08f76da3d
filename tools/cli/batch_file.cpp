#include "batch_file.hpp"

#include <nlohmann/json.hpp>
#include <runbase/errors.hpp>

namespace runbase::cli {

namespace {

using nlohmann::json;

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t") == std::string::npos;
}

// "model, prompt, aspect_ratio and image_urls": the keys a line of `model` (a GPT Image) takes.
std::string typed_fields(const std::string& model) {
  std::string tier;
  if (model == GptImage15Input::model_id) tier = "quality, ";
  if (model == GptImage2Input::model_id) tier = "resolution, ";
  return "model, prompt, aspect_ratio, " + tier + "and image_urls";
}

// Throws std::runtime_error (or ValidationError) with a message naming the field.
ModelInput parse_json_line(const std::string& line, const BatchDefaults& defaults) {
  json object = json::parse(line);  // json::parse_error on bad JSON
  if (!object.is_object()) throw std::runtime_error("a JSON line must be an object");
  InputFields fields;
  const auto named = object.find("model");
  const bool names_model = named != object.end();
  if (names_model) {
    if (!named->is_string()) {
      throw std::runtime_error("\"model\" must be a string such as \"openai/gpt-image-2\"");
    }
    fields.model = full_model_id(named->get<std::string>());
    object.erase("model");
  } else {
    // The flags count for the lines of --model only: another model may not take them.
    fields.model = full_model_id(defaults.model);
    fields.quality = defaults.quality;
    fields.resolution = defaults.resolution;
  }
  const auto prompt = object.find("prompt");
  if (prompt == object.end()) throw std::runtime_error("\"prompt\" is missing");
  if (!prompt->is_string()) throw std::runtime_error("\"prompt\" must be a string");

  if (!has_typed_input(fields.model)) {
    // No schema here: the line is sent as written (with the flags' quality and resolution, when
    // it sets none), and the service checks it.
    if (fields.quality && !object.contains("quality")) object["quality"] = *fields.quality;
    if (fields.resolution && !object.contains("resolution")) {
      object["resolution"] = *fields.resolution;
    }
    ModelInput input(fields.model, object.dump());
    input.validate();
    return input;
  }
  for (const auto& [key, value] : object.items()) {
    if (key == "prompt") {
      fields.prompt = value.get<std::string>();
    } else if (key == "aspect_ratio" || key == "quality" || key == "resolution") {
      if (!value.is_string()) throw std::runtime_error("\"" + key + "\" must be a string");
      const std::string text = value.get<std::string>();
      if (key == "aspect_ratio") fields.aspect_ratio = text;
      if (key == "quality") fields.quality = text;
      if (key == "resolution") fields.resolution = text;
    } else if (key == "image_urls") {
      if (!value.is_array()) throw std::runtime_error("\"image_urls\" must be an array of URLs");
      for (const auto& url : value) {
        if (!url.is_string()) throw std::runtime_error("\"image_urls\" must hold strings");
        fields.image_urls.push_back(url.get<std::string>());
      }
    } else {
      throw std::runtime_error("unknown field \"" + key + "\" (the fields of " + fields.model +
                               " are " + typed_fields(fields.model) + ")");
    }
  }
  return make_model_input(fields, FieldNaming::JsonKey);
}

}  // namespace

BatchFile read_batch_file(std::istream& in, const BatchDefaults& defaults) {
  BatchFile file;
  std::size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    // Windows editors start a UTF-8 file with a byte order mark: not part of the first prompt
    // (nor in front of a JSON line's '{', which would make it a prompt).
    if (number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (is_blank(line)) continue;
    try {
      if (line[line.find_first_not_of(" \t")] == '{') {
        file.items.push_back(BatchItem{number, parse_json_line(line, defaults)});
      } else {
        InputFields fields;
        fields.model = defaults.model;
        fields.prompt = line;
        fields.quality = defaults.quality;
        fields.resolution = defaults.resolution;
        file.items.push_back(BatchItem{number, make_model_input(fields, FieldNaming::JsonKey)});
      }
    } catch (const json::exception& e) {
      file.errors.push_back("line " + std::to_string(number) + ": not valid JSON (" + e.what() +
                            ")");
    } catch (const std::exception& e) {
      file.errors.push_back("line " + std::to_string(number) + ": " + e.what());
    }
  }
  return file;
}

}  // namespace runbase::cli
