// generate without blocking: generate_async returns a std::future at once; the create and the
// polling run on the Client's own threads (two, however many runs are in flight), so the calling
// thread stays free, for a UI or other work.
//
//   export RUNBASE_API_KEY=sk-...   # each run costs $0.05
//   ./async "A red fox" "A blue lamp"
//
// RUNBASE_BASE_URL points it at another server, such as a local runbase-emulator.
#include <runbase/runbase.hpp>

#include <chrono>
#include <future>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> prompts(argv + 1, argv + argc);
  if (prompts.empty()) prompts = {"A red fox in the snow", "A blue ceramic lamp"};

  try {
    // The Client must outlive its futures: destroying it ends pending ones with CancelledError
    // (the runs themselves go on).
    runbase::Client client;  // RUNBASE_API_KEY, RUNBASE_BASE_URL

    std::mutex print_mutex;
    std::vector<std::future<runbase::Run>> futures;
    for (const std::string& prompt : prompts) {
      runbase::GptImage1Input input;
      input.prompt = prompt;
      runbase::WaitOptions wait;
      // Called on a Client thread: keep it short, and lock what it shares with other threads.
      wait.on_update = [&print_mutex](const runbase::Run& run) {
        std::lock_guard<std::mutex> lock(print_mutex);
        std::cout << run.id << ": " << runbase::to_string(run.status) << '\n';
      };
      futures.push_back(client.generate_async(std::move(input), std::move(wait)));
    }

    // Meanwhile this thread is free. Here it only checks in every second.
    int failures = 0;
    for (std::size_t i = 0; i < futures.size(); ++i) {
      while (futures[i].wait_for(std::chrono::seconds(1)) != std::future_status::ready) {
        std::lock_guard<std::mutex> lock(print_mutex);
        std::cout << "Still working on " << futures.size() - i << " image(s)...\n";
      }
      try {
        const runbase::Run run = futures[i].get();  // rethrows what generate() would have thrown
        for (const auto& path : client.download_outputs(run, ".")) {
          std::lock_guard<std::mutex> lock(print_mutex);
          std::cout << "Saved " << path.string() << '\n';
        }
      } catch (const runbase::Error& e) {
        std::lock_guard<std::mutex> lock(print_mutex);
        std::cerr << "\"" << prompts[i] << "\": " << e.what() << '\n';
        ++failures;
      }
    }
    return failures == 0 ? 0 : 1;
  } catch (const runbase::Error& e) {
    std::cerr << e.what() << '\n';  // no API key, a base URL that cannot be used
    return 2;
  }
}
