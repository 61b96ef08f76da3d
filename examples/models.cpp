// One prompt through every image model the SDK types, plus one reached by id and JSON, as a
// single batch: each run is priced by its model and tier, and the images land side by side.
//
//   export RUNBASE_API_KEY=sk-...   # these four runs cost $0.05 + $0.16 + $0.07 + $0.04
//   ./models "A lighthouse on a cliff at dusk, oil painting"
//
// RUNBASE_BASE_URL points it at another server, such as a local runbase-emulator.
#include <runbase/runbase.hpp>

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  try {
    const std::string prompt = argc > 1 ? argv[1] : "A lighthouse on a cliff at dusk, oil painting";
    runbase::Client client;

    // GPT Image 1: three aspect ratios, one price.
    runbase::GptImage1Input v1;
    v1.prompt = prompt;
    v1.aspect_ratio = runbase::AspectRatio::Landscape;

    // GPT Image 1.5: about four times faster; the quality tier sets the price.
    runbase::GptImage15Input v15;
    v15.prompt = prompt;
    v15.quality = runbase::Quality::High;

    // GPT Image 2: up to 4K and ten aspect ratios; the resolution sets the price.
    runbase::GptImage2Input v2;
    v2.prompt = prompt;
    v2.aspect_ratio = runbase::GptImage2AspectRatio::Landscape16x9;
    v2.resolution = runbase::Resolution::TwoK;

    // Any other model: its id and its input as a JSON object (the schema is on its runbase.net
    // page). Build the JSON with your JSON library, which escapes the prompt; here it is fixed.
    const runbase::ModelInput banana(
        "google/nano-banana-2", R"({"prompt": "A lighthouse at dusk", "aspect_ratio": "4:3"})");

    // Each typed input is validated before anything is sent; the batch mixes models freely.
    const std::vector<runbase::ModelInput> inputs{v1, v15, v2, banana};
    const std::vector<runbase::BatchResult> results = client.generate_batch(inputs);
    int failed = 0;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].run) {
        ++failed;
        try {
          std::rethrow_exception(results[i].error);
        } catch (const std::exception& e) {
          std::cerr << inputs[i].model() << ": " << e.what() << '\n';
        }
        continue;
      }
      const runbase::Run& run = *results[i].run;
      for (const auto& path : client.download_outputs(run, ".")) {
        std::cout << run.model << ": " << run.cost_usd_micros << " micro-USD, saved "
                  << path.string() << '\n';
      }
    }
    std::cout << "Spent " << client.spent_usd_micros() << " micro-USD\n";
    return failed == 0 ? 0 : 1;
  } catch (const runbase::Error& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
}
