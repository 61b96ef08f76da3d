// The measured side of the compile-cost test: what a user's translation unit pays for runbase.
#include <runbase/runbase.hpp>
