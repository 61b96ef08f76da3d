// Many runs at once: Client::generate_async and Client::generate_batch, their creates and polls
// requests of the Client's event loop (event_loop.hpp), their waits the Scheduler's
// (scheduler.hpp). The batch itself is a BatchRun (batch_run.hpp).

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "batch_journal.hpp"
#include "batch_run.hpp"
#include "client_impl.hpp"
#include "create_request.hpp"
#include "runbase/errors.hpp"
#include "sync_wait.hpp"
#include "wait_sinks.hpp"

namespace runbase {

namespace {

using time_point = detail::Clock::time_point;

// A create that failed may still have made a run unless its error says nothing reached the
// server; anything that is not an `Error` is taken to have.
bool may_have_reached_server(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return e.outcome_unknown();
  } catch (...) {
    return true;
  }
}

}  // namespace

std::future<Run> Client::Impl::generate_async(const ModelInput& input, WaitOptions options) {
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

void Client::Impl::generate_async(const ModelInput& input, WaitOptions options, Completion done) {
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
                     watch.model = created->model;
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

std::vector<BatchResult> Client::Impl::generate_batch(const std::vector<ModelInput>& inputs,
                                                      const BatchOptions& options) {
  // The batch's creates are requests of the loop too: strict priority over its polls.
  const auto send_create = [this](detail::CreateRequest request, Completion done) {
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
  if (options.journal.empty() || inputs.empty()) {
    return detail::BatchRun(api_, *scheduler_, send_create, inputs, options).run();
  }

  // With a journal, every create goes through it here, and BatchRun runs without one. Locked
  // until the last create of the batch has ended (its answer is recorded): shared with them.
  auto journal = std::make_shared<detail::BatchJournal>(options.journal);
  const std::string path = options.journal.string();
  for (const std::string& torn : journal->torn()) {
    std::string line = "Batch journal ";
    line += path;
    line += ", ";
    line += torn;
    line +=
        ": a record cut short (the machine or disk failed mid-write); it is not trusted. Its "
        "create, if any, is reported as of unknown outcome.";
    api_.log(LogLevel::Warning, line);
  }
  // Identical inputs are told apart by occurrence: the first create of an input is 0, the next
  // 1, ... Identical inputs are interchangeable, so the order creates come in does not matter.
  std::map<std::string, std::size_t> occurrences;
  const auto create = [this, journal, path, send_create, &occurrences,
                       recreate = options.recreate_unknown](detail::CreateRequest request,
                                                            Completion done) {
    const std::string digest = detail::input_digest(detail::create_body(request));
    const std::size_t occurrence = occurrences[digest]++;
    const std::optional<detail::BatchJournal::Entry> entry = journal->lookup(digest, occurrence);
    if (entry && entry->kind == detail::BatchJournal::Kind::Run) {
      // Made (and paid for) by an earlier run of this batch: fetched and waited on, not created.
      loop_->post([this, run_id = entry->run_id, done = std::move(done)]() mutable {
        if (loop_->stopping()) {
          done(std::nullopt, std::make_exception_ptr(CancelledError(
                                 "The Client was destroyed before run " + run_id +
                                     " (on record in the batch journal) was fetched.",
                                 run_id)));
          return;
        }
        get_on_loop(run_id, std::nullopt, std::move(done));
      });
      return;
    }
    if (entry && entry->kind == detail::BatchJournal::Kind::Intent && !recreate) {
      done(std::nullopt,
           std::make_exception_ptr(Error(
               "An earlier run of this batch sent this item's create but never recorded its "
               "answer (batch journal " +
                   path + ", line " + std::to_string(entry->line) +
                   "), so a run may exist and be billed; it was not sent again. Look for it "
                   "among your runs (runbase.net dashboard): if it is there, wait for it by id; "
                   "to create it anyway, delete that line of the journal or pass "
                   "BatchOptions::recreate_unknown (runbase batch --recreate-unknown).",
               true)));
      return;
    }
    try {
      journal->record_intent(digest, occurrence);
    } catch (const Error& e) {
      done(std::nullopt,
           std::make_exception_ptr(Error(std::string(e.what()) + " The create was not sent.")));
      return;
    }
    send_create(std::move(request), [this, journal, path, digest, occurrence,
                                     done = std::move(done)](std::optional<Run> run,
                                                             std::exception_ptr error) {
      try {
        if (run) {
          journal->record_run(digest, occurrence, run->id);
        } else if (!may_have_reached_server(error)) {
          journal->record_none(digest, occurrence);
        }
      } catch (const Error& e) {
        // The intent stays unanswered: a rerun reports the item instead of paying for it again.
        api_.log(LogLevel::Warning,
                 std::string(e.what()) + (run ? " Run " + run->id +
                                                    " exists and is billed; a rerun of the batch "
                                                    "reports its line as of unknown outcome."
                                              : std::string()));
      }
      done(std::move(run), std::move(error));
    });
  };
  BatchOptions unjournaled = options;
  unjournaled.journal.clear();
  return detail::BatchRun(api_, *scheduler_, create, inputs, unjournaled).run();
}

// By value, as API.md declares it: the future outlives the caller's objects.
std::future<Run> Client::generate_async(GptImage1Input input, WaitOptions options) {
  return impl_->generate_async(ModelInput(std::move(input)), std::move(options));
}

std::future<Run> Client::generate_async(
    ModelInput input,  // NOLINT(performance-unnecessary-value-param)
    WaitOptions options) {
  return impl_->generate_async(input, std::move(options));
}

void Client::generate_async(GptImage1Input input, WaitOptions options,
                            std::function<void(std::optional<Run>, std::exception_ptr)> done) {
  impl_->generate_async(ModelInput(std::move(input)), std::move(options), std::move(done));
}

void Client::generate_async(ModelInput input,  // NOLINT(performance-unnecessary-value-param)
                            WaitOptions options,
                            std::function<void(std::optional<Run>, std::exception_ptr)> done) {
  impl_->generate_async(input, std::move(options), std::move(done));
}

std::vector<BatchResult> Client::generate_batch(const std::vector<GptImage1Input>& inputs,
                                                const BatchOptions& options) {
  return impl_->generate_batch(std::vector<ModelInput>(inputs.begin(), inputs.end()), options);
}

std::vector<BatchResult> Client::generate_batch(const std::vector<ModelInput>& inputs,
                                                const BatchOptions& options) {
  return impl_->generate_batch(inputs, options);
}

std::vector<BatchResult> Client::generate_batch(std::initializer_list<GptImage1Input> inputs,
                                                const BatchOptions& options) {
  return impl_->generate_batch(std::vector<ModelInput>(inputs.begin(), inputs.end()), options);
}

}  // namespace runbase
