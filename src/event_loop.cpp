#include "event_loop.hpp"

#include <algorithm>

#include "cancellation_state.hpp"
#include "runbase/errors.hpp"

namespace runbase::detail {

namespace {

using std::chrono::milliseconds;

// The longest the loop waits on transfers before it looks at its timers again; a transfer that
// makes progress or ends, and any post, wake it sooner.
constexpr milliseconds kMaxTransferWait{1000};

}  // namespace

LoopHttp::~LoopHttp() = default;

EventLoop::EventLoop(std::shared_ptr<Clock> clock, std::unique_ptr<LoopHttp> http)
    : clock_(std::move(clock)), http_(std::move(http)) {}

EventLoop::~EventLoop() { stop(); }

bool EventLoop::in_loop_thread() const noexcept { return std::this_thread::get_id() == thread_id_; }

void EventLoop::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!finished_) {
      tasks_.push_back(std::move(task));
      if (!started_ && !stopping_.load()) {
        started_ = true;
        thread_ = std::thread([this] { run(); });
        thread_id_ = thread_.get_id();
      }
      task = nullptr;
    }
  }
  // After the shutdown ran the last tasks, a late one runs here and sees stopping().
  if (task) {
    task();
    return;
  }
  wake();
}

void EventLoop::at(time_point when, std::function<void()> fn) {
  if (stopping_.load()) return;
  timers_.push(Timer{when, next_timer_seq_++, std::move(fn)});
}

void EventLoop::on_stop(std::function<void()> fn) { stop_hooks_.push_back(std::move(fn)); }

void EventLoop::wake() noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (sleep_waker_) sleep_waker_->cancel();
  }
  http_->wakeup();
}

void EventLoop::stop() {
  bool started = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_.exchange(true)) return;  // stopped already (the destructor calls it again)
    started = started_;
    started_ = true;  // no thread may start from now on
  }
  wake();
  if (started) {
    thread_.join();  // the loop's thread runs shut_down() before it ends
  } else {
    shut_down();
  }
}

std::optional<EventLoop::time_point> EventLoop::run_ready() {
  for (;;) {
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks.swap(tasks_);
    }
    for (auto& task : tasks) {
      try {
        task();
      } catch (...) {
        // Tasks report their own failures; one that throws must not stop the loop.
      }
    }
    const time_point now = clock_->now();
    bool fired = false;
    while (!timers_.empty() && timers_.top().at <= now && !stopping_.load()) {
      // The heap gives only const access to its top; it is popped right after the move.
      std::function<void()> fn = std::move(const_cast<Timer&>(timers_.top()).fn);
      timers_.pop();
      fired = true;
      try {
        fn();
      } catch (...) {
      }
    }
    if (!fired && tasks.empty()) break;
  }
  if (timers_.empty()) return std::nullopt;
  return timers_.top().at;
}

void EventLoop::run() {
  for (;;) {
    const std::optional<time_point> next = run_ready();
    if (stopping_.load()) break;
    if (http_->active() > 0) {
      milliseconds timeout = kMaxTransferWait;
      if (next) {
        const auto left = std::chrono::ceil<milliseconds>(*next - clock_->now());
        timeout = std::clamp(left, milliseconds(0), kMaxTransferWait);
      }
      http_->wait(timeout);
      continue;
    }
    // Idle: sleep on the clock until the next timer, or until a post wakes the loop.
    auto waker = std::make_shared<CancellationToken>();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!tasks_.empty() || stopping_.load()) continue;
      sleep_waker_ = waker;
    }
    if (next) {
      clock_->sleep_until(*next, waker.get());
    } else {
      // No timer: nothing to sleep until (a fake clock must not jump), only a post ends this.
      CancellationState& state = *waker->state();
      std::unique_lock<std::mutex> lock(state.mutex);
      state.cv.wait(lock, [&] { return state.cancelled.load(); });
    }
    std::lock_guard<std::mutex> lock(mutex_);
    sleep_waker_.reset();
  }
  shut_down();
}

void EventLoop::shut_down() {
  for (auto& hook : stop_hooks_) {
    try {
      hook();
    } catch (...) {
    }
  }
  stop_hooks_.clear();
  http_->abort_all(std::make_exception_ptr(
      CancelledError("The Client was destroyed while the request was in flight.")));
  for (;;) {
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (tasks_.empty()) {
        finished_ = true;
        break;
      }
      tasks.swap(tasks_);
    }
    for (auto& task : tasks) {
      try {
        task();
      } catch (...) {
      }
    }
  }
  timers_ = {};
}

}  // namespace runbase::detail
