#include "create_request.hpp"

#include "json_codec.hpp"

namespace runbase::detail {

std::string create_body(const CreateRequest& request) {
  return encode_create_request(request.model, request.input_json);
}

CreateRequest make_create_request(const GptImage1Input& input) {
  input.validate();
  return CreateRequest{std::string(GptImage1Input::model_id), encode_input(input)};
}

CreateRequest make_create_request(const ModelInput& input) {
  return CreateRequest{input.model(), input.input_json()};
}

}  // namespace runbase::detail
