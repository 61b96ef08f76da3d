#include "commands.hpp"

#include <CLI/CLI.hpp>
#include <runbase/runbase.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "batch_file.hpp"
#include "bounded_transport.hpp"
#include "exit_codes.hpp"
#include "interrupt.hpp"
#include "json_output.hpp"
#include "model_input.hpp"
#include "status_line.hpp"

namespace runbase::cli {

namespace {

namespace fs = std::filesystem;

constexpr double kDefaultTimeoutSeconds = 600;

// Downloads never send the API key (Client::download and download_outputs omit Authorization:
// outputs live on a CDN), but a Client cannot be built without one. `runbase download` therefore
// uses this placeholder, which can never reach any server, so that it works with no key set.
constexpr const char* kDownloadOnlyKey = "sk-download-only-placeholder-never-sent";

struct GlobalOptions {
  std::string base_url;
  std::string api_key;
  bool verbose = false;
  std::optional<RateLimit> rate_limit;  // --rate-limit; unset: the SDK's default (20/10)
  std::string ca_bundle;
  std::string proxy;
};

struct GenerateOptions {
  std::string prompt;
  std::string model = kDefaultModel;
  std::optional<std::string> aspect_ratio;
  std::optional<std::string> quality;
  std::optional<std::string> resolution;
  std::vector<std::string> image_urls;
  std::string out = ".";
  bool no_wait = false;
  double timeout = kDefaultTimeoutSeconds;
  bool json = false;
};

struct GetOptions {
  std::string run_id;
  double timeout = kDefaultTimeoutSeconds;
  bool json = false;
};

struct WaitCommandOptions {
  std::string run_id;
  std::string out = ".";
  double timeout = kDefaultTimeoutSeconds;
  bool json = false;
};

struct BatchCommandOptions {
  std::string file;
  std::string model = kDefaultModel;
  std::optional<std::string> quality;
  std::optional<std::string> resolution;
  bool dry_run = false;
  std::string out = ".";
  std::string journal;
  bool recreate_unknown = false;
  int concurrency = 0;
  double timeout = kDefaultTimeoutSeconds;
  bool json = false;
};

struct DownloadOptions {
  std::vector<std::string> urls;
  std::string out = ".";
  bool json = false;
};

std::string trimmed(std::string text) {
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!text.empty() && space(static_cast<unsigned char>(text.back()))) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && space(static_cast<unsigned char>(text[start]))) ++start;
  return text.substr(start);
}

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::chrono::milliseconds to_duration(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

using Deadline = std::optional<std::chrono::steady_clock::time_point>;

// The end of a command given `--timeout SECONDS` from now; 0: none.
Deadline deadline_after(double seconds) {
  if (!(seconds > 0)) return std::nullopt;
  return std::chrono::steady_clock::now() + to_duration(seconds);
}

// --rate-limit: "N/SECONDS" (SECONDS may have a fraction), or "0" for none. nullopt: not valid.
std::optional<RateLimit> parse_rate_limit(const std::string& text) {
  if (text == "0") return RateLimit{0, std::chrono::milliseconds(0)};
  const std::size_t slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= text.size()) return std::nullopt;
  const std::string count = text.substr(0, slash);
  const std::string seconds = text.substr(slash + 1);
  if (count.find_first_not_of("0123456789") != std::string::npos || count.size() > 6 ||
      seconds.find_first_not_of("0123456789.") != std::string::npos) {
    return std::nullopt;
  }
  char* end = nullptr;
  const double window = std::strtod(seconds.c_str(), &end);
  if (end != seconds.c_str() + seconds.size() || !(window > 0) || window > 86400) {
    return std::nullopt;
  }
  const int requests = std::stoi(count);
  if (requests <= 0) return std::nullopt;
  return RateLimit{requests, to_duration(window)};
}

// 50000 micro-USD -> "$0.05"; 1234567 -> "$1.234567".
std::string dollars(std::int64_t micros) {
  const bool negative = micros < 0;
  const std::int64_t magnitude = negative ? -micros : micros;
  std::string fraction = std::to_string(magnitude % 1000000);
  fraction.insert(0, 6 - fraction.size(), '0');
  while (fraction.size() > 2 && fraction.back() == '0') fraction.pop_back();
  return std::string(negative ? "-$" : "$") + std::to_string(magnitude / 1000000) + "." + fraction;
}

