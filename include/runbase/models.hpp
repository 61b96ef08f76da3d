#ifndef RUNBASE_MODELS_HPP
#define RUNBASE_MODELS_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "runbase/export.hpp"

namespace runbase {

/// The aspect ratios GPT Image 1 accepts, with the pixel size the service returns for each.
enum class AspectRatio {
  Square,     ///< "1:1", 1024x1024
  Landscape,  ///< "3:2", 1536x1024
  Portrait,   ///< "2:3", 1024x1536
};

/// "1:1", "3:2" or "2:3".
RUNBASE_EXPORT std::string_view to_string(AspectRatio ratio) noexcept;

/// Parses "1:1", "3:2" or "2:3" exactly; anything else gives `std::nullopt`.
RUNBASE_EXPORT std::optional<AspectRatio> parse_aspect_ratio(std::string_view text) noexcept;

/// Input of `openai/gpt-image-1`: text to image, or image editing with reference images.
///
/// Thread safety: a plain value; distinct objects may be used from different threads.
struct RUNBASE_EXPORT GptImage1Input {
  /// The model id sent as `"model"`.
  static constexpr std::string_view model_id = "openai/gpt-image-1";
  /// Largest prompt the service accepts, in Unicode code points.
  static constexpr std::size_t max_prompt_length = 4000;
  /// Most reference images the service accepts.
  static constexpr std::size_t max_image_urls = 5;

  /// Required: 1..4000 characters (Unicode code points) of valid UTF-8.
  std::string prompt;
  /// Unset: the key is omitted from the JSON and the service uses 1:1.
  std::optional<AspectRatio> aspect_ratio;
  /// Reference images: at most 5, each an absolute http(s) URL the service can fetch. Empty:
  /// omitted.
  std::vector<std::string> image_urls;

  /// Checks the input against the model's documented schema before anything is sent.
  /// Throws `ValidationError` naming the field and what to change.
  void validate() const;
};

/// The quality tiers GPT Image 1.5 offers; the tier sets the price.
enum class Quality {
  Medium,  ///< "medium", $0.03 a run
  High,    ///< "high", $0.16 a run
};

/// "medium" or "high".
RUNBASE_EXPORT std::string_view to_string(Quality quality) noexcept;

/// Parses "medium" or "high" exactly; anything else gives `std::nullopt`.
RUNBASE_EXPORT std::optional<Quality> parse_quality(std::string_view text) noexcept;

/// Input of `openai/gpt-image-1.5`: about four times faster than GPT Image 1, with medium and
/// high quality.
///
/// Thread safety: a plain value; distinct objects may be used from different threads.
struct RUNBASE_EXPORT GptImage15Input {
  /// The model id sent as `"model"`.
  static constexpr std::string_view model_id = "openai/gpt-image-1.5";
  /// Largest prompt accepted, in Unicode code points: OpenAI's limit for its GPT Image models
  /// (Runbase's page does not give one).
  static constexpr std::size_t max_prompt_length = 32000;
  /// Most reference images the service accepts.
  static constexpr std::size_t max_image_urls = 4;

  /// Required: 1..32000 characters (Unicode code points) of valid UTF-8.
  std::string prompt;
  /// Unset: omitted, and the service picks (1:1 on the emulator).
  std::optional<AspectRatio> aspect_ratio;
  /// Unset: omitted, and the service picks (medium on the emulator). The spend limit counts a
  /// run without one at the high tier's price.
  std::optional<Quality> quality;
  /// Reference images: at most 4, each an absolute http(s) URL. Empty: omitted.
  std::vector<std::string> image_urls;

