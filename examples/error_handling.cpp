// Handling each kind of failure the way a program should. Every SDK error derives from
// runbase::Error; catch the specific classes first.
//
//   export RUNBASE_API_KEY=sk-...
//   ./error_handling "A watercolor fox"
//
// The one decision the SDK leaves to you: a create whose outcome is unknown. Runbase bills a run
// when it is created and has no idempotency keys, so the SDK never sends a create twice by
// itself. When create_run throws with outcome_unknown(), a run may exist and be billed: resending
// blindly may pay for two. Here we stop and tell the user; a service might record the attempt
// and check by other means first.
//
// Exit status: 0 done, 1 fix something and run again, 2 try again later, 3 outcome unknown.
#include <runbase/runbase.hpp>

#include <chrono>
#include <iostream>

namespace {

constexpr int kFixAndRetry = 1;
constexpr int kTryLater = 2;
constexpr int kOutcomeUnknown = 3;

}  // namespace

int main(int argc, char** argv) {
  runbase::GptImage1Input input;
  input.prompt = argc > 1 ? argv[1] : "A watercolor fox in a snowy forest";

  try {
    runbase::Client client;  // ValidationError when RUNBASE_API_KEY is missing

    runbase::Run run;
    try {
      run = client.create_run(input);
    } catch (const runbase::Error& e) {
      if (e.outcome_unknown()) {
        // A timeout, a dropped connection or a 5xx after the request was sent.
        std::cerr << "The create may have reached Runbase: a run may exist and be billed. "
                     "Check before retrying. ("
                  << e.what() << ")\n";
        return kOutcomeUnknown;
      }
      throw;  // the server surely did not create a run: handled below like any other error
    }
    std::cout << "Created " << run.id << '\n';

    runbase::WaitOptions wait;
    wait.timeout = std::chrono::minutes(2);  // the whole wait, retries included
    run = client.wait(run.id, wait);
    for (const auto& path : client.download_outputs(run, ".")) {
      std::cout << "Saved " << path.string() << '\n';
    }
    return 0;

    // Fix something, then run again: retrying as is would fail the same way.
  } catch (const runbase::ValidationError& e) {
    // Found before anything was sent: no key, an empty prompt, six image URLs...
    std::cerr << "Invalid input or configuration: " << e.what() << '\n';
    return kFixAndRetry;
  } catch (const runbase::BadRequestError& e) {
    // 400: the service refused the input; code() says how (invalid_input, model_not_found...).
    std::cerr << "Rejected (" << e.code() << "): " << e.what() << '\n';
    return kFixAndRetry;
  } catch (const runbase::AuthenticationError& e) {
    std::cerr << "Check RUNBASE_API_KEY: " << e.what() << '\n';  // 401
    return kFixAndRetry;
  } catch (const runbase::PermissionDeniedError& e) {
    std::cerr << "The key may not do this: " << e.what() << '\n';  // 403: spend limit, IP list
    return kFixAndRetry;
  } catch (const runbase::InsufficientCreditsError& e) {
    std::cerr << "Top up the balance: " << e.what() << '\n';  // 402, nothing was billed
    return kFixAndRetry;
  } catch (const runbase::NotFoundError& e) {
    std::cerr << "No such run for this key: " << e.what() << '\n';  // 404
    return kFixAndRetry;
  } catch (const runbase::UsageExceededError& e) {
    std::cerr << "The key's quota is spent: " << e.what() << '\n';  // 429, never retried
    return kFixAndRetry;
  } catch (const runbase::RunFailedError& e) {
    // The run ended "failed" and was refunded. The reason is in run().error.
    const runbase::Run& failed = e.run();
    std::cerr << "Run " << failed.id << " failed ("
              << (failed.error ? failed.error->message : std::string("no reason given"))
              << "); it was refunded.\n";
    return kFixAndRetry;

    // Try again later: the SDK already retried what it safely could.
  } catch (const runbase::RateLimitError& e) {
    // 429 RATE_LIMITED after the retries ran out; retry_after() is the server's hint.
    std::cerr << "Rate limited";
    if (e.retry_after()) std::cerr << " (retry in " << e.retry_after()->count() << " ms)";
    std::cerr << ": " << e.what() << '\n';
    return kTryLater;
  } catch (const runbase::TimeoutError& e) {
    if (!e.run_id().empty()) {
      // The wait's deadline passed: the run goes on (and is billed). Wait on it again later.
      std::cerr << "Still running: call Client::wait(\"" << e.run_id() << "\") later.\n";
    } else {
      std::cerr << "A request timed out: " << e.what() << '\n';
    }
    return kTryLater;
  } catch (const runbase::ServerError& e) {
    // 5xx on a GET or a download (a create's 5xx was handled above: outcome unknown).
    std::cerr << "Runbase failed; quote request id " << e.request_id() << ": " << e.what() << '\n';
    return kTryLater;
  } catch (const runbase::ConnectionError& e) {
    std::cerr << "Network problem: " << e.what() << '\n';
    return kTryLater;
  } catch (const runbase::ProtocolError& e) {
    std::cerr << "Unreadable reply (is RUNBASE_BASE_URL right?): " << e.what() << '\n';
    return kTryLater;
  } catch (const runbase::ApiError& e) {
    // Any other HTTP status.
    std::cerr << "HTTP " << e.status() << ": " << e.what() << '\n';
    return kTryLater;
  } catch (const runbase::Error& e) {
    // The rest (a CancelledError if you pass a CancellationToken, a local file error...).
    std::cerr << e.what() << '\n';
    return kTryLater;
  }
}