// The file name `runbase download` gives a URL: its last path segment made safe, else
// "download-<n>"; a name already used by this command gets "-<n>" before its extension.
fs::path download_name(const std::string& url, std::size_t index, std::set<std::string>& used) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  const std::size_t scheme = path.find("://");
  if (scheme != std::string::npos) {
    const std::size_t slash = path.find('/', scheme + 3);
    path = slash == std::string::npos ? std::string() : path.substr(slash);
  }
  std::string name =
      path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  for (char& c : name) {
    const bool safe =
        std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
    if (!safe) c = '_';
  }
  if (name.empty() || name.find_first_not_of('.') == std::string::npos) {
    name = "download-" + std::to_string(index);
  }
  if (!used.insert(name).second) {
    const std::size_t dot = name.rfind('.');
    const std::string stem = dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
    const std::string extension = dot == std::string::npos || dot == 0 ? "" : name.substr(dot);
    name = stem + "-" + std::to_string(index) + extension;
    used.insert(name);
  }
  return fs::path(name);
}

// One command's surroundings: the console, the status line, the Client's options, and what stops
// the command: SIGINT and SIGTERM (for the whole command, downloads included) and its deadline.
class Session {
 public:
  Session(Console& console, GlobalOptions global)
      : console_(console),
        global_(std::move(global)),
        status_(console.err, console.err_is_terminal),
        interrupt_(stop_) {}

  std::ostream& out() { return console_.out; }
  StatusLine& status() { return status_; }
  // Cancelled by the first SIGINT or SIGTERM.
  const CancellationToken& stop_token() const { return stop_; }
  // For a call that must end at SIGINT or SIGTERM, a retry's pause included (the transport of a
  // bounded client only cuts transfers).
  CallOptions stop_call() const {
    CallOptions call;
    call.cancel = &stop_;
    return call;
  }
  bool interrupted() const { return interrupt_.interrupted(); }
  // The exit status for an interruption: 130 after SIGINT, 143 after SIGTERM.
  ExitCode interrupted_code() const {
    return interrupt_.signal() == SIGTERM ? ExitCode::Terminated : ExitCode::Interrupted;
  }

  // Throws ValidationError (no key, bad base URL): callers classify it like any other failure.
  // With `deadline`, every request obeys it and the stop token (see BoundedTransport); without,
  // the SDK's own wait deadline and cancellation apply (a create is never cut short from here).
  Client make_client(Deadline deadline = std::nullopt) {
    ClientOptions options = base_options();
    if (deadline) bound(options, deadline);
    options.api_key = global_.api_key;
    if (trimmed(options.api_key.empty() ? environment("RUNBASE_API_KEY") : options.api_key)
            .empty()) {
      throw MissingApiKeyError(
          "No API key: pass --api-key or set RUNBASE_API_KEY (create a key at runbase.net, "
          "Settings -> API Keys).");
    }
    return Client(std::move(options));
  }

  // For commands that only download: see kDownloadOnlyKey. The base URL is fixed too, so an
  // unusable RUNBASE_BASE_URL cannot fail a command that never calls the API.
  // Its downloads stop at `deadline` and on SIGINT or SIGTERM, removing their partial file.
  Client make_download_client(Deadline deadline = std::nullopt) {
    ClientOptions options = base_options();
    options.api_key = kDownloadOnlyKey;
    options.base_url = "https://runbase.net/api/v1";
    bound(options, deadline);
    return Client(std::move(options));
  }

  // The wait options every waiting command uses: the deadline, Ctrl-C, and the status line.
  WaitOptions wait_options(double timeout_seconds, std::string& run_id) {
    WaitOptions options;
    options.timeout = to_duration(timeout_seconds);
    options.cancel = &stop_;
    // On a terminal the line keeps the way so far ("pending -> processing"); plain mode prints
    // one line per change anyway.
    auto trail = std::make_shared<std::string>();
    options.on_update = [this, &run_id, trail](const Run& run) {
      if (run_id.empty()) run_id = run.id;
      const std::string status =
          run.status_text.empty() ? std::string(to_string(run.status)) : run.status_text;
      *trail = trail->empty() || !status_.live() ? status : *trail + " -> " + status;
      status_.set(run.id + ": " + *trail);
    };
    return options;
  }

  // Reports `error` on stderr (and stdout with --json) and returns the exit status.
  int fail(const std::exception_ptr& error, Phase phase, const std::string& run_id, bool json) {
    status_.finish(true);
    Failure failure = describe_failure(error, phase, run_id);
    if (failure.code == ExitCode::Interrupted) failure.code = interrupted_code();
    report(failure);
    if (json) console_.out << failure_json(failure, error) << '\n' << std::flush;
    return to_int(failure.code);
  }

