// The macros come before anything else, as when <windows.h> is a translation unit's first include.
// (libstdc++ #undefs min and max in its own headers, so hostile_macros_after_std.cpp is the test
// that runbase's code itself sees them.)
#include "hostile_macros.hpp"

#include <runbase/runbase.hpp>
