// Closing a server connection from inside a cpp-httplib handler.
//
// cpp-httplib 0.11 gives a handler no way to close its connection without answering: whatever
// the handler does, the status line and headers are written after it returns (a content provider
// that fails only cuts the body short). The handler does know its connection's endpoints
// (Request::remote_addr/remote_port/local_port), so the socket is found among the process's file
// descriptors by those endpoints and shut down; httplib's own write then fails and it closes the
// socket, and the client sees the connection end without a single byte of response.
#ifndef RUNBASE_EMULATOR_SOCKET_DROP_HPP
#define RUNBASE_EMULATOR_SOCKET_DROP_HPP

#include <string>

namespace runbase::emulator {

/// Shuts down (both directions) this process's TCP socket whose local port is `local_port` and
/// whose peer is `peer_addr`:`peer_port`. Returns false if no such socket is open.
/// The process must ignore SIGPIPE: the server's next write to the socket fails with EPIPE.
///
/// Thread safety: safe from any thread; call it from the handler that owns the connection, so the
/// socket cannot be closed (and its descriptor reused) while it is being looked for.
bool shutdown_connection(int local_port, const std::string& peer_addr, int peer_port);

/// Shuts down the reading side of every connected TCP socket of this process whose local port is
/// `local_port`: idle keep-alive connections end at once, a response being written is finished.
/// Used when the server stops. Returns the number of sockets.
int shutdown_connections_for_reading(int local_port);

}  // namespace runbase::emulator

#endif  // RUNBASE_EMULATOR_SOCKET_DROP_HPP
