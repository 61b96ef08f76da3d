#include "runbase/models.hpp"

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

void GptImage1Input::validate() const {
  if (prompt.empty()) {
    throw ValidationError("prompt is empty: describe the image in 1 to 4000 characters.");
  }
  const std::size_t length = detail::utf8_length(prompt);
  if (length == std::string::npos) {
    throw ValidationError("prompt is not valid UTF-8: pass the text UTF-8 encoded.");
  }
  if (length > max_prompt_length) {
    throw ValidationError("prompt is " + std::to_string(length) +
                          " characters long; openai/gpt-image-1 accepts at most 4000. "
                          "Shorten it.");
  }
  if (aspect_ratio && parse_aspect_ratio(to_string(*aspect_ratio)) != aspect_ratio) {
    throw ValidationError("aspect_ratio is not one of AspectRatio's values (1:1, 3:2, 2:3).");
  }
  if (image_urls.size() > max_image_urls) {
    throw ValidationError("image_urls has " + std::to_string(image_urls.size()) +
                          " entries; openai/gpt-image-1 accepts at most 5 reference images.");
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
