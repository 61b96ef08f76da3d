#include "runbase/models.hpp"

#include <array>
#include <string>
#include <type_traits>
#include <utility>

#include "json_codec.hpp"
#include "runbase/errors.hpp"
#include "runbase/run.hpp"
#include "text.hpp"
#include "url.hpp"

namespace runbase {

std::string_view to_string(AspectRatio ratio) noexcept {
  switch (ratio) {
    case AspectRatio::Square:
      return "1:1";
    case AspectRatio::Landscape:
      return "3:2";
    case AspectRatio::Portrait:
      return "2:3";
  }
  return "1:1";
}

std::optional<AspectRatio> parse_aspect_ratio(std::string_view text) noexcept {
  if (text == "1:1") return AspectRatio::Square;
  if (text == "3:2") return AspectRatio::Landscape;
  if (text == "2:3") return AspectRatio::Portrait;
  return std::nullopt;
}

namespace {

void check_prompt(std::string_view prompt, std::string_view model, std::size_t max_length) {
  if (prompt.empty()) {
    throw ValidationError("prompt is empty: describe the image in 1 to " +
                          std::to_string(max_length) + " characters.");
  }
  const std::size_t length = detail::utf8_length(prompt);
  if (length == std::string::npos) {
    throw ValidationError("prompt is not valid UTF-8: pass the text UTF-8 encoded.");
  }
  if (length > max_length) {
    throw ValidationError("prompt is " + std::to_string(length) + " characters long; " +
                          std::string(model) + " accepts at most " + std::to_string(max_length) +
                          ". Shorten it.");
  }
}

void check_image_urls(const std::vector<std::string>& image_urls, std::string_view model,
                      std::size_t max_urls) {
  if (image_urls.size() > max_urls) {
    throw ValidationError("image_urls has " + std::to_string(image_urls.size()) + " entries; " +
                          std::string(model) + " accepts at most " + std::to_string(max_urls) +
                          " reference images.");
  }
  for (std::size_t i = 0; i < image_urls.size(); ++i) {
    if (detail::utf8_length(image_urls[i]) == std::string::npos ||
        !detail::is_http_url(image_urls[i])) {
      throw ValidationError("image_urls[" + std::to_string(i) + "] is not an http(s) URL: \"" +
                            detail::excerpt(image_urls[i], 100) +
                            "\". Pass a public http:// or https:// address of the image.");
    }
  }
}

// An enum field holding a value outside its enumerators (a cast from an int) would be sent as
// some other value: refused instead. `Parse` is the enum's parse function.
template <typename Enum, typename Parse>
void check_enum(const std::optional<Enum>& value, Parse parse, const char* message) {
  if (value && parse(to_string(*value)) != value) throw ValidationError(message);
}

constexpr std::array<std::pair<GptImage2AspectRatio, std::string_view>, 10> kGptImage2Ratios{{
    {GptImage2AspectRatio::Square, "1:1"},
    {GptImage2AspectRatio::Portrait2x3, "2:3"},
    {GptImage2AspectRatio::Landscape3x2, "3:2"},
    {GptImage2AspectRatio::Portrait3x4, "3:4"},
    {GptImage2AspectRatio::Landscape4x3, "4:3"},
    {GptImage2AspectRatio::Portrait4x5, "4:5"},
    {GptImage2AspectRatio::Landscape5x4, "5:4"},
    {GptImage2AspectRatio::Portrait9x16, "9:16"},
    {GptImage2AspectRatio::Landscape16x9, "16:9"},
    {GptImage2AspectRatio::Landscape21x9, "21:9"},
}};

}  // namespace

void GptImage1Input::validate() const {
  check_prompt(prompt, model_id, max_prompt_length);
  check_enum(aspect_ratio, parse_aspect_ratio,
             "aspect_ratio is not one of AspectRatio's values (1:1, 3:2, 2:3).");
  check_image_urls(image_urls, model_id, max_image_urls);
}

std::string_view to_string(Quality quality) noexcept {
  return quality == Quality::High ? "high" : "medium";
}

std::optional<Quality> parse_quality(std::string_view text) noexcept {
  if (text == "medium") return Quality::Medium;
  if (text == "high") return Quality::High;
  return std::nullopt;
}

void GptImage15Input::validate() const {
  check_prompt(prompt, model_id, max_prompt_length);
  check_enum(aspect_ratio, parse_aspect_ratio,
             "aspect_ratio is not one of AspectRatio's values (1:1, 3:2, 2:3).");
  check_enum(quality, parse_quality, "quality is not one of Quality's values (medium, high).");
  check_image_urls(image_urls, model_id, max_image_urls);
}

std::string_view to_string(GptImage2AspectRatio ratio) noexcept {
  for (const auto& [value, text] : kGptImage2Ratios) {
    if (value == ratio) return text;
  }
  return "1:1";
}

std::optional<GptImage2AspectRatio> parse_gpt_image2_aspect_ratio(std::string_view text) noexcept {
  for (const auto& [value, name] : kGptImage2Ratios) {
    if (name == text) return value;
  }
  return std::nullopt;
}

std::string_view to_string(Resolution resolution) noexcept {
  switch (resolution) {
    case Resolution::OneK:
      return "1K";
    case Resolution::TwoK:
      return "2K";
    case Resolution::FourK:
      return "4K";
  }
  return "1K";
}

std::optional<Resolution> parse_resolution(std::string_view text) noexcept {
  if (text == "1K") return Resolution::OneK;
  if (text == "2K") return Resolution::TwoK;
  if (text == "4K") return Resolution::FourK;
  return std::nullopt;
}

void GptImage2Input::validate() const {
  check_prompt(prompt, model_id, max_prompt_length);
  check_enum(aspect_ratio, parse_gpt_image2_aspect_ratio,
             "aspect_ratio is not one of GptImage2AspectRatio's values (1:1, 2:3, 3:2, 3:4, 4:3, "
             "4:5, 5:4, 9:16, 16:9, 21:9).");
  check_enum(resolution, parse_resolution,
             "resolution is not one of Resolution's values (1K, 2K, 4K).");
  check_image_urls(image_urls, model_id, max_image_urls);
}

ModelInput::ModelInput(GptImage1Input input)
    : model_(GptImage1Input::model_id), input_(std::move(input)) {}
ModelInput::ModelInput(GptImage15Input input)
    : model_(GptImage15Input::model_id), input_(std::move(input)) {}
ModelInput::ModelInput(GptImage2Input input)
    : model_(GptImage2Input::model_id), input_(std::move(input)) {}
ModelInput::ModelInput(std::string model, std::string input_json)
    : model_(std::move(model)), input_(std::move(input_json)) {}

void ModelInput::validate() const {
  std::visit(
      [this](const auto& input) {
        if constexpr (std::is_same_v<std::decay_t<decltype(input)>, std::string>) {
          detail::encode_create_request(model_, input);  // throws for a bad id or JSON
        } else {
          input.validate();
        }
      },
      input_);
}

std::string ModelInput::input_json() const {
  validate();
  return std::visit(
      [](const auto& input) -> std::string {
        if constexpr (std::is_same_v<std::decay_t<decltype(input)>, std::string>) {
          return input;
        } else {
          return detail::encode_input(input);
        }
      },
      input_);
}

std::string_view to_string(RunStatus status) noexcept {
  switch (status) {
    case RunStatus::Pending:
      return "pending";
    case RunStatus::Processing:
      return "processing";
    case RunStatus::Succeeded:
      return "succeeded";
    case RunStatus::Failed:
      return "failed";
    case RunStatus::Unknown:
      return "unknown";
  }
  return "unknown";
}

RunStatus parse_run_status(std::string_view text) noexcept {
  if (text == "pending") return RunStatus::Pending;
  if (text == "processing") return RunStatus::Processing;
  if (text == "succeeded") return RunStatus::Succeeded;
  if (text == "failed") return RunStatus::Failed;
  return RunStatus::Unknown;
}

bool Run::is_terminal() const noexcept {
  return status == RunStatus::Succeeded || status == RunStatus::Failed;
}

}  // namespace runbase
