#ifndef RUNBASE_SRC_REDACT_HPP
#define RUNBASE_SRC_REDACT_HPP

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace runbase::detail {

/// `text` with every API-key-like token (`sk-...`) and every `Bearer <token>` replaced by
/// `sk-***` / `Bearer ***`, so logs and error messages can quote bodies and headers safely.
std::string redact(std::string_view text);

/// Headers for a log line, "Name: value" joined by "; ". Only headers known to be harmless are
/// shown; any other value (Authorization, cookies, anything new) reads "<redacted>".
std::string describe_headers(const std::vector<std::pair<std::string, std::string>>& headers);

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_REDACT_HPP
