#include "redact.hpp"

#include <array>

#include "text.hpp"

namespace runbase::detail {

namespace {

bool is_token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~' || c == '+' || c == '/' || c == '=';
}

// A secret starts a word: "api_key=sk-..." and "/keys/sk-..." are keys, "task-list" is not.
bool starts_word(std::string_view text, std::size_t at) {
  if (at == 0) return true;
  const char c = text[at - 1];
  return !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
}

bool starts_with_ci(std::string_view text, std::size_t at, std::string_view prefix) {
  return text.size() - at >= prefix.size() && iequals(text.substr(at, prefix.size()), prefix);
}

}  // namespace

std::string redact(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const bool token_start = starts_word(text, i);
    if (token_start && starts_with_ci(text, i, "sk-")) {
      std::size_t end = i + 3;
      while (end < text.size() && is_token_char(text[end])) ++end;
      out += "sk-***";
      i = end;
      continue;
    }
    if (token_start && starts_with_ci(text, i, "bearer ")) {
      std::size_t start = i + 7;
      while (start < text.size() && text[start] == ' ') ++start;
      std::size_t end = start;
      while (end < text.size() && is_token_char(text[end])) ++end;
      if (end > start) {
        out += "Bearer ***";
        i = end;
        continue;
      }
    }
    out.push_back(text[i]);
    ++i;
  }
  return out;
}

std::string describe_headers(const std::vector<std::pair<std::string, std::string>>& headers) {
  static constexpr std::array<std::string_view, 14> kShown = {
      "Accept",       "Accept-Encoding",   "Content-Encoding", "Content-Length", "Content-Type",
      "Date",         "Location",          "Retry-After",      "Server",         "User-Agent",
      "X-Request-Id", "Transfer-Encoding", "Connection",       "Cache-Control"};
  std::string out;
  for (const auto& [name, value] : headers) {
    bool shown = false;
    for (std::string_view allowed : kShown) shown = shown || iequals(name, allowed);
    if (!out.empty()) out += "; ";
    out += name;
    out += ": ";
    out += shown ? redact(value) : std::string("<redacted>");
  }
  return out;
}

}  // namespace runbase::detail
