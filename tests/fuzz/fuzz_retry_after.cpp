// Fuzzes Retry-After parsing: delta-seconds or an IMF-fixdate.
//
// Each input is the header's value as sent, read at three wall-clock times (1970, 2025, 2200).
// Properties: never negative; all-digit values (after trimming blanks) give exactly that many
// seconds, up to 9 digits; the same date read later never gives a longer delay.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "error_mapping.hpp"

namespace {

void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

std::string_view trimmed(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string value(reinterpret_cast<const char*>(data), size);
  // The wall clock of a machine: the epoch, 2025, 2200 (system_clock counts nanoseconds in a
  // 64-bit integer with libstdc++, so it ends in 2262).
  static constexpr std::int64_t kNows[] = {0, 1'750'000'000, 7'258'118'400};

  bool first = true;
  bool readable = false;
  std::optional<std::chrono::milliseconds> previous;
  for (const std::int64_t now_seconds : kNows) {
    const std::chrono::system_clock::time_point now{std::chrono::seconds(now_seconds)};
    const auto delay = runbase::detail::parse_retry_after(value, now);
    if (!first)
      check(readable == delay.has_value(), "whether it is readable does not depend on now");
    first = false;
    readable = delay.has_value();
    if (!delay) continue;
    check(delay->count() >= 0, "a delay is never negative");
    if (previous) check(*delay <= *previous, "a later now never gives a longer delay");
    previous = delay;

    const std::string_view digits = trimmed(value);
    bool all_digits = !digits.empty();
    for (char c : digits) all_digits = all_digits && c >= '0' && c <= '9';
    if (all_digits && digits.size() <= 9) {
      long long seconds = 0;
      for (char c : digits) seconds = seconds * 10 + (c - '0');
      check(delay->count() == seconds * 1000, "delta-seconds are read exactly");
    }
  }
  return 0;
}
