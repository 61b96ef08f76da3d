#ifndef RUNBASE_TOOLS_CLI_EXIT_CODES_HPP
#define RUNBASE_TOOLS_CLI_EXIT_CODES_HPP

#include <exception>
#include <string>
#include <string_view>

#include <runbase/errors.hpp>

namespace runbase::cli {

/// No API key in --api-key or RUNBASE_API_KEY. Checked by the CLI before building a Client, so it
/// maps to the authentication exit code rather than to validation.
class MissingApiKeyError : public ValidationError {
 public:
  using ValidationError::ValidationError;
};

/// A request that the command's own deadline (`--timeout`) cut short, or one that would have
/// started after it. Not a `TimeoutError`: the SDK retries those, and no time is left to retry in.
/// Reported with the timeout exit code.
class DeadlineError : public Error {
 public:
  using Error::Error;
};

/// The results could not be written to stdout (a closed pipe, a full disk): exit code 1, even
/// though the work itself (the run, its saved files) was done.
class OutputError : public Error {
 public:
  using Error::Error;
};

/// A command line the parser accepts but the command refuses: a flag the chosen model does not
/// take (`--quality` with GPT Image 1). Reported with the usage exit code.
class UsageError : public Error {
 public:
  using Error::Error;
};

/// The exit status of `runbase`: one per failure class, so scripts can branch on it. This table is
/// the contract documented in docs/CLI.md; never renumber an entry.
enum class ExitCode : int {
  Ok = 0,
  Other = 1,            ///< anything below does not cover: a local file error, an unexpected reply
  Usage = 2,            ///< bad command line: unknown flag, missing argument, flag the model lacks
  Validation = 3,       ///< input refused (a bad value too): by the SDK before sending, or 400
  Authentication = 4,   ///< no API key, key rejected (401), or key not allowed (403)
  Credits = 5,          ///< 402 insufficient_balance
  NotFound = 6,         ///< 404 run_not_found
  Limit = 7,            ///< 429: rate limit (retries ran out) or the key's usage quota
  ServerOrNetwork = 8,  ///< unreachable, connection broke, request timed out, 5xx, unreadable reply
  RunFailed = 9,        ///< the run ended `failed` (the service refunds it)
  Timeout = 10,         ///< the run did not finish within --timeout; it goes on
  Interrupted = 130,    ///< Ctrl-C during a wait or download (128 + SIGINT); the run goes on
  Terminated = 143,     ///< SIGTERM, handled like Ctrl-C (128 + SIGTERM); kind "interrupted"
};

constexpr int to_int(ExitCode code) noexcept { return static_cast<int>(code); }

/// What the command was doing when it failed: the same error calls for different advice.
enum class Phase {
  Create,    ///< POST /runs: a run may have been created and billed
  Wait,      ///< polling a run that exists
  Get,       ///< one GET /runs/<id>
  Download,  ///< fetching output files
  Batch,     ///< one item of a batch: its create or its wait, which the error cannot tell
  Other,
};

/// A failure, classified for the exit code, the message on stderr and the --json object.
struct Failure {
  ExitCode code = ExitCode::Other;
  std::string kind;        ///< machine-readable class: "validation", "authentication", ...
  std::string message;     ///< the SDK's what(): already one actionable sentence
  std::string hint;        ///< what to do next, for this command line
  int http_status = 0;     ///< for API errors
  std::string error_code;  ///< the service's error.code, when sent
  std::string request_id;  ///< X-Request-Id, when sent
  std::string run_id;      ///< the run concerned, when known
  bool outcome_unknown = false;
};

/// Classifies `error` (thrown while doing `phase` on `run_id`, which may be empty).
/// Never throws.
Failure describe_failure(const std::exception_ptr& error, Phase phase,
                         std::string_view run_id) noexcept;

/// The machine-readable name of an exit code's class ("usage", "run_failed", ...).
std::string_view kind_name(ExitCode code) noexcept;

}  // namespace runbase::cli

#endif  // RUNBASE_TOOLS_CLI_EXIT_CODES_HPP