  void report(const Failure& failure) {
    status_.print("error: " + failure.message);
    if (!failure.hint.empty()) status_.print("hint: " + failure.hint);
  }

  // Writes `text` (results: one or more whole lines) to stdout and flushes. Throws OutputError
  // when stdout cannot take it (a closed pipe, a full disk); `lost` (a sentence) says what the
  // user did not see.
  void emit(const std::string& text, const std::string& lost) {
    errno = 0;
    console_.out << text << std::flush;
    if (console_.out) return;
    const int error = errno;
    throw OutputError("Could not write to stdout" +
                      (error != 0 ? " (" + std::string(std::strerror(error)) + ")" : "") + ". " +
                      lost);
  }

 private:
  void bound(ClientOptions& options, Deadline deadline) {
    options.transport =
        std::make_shared<BoundedTransport>(make_curl_transport(options), stop_, deadline);
  }

  ClientOptions base_options() {
    ClientOptions options;
    options.base_url = global_.base_url;
    options.user_agent_suffix = "runbase-cli/" + std::string(version());
    if (global_.rate_limit) options.rate_limit = *global_.rate_limit;
    options.ca_bundle = global_.ca_bundle;
    options.proxy = global_.proxy;
    const bool verbose = global_.verbose;
    options.logger = [this, verbose](LogLevel level, std::string_view line) {
      // Warnings (retries, unknown statuses) always; the HTTP exchange with --verbose. The SDK
      // has redacted the key and any sk-... token already.
      if (level == LogLevel::Warning) {
        status_.print("warning: " + std::string(line));
      } else if (verbose) {
        status_.print(std::string(level == LogLevel::Debug ? "debug: " : "info: ") +
                      std::string(line));
      }
    };
    return options;
  }

  Console& console_;
  GlobalOptions global_;
  StatusLine status_;
  CancellationToken stop_;
  InterruptGuard interrupt_;
};

std::string run_text(const Run& run) {
  std::ostringstream out;
  out << "id:        " << run.id << '\n';
  out << "model:     " << run.model << '\n';
  out << "status:    " << (run.status_text.empty() ? to_string(run.status) : run.status_text)
      << '\n';
  out << "cost:      " << dollars(run.cost_usd_micros) << '\n';
  if (!run.created_at.empty()) out << "created:   " << run.created_at << '\n';
  if (!run.completed_at.empty()) out << "completed: " << run.completed_at << '\n';
  for (std::size_t i = 0; i < run.output_urls.size(); ++i) {
    out << (i == 0 ? "output:    " : "           ") << run.output_urls[i] << '\n';
  }
  if (run.error) {
    out << "error:     " << run.error->message;
    if (!run.error->code.empty()) out << " [" << run.error->code << ']';
    out << '\n';
  }
  return out.str();
}

// Prints what `generate` and `wait` saved. If stdout cannot take it, the error names the files,
// which are saved all the same.
void print_files(Session& session, const Run& run, const std::vector<fs::path>& files, bool json) {
  std::string text;
  std::string names;
  for (const auto& file : files) names += (names.empty() ? "" : ", ") + file.string();
  if (json) {
    text = run_json(run, files) + '\n';
  } else {
    for (const auto& file : files) text += file.string() + '\n';
  }
  session.emit(text, "Run " + run.id + " succeeded and its images were saved" +
                         (names.empty() ? std::string() : " as " + names) +
                         ", but not listed there.");
}

