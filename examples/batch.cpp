// Many images at once: generate_batch creates and polls every run within the key's rate limit
// (20 requests per 10 s, creates and polls together), keeps the input order, and never lets one
// failed item fail the others.
//
//   export RUNBASE_API_KEY=sk-...   # each run costs $0.05
//   ./batch "A red fox" "A blue lamp" "A paper crane"
//
// RUNBASE_BASE_URL points it at another server, such as a local runbase-emulator.
#include <runbase/runbase.hpp>

#include <chrono>
#include <iostream>
#include <vector>

int main(int argc, char** argv) {
  std::vector<runbase::GptImage1Input> inputs;
  for (int i = 1; i < argc; ++i) {
    runbase::GptImage1Input input;
    input.prompt = argv[i];
    inputs.push_back(input);
  }
  if (inputs.empty()) {
    for (const char* prompt : {"A red fox in the snow", "A blue ceramic lamp", "A paper crane"}) {
      runbase::GptImage1Input input;
      input.prompt = prompt;
      inputs.push_back(input);
    }
  }

  runbase::BatchOptions options;
  // The journal records each run as it is created. If this program dies (or is stopped) midway,
  // running it again with the same prompts waits on the runs on record instead of paying for
  // them twice.
  options.journal = "batch.journal";
  options.wait.timeout = std::chrono::minutes(5);  // for each run, from its creation
  options.on_progress = [](std::size_t done, std::size_t total) {
    std::cout << done << '/' << total << " done\n";  // called on this thread
  };

  try {
    runbase::Client client;  // RUNBASE_API_KEY, RUNBASE_BASE_URL
    const std::vector<runbase::BatchResult> results = client.generate_batch(inputs, options);

    // One result per input, in input order: a run, or the error generate() would have thrown.
    int failures = 0;
    for (std::size_t i = 0; i < results.size(); ++i) {
      try {
        if (!results[i].run) std::rethrow_exception(results[i].error);
        for (const auto& path : client.download_outputs(*results[i].run, ".")) {
          std::cout << "Saved " << path.string() << '\n';
        }
      } catch (const runbase::Error& e) {
        // RunFailedError (refunded), TimeoutError (still running: e.run_id()), an ApiError...
        // error_handling.cpp shows how to tell them apart.
        std::cerr << "Prompt " << i + 1 << ": " << e.what() << '\n';
        ++failures;
      }
    }
    return failures == 0 ? 0 : 1;
  } catch (const runbase::Error& e) {
    // Only the batch as a whole throws here: no API key, a journal that cannot be written.
    std::cerr << e.what() << '\n';
    return 2;
  }
}
