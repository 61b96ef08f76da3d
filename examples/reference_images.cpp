// Image editing with reference images: GPT Image 1 takes up to five public image URLs along
// with the prompt, and draws from them.
//
//   export RUNBASE_API_KEY=sk-...
//   ./reference_images "Put this lamp on a marble table" https://example.com/lamp.png
//
// RUNBASE_BASE_URL points it at another server, such as a local runbase-emulator.
#include <runbase/runbase.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: reference_images PROMPT IMAGE_URL [IMAGE_URL...]\n";
    return 2;
  }
  try {
    runbase::GptImage1Input input;
    input.prompt = argv[1];
    input.aspect_ratio = runbase::AspectRatio::Portrait;  // 2:3, 1024x1536
    for (int i = 2; i < argc; ++i) input.image_urls.emplace_back(argv[i]);

    // validate() checks the input against the model's schema without sending anything: at
    // most 5 URLs, each http(s). create_run() validates too; calling it early lets a program
    // reject bad input before it builds a Client at all.
    input.validate();

    runbase::Client client;  // RUNBASE_API_KEY, RUNBASE_BASE_URL
    // generate() = create_run() + wait(). The service fetches the reference images itself, so
    // they must be reachable from the internet (data: URIs and local files are not accepted).
    const runbase::Run run = client.generate(input);
    for (const auto& path : client.download_outputs(run, ".")) {
      std::cout << "Saved " << path.string() << '\n';
    }
    return 0;
  } catch (const runbase::ValidationError& e) {
    std::cerr << "Invalid input: " << e.what() << '\n';  // names the field, e.g. image_urls[5]
    return 2;
  } catch (const runbase::Error& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
}
