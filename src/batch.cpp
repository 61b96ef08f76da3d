// Many runs at once: Client::generate_async and Client::generate_batch, over the Client's one
// Scheduler (scheduler.hpp). The batch itself is a BatchRun (batch_run.hpp).

#include <utility>

#include "batch_run.hpp"
#include "client_impl.hpp"
#include "create_request.hpp"
#include "runbase/errors.hpp"
#include "sync_wait.hpp"
#include "wait_sinks.hpp"

namespace runbase {

namespace {

using time_point = detail::Clock::time_point;

}  // namespace

std::future<Run> Client::Impl::generate_async(const GptImage1Input& input, WaitOptions options) {
  auto sink = std::make_shared<detail::AsyncSink>(options.on_update);
  std::future<Run> future = sink->future();
  detail::CreateRequest request;
  try {
    request = detail::make_create_request(input);
  } catch (...) {
    sink->finish(0, std::nullopt, std::current_exception());
    return future;
  }
  const time_point started = clock_->now();
  const auto deadline = detail::deadline_after(*clock_, options.timeout);
  // The create runs on the Scheduler's worker, ahead of any poll; then the run is watched.
  scheduler_->submit([this, sink, request = std::move(request), options = std::move(options),
                      started, deadline](bool run) mutable {
    if (!run) {
      sink->finish(0, std::nullopt,
                   std::make_exception_ptr(CancelledError(
                       "The Client was destroyed before the run was created; nothing was sent.")));
      return;
    }
    if (options.cancel != nullptr && options.cancel->cancelled()) {
      sink->finish(0, std::nullopt,
                   std::make_exception_ptr(
                       CancelledError("Cancelled before the run was created; nothing was sent.")));
      return;
    }
    if (deadline && clock_->now() >= *deadline) {
      sink->finish(0, std::nullopt,
                   std::make_exception_ptr(TimeoutError(
                       "WaitOptions::timeout passed before the run could be created; nothing "
                       "was sent.")));
      return;
    }
    Run created;
    try {
      created = create_run(request, deadline);
    } catch (...) {
      sink->finish(0, std::nullopt, std::current_exception());
      return;
    }
    sink->update(0, 0, created);
    if (created.status == RunStatus::Succeeded) {
      sink->finish(0, std::move(created), nullptr);
      return;
    }
    if (created.status == RunStatus::Failed) {
      sink->finish(0, std::nullopt, std::make_exception_ptr(RunFailedError(std::move(created))));
      return;
    }
    detail::Scheduler::Watch watch;
    watch.run_id = created.id;
    watch.poll_interval = options.poll_interval;
    watch.max_poll_interval = options.max_poll_interval;
    watch.deadline = deadline;
    watch.started = started;
    watch.created_at = clock_->now();
    watch.last_status = created.status_text;
    watch.cancel = options.cancel;
    scheduler_->watch(std::move(watch), sink, 0);
  });
  return future;
}

std::vector<BatchResult> Client::Impl::generate_batch(const std::vector<GptImage1Input>& inputs,
                                                      const BatchOptions& options) {
  return detail::BatchRun(api_, *scheduler_, inputs, options).run();
}

// By value, as API.md declares it: the future outlives the caller's objects.
std::future<Run> Client::generate_async(
    GptImage1Input input,  // NOLINT(performance-unnecessary-value-param)
    WaitOptions options) {
  return impl_->generate_async(input, std::move(options));
}

std::vector<BatchResult> Client::generate_batch(const std::vector<GptImage1Input>& inputs,
                                                const BatchOptions& options) {
  return impl_->generate_batch(inputs, options);
}

}  // namespace runbase
