// A custom HttpTransport: a decorator over the SDK's own libcurl transport that counts and logs
// every request, then forwards it. The same shape works for metrics, tracing or recording
// traffic in tests.
//
//   export RUNBASE_API_KEY=sk-...
//   ./custom_transport "A paper crane on a desk"
//
// RUNBASE_BASE_URL points it at another server, such as a local runbase-emulator.
#include <runbase/runbase.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <utility>

namespace {

// Thread safety: a Client calls its transport from many threads at once, so the counter is atomic
// and the log line is written under a lock.
class CountingTransport final : public runbase::HttpTransport {
 public:
  explicit CountingTransport(std::shared_ptr<runbase::HttpTransport> inner)
      : inner_(std::move(inner)) {}

  runbase::HttpResponse send(const runbase::HttpRequest& request) override {
    return timed(request, [&] { return inner_->send(request); });
  }

  // Downloads come here: forward them too, so they keep streaming to disk.
  runbase::HttpResponse send_to_file(const runbase::HttpRequest& request,
                                     const std::filesystem::path& file) override {
    return timed(request, [&] { return inner_->send_to_file(request, file); });
  }

  int requests() const noexcept { return requests_.load(); }

 private:
  template <typename Send>
  runbase::HttpResponse timed(const runbase::HttpRequest& request, Send send) {
    const int number = ++requests_;
    const auto start = std::chrono::steady_clock::now();
    const auto elapsed_ms = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - start)
          .count();
    };
    try {
      runbase::HttpResponse response = send();
      log(number, request, std::to_string(response.status), elapsed_ms());
      return response;
    } catch (...) {
      log(number, request, "failed", elapsed_ms());
      throw;  // the Client decides about retries: never retry here
    }
  }

  void log(int number, const runbase::HttpRequest& request, const std::string& outcome,
           long long ms) {
    // Method and URL only: request.headers holds "Authorization: Bearer sk-...", never log it.
    std::lock_guard<std::mutex> lock(mutex_);
    std::cerr << "[http #" << number << "] " << request.method << ' ' << request.url << " -> "
              << outcome << " (" << ms << " ms)\n";
  }

  std::shared_ptr<runbase::HttpTransport> inner_;
  std::atomic<int> requests_{0};
  std::mutex mutex_;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    runbase::ClientOptions options;  // empty api_key/base_url: taken from the environment
    // make_curl_transport builds the transport the Client would use by default, with the same
    // timeouts, CA bundle and proxy settings; we wrap it.
    auto counting = std::make_shared<CountingTransport>(runbase::make_curl_transport(options));
    options.transport = counting;
    runbase::Client client(options);

    runbase::GptImage1Input input;
    input.prompt = argc > 1 ? argv[1] : "A paper crane on a desk";
    const runbase::Run run = client.generate(input);
    for (const auto& path : client.download_outputs(run, ".")) {
      std::cout << "Saved " << path.string() << '\n';
    }
    std::cout << counting->requests() << " HTTP requests\n";
    return 0;
  } catch (const runbase::Error& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
}
