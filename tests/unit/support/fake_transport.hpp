#ifndef RUNBASE_TESTS_UNIT_SUPPORT_FAKE_TRANSPORT_HPP
#define RUNBASE_TESTS_UNIT_SUPPORT_FAKE_TRANSPORT_HPP

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runbase/errors.hpp"
#include "runbase/transport.hpp"
#include "unit/support/fake_clock.hpp"

namespace runbase::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

inline bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

/// One request as the transport received it.
struct RecordedRequest {
  HttpRequest request;
  /// Fake time (since FakeClock::start()) when `send` was entered, and when it returned or threw.
  std::chrono::milliseconds sent_at{0};
  std::chrono::milliseconds finished_at{0};

  /// The first header of that name, compared case-insensitively.
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [key, value] : request.headers) {
      if (iequal(key, name)) return value;
    }
    return std::nullopt;
  }
  std::size_t header_count(std::string_view name) const {
    std::size_t count = 0;
    for (const auto& header : request.headers) count += iequal(header.first, name) ? 1u : 0u;
    return count;
  }
};

/// An `HttpTransport` that plays a script of replies in order and records every request.
///
/// Each scripted step returns a response or throws (ConnectionError, TimeoutError, ...). When the
/// script runs out, the `always` step answers, if set; otherwise the request fails the test. With
/// a FakeClock, each request takes `latency` of fake time (a request whose timeout is shorter
/// times out instead, consuming its step), and a scripted timeout takes the request's whole
/// (clipped) timeout, as a real one would.
///
/// Thread safety: safe from many threads (one mutex; steps run outside it).
class FakeTransport final : public HttpTransport {
 public:
  using Step = std::function<HttpResponse(const HttpRequest&)>;

  explicit FakeTransport(std::shared_ptr<FakeClock> clock = nullptr) : clock_(std::move(clock)) {}

  /// Scripts a response.
  FakeTransport& reply(int status, std::string body = {}, Headers headers = {}) {
    HttpResponse response{status, std::move(headers), std::move(body)};
    return then([response](const HttpRequest&) { return response; });
  }
  /// Scripts a ConnectionError.
  FakeTransport& fail_connection(bool outcome_unknown) {
    return then([outcome_unknown](const HttpRequest&) -> HttpResponse {
      throw ConnectionError(outcome_unknown ? "Connection reset after the request was sent"
                                            : "Could not connect to the server",
                            outcome_unknown);
    });
  }
  /// Scripts a TimeoutError; with a clock, the request first uses up its whole timeout.
  FakeTransport& fail_timeout(bool outcome_unknown) {
    std::shared_ptr<FakeClock> clock = clock_;
    return then([outcome_unknown, clock](const HttpRequest& request) -> HttpResponse {
      if (clock && request.timeout.count() > 0) clock->advance(request.timeout);
      throw TimeoutError("The request timed out", outcome_unknown);
    });
  }
  /// Scripts any step.
  FakeTransport& then(Step step) {
    std::lock_guard<std::mutex> lock(mutex_);
    script_.push_back(std::move(step));
    return *this;
  }
  /// Scripts the same response `times` times.
  FakeTransport& reply_times(std::size_t times, int status, std::string body = {},
                             Headers headers = {}) {
    for (std::size_t i = 0; i < times; ++i) reply(status, body, headers);
    return *this;
  }
  /// The step used once the script is exhausted.
  FakeTransport& always(Step step) {
    std::lock_guard<std::mutex> lock(mutex_);
    always_ = std::move(step);
    return *this;
  }
  FakeTransport& always_reply(int status, std::string body = {}, Headers headers = {}) {
    HttpResponse response{status, std::move(headers), std::move(body)};
    return always([response](const HttpRequest&) { return response; });
  }
  /// Fake time each request takes before its step runs (needs a clock).
  FakeTransport& latency(std::chrono::milliseconds value) {
    std::lock_guard<std::mutex> lock(mutex_);
    latency_ = value;
    return *this;
  }

  HttpResponse send(const HttpRequest& request) override {
    Step step;
    std::size_t index = 0;
    std::chrono::milliseconds latency{0};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      index = requests_.size();
      RecordedRequest recorded;
      recorded.request = request;
      recorded.sent_at = clock_ ? clock_->elapsed() : std::chrono::milliseconds(0);
      requests_.push_back(std::move(recorded));
      if (!script_.empty()) {
        step = std::move(script_.front());
        script_.pop_front();
      } else {
        step = always_;
      }
      latency = latency_;
    }
    if (!step) {
      throw std::logic_error("FakeTransport: no reply scripted for request #" +
                             std::to_string(index) + " " + request.method + " " + request.url);
    }
    const auto stamp = [&] {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_[index].finished_at = clock_ ? clock_->elapsed() : std::chrono::milliseconds(0);
    };
    try {
      if (clock_ && latency.count() > 0) {
        // A reply slower than the request's timeout never arrives: the request times out.
        if (request.timeout.count() > 0 && latency > request.timeout) {
          clock_->advance(request.timeout);
          throw TimeoutError("The request timed out (fake latency over the timeout)", true);
        }
        clock_->advance(latency);
      }
      HttpResponse response = step(request);
      stamp();
      return response;
    } catch (...) {
      stamp();
      throw;
    }
  }

  std::vector<RecordedRequest> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  RecordedRequest request(std::size_t index) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_.at(index);
  }
  RecordedRequest last() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (requests_.empty()) throw std::logic_error("FakeTransport: no request was sent");
    return requests_.back();
  }
  std::size_t count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_.size();
  }
  /// Scripted steps not used yet.
  std::size_t remaining() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return script_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<FakeClock> clock_;
  std::deque<Step> script_;
  Step always_;
  std::chrono::milliseconds latency_{0};
  std::vector<RecordedRequest> requests_;
};

/// A run as `GET /runs/<id>` returns it. `extra` is spliced in as more members, e.g.
/// R"("output":{"urls":["https://cdn/x.png"]})".
inline std::string run_json(std::string_view id, std::string_view status,
                            std::string_view extra = {}) {
  std::string json = R"({"id":")" + std::string(id) +
                     R"(","model":"openai/gpt-image-1","status":")" + std::string(status) +
                     R"(","costUsd":50000)";
  if (!extra.empty()) json += "," + std::string(extra);
  json += "}";
  return json;
}

/// The service's error envelope.
inline std::string error_json(std::string_view message, std::string_view code) {
  std::string json = R"({"error":{"message":")" + std::string(message) + "\"";
  if (!code.empty()) json += R"(,"code":")" + std::string(code) + "\"";
  json += "}}";
  return json;
}

}  // namespace runbase::test

#endif  // RUNBASE_TESTS_UNIT_SUPPORT_FAKE_TRANSPORT_HPP
