#ifndef RUNBASE_MODELS_HPP
#define RUNBASE_MODELS_HPP

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
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

}  // namespace runbase

#endif  // RUNBASE_MODELS_HPP
