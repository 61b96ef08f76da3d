#ifndef RUNBASE_SRC_TEXT_HPP
#define RUNBASE_SRC_TEXT_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace runbase::detail {

/// ASCII case-insensitive comparison, as HTTP header names need.
bool iequals(std::string_view a, std::string_view b) noexcept;

/// Number of Unicode code points in valid UTF-8; std::string::npos when `text` is not valid UTF-8.
std::size_t utf8_length(std::string_view text) noexcept;

/// At most `max_bytes` of `text` on a code-point boundary, with control characters shown as
/// spaces and "..." appended when cut: for quoting server bodies inside error messages.
std::string excerpt(std::string_view text, std::size_t max_bytes);

/// `text` without leading and trailing spaces, tabs and line breaks.
std::string trimmed(std::string text);

/// Seconds since 1970-01-01T00:00:00Z of a UTC date and time in the proleptic Gregorian calendar
/// (Howard Hinnant's days_from_civil; timegm is not portable). Fields are not range-checked.
std::int64_t unix_seconds(std::int64_t year, unsigned month, unsigned day, unsigned hour,
                          unsigned minute, unsigned second) noexcept;

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_TEXT_HPP
