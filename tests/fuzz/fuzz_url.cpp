// Fuzzes the URL building that keeps a run id inside its path segment and the base URL checks.
//
// Properties: percent_encode_segment emits only RFC 3986 unreserved characters and %XX (upper-case
// hex) and decodes back to its input, so no id can add a path segment, a query or a fragment;
// checked_base_url either throws ValidationError or returns a prefix of its input without
// trailing slashes that is still an http(s) URL; nothing else throws.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "runbase/errors.hpp"
#include "url.hpp"

namespace {

void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void check_segment(const std::string& segment) {
  const std::string encoded = runbase::detail::percent_encode_segment(segment);
  std::string decoded;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (is_unreserved(c)) {
      decoded.push_back(c);
      continue;
    }
    check(c == '%', "only unreserved characters and %XX");
    check(i + 2 < encoded.size(), "a % is followed by two hex digits");
    const int high = hex_value(encoded[i + 1]);
    const int low = hex_value(encoded[i + 2]);
    check(high >= 0 && low >= 0, "%XX uses upper-case hex digits");
    decoded.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  check(decoded == segment, "the encoded segment decodes back to the input");
  check(encoded.size() <= 3 * segment.size(), "at most three bytes per input byte");
}

void check_base_url(const std::string& input) {
  std::string base;
  try {
    base = runbase::detail::checked_base_url(input);
  } catch (const runbase::ValidationError&) {
    return;
  }
  check(!base.empty(), "an accepted base URL is not empty");
  check(base.back() != '/', "trailing slashes are removed");
  check(input.compare(0, base.size(), base) == 0, "the base URL is a prefix of the input");
  check(input.find_first_not_of('/', base.size()) == std::string::npos, "only slashes are cut");
  check(runbase::detail::is_http_url(base), "the base URL is still an http(s) URL");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  check_segment(input);
  check_base_url(input);
  (void)runbase::detail::is_http_url(input);
  (void)runbase::detail::is_loopback_host(input);
  (void)runbase::detail::path_of(input);
  (void)runbase::detail::last_path_segment(input);
  return 0;
}
