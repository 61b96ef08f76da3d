// CPU the SDK spends per request, with the network taken out: JSON encode of a create, decode of
// a run, header description and redaction (what a logger sees), error mapping, and whole
// get_run / create_run calls through the Client over an in-memory transport that answers at once
// (so URL building, headers, the retry loop, classification and decoding are all counted).
//
//   build-bench/bench/runbase_bench_sdk_cpu
//
// Real clock, client-side rate limit off (its bookkeeping is measured separately), no logger
// unless the benchmark name says so.
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client_impl.hpp"
#include "clock.hpp"
#include "error_mapping.hpp"
#include "json_codec.hpp"
#include "rate_limiter.hpp"
#include "redact.hpp"
#include "runbase/runbase.hpp"

namespace {

using runbase::HttpRequest;
using runbase::HttpResponse;

const std::string kSucceededRun =
    R"({"id":"run_01J9Z8Q4X2V7","model":"openai/gpt-image-1","status":"succeeded",)"
    R"("costUsd":50000,"output":{"urls":["https://cdn.runbase.net/outputs/run_01J9Z8Q4X2V7/0.png"]},)"
    R"("createdAt":"2025-06-01T12:00:00.000Z","completedAt":"2025-06-01T12:00:41.512Z","error":null})";
const std::string kPendingRun =
    R"({"id":"run_01J9Z8Q4X2V7","model":"openai/gpt-image-1","status":"pending","costUsd":50000})";

runbase::GptImage1Input sample_input() {
  runbase::GptImage1Input input;
  input.prompt =
      "A lighthouse on a basalt cliff at dusk, long exposure, waves in motion blur, warm window "
      "light, 35 mm film grain";
  input.aspect_ratio = runbase::AspectRatio::Landscape;
  input.image_urls = {"https://example.com/reference/lighthouse.png"};
  return input;
}

HttpResponse json_response(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.headers = {{"Content-Type", "application/json"},
                      {"Content-Length", std::to_string(body.size())},
                      {"X-Request-Id", "req_5d1c7f3a9b"},
                      {"Date", "Sun, 01 Jun 2025 12:00:41 GMT"}};
  response.body = std::move(body);
  return response;
}

// Answers every request at once with the next canned response, in a loop.
class CannedTransport final : public runbase::HttpTransport {
 public:
  explicit CannedTransport(std::vector<HttpResponse> replies) : replies_(std::move(replies)) {}
  HttpResponse send(const HttpRequest& request) override {
    benchmark::DoNotOptimize(request.url.data());
    const HttpResponse& reply = replies_[next_++ % replies_.size()];
    return reply;
  }

 private:
  std::vector<HttpResponse> replies_;
  std::size_t next_ = 0;
};

runbase::Client make_client(std::vector<HttpResponse> replies, bool with_logger = false,
                            runbase::RetryPolicy retry = {}) {
  runbase::ClientOptions options;
  options.api_key = "sk-bench-0123456789abcdef";
  options.base_url = "https://runbase.net/api/v1";
  options.rate_limit.requests = 0;  // off: measured on its own below
  options.retry = retry;
  options.transport = std::make_shared<CannedTransport>(std::move(replies));
  if (with_logger) {
    options.logger = [](runbase::LogLevel, std::string_view line) {
      benchmark::DoNotOptimize(line.data());
    };
  }
  return runbase::detail::ClientAccess::make(std::move(options), runbase::detail::make_real_clock(),
                                             nullptr);
}

void BM_EncodeCreateRequest(benchmark::State& state) {
  const runbase::GptImage1Input input = sample_input();
  for (auto _ : state) {
    std::string body = runbase::detail::encode_create_request(input);
    benchmark::DoNotOptimize(body.data());
  }
}
BENCHMARK(BM_EncodeCreateRequest);

void BM_ValidateInput(benchmark::State& state) {
  const runbase::GptImage1Input input = sample_input();
  for (auto _ : state) input.validate();
}
BENCHMARK(BM_ValidateInput);

void BM_DecodeRun(benchmark::State& state) {
  for (auto _ : state) {
    runbase::Run run = runbase::detail::parse_run(kSucceededRun, "GET /runs/run_01J9Z8Q4X2V7");
    benchmark::DoNotOptimize(run.id.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kSucceededRun.size()));
}
BENCHMARK(BM_DecodeRun);

void BM_DescribeAndRedactHeaders(benchmark::State& state) {
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Authorization", "Bearer sk-bench-0123456789abcdef"},
      {"Accept", "application/json"},
      {"User-Agent", "runbase-cpp/0.1.0"}};
  const HttpResponse response = json_response(200, kSucceededRun);
  for (auto _ : state) {
    // The Debug line the retry loop builds per exchange when a logger is set.
    std::string line = "HTTP GET /api/v1/runs/run_01J9Z8Q4X2V7 -> 200 in 12 ms; request headers: " +
                       runbase::detail::describe_headers(headers) +
                       "; response headers: " + runbase::detail::describe_headers(response.headers);
    std::string redacted = runbase::detail::redact(line);
    benchmark::DoNotOptimize(redacted.data());
  }
}
BENCHMARK(BM_DescribeAndRedactHeaders);

