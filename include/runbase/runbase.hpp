#ifndef RUNBASE_RUNBASE_HPP
#define RUNBASE_RUNBASE_HPP

/// The umbrella header of the runbase C++ SDK: `#include <runbase/runbase.hpp>`.
/// It includes only standard headers; libcurl and nlohmann/json stay inside the library.

#include "runbase/cancellation.hpp"
#include "runbase/client.hpp"
#include "runbase/errors.hpp"
#include "runbase/models.hpp"
#include "runbase/options.hpp"
#include "runbase/run.hpp"
#include "runbase/transport.hpp"
#include "runbase/version.hpp"

#endif  // RUNBASE_RUNBASE_HPP
