#include "url.hpp"

#include <curl/curl.h>

#include <memory>

#include "runbase/errors.hpp"
#include "text.hpp"

namespace runbase::detail {

namespace {

struct UrlDeleter {
  void operator()(CURLU* url) const noexcept { curl_url_cleanup(url); }
};
struct CurlStringDeleter {
  void operator()(char* text) const noexcept { curl_free(text); }
};
using UrlHandle = std::unique_ptr<CURLU, UrlDeleter>;
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

// Parses an absolute URL without guessing a scheme; null when libcurl rejects it.
UrlHandle parse(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return nullptr;
  UrlHandle url(curl_url());
  if (!url) return nullptr;
  const std::string copy(text);
  if (curl_url_set(url.get(), CURLUPART_URL, copy.c_str(), 0) != CURLUE_OK) return nullptr;
  return url;
}

std::string part(const UrlHandle& url, CURLUPart which, unsigned int flags = 0) {
  char* value = nullptr;
  if (curl_url_get(url.get(), which, &value, flags) != CURLUE_OK || value == nullptr) return {};
  return std::string(CurlString(value).get());
}

bool is_http_scheme(const std::string& scheme) {
  return iequals(scheme, "http") || iequals(scheme, "https");
}

}  // namespace

bool is_http_url(std::string_view text) {
  const UrlHandle url = parse(text);
  return url && is_http_scheme(part(url, CURLUPART_SCHEME)) && !part(url, CURLUPART_HOST).empty();
}

bool is_loopback_host(std::string_view host) {
  if (iequals(host, "localhost") || host == "[::1]" || host == "::1") return true;
  // 127.0.0.0/8, written as a dotted quad.
  if (host.substr(0, 4) != "127.") return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

std::string checked_base_url(std::string_view base_url) {
  const UrlHandle url = parse(base_url);
  const std::string scheme = url ? part(url, CURLUPART_SCHEME) : std::string();
  const std::string host = url ? part(url, CURLUPART_HOST) : std::string();
  if (!url || !is_http_scheme(scheme) || host.empty()) {
    throw ValidationError("base_url \"" + excerpt(base_url, 100) +
                          "\" is not an http(s) URL; use https://runbase.net/api/v1 or leave it "
                          "empty.");
  }
  if (iequals(scheme, "http") && !is_loopback_host(host)) {
    throw ValidationError("base_url \"" + excerpt(base_url, 100) +
                          "\" uses plain http to a host that is not loopback, which would send "
                          "the API key in clear text; use https://.");
  }
  std::string normalized(base_url);
  while (!normalized.empty() && normalized.back() == '/') normalized.pop_back();
  return normalized;
}

std::string percent_encode_segment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  // "." and ".." are dot-segments that URL normalisation (libcurl's included) would resolve
  // against the path: encoded, they stay an opaque id.
  const bool only_dots = segment.find_first_not_of('.') == std::string_view::npos;
  std::string out;
  out.reserve(segment.size());
  for (char c : segment) {
    if (only_dots) {
      out += "%2E";
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0F]);
    }
  }
  return out;
}

std::string path_of(std::string_view text) {
  const UrlHandle url = parse(text);
  if (!url) return std::string(text);
  std::string path = part(url, CURLUPART_PATH);
  return path.empty() ? std::string("/") : path;
}

std::string last_path_segment(std::string_view text) {
  std::string path = path_of(text);
  const std::size_t query = path.find_first_of("?#");
  if (query != std::string::npos) path.resize(query);
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace runbase::detail
