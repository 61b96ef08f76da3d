// A program written the way a user of the SDK writes one: it sees only the public headers and
// links runbase::runbase. tests/package builds it three ways (find_package on an installed prefix,
// add_subdirectory, FetchContent) plus once by hand with pkg-config, and runs it. In a shared
// build with hidden visibility, every check below crosses the library boundary: the exceptions
// are thrown inside the library and caught here by type, and HttpTransport is derived from here.
#include <runbase/runbase.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <utility>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::cerr << "FAILED: " << what << "\n";
    ++failures;
  }
}

// Canned replies: a 402 for every POST, a finished run for every GET. No sockets.
class CannedTransport final : public runbase::HttpTransport {
 public:
  runbase::HttpResponse send(const runbase::HttpRequest& request) override {
    ++requests;
    runbase::HttpResponse response;
    response.headers = {{"Content-Type", "application/json"}, {"X-Request-Id", "req_consumer"}};
    if (request.method == "POST") {
      response.status = 402;
      response.body =
          R"({"error":{"message":"Insufficient balance","code":"insufficient_balance"}})";
    } else {
      response.status = 200;
      response.body = R"({"id":"run_consumer","model":"openai/gpt-image-1","status":"succeeded",)"
                      R"("costUsd":50000,"output":{"urls":["https://cdn.example.com/a.png"]},)"
                      R"("createdAt":"2026-01-01T00:00:00Z","completedAt":"2026-01-01T00:00:09Z"})";
    }
    return response;
  }
  int requests = 0;
};

}  // namespace

int main() {
  std::cout << "runbase " << runbase::version() << " (headers " << RUNBASE_VERSION_STRING << ")\n";
  check(runbase::version() == RUNBASE_VERSION_STRING, "runbase::version() matches the headers");

  // Thrown in the library, caught here by its exact type, then by a base and checked with
  // dynamic_cast: all need the exported typeinfo.
  runbase::GptImage1Input input;
  try {
    input.validate();
    check(false, "validate() throws on an empty prompt");
  } catch (const runbase::ValidationError& e) {
    std::cout << "caught runbase::ValidationError: " << e.what() << "\n";
  }
  try {
    input.validate();
  } catch (const runbase::Error& e) {
    check(dynamic_cast<const runbase::ValidationError*>(&e) != nullptr,
          "dynamic_cast<const ValidationError*> of a caught runbase::Error");
    check(!e.outcome_unknown(), "a ValidationError's outcome is known");
  }
  input.prompt = "a lighthouse at dusk, oil painting";
  input.aspect_ratio = runbase::parse_aspect_ratio("3:2");
  check(input.aspect_ratio == runbase::AspectRatio::Landscape, "parse_aspect_ratio(\"3:2\")");
  input.validate();

  auto transport = std::make_shared<CannedTransport>();
  runbase::ClientOptions options;
  options.api_key = "sk-consumer-test";
  options.base_url = "http://127.0.0.1:9/api/v1";
  options.transport = transport;
  runbase::Client client(std::move(options));
  try {
    client.create_run(input);
    check(false, "create_run throws InsufficientCreditsError on a 402");
  } catch (const runbase::InsufficientCreditsError& e) {
    std::cout << "caught runbase::InsufficientCreditsError: " << e.what() << "\n";
    check(e.status() == 402 && e.code() == "insufficient_balance", "402 status and code");
    check(e.request_id() == "req_consumer", "request id from X-Request-Id");
  }
  const runbase::Run run = client.get_run("run_consumer");
  check(run.status == runbase::RunStatus::Succeeded && run.is_terminal(), "run succeeded");
  check(run.output_urls.size() == 1 && run.cost_usd_micros == 50000, "run fields parsed");
  try {
    client.get_run("");
    check(false, "get_run(\"\") throws ValidationError");
  } catch (const runbase::ValidationError&) {
  }
  check(transport->requests == 2, "two requests reached the consumer's transport");

  // The default libcurl transport is created and destroyed; nothing is sent.
  runbase::ClientOptions curl_options;
  curl_options.api_key = "sk-consumer-test";
  curl_options.base_url = "http://127.0.0.1:9/api/v1";
  { runbase::Client curl_client(std::move(curl_options)); }

  if (failures != 0) {
    std::cerr << failures << " check(s) failed\n";
    return 1;
  }
  std::cout << "consumer OK\n";
  return 0;
}
