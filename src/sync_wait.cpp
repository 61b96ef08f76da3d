#include "sync_wait.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "retry_decision.hpp"
#include "runbase/errors.hpp"

namespace runbase::detail {

using std::chrono::milliseconds;
using time_point = Clock::time_point;

std::optional<time_point> deadline_after(Clock& clock, milliseconds timeout) {
  if (timeout.count() <= 0) return std::nullopt;
  return clock.now() + timeout;
}

Run sync_wait(Scheduler& scheduler, std::string_view run_id, const WaitOptions& options,
              std::optional<time_point> deadline, bool poll_now, std::optional<Run> last) {
  if (run_id.empty()) {
    throw ValidationError("run_id is empty: pass the id returned by create_run (\"run_...\").");
  }
  Clock& clock = scheduler.clock();
  const std::string id(run_id);
  const time_point started = clock.now();
  const milliseconds first_interval = std::max(milliseconds(1), options.poll_interval);
  const milliseconds max_interval = std::max(first_interval, options.max_poll_interval);
  milliseconds interval = first_interval;
  std::string last_status = last ? last->status_text : std::string();

  // The last poll failure the wait went on through, told when the deadline ends it.
  std::string failing;
  const auto deadline_error = [&] {
    return wait_timeout_error(
        id, last_status, std::chrono::duration_cast<milliseconds>(clock.now() - started), failing);
  };
  const auto cancelled_error = [&] { return wait_cancelled_error(id); };

  // Polls run on this thread but are shared with every other wait on this run (sync or not):
  // a poll due while another is in flight joins it, one fetched since the last is reused.
  const Scheduler::Attachment attachment(
      scheduler, id, poll_now ? std::nullopt : std::optional<time_point>(started));
  time_point fresh_since = started;
  std::optional<time_point> failing_since;  // polls have failed since, one after another
  // A run just created is never done: the first poll comes when the scheduler expects it to be.
  milliseconds pause(0);
  if (!poll_now) {
    const PollPlan plan =
        scheduler.poll_plan(last ? last->model : std::string(), first_interval, max_interval);
    pause = plan.first;
    interval = plan.gap;
  }
  for (;;) {
    if (pause.count() > 0) {
      time_point next = clock.now() + pause;
      if (deadline && next > *deadline) next = *deadline;
      if (!clock.sleep_until(next, options.cancel)) throw cancelled_error();
    }
    if (options.cancel != nullptr && options.cancel->cancelled()) throw cancelled_error();
    if (deadline && clock.now() >= *deadline) throw deadline_error();

    const time_point asked = clock.now();
    std::optional<Run> polled;
    std::exception_ptr failure;
    try {
      polled = scheduler.poll(attachment, fresh_since, deadline, options.cancel);
    } catch (const CancelledError&) {
      throw cancelled_error();
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      const time_point now = clock.now();
      if (!failing_since) failing_since = now;
      const PollFailure kind = classify_poll_failure(failure);
      const std::optional<time_point> again =
          repoll_at(PollFailureFacts{kind, now, deadline, *failing_since, interval});
      if (!again) {
        if (deadline && now >= *deadline && kind.transient) {
          failing = what_of(failure);
          throw deadline_error();
        }
        std::rethrow_exception(wait_ending_error(failure, id));
      }
      failing = what_of(failure);
      pause = std::chrono::duration_cast<milliseconds>(*again - now);
      interval = next_interval(interval, max_interval);
      continue;
    }
    failing_since.reset();
    failing.clear();
    Run run = std::move(*polled);
    fresh_since = asked + time_point::duration(1);
    if (run.status_text != last_status) {
      last_status = run.status_text;
      if (options.on_update) options.on_update(run);
    }
    if (run.status == RunStatus::Succeeded) return run;
    if (run.status == RunStatus::Failed) throw RunFailedError(std::move(run));
    pause = interval;
    interval = next_interval(interval, max_interval);
  }
}

}  // namespace runbase::detail
