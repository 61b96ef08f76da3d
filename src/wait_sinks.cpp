#include "wait_sinks.hpp"

#include <algorithm>
#include <utility>

namespace runbase::detail {

AsyncSink::AsyncSink(std::function<void(const Run&)> on_update)
    : on_update_(std::move(on_update)) {}

AsyncSink::AsyncSink(std::function<void(const Run&)> on_update, Completion done)
    : on_update_(std::move(on_update)), done_callback_(std::move(done)) {}

void AsyncSink::update(std::size_t, std::uint64_t seq, const Run& run) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_ || (seq != 0 && seq <= seq_)) return;  // stale: a newer status was reported
  seq_ = std::max(seq_, seq);
  if (!on_update_) return;
  try {
    on_update_(run);
  } catch (...) {
    // No caller to hand it to; the wait goes on.
  }
}

void AsyncSink::finish(std::size_t, std::optional<Run> run, std::exception_ptr error) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (done_) return;
  done_ = true;
  if (done_callback_) {
    Completion done = std::move(done_callback_);
    lock.unlock();
    try {
      done(std::move(run), std::move(error));
    } catch (...) {
      // No caller to hand it to.
    }
    return;
  }
  if (run) {
    promise_.set_value(std::move(*run));
  } else {
    promise_.set_exception(std::move(error));  // the future's reader holds the last reference
  }
}

BatchInbox::BatchInbox(const CancellationToken* cancel)
    : wake_(cancel != nullptr ? cancel->state() : std::make_shared<CancellationState>()) {}

void BatchInbox::update(std::size_t index, std::uint64_t seq, const Run& run) {
  push(Event{index, false, false, seq, run, nullptr});
}

void BatchInbox::finish(std::size_t index, std::optional<Run> run, std::exception_ptr error) {
  push(Event{index, false, true, 0, std::move(run), std::move(error)});
}

void BatchInbox::created(std::size_t index, std::optional<Run> run, std::exception_ptr error) {
  push(Event{index, true, false, 0, std::move(run), std::move(error)});
}

std::deque<BatchInbox::Event> BatchInbox::take(bool block, bool wake_on_cancel) {
  std::unique_lock<std::mutex> lock(wake_->mutex);
  if (block) {
    wake_->cv.wait(lock,
                   [&] { return !events_.empty() || (wake_on_cancel && wake_->cancelled.load()); });
  }
  std::deque<Event> events;
  events.swap(events_);
  return events;
}

void BatchInbox::push(Event event) {
  {
    std::lock_guard<std::mutex> lock(wake_->mutex);
    events_.push_back(std::move(event));
  }
  wake_->cv.notify_all();
}

}  // namespace runbase::detail
