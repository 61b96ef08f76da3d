/* The Runbase quickstart (https://runbase.net/docs/quickstart) in C++. The curl version is:

     curl -X POST https://runbase.net/api/v1/runs \
       -H "Authorization: Bearer $RUNBASE_API_KEY" -H "Content-Type: application/json" \
       -d '{"model": "openai/gpt-image-1", "input": {"prompt": "...", "aspect_ratio": "1:1"}}'
     curl https://runbase.net/api/v1/runs/RUN_ID -H "Authorization: Bearer $RUNBASE_API_KEY"
     # ...again until "status" is "succeeded", then open output.urls[0]
*/
// Here: create the run, poll it, print the image URL, then download the image.
//
//   export RUNBASE_API_KEY=sk-...   # Settings -> API Keys on runbase.net; one run costs $0.05
//   ./quickstart "A cozy bookshop interior with warm lighting, watercolor style"
//
// RUNBASE_BASE_URL points it at another server, such as a local runbase-emulator.
#include <runbase/runbase.hpp>

#include <iostream>

int main(int argc, char** argv) {
  try {
    // Reads RUNBASE_API_KEY and RUNBASE_BASE_URL from the environment.
    runbase::Client client;

    runbase::GptImage1Input input;
    input.prompt =
        argc > 1 ? argv[1] : "A cozy bookshop interior with warm lighting, watercolor style";
    input.aspect_ratio = runbase::AspectRatio::Square;

    // POST /runs: the run is created, and billed, at once. It starts "pending".
    runbase::Run run = client.create_run(input);
    std::cout << "Created " << run.id << " (" << run.cost_usd_micros << " micro-USD)\n";

    // GET /runs/<id> until the run is done: wait() polls (1 s, backing off to 5 s) within one
    // deadline (10 min by default), and on_update shows each status change.
    runbase::WaitOptions wait;
    wait.on_update = [](const runbase::Run& update) {
      std::cout << "Status: " << runbase::to_string(update.status) << '\n';
    };
    run = client.wait(run.id, wait);
    for (const std::string& url : run.output_urls) std::cout << "Image: " << url << '\n';

    // The URLs are public CDN links: download_outputs saves each as <run id>-<n>.<ext> here
    // (the API key is never sent to the CDN).
    for (const auto& path : client.download_outputs(run, ".")) {
      std::cout << "Saved " << path.string() << '\n';
    }
    return 0;
  } catch (const runbase::Error& e) {
    // Every SDK error is a runbase::Error whose what() says what happened and what to do.
    // error_handling.cpp tells the classes apart.
    std::cerr << e.what() << '\n';
    return 1;
  }
}