int generate(Session& session, const GenerateOptions& options) {
  std::string run_id;
  Phase phase = Phase::Other;
  try {
    InputFields fields;
    fields.model = options.model;
    fields.prompt = options.prompt;
    fields.aspect_ratio = options.aspect_ratio;
    fields.quality = options.quality;
    fields.resolution = options.resolution;
    fields.image_urls = options.image_urls;
    const ModelInput input = make_model_input(fields, FieldNaming::Flag);
    Client client = session.make_client();

    if (options.no_wait) {
      phase = Phase::Create;
      const Run run = client.create_run(input);
      session.emit(
          (options.json ? run_json(run) : run.id) + '\n',
          "Run " + run.id + " was created (and is billed), but its id was not printed there.");
      if (!options.json) {
        session.status().print("Created run " + run.id + " (" + dollars(run.cost_usd_micros) +
                               "); `runbase wait " + run.id +
                               " --out DIR` waits for it and saves the images.");
      }
      return to_int(ExitCode::Ok);
    }

    // --timeout bounds the whole command: the create, the wait and the downloads.
    const Deadline deadline = deadline_after(options.timeout);
    WaitOptions wait = session.wait_options(options.timeout, run_id);
    // generate() reports the created run through on_update first: from then on the run exists.
    auto on_update = wait.on_update;
    wait.on_update = [&phase, on_update](const Run& update) {
      phase = Phase::Wait;
      on_update(update);
    };
    phase = Phase::Create;
    if (session.status().live()) session.status().set("creating run");
    const Run run = client.generate(input, wait);
    session.status().finish(true);
    phase = Phase::Download;
    print_files(session, run,
                session.make_download_client(deadline).download_outputs(run, options.out,
                                                                        session.stop_call()),
                options.json);
    return to_int(ExitCode::Ok);
  } catch (...) {
    return session.fail(std::current_exception(), phase, run_id, options.json);
  }
}

int get(Session& session, const GetOptions& options) {
  try {
    // The one request (and its retries) ends at --timeout, or at Ctrl-C.
    Client client = session.make_client(deadline_after(options.timeout));
    // The SDK knows the deadline too, so a Retry-After pause past it is not waited out.
    CallOptions call = session.stop_call();
    call.timeout = to_duration(options.timeout);
    const Run run = client.get_run(options.run_id, call);
    session.emit(options.json ? run_json(run) + '\n' : run_text(run),
                 "Run " + run.id + " was not shown.");
    return to_int(ExitCode::Ok);
  } catch (...) {
    return session.fail(std::current_exception(), Phase::Get, options.run_id, options.json);
  }
}

int wait(Session& session, const WaitCommandOptions& options) {
  std::string run_id = options.run_id;
  Phase phase = Phase::Wait;
  try {
    Client client = session.make_client();
    // --timeout bounds the whole command: the wait and the downloads.
    const Deadline deadline = deadline_after(options.timeout);
    const Run run = client.wait(options.run_id, session.wait_options(options.timeout, run_id));
    session.status().finish(true);
    phase = Phase::Download;
    print_files(session, run,
                session.make_download_client(deadline).download_outputs(run, options.out,
                                                                        session.stop_call()),
                options.json);
    return to_int(ExitCode::Ok);
  } catch (...) {
    return session.fail(std::current_exception(), phase, run_id, options.json);
  }
}

int download(Session& session, const DownloadOptions& options) {
  int status = to_int(ExitCode::Ok);
  std::optional<Client> client;
  try {
    client.emplace(session.make_download_client());
    std::error_code error;
    fs::create_directories(options.out, error);
    if (error) {
      throw Error("Could not create the directory " + options.out + ": " + error.message() + ".");
    }
  } catch (...) {
    return session.fail(std::current_exception(), Phase::Download, {}, options.json);
  }
  std::set<std::string> used;
  for (std::size_t index = 0; index < options.urls.size(); ++index) {
    const std::string& url = options.urls[index];
    const fs::path file = fs::path(options.out) / download_name(url, index, used);
    try {
      client->download(url, file, session.stop_call());
    } catch (...) {
      // Keep going: one dead link should not cost the others. The first failure decides the
      // exit status. SIGINT or SIGTERM stops here: the partial file is gone already.
      Failure failure = describe_failure(std::current_exception(), Phase::Download, {});
      if (failure.code == ExitCode::Interrupted) failure.code = session.interrupted_code();
      failure.message = url + ": " + failure.message;
      session.report(failure);
      if (options.json) session.out() << download_failure_json(url, failure) << '\n' << std::flush;
      if (status == to_int(ExitCode::Ok)) status = to_int(failure.code);
      if (session.interrupted()) return to_int(session.interrupted_code());
      continue;
    }
    try {
      session.emit((options.json ? download_json(url, file) : file.string()) + '\n',
                   url + " was saved as " + file.string() + ", but not listed there.");
    } catch (...) {
      return session.fail(std::current_exception(), Phase::Other, {}, false);
    }
  }
  return status;
}

