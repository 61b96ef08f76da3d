// runbase-emulator: the command line around runbase::emulator::Emulator.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <CLI/CLI.hpp>

#include "emulator.hpp"

namespace {

const char* const footer =
    R"(Fault tokens (anywhere in input.prompt of POST /api/v1/runs; combine them freely):
  [fail]   the run ends "failed" with an error; its cost is refunded
  [slow]   the run takes ten times --latency-ms
  [never]  the run stays "processing" forever
  [500]    the create answers 500 {"error":{"message":"Internal server error"}}: no run, no charge
  [drop]   the create closes the connection without sending a byte: no run, no charge

Routes:
  POST /api/v1/runs, GET /api/v1/runs/<id>   the Runbase API (Authorization: Bearer sk-...)
  GET  /files/generated/<run id>.png         output images, no auth (like the CDN)
  GET  /_emulator/stats                      request, response and run counters as JSON, no auth

On start it prints one line to stdout, "runbase-emulator listening on http://HOST:PORT/api/v1".
SIGINT and SIGTERM stop it cleanly (the temporary data directory is removed).

Example:
  runbase-emulator --latency-ms 500 &
  curl -X POST http://127.0.0.1:8787/api/v1/runs -H "Authorization: Bearer sk-test" \
       -H "Content-Type: application/json" \
       -d '{"model":"openai/gpt-image-1","input":{"prompt":"A red fox","aspect_ratio":"3:2"}}')";

// "N/SECONDS" (SECONDS may have a fraction) or "0".
std::optional<std::pair<int, std::chrono::milliseconds>> parse_rate_limit(const std::string& text) {
  if (text == "0") {
    return std::make_pair(0, std::chrono::milliseconds(0));
  }
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) {
    return std::nullopt;
  }
  char* end = nullptr;
  const std::string count_text = text.substr(0, slash);
  const long count = std::strtol(count_text.c_str(), &end, 10);
  if (*end != '\0' || count < 0 || count > 1000000) {
    return std::nullopt;
  }
  const std::string seconds_text = text.substr(slash + 1);
  const double seconds = std::strtod(seconds_text.c_str(), &end);
  if (*end != '\0' || !(seconds > 0.0) || seconds > 86400.0) {
    return std::nullopt;
  }
  return std::make_pair(static_cast<int>(count),
                        std::chrono::milliseconds(std::llround(seconds * 1000.0)));
}

}  // namespace

