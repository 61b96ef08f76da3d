#ifndef RUNBASE_SRC_URL_HPP
#define RUNBASE_SRC_URL_HPP

#include <string>
#include <string_view>

namespace runbase::detail {

/// An absolute http:// or https:// URL with a host, as libcurl's URL parser reads it.
bool is_http_url(std::string_view url);

/// True for "localhost", 127.0.0.0/8 and ::1: hosts where plain http cannot leak the key.
bool is_loopback_host(std::string_view host);

/// The base URL, checked and with trailing slashes removed. Throws ValidationError for anything
/// but an absolute http(s) URL, and for http:// to a host that is not loopback (the key would
/// cross the network in clear text).
std::string checked_base_url(std::string_view base_url);

/// One path segment percent-encoded (RFC 3986 unreserved characters kept), so a run id can
/// never change the path: "a/b?c" -> "a%2Fb%3Fc".
std::string percent_encode_segment(std::string_view segment);

/// The path and query of an absolute URL for messages and logs ("/api/v1/runs"); the whole
/// input when it cannot be parsed.
std::string path_of(std::string_view url);

/// The last path segment of a URL, without query: for naming downloads.
std::string last_path_segment(std::string_view url);

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_URL_HPP
