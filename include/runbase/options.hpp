#ifndef RUNBASE_OPTIONS_HPP
#define RUNBASE_OPTIONS_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "runbase/cancellation.hpp"
#include "runbase/export.hpp"
#include "runbase/run.hpp"
#include "runbase/transport.hpp"

namespace runbase {

/// How failed requests are retried. Only requests that cannot bill twice are retried: GETs on
/// 429, 5xx, timeouts and connection failures; `POST /runs` only on 429 and on a connection that
/// was never established.
struct RetryPolicy {
  int max_retries = 2;  ///< extra attempts after the first
  /// Cap of the first retry's random delay, doubled for each retry after it; also the least
  /// pause after a 429 that has no `Retry-After`.
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{8000};  ///< full jitter in between
};

/// The client-side request budget: never more than `requests` in any window of `per`, counted
/// from when each answer arrives, shared by every call and thread of one Client.
/// `requests <= 0` turns it off.
struct RateLimit {
  int requests = 20;                     ///< most requests per window; <= 0: no limit
  std::chrono::milliseconds per{10000};  ///< length of the sliding window
};

/// Everything a Client is configured with. Explicit values win; empty ones fall back to the
/// environment (`RUNBASE_API_KEY`, `RUNBASE_BASE_URL`), then to the defaults.
struct ClientOptions {
  std::string api_key;   ///< empty: $RUNBASE_API_KEY
  std::string base_url;  ///< empty: $RUNBASE_BASE_URL, else https://runbase.net/api/v1
  /// Each attempt of each request, connecting and downloads included; 0: none.
  std::chrono::milliseconds request_timeout{60000};
  /// TCP and TLS setup, libcurl transport only; 0: libcurl's default (300 s).
  std::chrono::milliseconds connect_timeout{10000};
  RetryPolicy retry;              ///< for API calls and downloads alike
  RateLimit rate_limit;           ///< client-side budget, shared by every call of this Client
  std::string ca_bundle;          ///< extra trusted CA file (PEM); verification is never off
  std::string proxy;              ///< e.g. "http://proxy:3128"; empty: the usual *_proxy variables
  std::string user_agent_suffix;  ///< appended to "runbase-cpp/<version>"
  /// Receives at least one Debug line per HTTP exchange, Info lines for runs created, Warning
  /// lines for retries. Secrets are redacted. Called from the thread making the request.
  std::function<void(LogLevel, std::string_view)> logger;
  std::shared_ptr<HttpTransport> transport;  ///< null: the libcurl transport
  /// Micro-USD this Client may spend on runs (see `Client::spent_usd_micros()`); 0: no limit.
  /// A create that would take the spend past it is refused with `SpendLimitError` (a
  /// `ValidationError`) before anything is sent. The check counts each create at its model's
  /// published price (openai/gpt-image-1: 50000; a tiered model without a tier: its dearest),
  /// or for a model without one at the cost of the last run this Client created; a run whose
  /// reply carries no usable `costUsd` stays counted at that price. Failed runs are refunded
  /// and free their share again.
  std::int64_t spend_limit_usd_micros = 0;
};

/// How `Client::wait` and `Client::generate` poll.
struct WaitOptions {
  std::chrono::milliseconds poll_interval{1000};      ///< pause between polls at first
  std::chrono::milliseconds max_poll_interval{5000};  ///< polling backs off up to this
  std::chrono::milliseconds timeout{600000};          ///< deadline for the whole wait; 0: none
  std::function<void(const Run&)> on_update;          ///< called when the status changes
  const CancellationToken* cancel = nullptr;  ///< CancellationToken::cancel() stops the wait
};

/// Limits of one call that sends one request or downloads (`Client::get_run`, `download`,
/// `download_outputs`, `fetch`), for programs with a deadline of their own (a CLI's `--timeout`,
/// a UI's cancel button).
struct CallOptions {
  /// The whole call, retries and their pauses included: each attempt's timeout is clipped to the
  /// time left, and no retry starts past it; then `TimeoutError`. 0: none (each attempt still
  /// ends at `ClientOptions::request_timeout`).
  std::chrono::milliseconds timeout{0};
  /// `CancellationToken::cancel()`, from any thread, ends the call soon with `CancelledError`: a
  /// transfer in progress is aborted (a download's partial file removed), a retry's pause cut.
  const CancellationToken* cancel = nullptr;
};

/// How `Client::generate_batch` runs a batch.
struct BatchOptions {
  /// Runs created but not finished at once; 0: as the rate budget allows (with no client-side
  /// rate limit: all of them).
  int max_in_flight = 0;
  /// Per run; its timeout applies to each run, from its creation. `on_update` is called, on the
  /// thread that called `generate_batch`, with each run's status changes; `cancel` stops the
  /// whole batch (runs not yet created are not created).
  WaitOptions wait;
  /// Called on the thread that called `generate_batch` each time an item finishes, either way.
  std::function<void(std::size_t done, std::size_t total)> on_progress;
  /// A journal file, for a batch that may be interrupted; empty: none. Items are known by their
  /// input (a digest of the create request, and which occurrence of that input), not by their
  /// place, so items added, removed or reordered between runs still find their runs. Before each
  /// create its intent is written and fsynced; its answer (the run id, or that nothing was made)
  /// follows. Running the batch again with the same journal waits on the runs it records
  /// instead of creating (and paying for) them again; an input not on record is created. A run
  /// on record that failed is reported failed again: delete its line to create it anew. A create
  /// sent but never answered (the process died, the connection broke) may have made a run: the
  /// item fails with an `Error` whose `outcome_unknown()` is true, and nothing is sent for it,
  /// unless `recreate_unknown`. The file is locked for the whole batch: a second batch on it, in
  /// this process or another, throws `Error` at once. A torn record (cut short mid-write) is not
  /// trusted and is logged as a Warning.
  std::filesystem::path journal;
  /// With a journal: create again the items whose earlier create has no recorded answer (see
  /// `journal`), accepting that a run may be made and billed twice. Off: those items fail.
  bool recreate_unknown = false;
};

/// One item of `Client::generate_batch`: exactly one of `run` (succeeded) and `error` is set.
/// `error` holds what `Client::generate` would have thrown for that item (`RunFailedError`,
/// `TimeoutError`, `ValidationError`, an `ApiError`, ...).
struct BatchResult {
  std::optional<Run> run;    ///< the succeeded run; empty when `error` is set
  std::exception_ptr error;  ///< null on success; `std::rethrow_exception` it to catch by type
};

/// The libcurl transport a Client uses when `ClientOptions::transport` is null, built from the
/// same options (timeouts, CA bundle, proxy). Useful to wrap in a custom transport that adds
/// behaviour (recording, metrics) and forwards to it.
RUNBASE_EXPORT std::shared_ptr<HttpTransport> make_curl_transport(const ClientOptions& options);

}  // namespace runbase

#endif  // RUNBASE_OPTIONS_HPP
