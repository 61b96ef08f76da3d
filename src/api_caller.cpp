#include "api_caller.hpp"

#include <cstddef>

#include "json_codec.hpp"
#include "price_table.hpp"
#include "runbase/errors.hpp"
#include "url.hpp"

namespace runbase::detail {

namespace {

constexpr std::size_t kMaxApiResponseBytes = std::size_t{16} * 1024 * 1024;

}  // namespace

ApiCaller::ApiCaller(Config config, SpendLedger& ledger)
    : api_key_(std::move(config.api_key)),
      base_url_(std::move(config.base_url)),
      user_agent_(std::move(config.user_agent)),
      retry_(config.retry),
      request_timeout_(config.request_timeout),
      rate_limit_(config.rate_limit),
      clock_(config.clock),
      unit_random_(config.unit_random),
      limiter_(std::make_shared<RateLimiter>(config.rate_limit, config.clock)),
      ledger_(&ledger),
      executor_({config.retry, config.request_timeout, std::move(config.logger),
                 std::move(config.transport), config.clock, limiter_, config.unit_random,
                 base_url_}) {}

std::vector<std::pair<std::string, std::string>> ApiCaller::api_headers(bool with_body) const {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Authorization", "Bearer " + api_key_},
      {"Accept", "application/json"},
      {"User-Agent", user_agent_}};
  if (with_body) headers.emplace_back("Content-Type", "application/json");
  return headers;
}

HttpRequest ApiCaller::create_request(const CreateRequest& request) const {
  HttpRequest http;
  http.method = "POST";
  http.url = base_url_ + "/runs";
  http.headers = api_headers(true);
  http.body = create_body(request);
  http.max_response_bytes = kMaxApiResponseBytes;
  return http;
}

Run ApiCaller::read_created(HttpResponse response, std::string_view model,
                            SpendLedger::Reservation& reservation) {
  Run run = parse_run(std::move(response.body), "POST /runs");
  // Settled before the log line, so a logger that reads spent_usd_micros sees this run.
  const std::int64_t counted = reservation.settle(run);
  log_created(run, model, counted);
  return run;
}

SpendLedger::Reservation ApiCaller::reserve(const CreateRequest& request) {
  return ledger_->reserve(list_price_usd_micros(request));
}

void ApiCaller::log_created(const Run& run, std::string_view model, std::int64_t counted) const {
  log(LogLevel::Info, "Created run " + run.id + " (" + std::string(model) + ", " +
                          std::to_string(run.cost_usd_micros) + " micro-USD).");
  if (run.cost_usd_micros <= 0 && counted > 0) {
    log(LogLevel::Warning, "The reply that created run " + run.id +
                               " gave no usable costUsd; spent_usd_micros and the spend limit "
                               "count it at " +
                               std::to_string(counted) + " micro-USD, what a run of " +
                               std::string(model) + " is expected to cost.");
  }
}

HttpRequest ApiCaller::get_request(std::string_view run_id) const {
  if (run_id.empty()) {
    throw ValidationError("run_id is empty: pass the id returned by create_run (\"run_...\").");
  }
  HttpRequest http;
  http.method = "GET";
  http.url = base_url_ + "/runs/" + percent_encode_segment(run_id);
  http.headers = api_headers(false);
  http.max_response_bytes = kMaxApiResponseBytes;
  return http;
}

Run ApiCaller::read_run(HttpResponse response, std::string_view run_id) {
  Run run = parse_run(std::move(response.body), "GET /runs/" + std::string(run_id));
  if (run.status == RunStatus::Unknown) note_unknown_status(run);
  ledger_->note_refund(run);
  return run;
}

Run ApiCaller::create(const CreateRequest& request, std::optional<Clock::time_point> deadline) {
  // Built first: a raw input that is not a JSON object is a ValidationError, not a spend refusal.
  HttpRequest http = create_request(request);
  SpendLedger::Reservation reservation = reserve(request);  // refuses before anything is sent
  HttpResponse response =
      executor_.execute(std::move(http), RequestKind::Create, deadline, nullptr);
  return read_created(std::move(response), request.model, reservation);
}

Run ApiCaller::get(std::string_view run_id, std::optional<Clock::time_point> deadline,
                   const CancellationToken* cancel) {
  HttpRequest http = get_request(run_id);
  HttpResponse response = executor_.execute(std::move(http), RequestKind::Read, deadline, cancel);
  return read_run(std::move(response), run_id);
}

void ApiCaller::note_unknown_status(const Run& run) {
  {
    std::lock_guard<std::mutex> lock(unknown_statuses_mutex_);
    if (!unknown_statuses_.insert(run.status_text).second) return;
  }
  log(LogLevel::Warning, "Run " + run.id + " has status \"" + run.status_text +
                             "\", unknown to this SDK version; treating it as not finished.");
}

}  // namespace runbase::detail
