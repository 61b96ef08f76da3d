// The baseline of the compile-cost test: the standard headers the public API uses (STYLE.md's
// bar), and nothing else. runbase.hpp may cost at most 1.25 times this.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
