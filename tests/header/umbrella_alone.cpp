// The umbrella header compiles on its own, with nothing included before it.
#include <runbase/runbase.hpp>