// "[########------------] 4/10 done, 1 failed, ~6 s left"
std::string batch_progress(std::size_t done, std::size_t total, std::size_t failed,
                           std::chrono::steady_clock::duration elapsed) {
  constexpr std::size_t kWidth = 20;
  const std::size_t filled = total == 0 ? kWidth : done * kWidth / total;
  std::string text = "[" + std::string(filled, '#') + std::string(kWidth - filled, '-') + "] " +
                     std::to_string(done) + "/" + std::to_string(total) + " done";
  if (failed > 0) text += ", " + std::to_string(failed) + " failed";
  if (done > 0 && done < total) {
    const auto per_item = elapsed / static_cast<long>(done);
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(
        per_item * static_cast<long>(total - done));
    text += ", ~" + std::to_string(left.count() + 1) + " s left";
  }
  return text;
}

// `batch --dry-run`: each line's model and price, and the total, from the models' published
// prices. Sends nothing and needs no key.
int batch_dry_run(Session& session, const BatchFile& file, bool json) {
  try {
    std::vector<PriceEstimate> estimates;
    std::int64_t total = 0;
    std::size_t unpriced = 0;
    std::string text;
    for (const BatchItem& item : file.items) {
      const std::optional<std::int64_t> cost = estimate_cost_usd_micros(item.input);
      estimates.push_back(PriceEstimate{item.line, item.input.model(), cost});
      if (cost) {
        total += *cost;
      } else {
        ++unpriced;
      }
      text += "line " + std::to_string(item.line) + ": " + item.input.model() + " " +
              (cost ? dollars(*cost) : std::string("unknown")) + '\n';
    }
    const std::size_t count = file.items.size();
    text +=
        "total: " + dollars(total) + " for " + std::to_string(count - unpriced) + " of " +
        std::to_string(count) + " line" + (count == 1 ? "" : "s") +
        (unpriced == 0 ? std::string()
                       : " (" + std::to_string(unpriced) + " of a model without a known price)") +
        '\n';
    session.emit(json ? dry_run_json(estimates, total, unpriced) + '\n' : text,
                 "The dry run's prices were not shown.");
    session.status().print("dry run: every line is valid; nothing was sent.");
    return to_int(ExitCode::Ok);
  } catch (...) {
    return session.fail(std::current_exception(), Phase::Other, {}, json);
  }
}