  /// Throws `ValidationError` naming the field and what to change.
  void validate() const;
};

/// The aspect ratios GPT Image 2 accepts (no "auto").
enum class GptImage2AspectRatio {
  Square,         ///< "1:1"
  Portrait2x3,    ///< "2:3"
  Landscape3x2,   ///< "3:2"
  Portrait3x4,    ///< "3:4"
  Landscape4x3,   ///< "4:3"
  Portrait4x5,    ///< "4:5"
  Landscape5x4,   ///< "5:4"
  Portrait9x16,   ///< "9:16"
  Landscape16x9,  ///< "16:9"
  Landscape21x9,  ///< "21:9"
};

/// "1:1", "2:3", ..., "21:9".
RUNBASE_EXPORT std::string_view to_string(GptImage2AspectRatio ratio) noexcept;

/// Parses one of GPT Image 2's ten ratios exactly; anything else gives `std::nullopt`.
RUNBASE_EXPORT std::optional<GptImage2AspectRatio> parse_gpt_image2_aspect_ratio(
    std::string_view text) noexcept;

/// The output resolutions GPT Image 2 offers (the long side); the resolution sets the price.
enum class Resolution {
  OneK,   ///< "1K", $0.05 a run
  TwoK,   ///< "2K", $0.07 a run
  FourK,  ///< "4K", $0.12 a run
};

/// "1K", "2K" or "4K".
RUNBASE_EXPORT std::string_view to_string(Resolution resolution) noexcept;

/// Parses "1K", "2K" or "4K" exactly; anything else gives `std::nullopt`.
RUNBASE_EXPORT std::optional<Resolution> parse_resolution(std::string_view text) noexcept;

/// Input of `openai/gpt-image-2`: up to 4K, ten aspect ratios.
///
/// Thread safety: a plain value; distinct objects may be used from different threads.
struct RUNBASE_EXPORT GptImage2Input {
  /// The model id sent as `"model"`.
  static constexpr std::string_view model_id = "openai/gpt-image-2";
  /// Largest prompt accepted, in Unicode code points: OpenAI's limit for its GPT Image models
  /// (Runbase's page does not give one).
  static constexpr std::size_t max_prompt_length = 32000;
  /// Most reference images the service accepts.
  static constexpr std::size_t max_image_urls = 4;

  /// Required: 1..32000 characters (Unicode code points) of valid UTF-8.
  std::string prompt;
  /// Unset: omitted, and the service picks (1:1 on the emulator).
  std::optional<GptImage2AspectRatio> aspect_ratio;
  /// Unset: omitted, and the service picks (1K on the emulator). The spend limit counts a run
  /// without one at the 4K price.
  std::optional<Resolution> resolution;
  /// Reference images: at most 4, each an absolute http(s) URL. Empty: omitted.
  std::vector<std::string> image_urls;

  /// Throws `ValidationError` naming the field and what to change.
  void validate() const;
};

/// Any model's input, for `Client::create_run`, `generate`, `generate_async` and
/// `generate_batch` (a batch may mix models): a typed input, which converts implicitly, or a
/// model id with its input as a JSON object, for models without a typed input.
///
///     std::vector<runbase::ModelInput> inputs{
///         runbase::GptImage2Input{"a lighthouse", std::nullopt, runbase::Resolution::FourK, {}},
///         runbase::ModelInput("google/nano-banana-2", R"({"prompt": "a lighthouse"})")};
///
/// Thread safety: a plain value; distinct objects may be used from different threads.
class RUNBASE_EXPORT ModelInput {
 public:
  /// A GPT Image 1 input; validated when sent (or by `validate`).
  ModelInput(GptImage1Input input);  // NOLINT(google-explicit-constructor): converts by design
  /// A GPT Image 1.5 input; validated when sent (or by `validate`).
  ModelInput(GptImage15Input input);  // NOLINT(google-explicit-constructor)
  /// A GPT Image 2 input; validated when sent (or by `validate`).
  ModelInput(GptImage2Input input);  // NOLINT(google-explicit-constructor)
  /// Any model by id; `input_json` is sent as `"input"` and must be a JSON object (checked by
  /// `validate`, not here).
  ModelInput(std::string model, std::string input_json);

  /// The model id sent as `"model"`.
  const std::string& model() const noexcept { return model_; }
  /// A typed input's `validate`; for a model id and JSON, that the id is non-empty UTF-8 and
  /// the JSON an object. Throws `ValidationError`.
  void validate() const;
  /// The input object's JSON text, as it would be sent. Validates first.
  std::string input_json() const;

 private:
  std::string model_;
  std::variant<GptImage1Input, GptImage15Input, GptImage2Input, std::string> input_;
};

/// What a run of `input` costs by its model's published price, in micro-USD (1 USD = 1,000,000),
/// before anything is sent: GPT Image 1, 1.5 and 2 by tier (an unset tier at its dearest, which
/// is also how the spend limit counts it); `std::nullopt` for a model without a published price.
/// Throws `ValidationError` for an input `ModelInput::validate` refuses.
RUNBASE_EXPORT std::optional<std::int64_t> estimate_cost_usd_micros(const ModelInput& input);

}  // namespace runbase

#endif  // RUNBASE_MODELS_HPP
