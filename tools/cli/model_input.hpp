#ifndef RUNBASE_TOOLS_CLI_MODEL_INPUT_HPP
#define RUNBASE_TOOLS_CLI_MODEL_INPUT_HPP

#include <optional>
#include <string>
#include <vector>

#include <runbase/models.hpp>

namespace runbase::cli {

/// The model `generate` and `batch` use when no `--model` is given.
inline constexpr const char* kDefaultModel = "openai/gpt-image-1";

/// How messages name an input field: as a flag (`--quality`) or as a batch line's JSON key
/// (`"quality"`). A field the model does not take is a usage error as a flag, a bad line as a key.
enum class FieldNaming { Flag, JsonKey };

/// One run's input as a command line or a batch line gives it, as text. Unset: not given.
struct InputFields {
  std::string model = kDefaultModel;  ///< a model id, or a short name (see `full_model_id`)
  std::string prompt;
  std::optional<std::string> aspect_ratio;
  std::optional<std::string> quality;
  std::optional<std::string> resolution;
  std::vector<std::string> image_urls;
};

/// "gpt-image-1", "gpt-image-1.5" and "gpt-image-2" as their ids ("openai/gpt-image-1", ...);
/// any other name unchanged.
std::string full_model_id(const std::string& name);

/// True for the models the SDK has a typed input for (GPT Image 1, 1.5 and 2), whose fields and
/// values are checked here; any other model's input is sent as given, for the service to check.
bool has_typed_input(const std::string& model_id);

/// Throws `UsageError` (FieldNaming::Flag) or `ValidationError` (FieldNaming::JsonKey) when
/// `model_id` has a typed input without `quality` (`resolution`) and one is given, naming the field
/// and the model that takes it.
void check_model_takes(const std::string& model_id, bool quality, bool resolution,
                       FieldNaming naming);

/// The SDK's input for `fields`, validated: a typed input for GPT Image 1, 1.5 and 2, else
/// `ModelInput(model, {"prompt", ...the fields given})`. Throws as `check_model_takes` does, and
/// `ValidationError` for a value the model does not take (naming the field and its values) or an
/// input the SDK refuses (its own message).
ModelInput make_model_input(const InputFields& fields, FieldNaming naming);

}  // namespace runbase::cli

#endif  // RUNBASE_TOOLS_CLI_MODEL_INPUT_HPP
