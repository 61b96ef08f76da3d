#include "exit_codes.hpp"

#include <runbase/runbase.hpp>

namespace runbase::cli {

namespace {

std::string wait_again(std::string_view run_id) {
  return "`runbase wait " + std::string(run_id) + " --out DIR` picks it up.";
}

void fill_api(Failure& failure, const ApiError& error) {
  failure.http_status = error.status();
  failure.error_code = error.code();
  failure.request_id = error.request_id();
}

// The advice for an error whose effect on the server is unknown. On a create that matters: there
// are no idempotency keys, so sending the same create again may bill a second run.
std::string unknown_outcome_hint(Phase phase) {
  if (phase == Phase::Create) {
    return "The run may exist and be billed; check before retrying (runbase.net dashboard): "
           "running the command again creates and bills a new run.";
  }
  if (phase == Phase::Batch) {
    return "Its run may exist and be billed: look for it at runbase.net (dashboard) before "
           "creating it again. With --journal, running the batch again reports this line "
           "instead of creating it; --recreate-unknown creates it anyway.";
  }
  return "Try again in a moment; if it persists, check --base-url and your network.";
}

Failure classify(const std::exception_ptr& error, Phase phase, std::string_view run_id) {
  Failure failure;
  failure.run_id = std::string(run_id);
  bool stdout_failed = false;  // the result was made but could not be shown: nothing to resume
  try {
    std::rethrow_exception(error);
  } catch (const MissingApiKeyError& e) {
    failure.message = e.what();
    failure.code = ExitCode::Authentication;
    failure.hint =
        "To try runbase without a key, run scripts/demo.sh, or start runbase-emulator "
        "and pass its URL with --base-url.";
  } catch (const ValidationError& e) {
    failure.message = e.what();
    failure.code = ExitCode::Validation;
    failure.hint = "Fix the value named above and run the command again; nothing was sent.";
  } catch (const BadRequestError& e) {
    fill_api(failure, e);
    failure.message = e.what();
    failure.code = ExitCode::Validation;
    failure.hint =
        "Check the prompt, --model and the values the model takes (--aspect-ratio, "
        "--quality, --resolution), and --image-url (each URL must be public). Nothing was "
        "billed.";
  } catch (const AuthenticationError& e) {
    fill_api(failure, e);
    failure.message = e.what();
    failure.code = ExitCode::Authentication;
    failure.hint =
        "runbase takes the key from --api-key, else RUNBASE_API_KEY: check which one "
        "is set, and that it is the whole sk-... key.";
  } catch (const PermissionDeniedError& e) {
    fill_api(failure, e);
    failure.message = e.what();
    failure.code = ExitCode::Authentication;
    failure.hint =
        "Change the key's settings at runbase.net (Settings -> API Keys), or pass "
        "another key with --api-key.";
  } catch (const InsufficientCreditsError& e) {
    fill_api(failure, e);
    failure.message = e.what();
    failure.code = ExitCode::Credits;
    failure.hint = "Nothing was billed. Run the command again once the balance is topped up.";
  } catch (const NotFoundError& e) {
    fill_api(failure, e);
    failure.message = e.what();
    failure.code = ExitCode::NotFound;
    failure.hint =
        "Run ids look like run_... (`runbase generate --no-wait` prints one); the key "
        "in --api-key or RUNBASE_API_KEY must be the one that created the run.";
  } catch (const RateLimitError& e) {
    fill_api(failure, e);
    failure.message = e.what();
    failure.code = ExitCode::Limit;
    failure.hint =
        "Wait a few seconds and run the command again. Every runbase process using "
        "this key shares its 20 requests per 10 s, polling included.";
  } catch (const UsageExceededError& e) {
    fill_api(failure, e);
    failure.message = e.what();
    failure.code = ExitCode::Limit;
    failure.hint = "Pass another key with --api-key, or contact support@runbase.net.";
  } catch (const ServerError& e) {
    fill_api(failure, e);
    failure.message = e.what();
    failure.code = ExitCode::ServerOrNetwork;
    failure.outcome_unknown = e.outcome_unknown();
    failure.hint = phase == Phase::Create || phase == Phase::Batch
                       ? unknown_outcome_hint(phase)
                       : std::string("Run the command again in a few minutes") +
                             (e.request_id().empty()
                                  ? "."
                                  : "; quote request id " + e.request_id() + " to support.");
  } catch (const ApiError& e) {
    fill_api(failure, e);
    failure.message = e.what();
    failure.code = ExitCode::Other;
    failure.hint =
        "An answer this version of runbase does not expect: check --base-url, or "
        "update runbase.";
  } catch (const RunFailedError& e) {
    failure.message = e.what();
    failure.code = ExitCode::RunFailed;
    failure.run_id = e.run().id;
    if (e.run().error) failure.error_code = e.run().error->code;
    failure.hint = "Change the prompt or reference images and run the command again.";
  } catch (const TimeoutError& e) {
    failure.message = e.what();
    failure.outcome_unknown = e.outcome_unknown();
    if (!e.run_id().empty()) {
      // The wait's own deadline (--timeout): the run exists and goes on.
      failure.code = ExitCode::Timeout;
      failure.run_id = e.run_id();
      // The SDK's sentence speaks of WaitOptions and Client::wait; say it in the CLI's terms.
      failure.message = "Run " + e.run_id() +
                        " did not finish within --timeout; it is still "
                        "running.";
      failure.hint = "The run goes on and is billed: " + wait_again(e.run_id()) +
                     " Use a larger --timeout (0: none) to wait longer next time.";
    } else {
      failure.code = ExitCode::ServerOrNetwork;
      failure.hint = e.outcome_unknown() ? unknown_outcome_hint(phase)
                                         : "The service did not answer in time: try again later.";
    }
  } catch (const CancelledError& e) {
    failure.message = e.what();
    failure.code = ExitCode::Interrupted;
    if (!e.run_id().empty()) failure.run_id = e.run_id();
    if (failure.run_id.empty()) {
      failure.message = "Interrupted.";
      failure.hint = "Nothing is left running.";
    } else if (phase == Phase::Download) {
      failure.message = "Interrupted while saving the images of run " + failure.run_id +
                        "; no partial file was kept.";
      failure.hint = "The run succeeded: `runbase wait " + failure.run_id +
                     " --out DIR` saves its images again.";
    } else if (phase == Phase::Get) {
      failure.message = "Interrupted before run " + failure.run_id + " was shown.";
    } else {
      failure.message = "Interrupted: stopped waiting for run " + failure.run_id + ".";
      failure.hint = "The run goes on and is billed: " + wait_again(failure.run_id);
    }
  } catch (const DeadlineError& e) {
    // The command's own --timeout ran out in the middle of a request (downloads, get).
    failure.message = e.what();
    failure.code = ExitCode::Timeout;
    if (phase == Phase::Download && !failure.run_id.empty()) {
      failure.message = "Run " + failure.run_id +
                        " succeeded, but saving its images did not finish within --timeout; "
                        "no partial file was kept.";
      failure.hint = "`runbase wait " + failure.run_id +
                     " --out DIR` saves them again; use a larger --timeout (0: none).";
    } else if (phase == Phase::Get) {
      failure.message =
          (failure.run_id.empty() ? std::string("The run") : "Run " + failure.run_id) +
          " could not be fetched within --timeout.";
      failure.hint = "Try again later, or with a larger --timeout (0: none).";
    } else {
      failure.hint = "Try again later, or with a larger --timeout (0: none).";
    }
  } catch (const UsageError& e) {
    failure.message = e.what();
    failure.code = ExitCode::Usage;
    failure.hint =
        "`runbase COMMAND --help` lists each option; docs/CLI.md says which model takes it.";
  } catch (const OutputError& e) {
    stdout_failed = true;
    failure.message = e.what();
    failure.code = ExitCode::Other;
    failure.hint = "Check where stdout goes: a closed pipe, a full disk.";
  } catch (const ConnectionError& e) {
    failure.message = e.what();
    failure.code = ExitCode::ServerOrNetwork;
    failure.outcome_unknown = e.outcome_unknown();
    failure.hint = e.outcome_unknown()
                       ? unknown_outcome_hint(phase)
                       : "Check your network, and --base-url (else RUNBASE_BASE_URL, else "
                         "https://runbase.net/api/v1). Nothing was sent.";
  } catch (const ProtocolError& e) {
    failure.message = e.what();
    failure.code = ExitCode::ServerOrNetwork;
    failure.outcome_unknown = e.outcome_unknown();
    failure.hint = e.outcome_unknown() ? unknown_outcome_hint(phase)
                                       : "The server's reply was unreadable: check --base-url "
                                         "points at the Runbase API (.../api/v1).";
  } catch (const Error& e) {
    failure.message = e.what();
    failure.code = ExitCode::Other;
    failure.outcome_unknown = e.outcome_unknown();
    if (e.outcome_unknown()) failure.hint = unknown_outcome_hint(phase);
  } catch (const std::exception& e) {
    failure.message = e.what();
    failure.code = ExitCode::Other;
  } catch (...) {
    failure.message = "Unknown error.";
    failure.code = ExitCode::Other;
  }
  if (phase == Phase::Download && failure.code == ExitCode::NotFound) {
    failure.hint =
        "The file is gone from the CDN or the URL is wrong: `runbase get RUN_ID` "
        "shows the run's current output URLs.";
  }
  // The run exists and the failure was on the way to its result: say how to resume.
  const bool transient = (failure.code == ExitCode::ServerOrNetwork ||
                          failure.code == ExitCode::Limit || failure.code == ExitCode::Other) &&
                         !stdout_failed;
  if (!failure.run_id.empty() && transient && (phase == Phase::Wait || phase == Phase::Download)) {
    const std::string resume = phase == Phase::Wait
                                   ? "The run goes on: " + wait_again(failure.run_id)
                                   : "The run succeeded: `runbase wait " + failure.run_id +
                                         " --out DIR` saves its images again.";
    failure.hint = failure.hint.empty() ? resume : failure.hint + " " + resume;
  }
  failure.kind = std::string(kind_name(failure.code));
  return failure;
}

}  // namespace

std::string_view kind_name(ExitCode code) noexcept {
  switch (code) {
    case ExitCode::Ok:
      return "ok";
    case ExitCode::Other:
      return "other";
    case ExitCode::Usage:
      return "usage";
    case ExitCode::Validation:
      return "validation";
    case ExitCode::Authentication:
      return "authentication";
    case ExitCode::Credits:
      return "credits";
    case ExitCode::NotFound:
      return "not_found";
    case ExitCode::Limit:
      return "limit";
    case ExitCode::ServerOrNetwork:
      return "server_or_network";
    case ExitCode::RunFailed:
      return "run_failed";
    case ExitCode::Timeout:
      return "timeout";
    case ExitCode::Interrupted:
    case ExitCode::Terminated:
      return "interrupted";
  }
  return "other";
}

Failure describe_failure(const std::exception_ptr& error, Phase phase,
                         std::string_view run_id) noexcept {
  try {
    return classify(error, phase, run_id);
  } catch (...) {
    // Out of memory while building strings: still give the right exit status.
    Failure failure;
    failure.code = ExitCode::Other;
    return failure;
  }
}

}  // namespace runbase::cli
