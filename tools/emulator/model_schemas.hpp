// The emulator's model table: each model's input schema, price and output size, as data.
#ifndef RUNBASE_EMULATOR_MODEL_SCHEMAS_HPP
#define RUNBASE_EMULATOR_MODEL_SCHEMAS_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "png_image.hpp"

namespace runbase::emulator {

/// One parameter of a model's `input` object.
struct FieldRule {
  enum class Kind {
    Text,     ///< a string of min_chars..max_chars Unicode code points
    Choice,   ///< a string, one of `choices`
    UrlList,  ///< an array of at most max_items http(s) URL strings
  };
  std::string name;
  Kind kind = Kind::Text;
  bool required = false;
  std::size_t min_chars = 0;         ///< Text
  std::size_t max_chars = 0;         ///< Text; 0: no upper limit is documented, none is checked
  std::vector<std::string> choices;  ///< Choice
  std::string default_choice;        ///< Choice: the value used for price and size when absent
  std::size_t max_items = 0;         ///< UrlList; 0: no limit is documented, none is checked
};

/// How a model's output size follows from its input.
struct SizeRule {
  /// Fixed sizes by `aspect_ratio` (GPT Image 1: 1024x1024, 1536x1024, 1024x1536). When empty the
  /// size is computed: the long side is 1024, 2048 or 4096 for `resolution` 1K, 2K or 4K, the
  /// short side follows the ratio (rounded to a multiple of 8); `auto` is treated as 1:1.
  std::vector<std::pair<std::string, ImageSize>> by_aspect_ratio;
};

/// A model the emulator serves.
struct ModelSchema {
  std::string id;
  std::vector<FieldRule> fields;
  std::int64_t cost_micros = 0;  ///< the price when price_field is empty
  std::string price_field;       ///< a Choice field whose value sets the price
  std::vector<std::pair<std::string, std::int64_t>> prices;  ///< price_field value -> micro-USD
  SizeRule size;
};

/// Every model the emulator knows, in a fixed order.
const std::vector<ModelSchema>& model_table();

/// The model with this id, or nullptr.
const ModelSchema* find_model(std::string_view id);

/// Checks `input` (a JSON object) against the model's schema. Returns an empty string when it
/// is valid, else the `invalid_input` message, which names the field (`input.aspect_ratio ...`).
/// Unknown keys are rejected.
std::string validate_input(const ModelSchema& model, const nlohmann::json& input);

/// The run's price in micro-USD. `input` must have passed validate_input.
std::int64_t cost_micros(const ModelSchema& model, const nlohmann::json& input);

/// The output image's size. `input` must have passed validate_input.
ImageSize output_size(const ModelSchema& model, const nlohmann::json& input);

/// The number of Unicode code points in valid UTF-8 text.
std::size_t count_code_points(std::string_view utf8) noexcept;

}  // namespace runbase::emulator

#endif  // RUNBASE_EMULATOR_MODEL_SCHEMAS_HPP
