#ifndef RUNBASE_SRC_SYNC_WAIT_HPP
#define RUNBASE_SRC_SYNC_WAIT_HPP

#include <chrono>
#include <optional>
#include <string_view>

#include "clock.hpp"
#include "runbase/options.hpp"
#include "runbase/run.hpp"
#include "scheduler.hpp"

namespace runbase::detail {

/// When a wait of `timeout` from now ends; nullopt for none (`timeout` <= 0).
std::optional<Clock::time_point> deadline_after(Clock& clock, std::chrono::milliseconds timeout);

/// Polls `run_id` on this thread until it is terminal (`Client::wait`, `generate`), through
/// `scheduler` so polls are shared with every other wait on the run, sleeping on its clock. Returns
/// the run when succeeded; throws RunFailedError when failed, TimeoutError at `deadline`,
/// CancelledError when `options.cancel` fires. `poll_now`: ask at once (wait) or after the first
/// interval (generate: a run just created is never done). `last`: the run as already known.
Run sync_wait(Scheduler& scheduler, std::string_view run_id, const WaitOptions& options,
              std::optional<Clock::time_point> deadline, bool poll_now, std::optional<Run> last);

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_SYNC_WAIT_HPP
