#ifndef RUNBASE_TOOLS_CLI_BATCH_FILE_HPP
#define RUNBASE_TOOLS_CLI_BATCH_FILE_HPP

#include <cstddef>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include <runbase/models.hpp>

#include "model_input.hpp"

namespace runbase::cli {

/// One item of `runbase batch FILE`, with the line it came from (1-based) for messages.
struct BatchItem {
  std::size_t line = 0;
  ModelInput input;
};

/// What `read_batch_file` found: the items, or why lines were refused.
struct BatchFile {
  std::vector<BatchItem> items;
  std::vector<std::string> errors;  ///< "line 3: ...", one per refused line
};

/// What `batch --model`, `--quality` and `--resolution` give the lines that name no model.
struct BatchDefaults {
  std::string model = kDefaultModel;  ///< an id or a short name
  std::optional<std::string> quality;
  std::optional<std::string> resolution;
};

/// Reads a batch file: one item per non-blank line, either a plain prompt or a JSON object with
/// the input fields (`{"prompt": "...", "aspect_ratio": "3:2", "image_urls": ["https://..."]}`),
/// which may name its `"model"` (then only its own fields count) and carry `"quality"` or
/// `"resolution"`. A line naming no model is of `defaults.model`, with `defaults`' quality and
/// resolution unless it sets its own. A GPT Image line takes only its model's fields and values;
/// another model's line is sent as written (it needs a "prompt"). Every item is also validated
/// (`ModelInput::validate`), so a batch with a bad line is refused whole, before anything is sent
/// or billed. Trailing '\r' (CRLF files) is ignored.
BatchFile read_batch_file(std::istream& in, const BatchDefaults& defaults = {});

}  // namespace runbase::cli

#endif  // RUNBASE_TOOLS_CLI_BATCH_FILE_HPP
