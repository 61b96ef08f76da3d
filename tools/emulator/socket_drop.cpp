#include "socket_drop.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <vector>

namespace runbase::emulator {
namespace {

struct Endpoint {
  std::string addr;
  int port = -1;
};

bool endpoint_of(const sockaddr_storage& storage, Endpoint& out) {
  char text[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) == nullptr) {
      return false;
    }
    out.port = ntohs(in->sin_port);
  } else if (storage.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text) == nullptr) {
      return false;
    }
    out.port = ntohs(in6->sin6_port);
  } else {
    return false;
  }
  out.addr = text;
  return true;
}

// The local and peer endpoints of a connected TCP socket; false for anything else (files, pipes,
// listening sockets, closed descriptors).
bool connection_endpoints(int fd, Endpoint& local, Endpoint& peer) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return false;
  }
  if (!endpoint_of(storage, local)) {
    return false;
  }
  storage = {};
  length = sizeof storage;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return false;
  }
  return endpoint_of(storage, peer);
}

// The process's open descriptors: /proc/self/fd where there is one, else every number below the
// descriptor limit.
std::vector<int> open_descriptors() {
  std::vector<int> fds;
  if (DIR* dir = opendir("/proc/self/fd")) {
    const int own = dirfd(dir);
    while (const dirent* entry = readdir(dir)) {
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') {
        continue;
      }
      const int fd = std::atoi(entry->d_name);
      if (fd != own) {
        fds.push_back(fd);
      }
    }
    closedir(dir);
    return fds;
  }
  long limit = sysconf(_SC_OPEN_MAX);
  if (limit <= 0 || limit > 65536) {
    limit = 65536;
  }
  for (int fd = 0; fd < static_cast<int>(limit); ++fd) {
    fds.push_back(fd);
  }
  return fds;
}

int for_each_connection(int local_port, const std::function<bool(int, const Endpoint&)>& visit) {
  int matched = 0;
  for (const int fd : open_descriptors()) {
    Endpoint local;
    Endpoint peer;
    if (!connection_endpoints(fd, local, peer) || local.port != local_port) {
      continue;
    }
    if (visit(fd, peer)) {
      ++matched;
    }
  }
  return matched;
}

}  // namespace

bool shutdown_connection(int local_port, const std::string& peer_addr, int peer_port) {
  const int matched = for_each_connection(local_port, [&](int fd, const Endpoint& peer) {
    if (peer.port != peer_port || peer.addr != peer_addr) {
      return false;
    }
    return ::shutdown(fd, SHUT_RDWR) == 0;
  });
  return matched > 0;
}

int shutdown_connections_for_reading(int local_port) {
  return for_each_connection(local_port,
                             [](int fd, const Endpoint&) { return ::shutdown(fd, SHUT_RD) == 0; });
}

}  // namespace runbase::emulator