int batch(Session& session, const BatchCommandOptions& options) {
  // Every line is read and validated first: a typo on line 90 must not surface after 89 paid runs.
  BatchFile file;
  try {
    // The flags first: --quality for a model without one is a usage error, not one per line.
    InputFields flags;
    flags.model = options.model;
    flags.prompt = "(the flags)";
    flags.quality = options.quality;
    flags.resolution = options.resolution;
    make_model_input(flags, FieldNaming::Flag);
    const BatchDefaults defaults{options.model, options.quality, options.resolution};
    if (options.file == "-") {
      file = read_batch_file(std::cin, defaults);
    } else {
      std::ifstream in(options.file);
      if (!in) throw Error("Cannot read the batch file " + options.file + ".");
      file = read_batch_file(in, defaults);
    }
    if (file.errors.empty() && file.items.empty()) {
      throw ValidationError("The batch file " + options.file +
                            " has no prompts: write one per line, or one JSON object per line "
                            "with prompt (and model, aspect_ratio, quality, resolution, "
                            "image_urls).");
    }
  } catch (...) {
    return session.fail(std::current_exception(), Phase::Other, {}, options.json);
  }
  if (!file.errors.empty()) {
    constexpr std::size_t kShown = 20;
    std::string message = std::to_string(file.errors.size()) + " line" +
                          (file.errors.size() == 1 ? " is" : "s are") + " invalid in " +
                          options.file + ": ";
    for (std::size_t i = 0; i < file.errors.size() && i < kShown; ++i) {
      message += (i == 0 ? "" : "; ") + file.errors[i];
    }
    if (file.errors.size() > kShown) message += "; ...";
    return session.fail(std::make_exception_ptr(ValidationError(message)), Phase::Other, {},
                        options.json);
  }
  if (options.dry_run) return batch_dry_run(session, file, options.json);

  std::optional<Client> client;
  std::optional<Client> downloader;  // stops on SIGINT or SIGTERM, removing its partial file
  try {
    client.emplace(session.make_client());
    downloader.emplace(session.make_download_client());
  } catch (...) {
    return session.fail(std::current_exception(), Phase::Other, {}, options.json);
  }
  std::vector<ModelInput> inputs;
  inputs.reserve(file.items.size());
  for (const BatchItem& item : file.items) inputs.push_back(item.input);
  const std::size_t total = inputs.size();

  BatchOptions batch_options;
  batch_options.max_in_flight = options.concurrency;
  batch_options.journal = options.journal;
  batch_options.recreate_unknown = options.recreate_unknown;
  batch_options.wait.timeout = to_duration(options.timeout);
  batch_options.wait.cancel = &session.stop_token();
  // The SDK reports runs and progress on this thread: count successes to show failures.
  std::set<std::string> succeeded;
  const auto started = std::chrono::steady_clock::now();
  const bool live = session.status().live();
  batch_options.wait.on_update = [&succeeded, &session, live](const Run& run) {
    if (run.status == RunStatus::Succeeded) succeeded.insert(run.id);
    // Plain mode (logs, CI): one line per run status, so every run id is on record.
    if (!live) {
      session.status().print(
          run.id + ": " +
          (run.status_text.empty() ? std::string(to_string(run.status)) : run.status_text));
    }
  };
  batch_options.on_progress = [&](std::size_t done, std::size_t all) {
    const std::size_t failed = done - std::min(done, succeeded.size());
    session.status().set(
        batch_progress(done, all, failed, std::chrono::steady_clock::now() - started));
  };

  std::vector<BatchResult> results;
  try {
    session.status().set(batch_progress(0, total, 0, {}));
    results = client->generate_batch(inputs, batch_options);
  } catch (...) {
    // Only the batch as a whole throws: a journal that cannot be read or written.
    return session.fail(std::current_exception(), Phase::Other, {}, options.json);
  }
  session.status().finish(true);

  int status = to_int(ExitCode::Ok);
  std::size_t saved = 0;
  std::vector<std::string> left_running;
  std::vector<std::string> not_saved;  // succeeded runs whose download was interrupted
  std::size_t not_started = 0;
  std::set<std::string> hints_given;
  const auto note_failure = [&](Failure failure, std::size_t line, const std::exception_ptr& error,
                                Phase phase) {
    if (failure.code == ExitCode::Interrupted) failure.code = session.interrupted_code();
    if (status == to_int(ExitCode::Ok)) status = to_int(failure.code);
    if (options.json) {
      session.out() << with_line(failure_json(failure, error), line) << '\n' << std::flush;
    }
    if (failure.code == session.interrupted_code()) {
      // Summed up below rather than one message per line.
      if (phase == Phase::Download) {
        not_saved.push_back(failure.run_id);
      } else if (failure.run_id.empty()) {
        ++not_started;
      } else {
        left_running.push_back(failure.run_id);
      }
      return;
    }
    session.status().print("error: line " + std::to_string(line) + ": " + failure.message);
    if (!failure.hint.empty() && hints_given.insert(failure.hint).second) {
      session.status().print("hint: " + failure.hint);
    }
  };
  for (std::size_t index = 0; index < total; ++index) {
    const std::size_t line = file.items[index].line;
    BatchResult& result = results[index];
    if (!result.run) {
      note_failure(describe_failure(result.error, Phase::Batch, {}), line, result.error,
                   Phase::Batch);
      continue;
    }
    try {
      const std::vector<fs::path> files =
          downloader->download_outputs(*result.run, options.out, session.stop_call());
      ++saved;
      std::string text;
      if (options.json) {
        text = with_line(run_json(*result.run, files), line) + '\n';
      } else {
        for (const auto& path : files) text += path.string() + '\n';
      }
      session.emit(text, "Line " + std::to_string(line) + " (run " + result.run->id +
                             ") was saved, but not listed there; later lines were not saved.");
    } catch (const OutputError&) {
      // stdout is gone: nothing more can be printed there, the rest is said on stderr.
      return session.fail(std::current_exception(), Phase::Other, result.run->id, false);
    } catch (...) {
      const std::exception_ptr error = std::current_exception();
      note_failure(describe_failure(error, Phase::Download, result.run->id), line, error,
                   Phase::Download);
    }
  }
  session.status().print("batch: " + std::to_string(saved) + " of " + std::to_string(total) +
                         " saved in " + session.status().elapsed_text() + ".");
  if (session.interrupted()) {
    status = to_int(session.interrupted_code());
    const auto listed = [](const std::vector<std::string>& ids) {
      std::string text;
      for (std::size_t i = 0; i < ids.size(); ++i) text += (i == 0 ? " (" : ", ") + ids[i];
      return text + (ids.empty() ? "" : ")");
    };
    std::string message = "error: Interrupted: " + std::to_string(left_running.size()) + " run" +
                          (left_running.size() == 1 ? "" : "s") + " left running" +
                          listed(left_running) + ", ";
    if (!not_saved.empty()) {
      message += std::to_string(not_saved.size()) + " succeeded run" +
                 (not_saved.size() == 1 ? "" : "s") + " not saved" + listed(not_saved) + ", ";
    }
    message +=
        std::to_string(not_started) + " line" + (not_started == 1 ? "" : "s") + " not started.";
    session.status().print(message);
    session.status().print(
        options.journal.empty()
            ? std::string("hint: The runs go on and are billed: `runbase wait RUN_ID --out DIR` "
                          "picks each up. Pass --journal FILE to make a batch resumable.")
            : "hint: Run the same command again (same file, --journal " + options.journal +
                  ") to pick up the runs already created without paying for them twice.");
  }
  return status;
}

