#ifndef RUNBASE_SRC_LOOP_HTTP_HPP
#define RUNBASE_SRC_LOOP_HTTP_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>

#include "runbase/transport.hpp"

namespace runbase::detail {

/// HTTP as an event loop needs it: transfers are started and their ends collected without the
/// loop ever blocking on one of them, so a slow reply delays nothing else.
///
/// Two kinds: the libcurl transport's multi interface (`CurlTransport::make_loop_http`: many
/// transfers on the loop's own thread), and `make_pooled_loop_http` for any other `HttpTransport`
/// (its blocking `send` on a small pool of threads).
///
/// Thread safety: `wakeup()` from any thread; everything else on the loop's thread only.
class LoopHttp {
 public:
  /// Called once per transfer, on the loop's thread: the response (any status), or what the
  /// transport threw.
  using Done = std::function<void(std::optional<HttpResponse>, std::exception_ptr)>;
  using TransferId = std::uint64_t;

  virtual ~LoopHttp();
  /// Starts `request` (its `cancel` is ignored: use `abort`).
  virtual TransferId start(HttpRequest request, Done done) = 0;
  /// Ends a transfer now; its `done` gets `error`. Nothing happens for one already ended.
  virtual void abort(TransferId id, std::exception_ptr error) = 0;
  /// Ends every transfer now, each `done` getting `error` (at shutdown).
  virtual void abort_all(std::exception_ptr error) = 0;
  /// Transfers started and not yet ended.
  virtual std::size_t active() const = 0;
  /// Waits up to `timeout` for a transfer to make progress or end, or for `wakeup()`, then calls
  /// the `done` of every transfer that ended.
  virtual void wait(std::chrono::milliseconds timeout) = 0;
  /// Ends a `wait` in progress (or the next one) early.
  virtual void wakeup() noexcept = 0;
};

/// `transport.send` on a small pool of threads, for transports without a non-blocking path.
/// `threads`: the most requests in flight at once.
std::unique_ptr<LoopHttp> make_pooled_loop_http(std::shared_ptr<HttpTransport> transport,
                                                std::size_t threads);

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_LOOP_HTTP_HPP
