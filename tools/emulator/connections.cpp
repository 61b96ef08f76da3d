#include "connections.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace runbase::emulator {
namespace {

using SteadyClock = std::chrono::steady_clock;

// True when the peer has sent bytes not read yet: a request is on its way, so the connection is
// not really idle (closing it now would lose that request).
bool has_unread_bytes(int fd) {
  char byte = 0;
  return ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

}  // namespace

ConnectionTable::ConnectionTable(std::size_t workers) : workers_(workers) {}

void ConnectionTable::accepted() {
  const std::lock_guard<std::mutex> lock(mutex_);
  ++open_;
  make_room();
}

ConnectionTable::Handle ConnectionTable::start(int fd) {
  const std::lock_guard<std::mutex> lock(mutex_);
  Entry entry;
  entry.fd = fd;
  entry.idle_since = SteadyClock::now();
  const Handle handle = entries_.insert(entries_.end(), entry);
  // Connections still queued behind this one may have found no idle one to close when they came.
  make_room();
  return handle;
}

bool ConnectionTable::wait_for_request(Handle connection, bool buffered,
                                       std::chrono::milliseconds timeout) {
  int ready = 1;
  if (!buffered) {
    const auto deadline = SteadyClock::now() + timeout;
    while (true) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      pollfd pfd{connection->fd, POLLIN, 0};
      ready = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(0, left.count())));
      if (ready >= 0 || errno != EINTR) {
        break;
      }
    }
  }
  const std::lock_guard<std::mutex> lock(mutex_);
  if (connection->closed_for_newer || ready <= 0) {
    return false;
  }
  connection->idle = false;
  return true;
}

void ConnectionTable::set_idle(Handle connection) {
  const std::lock_guard<std::mutex> lock(mutex_);
  connection->idle = true;
  connection->idle_since = SteadyClock::now();
  make_room();
}

void ConnectionTable::finish(Handle connection) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (connection->closed_for_newer) {
    --closing_;
  }
  --open_;
  entries_.erase(connection);
}

std::uint64_t ConnectionTable::closed_for_newer() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return closed_;
}

void ConnectionTable::make_room() {
  while (open_ - closing_ > workers_) {
    auto oldest = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->idle && !it->closed_for_newer &&
          (oldest == entries_.end() || it->idle_since < oldest->idle_since) &&
          !has_unread_bytes(it->fd)) {
        oldest = it;
      }
    }
    if (oldest == entries_.end()) {
      return;  // every worker is busy answering: the new connection waits its turn
    }
    // The worker's poll() wakes up and sees the flag; the client sees the connection end, as
    // when a keep-alive timeout closes it.
    oldest->closed_for_newer = true;
    ++closing_;
    ++closed_;
    ::shutdown(oldest->fd, SHUT_RDWR);
  }
}

}  // namespace runbase::emulator
