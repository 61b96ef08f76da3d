// The emulator's connections, and closing an idle one when a new one finds every worker taken.
//
// cpp-httplib 0.11 serves each connection on one worker thread for its whole life, idle keep-alive
// time included, and has a fixed number of workers: 128 clients that keep an idle connection open
// lock every other client out until the keep-alive timeout. So the emulator serves connections
// with its own keep-alive loop (HttpServer in emulator.cpp), which tells this table when a
// connection is idle and when it is busy. When a new connection arrives and no worker is free,
// the table closes the connection idle for longest, as a server that trims keep-alive connections
// does; its client opens a new one for its next request.
#ifndef RUNBASE_EMULATOR_CONNECTIONS_HPP
#define RUNBASE_EMULATOR_CONNECTIONS_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>

namespace runbase::emulator {

/// The open connections of a server with `workers` worker threads.
///
/// Thread safety: every member is safe from any thread.
class ConnectionTable {
 public:
  struct Entry;
  using Handle = std::list<Entry>::iterator;

  explicit ConnectionTable(std::size_t workers);

  ConnectionTable(const ConnectionTable&) = delete;
  ConnectionTable& operator=(const ConnectionTable&) = delete;

  /// Called by the listener for each accepted connection, before it is queued for a worker. If
  /// the connections now outnumber the workers, closes idle ones (longest idle first) to free
  /// workers for them.
  void accepted();

  /// A worker starts serving `fd`: it is idle (no request yet) until wait_for_request(). If
  /// connections are still queued for a worker, closes an idle one (maybe this one) for them.
  Handle start(int fd);

  /// Waits up to `timeout` for the start of the connection's next request and marks it busy.
  /// `buffered`: bytes of it are already read (pipelined). False when the time passed, the peer
  /// closed, or the connection was closed for a newer one: the worker ends it.
  bool wait_for_request(Handle connection, bool buffered, std::chrono::milliseconds timeout);

  /// The answer has been written: the connection is idle from now (and closed at once if
  /// connections are queued for a worker and it is the longest idle).
  void set_idle(Handle connection);

  /// The worker is done with the connection. Call before closing its descriptor, so the
  /// descriptor is never shut down after it could be reused.
  void finish(Handle connection);

  /// Idle connections closed for newer ones since start.
  std::uint64_t closed_for_newer() const;

 private:
  // Closes idle connections until the open ones no longer outnumber the workers. Lock held.
  void make_room();

  const std::size_t workers_;
  mutable std::mutex mutex_;
  std::list<Entry> entries_;  // served by a worker
  std::size_t open_ = 0;      // accepted and not finished: queued ones too
  std::size_t closing_ = 0;   // closed for a newer one and not finished yet
  std::uint64_t closed_ = 0;  // closed for newer ones, ever
};

struct ConnectionTable::Entry {
  int fd = -1;
  bool idle = true;
  bool closed_for_newer = false;
  std::chrono::steady_clock::time_point idle_since;
};

}  // namespace runbase::emulator

#endif  // RUNBASE_EMULATOR_CONNECTIONS_HPP
