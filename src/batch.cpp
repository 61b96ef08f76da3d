// Many runs at once: Client::generate_async and Client::generate_batch, their creates and polls
// requests of the Client's event loop (event_loop.hpp), their waits the Scheduler's
// (scheduler.hpp). The batch itself is a BatchRun (batch_run.hpp).

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
    // A bad input fails the future here, without touching the loop.
    sink->finish(0, std::nullopt, std::current_exception());
    return future;
  }
  start_generate(std::move(request), std::move(options), std::move(sink));
  return future;
}

void Client::Impl::generate_async(const GptImage1Input& input, WaitOptions options,
                                  Completion done) {
  auto sink = std::make_shared<detail::AsyncSink>(options.on_update, std::move(done));
  detail::CreateRequest request;
  try {
    request = detail::make_create_request(input);
  } catch (...) {
    // Reported on the loop's thread like every other end, never inside this call.
    loop_->post([sink, error = std::current_exception()] { sink->finish(0, std::nullopt, error); });
    return;
  }
  start_generate(std::move(request), std::move(options), std::move(sink));
}

void Client::Impl::start_generate(detail::CreateRequest request, WaitOptions options,
                                  std::shared_ptr<detail::WaitSink> sink) {
  const time_point started = clock_->now();
  const auto deadline = detail::deadline_after(*clock_, options.timeout);
  // The create is a request of the loop, queued ahead of polls for the rate budget; then the
  // run is watched by the Scheduler.
  loop_->post([this, sink, request = std::move(request), options = std::move(options), started,
               deadline]() mutable {
    const auto fail = [&sink](auto error) {
      sink->finish(0, std::nullopt, std::make_exception_ptr(std::move(error)));
    };
    if (loop_->stopping()) {
      fail(
          CancelledError("The Client was destroyed before the run was created; nothing was sent."));
      return;
    }
    if (options.cancel != nullptr && options.cancel->cancelled()) {
      fail(CancelledError("Cancelled before the run was created; nothing was sent."));
      return;
    }
    if (deadline && clock_->now() >= *deadline) {
      fail(TimeoutError(
          "WaitOptions::timeout passed before the run could be created; nothing was sent."));
      return;
    }
    create_on_loop(request, deadline,
                   [this, sink, options = std::move(options), started, deadline](
                       std::optional<Run> created, std::exception_ptr error) {
                     if (!created) {
                       sink->finish(0, std::nullopt, std::move(error));
                       return;
                     }
                     sink->update(0, 0, *created);
                     if (created->status == RunStatus::Succeeded) {
                       sink->finish(0, std::move(created), nullptr);
                       return;
                     }
                     if (created->status == RunStatus::Failed) {
                       sink->finish(0, std::nullopt,
                                    std::make_exception_ptr(RunFailedError(std::move(*created))));
                       return;
                     }
                     detail::Scheduler::Watch watch;
                     watch.run_id = created->id;
                     watch.poll_interval = options.poll_interval;
                     watch.max_poll_interval = options.max_poll_interval;
                     watch.deadline = deadline;
                     watch.started = started;
                     watch.created_at = clock_->now();
                     watch.last_status = created->status_text;
                     watch.cancel = options.cancel;
                     scheduler_->watch(std::move(watch), sink, 0);
                   });
  });
}

std::vector<BatchResult> Client::Impl::generate_batch(const std::vector<GptImage1Input>& inputs,
                                                      const BatchOptions& options) {
  // The batch's creates are requests of the loop too: strict priority over its polls.
  const auto create = [this](detail::CreateRequest request, Completion done) {
    loop_->post([this, request = std::move(request), done = std::move(done)]() mutable {
      if (loop_->stopping()) {
        done(std::nullopt,
             std::make_exception_ptr(CancelledError(
                 "The Client was destroyed before the run was created; nothing was sent.")));
        return;
      }
      create_on_loop(request, std::nullopt, std::move(done));
    });
  };
  return detail::BatchRun(api_, *scheduler_, create, inputs, options).run();
}

// By value, as API.md declares it: the future outlives the caller's objects.
std::future<Run> Client::generate_async(
    GptImage1Input input,  // NOLINT(performance-unnecessary-value-param)
    WaitOptions options) {
  return impl_->generate_async(input, std::move(options));
}

void Client::generate_async(GptImage1Input input,  // NOLINT(performance-unnecessary-value-param)
                            WaitOptions options,
                            std::function<void(std::optional<Run>, std::exception_ptr)> done) {
  impl_->generate_async(input, std::move(options), std::move(done));
}

std::vector<BatchResult> Client::generate_batch(const std::vector<GptImage1Input>& inputs,
                                                const BatchOptions& options) {
  return impl_->generate_batch(inputs, options);
}

}  // namespace runbase
