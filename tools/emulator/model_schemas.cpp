#include "model_schemas.hpp"

#include <algorithm>
#include <cstdlib>

#include <nlohmann/json.hpp>

namespace runbase::emulator {
namespace {

using Kind = FieldRule::Kind;

FieldRule prompt_rule(std::size_t max_chars) {
  FieldRule rule;
  rule.name = "prompt";
  rule.kind = Kind::Text;
  rule.required = true;
  rule.min_chars = 1;
  rule.max_chars = max_chars;
  return rule;
}

FieldRule choice_rule(std::string name, std::vector<std::string> choices,
                      std::string default_choice) {
  FieldRule rule;
  rule.name = std::move(name);
  rule.kind = Kind::Choice;
  rule.choices = std::move(choices);
  rule.default_choice = std::move(default_choice);
  return rule;
}

FieldRule urls_rule(std::size_t max_items) {
  FieldRule rule;
  rule.name = "image_urls";
  rule.kind = Kind::UrlList;
  rule.max_items = max_items;
  return rule;
}

const std::vector<std::pair<std::string, ImageSize>> gpt_image_sizes = {
    {"1:1", {1024, 1024}}, {"3:2", {1536, 1024}}, {"2:3", {1024, 1536}}};

// Sources: RUNBASE.md section 12. Where the docs leave a default or a limit out, the choice made
// here is marked "ours" and documented in docs/EMULATOR.md.
std::vector<ModelSchema> build_table() {
  std::vector<ModelSchema> table;

  ModelSchema gpt1;
  gpt1.id = "openai/gpt-image-1";
  gpt1.fields = {prompt_rule(4000), choice_rule("aspect_ratio", {"1:1", "3:2", "2:3"}, "1:1"),
                 urls_rule(5)};
  gpt1.cost_micros = 50000;  // "Fixed $0.05"
  gpt1.size.by_aspect_ratio = gpt_image_sizes;
  table.push_back(gpt1);

  ModelSchema gpt15;
  gpt15.id = "openai/gpt-image-1.5";
  gpt15.fields = {prompt_rule(0),  // length limit not recovered
                  choice_rule("aspect_ratio", {"1:1", "3:2", "2:3"}, "1:1"),  // default: ours
                  choice_rule("quality", {"medium", "high"}, "medium"),       // default: ours
                  urls_rule(4)};
  gpt15.price_field = "quality";
  gpt15.prices = {{"medium", 30000}, {"high", 160000}};
  gpt15.size.by_aspect_ratio = gpt_image_sizes;  // ours: as GPT Image 1
  table.push_back(gpt15);

  ModelSchema gpt2;
  gpt2.id = "openai/gpt-image-2";
  gpt2.fields = {
      prompt_rule(0),
      choice_rule("aspect_ratio",
                  {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"},
                  "1:1"),                                   // default: ours
      choice_rule("resolution", {"1K", "2K", "4K"}, "1K"),  // default: ours
      urls_rule(4)};
  gpt2.price_field = "resolution";
  gpt2.prices = {{"1K", 50000}, {"2K", 70000}, {"4K", 120000}};
  table.push_back(gpt2);

  // The quickstart's model, so the docs' curl commands work against the emulator unchanged.
  ModelSchema banana2;
  banana2.id = "google/nano-banana-2";
  banana2.fields = {prompt_rule(0),
                    choice_rule("aspect_ratio",
                                {"1:1", "1:4", "1:8", "2:3", "3:2", "3:4", "4:1", "4:3", "4:5",
                                 "5:4", "8:1", "9:16", "16:9", "21:9", "auto"},
                                "1:1"),                                   // default: ours
                    choice_rule("resolution", {"1K", "2K", "4K"}, "1K"),  // default: ours
                    urls_rule(0)};
  banana2.cost_micros = 40000;  // the quickstart's example
  table.push_back(banana2);

  return table;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out += ", ";
    }
    out += item;
  }
  return out;
}

bool is_http_url(const std::string& text) {
  auto starts_with_ci = [&](std::string_view prefix) {
    if (text.size() < prefix.size()) {
      return false;
    }
    for (std::size_t i = 0; i < prefix.size(); ++i) {
      const char c = text[i];
      const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      if (lower != prefix[i]) {
        return false;
      }
    }
    return true;
  };
  std::size_t host_at = 0;
  if (starts_with_ci("https://")) {
    host_at = 8;
  } else if (starts_with_ci("http://")) {
    host_at = 7;
  } else {
    return false;
  }
  // A host must follow, and a URL has no whitespace.
  if (host_at >= text.size() || text[host_at] == '/') {
    return false;
  }
  return std::none_of(text.begin(), text.end(),
                      [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

std::string check_field(const FieldRule& rule, const nlohmann::json& value) {
  const std::string field = "input." + rule.name;
  switch (rule.kind) {
    case Kind::Text: {
      if (!value.is_string()) {
        return field + " must be a string";
      }
      const std::size_t chars = count_code_points(value.get_ref<const std::string&>());
      if (rule.max_chars > 0 && (chars < rule.min_chars || chars > rule.max_chars)) {
        return field + " must be " + std::to_string(rule.min_chars) + " to " +
               std::to_string(rule.max_chars) + " characters long (got " + std::to_string(chars) +
               ")";
      }
      if (chars < rule.min_chars) {
        return field + " must not be empty";
      }
      return {};
    }
    case Kind::Choice: {
      const bool allowed =
          value.is_string() && std::find(rule.choices.begin(), rule.choices.end(),
                                         value.get_ref<const std::string&>()) != rule.choices.end();
      if (!allowed) {
        return field + " must be one of: " + join(rule.choices);
      }
      return {};
    }
    case Kind::UrlList: {
      if (!value.is_array()) {
        return field + " must be an array of http(s) URL strings";
      }
      if (rule.max_items > 0 && value.size() > rule.max_items) {
        return field + " must have at most " + std::to_string(rule.max_items) + " items (got " +
               std::to_string(value.size()) + ")";
      }
      for (std::size_t i = 0; i < value.size(); ++i) {
        const auto& item = value[i];
        if (!item.is_string() || !is_http_url(item.get_ref<const std::string&>())) {
          return field + "[" + std::to_string(i) + "] must be an http:// or https:// URL string";
        }
      }
      return {};
    }
  }
  return {};
}

const FieldRule* find_field(const ModelSchema& model, std::string_view name) {
  for (const auto& rule : model.fields) {
    if (rule.name == name) {
      return &rule;
    }
  }
  return nullptr;
}

// The value of a Choice field, or its default when absent.
std::string choice_value(const ModelSchema& model, const nlohmann::json& input,
                         std::string_view name) {
  const auto it = input.find(std::string(name));
  if (it != input.end() && it->is_string()) {
    return it->get<std::string>();
  }
  const FieldRule* rule = find_field(model, name);
  return rule != nullptr ? rule->default_choice : std::string();
}

int round_to_8(double value) {
  const int rounded = static_cast<int>((value + 4.0) / 8.0) * 8;
  return std::max(rounded, 8);
}

}  // namespace

const std::vector<ModelSchema>& model_table() {
  static const std::vector<ModelSchema> table = build_table();
  return table;
}

const ModelSchema* find_model(std::string_view id) {
  for (const auto& model : model_table()) {
    if (model.id == id) {
      return &model;
    }
  }
  return nullptr;
}

std::string validate_input(const ModelSchema& model, const nlohmann::json& input) {
  for (const auto& item : input.items()) {
    if (find_field(model, item.key()) == nullptr) {
      return "input." + item.key() + " is not a parameter of " + model.id;
    }
  }
  for (const auto& rule : model.fields) {
    const auto it = input.find(rule.name);
    if (it == input.end()) {
      if (rule.required) {
        return "input." + rule.name + " is required";
      }
      continue;
    }
    std::string problem = check_field(rule, *it);
    if (!problem.empty()) {
      return problem;
    }
  }
  return {};
}

std::int64_t cost_micros(const ModelSchema& model, const nlohmann::json& input) {
  if (model.price_field.empty()) {
    return model.cost_micros;
  }
  const std::string value = choice_value(model, input, model.price_field);
  for (const auto& price : model.prices) {
    if (price.first == value) {
      return price.second;
    }
  }
  return model.cost_micros;
}

ImageSize output_size(const ModelSchema& model, const nlohmann::json& input) {
  const std::string ratio = choice_value(model, input, "aspect_ratio");
  if (!model.size.by_aspect_ratio.empty()) {
    for (const auto& entry : model.size.by_aspect_ratio) {
      if (entry.first == ratio) {
        return entry.second;
      }
    }
    return model.size.by_aspect_ratio.front().second;
  }
  const std::string resolution = choice_value(model, input, "resolution");
  const int long_side = resolution == "4K" ? 4096 : resolution == "2K" ? 2048 : 1024;
  int w = 1;
  int h = 1;
  const auto colon = ratio.find(':');
  if (colon != std::string::npos) {
    w = std::max(1, std::atoi(ratio.substr(0, colon).c_str()));
    h = std::max(1, std::atoi(ratio.substr(colon + 1).c_str()));
  }
  if (w >= h) {
    return {long_side, round_to_8(static_cast<double>(long_side) * h / w)};
  }
  return {round_to_8(static_cast<double>(long_side) * w / h), long_side};
}

std::size_t count_code_points(std::string_view utf8) noexcept {
  std::size_t count = 0;
  for (const char c : utf8) {
    if ((static_cast<unsigned char>(c) & 0xC0U) != 0x80U) {
      ++count;
    }
  }
  return count;
}

}  // namespace runbase::emulator
