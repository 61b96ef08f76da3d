#include "async_retry.hpp"

#include <algorithm>

#include "exchange_log.hpp"
#include "runbase/errors.hpp"

namespace runbase::detail {

using std::chrono::milliseconds;

struct AsyncRetryLoop::Call {
  std::uint64_t id = 0;
  HttpRequest request;
  RequestKind kind = RequestKind::Read;
  std::optional<Clock::time_point> deadline;
  Done done;
  std::string target;  // "GET /runs/<id>", for messages
  int attempt = 0;
  std::optional<RateLimiter::Permit> permit;
  Clock::time_point started{};
  std::optional<LoopHttp::TransferId> transfer;  // while a transfer runs
  bool counted_waiting = false;                  // counted in the budget's waiting creates

  RateLimiter::Priority priority() const noexcept {
    return kind == RequestKind::Create ? RateLimiter::Priority::Create
                                       : RateLimiter::Priority::Poll;
  }
};

AsyncRetryLoop::AsyncRetryLoop(EventLoop& loop, RequestExecutor::Config config)
    : loop_(loop), executor_(std::move(config)) {
  loop_.on_stop([this] { stop_all(); });
}

void AsyncRetryLoop::send(HttpRequest request, RequestKind kind,
                          std::optional<Clock::time_point> deadline, Done done) {
  auto call = std::make_shared<Call>();
  call->id = next_call_id_++;
  call->target = request_target(request, executor_.config().base_url);
  call->request = std::move(request);
  call->kind = kind;
  call->deadline = deadline;
  call->done = std::move(done);
  calls_.emplace(call->id, call);
  attempt(call);
}

void AsyncRetryLoop::attempt(const CallPtr& call) {
  if (stopping_) {
    finish(call, std::nullopt,
           std::make_exception_ptr(
               CancelledError("The Client was destroyed before " + call->target + " was sent.")));
    return;
  }
  if (call->deadline && loop_.clock().now() >= *call->deadline) {
    finish(call, std::nullopt,
           std::make_exception_ptr(
               TimeoutError("The deadline passed before " + call->target + " could be sent.")));
    return;
  }
  RateLimiter* limiter = executor_.config().limiter.get();
  if (limiter != nullptr && limiter->enabled()) {
    // In order: a call may not pass the ones already waiting for the budget.
    auto& queue = call->kind == RequestKind::Create ? waiting_creates_ : waiting_polls_;
    if (call->kind == RequestKind::Create) {
      limiter->add_waiting_create(1);
      call->counted_waiting = true;
    }
    queue.push_back(call);
    pump();
    return;
  }
  start_transfer(call);
}

void AsyncRetryLoop::pump() {
  if (stopping_) return;
  RateLimiter& limiter = *executor_.config().limiter;
  const Clock::time_point now = loop_.clock().now();
  for (auto* queue : {&waiting_creates_, &waiting_polls_}) {
    while (!queue->empty()) {
      CallPtr call = queue->front();
      if (calls_.count(call->id) == 0) {  // finished meanwhile (the loop stopping)
        queue->pop_front();
        continue;
      }
      Clock::time_point retry_at{};
      std::optional<RateLimiter::Permit> permit = limiter.try_acquire(call->priority(), retry_at);
      if (!permit) {
        if (call->deadline && retry_at > *call->deadline) {
          queue->pop_front();
          finish(call, std::nullopt, std::make_exception_ptr(limiter.deadline_error()));
          continue;
        }
        // The first in line cannot go yet, so none behind it may (creates first, in order).
        arm_pump(std::max(retry_at, now));
        return;
      }
      queue->pop_front();
      if (call->counted_waiting) {
        limiter.add_waiting_create(-1);
        call->counted_waiting = false;
      }
      call->permit = std::move(permit);
      start_transfer(call);
    }
  }
}

void AsyncRetryLoop::arm_pump(Clock::time_point at) {
  if (pump_at_ && *pump_at_ <= at) return;  // an earlier pump will arm the next one
  pump_at_ = at;
  loop_.at(at, [this, at] {
    if (pump_at_ != at) return;  // superseded by an earlier one
    pump_at_.reset();
    pump();
  });
}

void AsyncRetryLoop::start_transfer(const CallPtr& call) {
  const Clock::time_point started = loop_.clock().now();
  call->started = started;
  HttpRequest request = call->request;
  request.timeout = executor_.config().request_timeout;
  if (call->deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(*call->deadline - started);
    const milliseconds clipped = std::max(milliseconds(1), left);
    if (request.timeout.count() <= 0 || clipped < request.timeout) request.timeout = clipped;
  }
  call->transfer = loop_.http().start(
      std::move(request),
      [this, call](std::optional<HttpResponse> response, std::exception_ptr error) {
        on_transfer_done(call, std::move(response), std::move(error));
      });
}

void AsyncRetryLoop::on_transfer_done(const CallPtr& call, std::optional<HttpResponse> response,
                                      std::exception_ptr error) {
  call->transfer.reset();
  if (call->permit) {
    call->permit->finish();
    call->permit.reset();
  }
  const RetryDecision decision = executor_.assess(call->request, call->kind, call->attempt,
                                                  call->deadline, response, error, call->started);
  switch (decision.action) {
    case RetryDecision::Action::Return:
      finish(call, std::move(response), nullptr);
      break;
    case RetryDecision::Action::Throw:
      finish(call, std::nullopt, std::move(error));
      break;
    case RetryDecision::Action::RetryAt:
      ++call->attempt;
      loop_.at(decision.at, [this, call] {
        if (calls_.count(call->id) != 0) attempt(call);
      });
      break;
  }
  // The answer moved a slot from "in flight" to "answered at": a waiting call's time is exact
  // now, perhaps sooner than the timer armed for it.
  if (!waiting_creates_.empty() || !waiting_polls_.empty()) pump();
}

void AsyncRetryLoop::finish(const CallPtr& call, std::optional<HttpResponse> response,
                            std::exception_ptr error) {
  if (calls_.erase(call->id) == 0) return;
  if (call->counted_waiting && executor_.config().limiter) {
    executor_.config().limiter->add_waiting_create(-1);
    call->counted_waiting = false;
  }
  Done done = std::move(call->done);
  done(std::move(response), std::move(error));
}

void AsyncRetryLoop::stop_all() {
  stopping_ = true;
  std::vector<CallPtr> calls;
  calls.reserve(calls_.size());
  for (const auto& [id, call] : calls_) calls.push_back(call);
  for (const CallPtr& call : calls) {
    if (call->transfer) {
      // Cut off in flight: a create may have reached the server and made (and billed) a run.
      const bool create = call->kind == RequestKind::Create;
      std::string message = "The Client was destroyed while " + call->target + " was in flight.";
      if (create) {
        message +=
            " The run may have been created and billed: look for it (GET /runs) before creating "
            "it again.";
      }
      loop_.http().abort(*call->transfer,
                         std::make_exception_ptr(CancelledError(message, {}, create)));
    } else {
      finish(call, std::nullopt,
             std::make_exception_ptr(
                 CancelledError("The Client was destroyed before " + call->target + " was sent.")));
    }
  }
  waiting_creates_.clear();
  waiting_polls_.clear();
}

}  // namespace runbase::detail
