#include "batch_file.hpp"

#include <nlohmann/json.hpp>
#include <runbase/errors.hpp>

namespace runbase::cli {

namespace {

using nlohmann::json;

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t") == std::string::npos;
}

// Throws std::runtime_error with a message naming the field.
GptImage1Input parse_json_line(const std::string& line) {
  const json object = json::parse(line);  // json::parse_error on bad JSON
  if (!object.is_object()) throw std::runtime_error("a JSON line must be an object");
  GptImage1Input input;
  for (const auto& [key, value] : object.items()) {
    if (key == "prompt") {
      if (!value.is_string()) throw std::runtime_error("\"prompt\" must be a string");
      input.prompt = value.get<std::string>();
    } else if (key == "aspect_ratio") {
      const auto ratio =
          value.is_string() ? parse_aspect_ratio(value.get<std::string>()) : std::nullopt;
      if (!ratio) throw std::runtime_error("\"aspect_ratio\" must be \"1:1\", \"3:2\" or \"2:3\"");
      input.aspect_ratio = ratio;
    } else if (key == "image_urls") {
      if (!value.is_array()) throw std::runtime_error("\"image_urls\" must be an array of URLs");
      for (const auto& url : value) {
        if (!url.is_string()) throw std::runtime_error("\"image_urls\" must hold strings");
        input.image_urls.push_back(url.get<std::string>());
      }
    } else {
      throw std::runtime_error("unknown field \"" + key +
                               "\" (the fields are prompt, aspect_ratio and image_urls)");
    }
  }
  if (!object.contains("prompt")) throw std::runtime_error("\"prompt\" is missing");
  return input;
}

}  // namespace

BatchFile read_batch_file(std::istream& in) {
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
      BatchItem item;
      item.line = number;
      if (line[line.find_first_not_of(" \t")] == '{') {
        item.input = parse_json_line(line);
      } else {
        item.input.prompt = line;
      }
      item.input.validate();
      file.items.push_back(std::move(item));
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