void BM_MapHttpError429(benchmark::State& state) {
  HttpResponse response =
      json_response(429, R"({"error":{"message":"Rate limit exceeded","code":"RATE_LIMITED"}})");
  response.headers.emplace_back("Retry-After", "3");
  const auto now = std::chrono::system_clock::now();
  for (auto _ : state) {
    std::exception_ptr error =
        runbase::detail::make_http_error(response, "GET", "/api/v1/runs/run_1", now);
    benchmark::DoNotOptimize(error);
  }
}
BENCHMARK(BM_MapHttpError429);

void BM_RateLimiterAcquireRelease(benchmark::State& state) {
  // A budget that never runs out within the benchmark: the bookkeeping, never a wait.
  runbase::detail::RateLimiter limiter({1 << 30, std::chrono::milliseconds(1)},
                                       runbase::detail::make_real_clock());
  for (auto _ : state) {
    auto permit = limiter.acquire(std::nullopt, nullptr);
    permit.finish();
  }
}
BENCHMARK(BM_RateLimiterAcquireRelease);

void BM_ClientGetRun(benchmark::State& state) {
  runbase::Client client = make_client({json_response(200, kSucceededRun)});
  for (auto _ : state) {
    runbase::Run run = client.get_run("run_01J9Z8Q4X2V7");
    benchmark::DoNotOptimize(run.id.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClientGetRun);

void BM_ClientGetRunWithLogger(benchmark::State& state) {
  runbase::Client client = make_client({json_response(200, kSucceededRun)}, true);
  for (auto _ : state) {
    runbase::Run run = client.get_run("run_01J9Z8Q4X2V7");
    benchmark::DoNotOptimize(run.id.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClientGetRunWithLogger);

void BM_ClientCreateRun(benchmark::State& state) {
  runbase::Client client = make_client({json_response(200, kPendingRun)});
  const runbase::GptImage1Input input = sample_input();
  for (auto _ : state) {
    runbase::Run run = client.create_run(input);
    benchmark::DoNotOptimize(run.id.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClientCreateRun);

// One 503 then the run: the retry loop's error mapping, classification and back-off bookkeeping
// (back-off set to 0 so nothing sleeps). Counted per get_run, i.e. per two exchanges.
void BM_ClientGetRunAfterOne503(benchmark::State& state) {
  runbase::RetryPolicy retry;
  retry.max_retries = 1;
  retry.initial_backoff = std::chrono::milliseconds(0);
  retry.max_backoff = std::chrono::milliseconds(0);
  runbase::Client client =
      make_client({json_response(503, R"({"error":{"message":"Service unavailable"}})"),
                   json_response(200, kSucceededRun)},
                  false, retry);
  for (auto _ : state) {
    runbase::Run run = client.get_run("run_01J9Z8Q4X2V7");
    benchmark::DoNotOptimize(run.id.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClientGetRunAfterOne503);

}  // namespace

BENCHMARK_MAIN();
