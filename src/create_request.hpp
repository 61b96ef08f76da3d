#ifndef RUNBASE_SRC_CREATE_REQUEST_HPP
#define RUNBASE_SRC_CREATE_REQUEST_HPP

#include <string>

#include "runbase/models.hpp"

namespace runbase::detail {

/// One `POST /runs`, whatever the model: every create of the Client (`create_run` typed and raw,
/// `generate`, `generate_async`, `generate_batch`) travels as one of these, so a new model needs
/// only its typed input (models.hpp), which `ModelInput` carries here.
struct CreateRequest {
  std::string model;
  std::string input_json;  ///< the input object's JSON text
};

/// The request body, `{"model": ..., "input": {...}}`. Throws ValidationError when `model` is
/// empty or not UTF-8, or `input_json` is not a JSON object (the raw create_run's checks).
std::string create_body(const CreateRequest& request);

/// Validates `input` (ValidationError naming the field) and encodes it, so nothing is sent if
/// it is bad.
CreateRequest make_create_request(const GptImage1Input& input);
/// The same for any model's input: typed inputs validated as above, a model id and JSON checked
/// as `create_body` would.
CreateRequest make_create_request(const ModelInput& input);

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_CREATE_REQUEST_HPP
