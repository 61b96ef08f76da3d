#ifndef RUNBASE_CLIENT_HPP
#define RUNBASE_CLIENT_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runbase/export.hpp"
#include "runbase/models.hpp"
#include "runbase/options.hpp"
#include "runbase/run.hpp"

namespace runbase {

namespace detail {
struct ClientAccess;
}  // namespace detail

/// An output's bytes in memory, from `Client::fetch`.
struct RUNBASE_EXPORT FetchedOutput {
  std::vector<std::uint8_t> bytes;  ///< the body as received (decoded if compressed in transit)
  std::string content_type;         ///< the Content-Type header, e.g. "image/png"; may be empty
};

/// A client of the Runbase API.
///
/// Every method throws a subclass of `runbase::Error` on failure (see errors.hpp). Requests are
/// retried only where that cannot bill twice; a create that may have reached the server is never
/// sent again automatically (`Error::outcome_unknown()` tells the caller).
///
/// Thread safety: safe from many threads at once. Calls share one connection pool and one rate
/// budget. Movable, not copyable; a moved-from Client may only be destroyed or assigned to.
class RUNBASE_EXPORT Client {
 public:
  /// Configured from the environment: `RUNBASE_API_KEY`, `RUNBASE_BASE_URL`.
  /// Throws `ValidationError` when there is no API key or the base URL is unusable.
  Client();
  /// Throws `ValidationError` when there is no API key or the base URL is unusable.
  explicit Client(ClientOptions options);
  ~Client();
  /// Takes over the other Client's pool, rate budget, spend and pending futures; the moved-from
  /// Client may then only be destroyed or assigned to.
  Client(Client&&) noexcept;
  /// Ends this Client's own pending futures with `CancelledError` (as destroying it would), then
  /// takes over the other's state.
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// `POST /runs` for GPT Image 1. Validates the input first. Returns the pending run.
  Run create_run(const GptImage1Input& input);
  /// `POST /runs` for any model: `input_json` must be a JSON object, sent as `"input"`.
  Run create_run(std::string_view model, std::string_view input_json);
  /// `POST /runs` for any model's input (GPT Image 1.5 and 2 typed, or any model by id and
  /// JSON). Validates the input first.
  Run create_run(const ModelInput& input);
  /// `GET /runs/<id>`, the id percent-encoded.
  Run get_run(std::string_view run_id);
  /// `get_run` within `options`' deadline, cancellable.
  Run get_run(std::string_view run_id, const CallOptions& options);
  /// Polls until the run is terminal. Returns it when succeeded; throws `RunFailedError` when
  /// failed, `TimeoutError` at the deadline, `CancelledError` when cancelled. Waits on the same
  /// run (from any thread, sync or async) share one stream of polls. A poll failure that time may
  /// cure (a lost connection, a timeout, a 5xx, a 429, a reply cut short) does not end the wait
  /// once the poll's own retries are spent: it polls on at its pace until its deadline (without
  /// one, for up to 10 minutes of failures). Anything else (401, 403, 404, ...) ends it at once.
  /// Every error that ends a wait names the run.
  Run wait(std::string_view run_id, const WaitOptions& options = {});
  /// `create_run` then `wait`. `on_update` is called first with the created (pending) run, so
  /// its id is known even if the wait later fails. The first poll comes when this Client expects
  /// the run to be done: for a model it has seen runs of finish, at their learned duration (no
  /// later than `max_poll_interval` past their mean); before that, at a quarter of the documented
  /// ~4 s; never before `poll_interval`.
  Run generate(const GptImage1Input& input, const WaitOptions& options = {});
  /// `generate` for any model's input (see `ModelInput`).
  Run generate(const ModelInput& input, const WaitOptions& options = {});
  /// `generate` without blocking: the create and every poll are requests of the Client's one
  /// engine thread (an event loop, however many runs are in flight; a slow reply holds up no
  /// other run), and the future holds the run or what `generate` would have thrown. An invalid
  /// input gives a future holding `ValidationError`. `on_update` is called on a Client thread: keep
  /// it short. Destroying the Client ends pending futures with `CancelledError` (the runs go on).
  std::future<Run> generate_async(GptImage1Input input, WaitOptions options = {});
  /// `generate_async` for any model's input (see `ModelInput`).
  std::future<Run> generate_async(ModelInput input, WaitOptions options = {});
  /// `generate_async` for event-loop applications: instead of a future, `done` is called once,
  /// on the Client's engine thread, with the succeeded run, or with what `generate` would have
  /// thrown (an invalid input included). Keep `done` short and never block in it (no `wait`,
  /// `generate` or `future::get` of this Client there, and do not destroy the Client from it):
  /// other runs' requests wait while it runs. Destroying the Client calls every pending `done`
  /// with `CancelledError` before the destructor returns.
  void generate_async(GptImage1Input input, WaitOptions options,
                      std::function<void(std::optional<Run>, std::exception_ptr)> done);
  /// The callback form for any model's input (see `ModelInput`).
  void generate_async(ModelInput input, WaitOptions options,
                      std::function<void(std::optional<Run>, std::exception_ptr)> done);
  /// Creates and waits for every input, sharing the rate budget well: creates go first, runs are
  /// polled near when they are expected to finish. Returns one result per input, in input order;
  /// a failed item never fails the batch (see `BatchResult`). Throws only for the batch as a
  /// whole: a journal that cannot be read, written or locked (`Error`; another batch holds
  /// it). After a create fails with an error
  /// that would repeat (401, 402, 403, 429 USAGE_EXCEEDED, the spend limit), the items not yet
  /// created get the same error without being sent.
  std::vector<BatchResult> generate_batch(const std::vector<GptImage1Input>& inputs,
                                          const BatchOptions& options = {});
  /// `generate_batch` for any models' inputs, mixed as you like (see `ModelInput`); each model's
  /// runs are planned from that model's learned duration. A journal tells items by model and
  /// input.
  std::vector<BatchResult> generate_batch(const std::vector<ModelInput>& inputs,
                                          const BatchOptions& options = {});
  /// `generate_batch({a, b})` of GPT Image 1 inputs: without this, a braced list would fit both
  /// vector forms equally.
  std::vector<BatchResult> generate_batch(std::initializer_list<GptImage1Input> inputs,
                                          const BatchOptions& options = {});

