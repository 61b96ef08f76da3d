// LoopHttp for an HttpTransport that has only the blocking `send`: each request runs on one of a
// few threads, and its end is handed back to the loop.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "loop_http.hpp"

namespace runbase::detail {

namespace {

class PooledLoopHttp final : public LoopHttp {
 public:
  PooledLoopHttp(std::shared_ptr<HttpTransport> transport, std::size_t threads)
      : transport_(std::move(transport)), max_threads_(std::max<std::size_t>(1, threads)) {}

  ~PooledLoopHttp() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      for (auto& [id, transfer] : transfers_) transfer.job->cancel.cancel();
    }
    jobs_cv_.notify_all();
    // A transport that ignores HttpRequest::cancel is waited for here, as its contract allows.
    for (std::thread& thread : threads_) thread.join();
  }

  TransferId start(HttpRequest request, Done done) override {
    auto job = std::make_shared<Job>();
    job->id = next_id_++;
    job->request = std::move(request);
    job->request.cancel = &job->cancel;
    transfers_.emplace(job->id, Transfer{job, std::move(done)});
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(job);
      // A thread counts as idle until it has woken and taken its job, so compare the jobs waiting
      // with the idle threads: counting only "any idle thread" left a burst of jobs queued behind
      // one thread, and behind its stalled request.
      if (queue_.size() > idle_threads_ && threads_.size() < max_threads_) {
        threads_.emplace_back([this] { work(); });
      }
    }
    jobs_cv_.notify_one();
    return job->id;
  }

  void abort(TransferId id, std::exception_ptr error) override {
    const auto it = transfers_.find(id);
    if (it == transfers_.end()) return;
    Transfer transfer = std::move(it->second);
    transfers_.erase(it);
    transfer.job->cancel.cancel();  // a queued job is then skipped, a running one told to stop
    transfer.done(std::nullopt, std::move(error));
  }

  void abort_all(std::exception_ptr error) override {
    std::vector<TransferId> ids;
    ids.reserve(transfers_.size());
    for (const auto& [id, transfer] : transfers_) ids.push_back(id);
    for (TransferId id : ids) abort(id, error);
  }

  std::size_t active() const override { return transfers_.size(); }

  void wait(std::chrono::milliseconds timeout) override {
    std::vector<Completion> completions;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done_cv_.wait_for(lock, timeout, [&] { return !completions_.empty() || woken_; });
      woken_ = false;
      completions.swap(completions_);
    }
    for (Completion& completion : completions) {
      const auto it = transfers_.find(completion.id);
      if (it == transfers_.end()) continue;  // aborted meanwhile
      Done done = std::move(it->second.done);
      transfers_.erase(it);
      done(std::move(completion.response), std::move(completion.error));
    }
  }

  void wakeup() noexcept override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      woken_ = true;
    }
    done_cv_.notify_all();
  }

 private:
  struct Job {
    TransferId id = 0;
    HttpRequest request;
    CancellationToken cancel;
  };
  struct Transfer {
    std::shared_ptr<Job> job;
    Done done;
  };
  struct Completion {
    TransferId id = 0;
    std::optional<HttpResponse> response;
    std::exception_ptr error;
  };

  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      ++idle_threads_;
      jobs_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      --idle_threads_;
      if (stopping_) return;
      std::shared_ptr<Job> job = std::move(queue_.front());
      queue_.pop_front();
      if (job->cancel.cancelled()) continue;
      lock.unlock();
      Completion completion{job->id, std::nullopt, nullptr};
      try {
        completion.response = transport_->send(job->request);
      } catch (...) {
        completion.error = std::current_exception();
      }
      job.reset();
      lock.lock();
      completions_.push_back(std::move(completion));
      done_cv_.notify_all();
    }
  }

  const std::shared_ptr<HttpTransport> transport_;
  const std::size_t max_threads_;

  // Loop thread only.
  TransferId next_id_ = 1;
  std::unordered_map<TransferId, Transfer> transfers_;

  std::mutex mutex_;  // guards everything below
  std::condition_variable jobs_cv_;
  std::condition_variable done_cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<Completion> completions_;
  std::vector<std::thread> threads_;
  std::size_t idle_threads_ = 0;
  bool woken_ = false;
  bool stopping_ = false;
};

}  // namespace

std::unique_ptr<LoopHttp> make_pooled_loop_http(std::shared_ptr<HttpTransport> transport,
                                                std::size_t threads) {
  return std::make_unique<PooledLoopHttp>(std::move(transport), threads);
}

}  // namespace runbase::detail
