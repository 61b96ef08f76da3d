#include "interrupt.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace runbase::cli {

namespace {

volatile sig_atomic_t g_write_fd = -1;
struct sigaction g_previous_int {};
struct sigaction g_previous_term {};

extern "C" void on_stop_signal(int number) {
  const int saved_errno = errno;
  const int fd = g_write_fd;
  if (fd >= 0) {
    const char byte = number == SIGTERM ? 't' : 'i';
    [[maybe_unused]] const ssize_t ignored = write(fd, &byte, 1);
  }
  errno = saved_errno;
}

}  // namespace

InterruptGuard::InterruptGuard(CancellationToken& token) : token_(token) {
  int fds[2];
  if (pipe(fds) != 0) return;  // no pipe: the signals keep their default effect
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  fcntl(read_fd_, F_SETFD, FD_CLOEXEC);
  fcntl(write_fd_, F_SETFD, FD_CLOEXEC);
  watcher_ = std::thread([this] {
    char byte = 0;
    for (;;) {
      const ssize_t n = read(read_fd_, &byte, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || byte == 'q') return;
      int expected = 0;
      signal_.compare_exchange_strong(expected, byte == 't' ? SIGTERM : SIGINT);
      token_.cancel();
    }
  });
  g_write_fd = write_fd_;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESETHAND: the second Ctrl-C (or SIGTERM) gets the default action and ends the process
  // at once.
  action.sa_flags = static_cast<int>(SA_RESTART | SA_RESETHAND);
  installed_int_ = sigaction(SIGINT, &action, &g_previous_int) == 0;
  installed_term_ = sigaction(SIGTERM, &action, &g_previous_term) == 0;
}

InterruptGuard::~InterruptGuard() {
  if (installed_int_) sigaction(SIGINT, &g_previous_int, nullptr);
  if (installed_term_) sigaction(SIGTERM, &g_previous_term, nullptr);
  g_write_fd = -1;
  if (watcher_.joinable()) {
    const char quit = 'q';
    while (write(write_fd_, &quit, 1) < 0 && errno == EINTR) {
    }
    watcher_.join();
  }
  if (read_fd_ >= 0) close(read_fd_);
  if (write_fd_ >= 0) close(write_fd_);
}

}  // namespace runbase::cli