int main(int argc, char** argv) {
  runbase::emulator::Config config;
  long long latency_ms = config.latency.count();
  std::string rate_limit = "20/10";
  double balance_usd = 10.0;
  std::string error_format = "string";
  std::uint64_t seed = 0;
  bool version = false;

  CLI::App app{
      "runbase-emulator: a local Runbase API (POST /api/v1/runs, GET /api/v1/runs/<id>) that "
      "keeps\n"
      "state, behaves like the documented service and fails on request.",
      "runbase-emulator"};
  app.add_option("--host", config.host, "Address to listen on")->capture_default_str()->take_last();
  app.add_option("--port", config.port, "Port to listen on; 0 picks a free one (printed on start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535))
      ->take_last();
  app.add_option("--latency-ms", latency_ms,
                 "Median time from create to succeeded/failed, jittered +/-25%; the run is pending "
                 "for the first tenth of it (at most 1 s), then processing")
      ->capture_default_str()
      ->check(CLI::Range(0LL, 86400000LL))
      ->take_last();
  app.add_option("--rate-limit", rate_limit,
                 "N/SECONDS: per-key sliding window shared by POST and GET (429 RATE_LIMITED with "
                 "Retry-After); 0 turns it off")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& value) {
            return parse_rate_limit(value) ? std::string()
                                           : std::string("expected N/SECONDS (e.g. 20/10) or 0");
          },
          "N/SECONDS", "rate limit"))
      ->take_last();
  app.add_option("--api-key", config.api_keys,
                 "An accepted API key (repeatable); without it any key that starts with sk- is "
                 "accepted");
  app.add_option("--balance-usd", balance_usd, "Each key's prepaid balance in USD")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9))
      ->take_last();
  double spend_limit_usd = 0.0;
  app.add_option("--spend-limit-usd", spend_limit_usd,
                 "Each key's lifetime spend limit in USD, net of refunds (403 "
                 "api_key_spend_limit_exceeded past it); 0: none")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9))
      ->take_last();
  app.add_option("--usage-quota", config.usage_quota,
                 "Runs each key may create (then 429 USAGE_EXCEEDED); 0: none")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000000))
      ->take_last();
  app.add_option("--allow-ip", config.allowed_ips,
                 "A client address allowed to call the API (repeatable; others get 403 "
                 "ip_not_allowed); without it any");
  app.add_option("--data-dir", config.data_dir,
                 "Where generated images are kept (default: a temporary folder, removed on exit)")
      ->take_last();
  app.add_option("--fault-rate", config.fault_rate,
                 "Share (0..1) of API requests answered at random with 500 or 429, half each; "
                 "such a create makes no run")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0))
      ->take_last();
  app.add_option("--error-format", error_format,
                 "A failed run's error: string (as the service) or object {message, code}")
      ->capture_default_str()
      ->check(CLI::IsMember({"string", "object"}))
      ->take_last();
  app.add_option("--seed", seed, "Seed for run ids, jitter and --fault-rate (default: random)")
      ->take_last();
  app.add_option("--threads", config.threads,
                 "Worker threads: connections served at once (each keep-alive connection holds "
                 "one while it is open; when all are taken, a new connection closes the one idle "
                 "for longest)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096))
      ->take_last();
  app.add_option("--max-runs", config.max_runs,
                 "Runs kept in memory: past it the oldest finished runs are forgotten (then 404 "
                 "run_not_found); unfinished runs are always kept")
      ->capture_default_str()
      ->check(CLI::Range(static_cast<std::size_t>(1), static_cast<std::size_t>(100000000)))
      ->take_last();
  app.add_option("--public-url", config.public_url,
                 "Base of the output URLs in run replies (e.g. https://emu.example.com) behind a "
                 "TLS front end; without it X-Forwarded-Proto/-Host, else the Host header")
      ->check(CLI::Validator(
          [](std::string& value) {
            const bool ok = (value.rfind("http://", 0) == 0 && value.size() > 7) ||
                            (value.rfind("https://", 0) == 0 && value.size() > 8);
            return ok ? std::string() : std::string("expected http://HOST[:PORT] or https://...");
          },
          "URL", "public URL"))
      ->take_last();
  app.add_flag("-v,--verbose", config.verbose, "Log every request to stderr");
  app.add_flag("--version", version, "Print the version and exit");
  app.footer(footer);
  CLI11_PARSE(app, argc, argv);

  if (version) {
    std::printf("runbase-emulator %s\n", RUNBASE_EMULATOR_VERSION);
    return 0;
  }
  const auto limit = parse_rate_limit(rate_limit);
  config.rate_limit_requests = limit->first;
  config.rate_limit_window = limit->second;
  config.latency = std::chrono::milliseconds(latency_ms);
  config.balance_micros = std::llround(balance_usd * 1e6);
  config.spend_limit_micros = std::llround(spend_limit_usd * 1e6);
  config.error_format = error_format == "object" ? runbase::emulator::ErrorFormat::Object
                                                 : runbase::emulator::ErrorFormat::String;
  if (app.count("--seed") > 0) {
    config.seed = seed;
  }

  // SIGINT and SIGTERM are taken by one thread with sigwait; every thread started from here on
  // inherits the blocked mask. SIGUSR1 wakes that thread when the server ends on its own.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    runbase::emulator::Emulator emulator(std::move(config));
    emulator.bind();
    std::printf("runbase-emulator listening on %s\n", emulator.base_url().c_str());
    std::fflush(stdout);

    std::atomic<bool> signalled{false};
    std::thread waiter([&] {
      int received = 0;
      sigwait(&signals, &received);
      if (received != SIGUSR1) {
        signalled = true;
        emulator.stop();
      }
    });
    const bool ok = emulator.run();
    if (!signalled) {
      pthread_kill(waiter.native_handle(), SIGUSR1);
    }
    waiter.join();
    if (!ok) {
      std::fprintf(stderr, "runbase-emulator: the server stopped with an error\n");
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "runbase-emulator: %s\n", e.what());
    return 1;
  }
}
