#include "runbase/transport.hpp"

#include <fstream>

#include "runbase/errors.hpp"
#include "text.hpp"

namespace runbase {

const std::string* HttpResponse::find_header(std::string_view name) const noexcept {
  for (const auto& [key, value] : headers) {
    if (detail::iequals(key, name)) return &value;
  }
  return nullptr;
}

HttpTransport::~HttpTransport() = default;

HttpResponse HttpTransport::send_to_file(const HttpRequest& request,
                                         const std::filesystem::path& file) {
  HttpResponse response = send(request);
  if (response.status < 200 || response.status >= 300) return response;
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(response.body.data(), static_cast<std::streamsize>(response.body.size()));
  out.close();
  if (!out) {
    throw Error("Could not write the download to " + file.string() +
                ": check that the directory exists, is writable and has free space.");
  }
  response.body.clear();
  return response;
}

HttpResponse HttpTransport::send_streaming(const HttpRequest& request,
                                           const std::function<void(std::string_view)>& on_data) {
  HttpResponse response = send(request);
  if (response.status < 200 || response.status >= 300) return response;
  if (!response.body.empty()) on_data(response.body);
  response.body.clear();
  return response;
}

}  // namespace runbase
