// The baseline of the compile-cost test: the standard headers the public API uses (STYLE.md's
// bar), and nothing else. runbase.hpp may cost at most 1.25 times this. <future> and <exception>
// are here because API.md's own signatures need them (generate_async returns std::future<Run>,
// BatchResult holds a std::exception_ptr); any other standard header a public header adds is
// paid for inside the 25%.
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