  /// Micro-USD spent by this Client: the `costUsd` of the runs it created (the model's price
  /// for a run whose reply gave none), less the refunds of those it saw fail. Runs resumed from
  /// a batch journal were paid for before and do not count.
  std::int64_t spent_usd_micros() const noexcept;

  /// Downloads `url` to `destination`: no `Authorization` header (outputs live on a CDN),
  /// redirects followed, streamed to a temporary file that is renamed into place.
  void download(std::string_view url, const std::filesystem::path& destination);
  /// `download` within `options`' deadline, cancellable; nothing is left at `destination` (nor
  /// beside it) when it ends early.
  void download(std::string_view url, const std::filesystem::path& destination,
                const CallOptions& options);
  /// Downloads every output of a succeeded run into `directory` (created if missing), as
  /// `<run id>-<index>` plus the extension for the Content-Type (else the URL's, else `bin`), with
  /// index counting from 0. Returns the paths in the order of `run.output_urls`.
  std::vector<std::filesystem::path> download_outputs(const Run& run,
                                                      const std::filesystem::path& directory);
  /// `download_outputs` within `options`' deadline (for all the outputs together), cancellable;
  /// the files saved before it ended stay, the one in progress is removed.
  std::vector<std::filesystem::path> download_outputs(const Run& run,
                                                      const std::filesystem::path& directory,
                                                      const CallOptions& options);

  /// The default cap of `fetch`: 128 MiB, above any image the service makes (a 4K PNG is far
  /// smaller) but a bound on what a misbehaving host can make this process hold.
  static constexpr std::size_t default_fetch_max_bytes = std::size_t{128} * 1024 * 1024;
  /// An output's bytes in memory, for applications that decode or show them rather than save
  /// them: as `download`, no `Authorization` header and redirects followed. A body over
  /// `max_bytes` ends the transfer with `ProtocolError`; nothing is kept.
  FetchedOutput fetch(std::string_view url, std::size_t max_bytes = default_fetch_max_bytes);
  /// The streaming form: `on_data` gets the body piece by piece as it arrives (on this thread),
  /// so nothing is held whole; it may throw to stop, and that exception is thrown from here.
  /// Returns the Content-Type. A transfer that breaks before any byte is retried like a
  /// download; once `on_data` has had bytes it is not (they cannot be taken back): the error is
  /// thrown and `fetch` may be called again to start over.
  std::string fetch(std::string_view url, const std::function<void(std::string_view)>& on_data);
  /// `fetch` within `options`' deadline, cancellable.
  FetchedOutput fetch(std::string_view url, const CallOptions& options,
                      std::size_t max_bytes = default_fetch_max_bytes);
  /// The streaming `fetch` within `options`' deadline, cancellable.
  std::string fetch(std::string_view url, const std::function<void(std::string_view)>& on_data,
                    const CallOptions& options);

  /// The base URL in use, e.g. "https://runbase.net/api/v1".
  const std::string& base_url() const noexcept;

  class Impl;

 private:
  friend struct detail::ClientAccess;
  explicit Client(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace runbase

#endif  // RUNBASE_CLIENT_HPP
