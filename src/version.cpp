#include "runbase/version.hpp"

namespace runbase {

std::string_view version() noexcept { return RUNBASE_VERSION_STRING; }

}  // namespace runbase
