#ifndef RUNBASE_SRC_EVENT_LOOP_HPP
#define RUNBASE_SRC_EVENT_LOOP_HPP

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "clock.hpp"
#include "loop_http.hpp"
#include "runbase/cancellation.hpp"

namespace runbase::detail {

/// One thread per Client that runs every asynchronous request of it: tasks posted from any
/// thread, timers in a heap, and the HTTP transfers of `LoopHttp`, all on this one thread, so the
/// state they touch needs no lock of its own and a stalled reply holds up nothing else.
///
/// The thread starts with the first `post`; a Client used only synchronously never has it.
/// While transfers are in flight the loop waits on them (their timeouts are the transport's);
/// otherwise it sleeps on the Clock until the next timer, so a fake clock drives it in tests.
///
/// Thread safety: `post`, `stopping` and `stop` from any thread; the rest on the loop's thread.
class EventLoop {
 public:
  using time_point = Clock::time_point;

  EventLoop(std::shared_ptr<Clock> clock, std::unique_ptr<LoopHttp> http);
  /// Calls `stop()`.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Runs `task` on the loop's thread, in posting order. After `stop()` began, tasks still run
  /// (once, on the stopping thread or the loop's) with `stopping()` true: they must then end
  /// their work with an error instead of starting requests.
  void post(std::function<void()> task);
  /// Calls `fn` on the loop's thread at `when` (or soon after); never after `stop()` began.
  /// Timers are not cancelled: `fn` checks whether it still matters.
  void at(time_point when, std::function<void()> fn);
  /// Runs `fn` when `stop()` begins, on the loop's thread (or the stopping one), before the
  /// transfers are aborted: the owners of pending work end it there.
  void on_stop(std::function<void()> fn);
  /// Stops the loop: runs the `on_stop` hooks, aborts every transfer (each `done` gets
  /// `CancelledError`), runs the tasks still posted, drops the timers, joins the thread. Waits
  /// for no reply. Idempotent.
  void stop();
  bool stopping() const noexcept { return stopping_.load(); }

  Clock& clock() const noexcept { return *clock_; }
  LoopHttp& http() const noexcept { return *http_; }
  bool in_loop_thread() const noexcept;

 private:
  struct Timer {
    time_point at;
    std::uint64_t seq;  // ties keep the order they were set in
    std::function<void()> fn;
    bool operator>(const Timer& other) const {
      return at != other.at ? at > other.at : seq > other.seq;
    }
  };

  void run();
  /// Runs the posted tasks and the due timers; returns when the next timer is due, if any.
  std::optional<time_point> run_ready();
  void wake() noexcept;
  void shut_down();

  const std::shared_ptr<Clock> clock_;
  const std::unique_ptr<LoopHttp> http_;

  std::mutex mutex_;  // guards tasks_, started_, sleep_waker_
  std::deque<std::function<void()>> tasks_;
  bool started_ = false;
  bool finished_ = false;  // shut_down() ran: a late post runs its task at once
  std::shared_ptr<CancellationToken> sleep_waker_;  // cancelled to end an idle sleep early
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::thread::id thread_id_;

  // Loop thread only.
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::uint64_t next_timer_seq_ = 0;
  std::vector<std::function<void()>> stop_hooks_;
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_EVENT_LOOP_HPP
