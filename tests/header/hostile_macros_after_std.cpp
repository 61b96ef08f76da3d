// The standard headers first, then the macros, then runbase: runbase's own declarations are
// parsed with min, max, ERROR, DELETE, ... defined, and must neither break nor #undef them.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hostile_macros.hpp"

#include <runbase/runbase.hpp>

#if !defined(min) || !defined(max) || !defined(ERROR) || !defined(DELETE)
#error "runbase.hpp #undef'd a user's macro"
#endif

int runbase_hostile_macros_check() { return min(1, 2) + max(1, 2) + ERROR; }