// --model, --quality and --resolution, for `generate` and `batch` (`whose`: which runs they set).
void add_model_options(CLI::App& command, std::string& model, std::optional<std::string>& quality,
                       std::optional<std::string>& resolution, const std::string& whose = "") {
  command
      .add_option("--model", model,
                  "The model" + whose +
                      ": an id, or gpt-image-1, gpt-image-1.5 or gpt-image-2. Other models' "
                      "inputs are sent as given, for the service to check")
      ->capture_default_str();
  command.add_option("--quality", quality,
                     "GPT Image 1.5 (or a model without a schema here): medium or high (GPT Image "
                     "1.5's price: $0.03, $0.16)");
  command.add_option("--resolution", resolution,
                     "GPT Image 2 (or a model without a schema here): 1K, 2K or 4K (GPT Image 2's "
                     "price: $0.05, $0.07, $0.12)");
}

}  // namespace

int run_cli(int argc, const char* const* argv, Console& console) {
  CLI::App app{
      "runbase: generate images with the Runbase API (GPT Image 1, 1.5 and 2, or any model "
      "id).\n"
      "Results go to stdout; progress and errors to stderr. Exit codes: docs/CLI.md.",
      "runbase"};
  app.set_version_flag("--version", "runbase " + std::string(version()));
  app.require_subcommand(1);
  // Global flags are accepted after the subcommand too: `runbase get ID --verbose`.
  app.fallthrough();

  GlobalOptions global;
  app.add_option("--base-url", global.base_url,
                 "API base URL (default: $RUNBASE_BASE_URL, else https://runbase.net/api/v1)");
  app.add_option("--api-key", global.api_key, "API key sk-... (default: $RUNBASE_API_KEY)");
  app.add_flag("-v,--verbose", global.verbose,
               "Show each HTTP exchange on stderr (the key is redacted)");
  std::string rate_limit_text;
  app.add_option("--rate-limit", rate_limit_text,
                 "Most API requests per window, as N/SECONDS (default 20/10, the service's "
                 "limit per key; 0: no client-side limit). Lower it when other programs share "
                 "the key")
      ->check(
          [](const std::string& text) {
            return parse_rate_limit(text)
                       ? std::string()
                       : "--rate-limit must be N/SECONDS, e.g. 20/10 or 5/2.5, or 0 for none";
          },
          "N/SECONDS");
  app.add_option("--ca-bundle", global.ca_bundle,
                 "Extra trusted CA certificates (PEM file), e.g. for a TLS-inspecting proxy")
      ->check(CLI::ExistingFile);
  app.add_option("--proxy", global.proxy,
                 "HTTP(S) proxy, e.g. http://proxy:3128 (default: the usual *_proxy variables)");

  GenerateOptions generate_options;
  CLI::App* generate_command =
      app.add_subcommand("generate", "Create a run, wait for it and save its images");
  generate_command
      ->add_option("prompt", generate_options.prompt,
                   "What to draw (GPT Image 1: 1-4000 characters)")
      ->required();
  add_model_options(*generate_command, generate_options.model, generate_options.quality,
                    generate_options.resolution);
  generate_command->add_option("--aspect-ratio", generate_options.aspect_ratio,
                               "GPT Image 1 and 1.5: 1:1 (default), 3:2 or 2:3; GPT Image 2: "
                               "also 3:4, 4:3, 4:5, 5:4, 9:16, 16:9, 21:9");
  generate_command
      ->add_option("--image-url", generate_options.image_urls,
                   "A reference image (public http(s) URL); repeat for up to 5 (GPT Image 1.5 "
                   "and 2: 4)")
      ->allow_extra_args(false);
  generate_command->add_option("--out", generate_options.out, "Directory for the images")
      ->capture_default_str();
  generate_command->add_flag("--no-wait", generate_options.no_wait,
                             "Only create the run and print its id");
  generate_command
      ->add_option("--timeout", generate_options.timeout,
                   "Seconds for the whole command at most, downloads included (0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  generate_command->add_flag("--json", generate_options.json,
                             "Print one JSON object per result on stdout");

  GetOptions get_options;
  CLI::App* get_command = app.add_subcommand("get", "Show a run's status and outputs");
  get_command->add_option("run_id", get_options.run_id, "The run id (run_...)")->required();
  get_command
      ->add_option("--timeout", get_options.timeout,
                   "Seconds to try at most, retries included (0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  get_command->add_flag("--json", get_options.json, "Print the run as a JSON object");

  WaitCommandOptions wait_options;
  CLI::App* wait_command =
      app.add_subcommand("wait", "Wait for an existing run and save its images");
  wait_command->add_option("run_id", wait_options.run_id, "The run id (run_...)")->required();
  wait_command->add_option("--out", wait_options.out, "Directory for the images")
      ->capture_default_str();
  wait_command
      ->add_option("--timeout", wait_options.timeout,
                   "Seconds for the whole command at most, downloads included (0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  wait_command->add_flag("--json", wait_options.json, "Print the run as a JSON object");

  DownloadOptions download_options;
  CLI::App* download_command =
      app.add_subcommand("download", "Save files from output URLs (no API key needed)");
  download_command->add_option("url", download_options.urls, "Output URLs")->required();
  download_command->add_option("--out", download_options.out, "Directory for the files")
      ->capture_default_str();
  download_command->add_flag("--json", download_options.json, "Print one JSON object per URL");

  BatchCommandOptions batch_options;
  CLI::App* batch_command = app.add_subcommand(
      "batch", "Generate many images: one prompt, or one JSON object, per line of FILE");
  batch_command
      ->add_option("file", batch_options.file,
                   "One prompt per line, or JSON lines like {\"model\": \"gpt-image-2\", "
                   "\"prompt\": \"...\", \"aspect_ratio\": \"16:9\", \"resolution\": \"2K\"}; - "
                   "reads stdin")
      ->required();
  add_model_options(*batch_command, batch_options.model, batch_options.quality,
                    batch_options.resolution, " of the lines that name no model");
  batch_command->add_flag("--dry-run", batch_options.dry_run,
                          "Check every line and print each line's model and price, and the "
                          "total; send nothing (no key needed)");
  batch_command->add_option("--out", batch_options.out, "Directory for the images")
      ->capture_default_str();
  batch_command->add_option(
      "--journal", batch_options.journal,
      "Record each run created in this file; running the batch again with it resumes "
      "those runs instead of paying for them twice");
  batch_command->add_flag(
      "--recreate-unknown", batch_options.recreate_unknown,
      "With --journal: create again the lines whose create was sent but never answered (a run "
      "may exist for them, and would be billed twice)");
  batch_command
      ->add_option("--concurrency", batch_options.concurrency,
                   "Runs in flight at once (0: as many as the rate limit allows)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  batch_command
      ->add_option("--timeout", batch_options.timeout,
                   "Seconds to wait for each run at most (0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  batch_command->add_flag("--json", batch_options.json,
                          "Print one JSON object per line of FILE, with \"line\"");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0.
    const int code = app.exit(e, console.out, console.err);
    return code == 0 ? to_int(ExitCode::Ok) : to_int(ExitCode::Usage);
  }

  if (!rate_limit_text.empty()) global.rate_limit = parse_rate_limit(rate_limit_text);
  try {
    Session session(console, global);
    int status = to_int(ExitCode::Other);
    if (generate_command->parsed()) status = generate(session, generate_options);
    if (get_command->parsed()) status = get(session, get_options);
    if (wait_command->parsed()) status = wait(session, wait_options);
    if (download_command->parsed()) status = download(session, download_options);
    if (batch_command->parsed()) status = batch(session, batch_options);
    // The commands check their own writes; this catches any other that went nowhere.
    if (status == to_int(ExitCode::Ok) && !(console.out << std::flush)) {
      console.err << "error: Could not write the results to stdout.\n" << std::flush;
      return to_int(ExitCode::Other);
    }
    return status;
  } catch (const std::exception& e) {
    console.err << "error: " << e.what() << std::endl;
  }
  return to_int(ExitCode::Other);
}

}  // namespace runbase::cli
