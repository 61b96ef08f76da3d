#ifndef RUNBASE_TOOLS_CLI_BATCH_FILE_HPP
#define RUNBASE_TOOLS_CLI_BATCH_FILE_HPP

#include <cstddef>
#include <istream>
#include <string>
#include <vector>

#include <runbase/models.hpp>

namespace runbase::cli {

/// One item of `runbase batch FILE`, with the line it came from (1-based) for messages.
struct BatchItem {
  std::size_t line = 0;
  GptImage1Input input;
};

/// What `read_batch_file` found: the items, or why lines were refused.
struct BatchFile {
  std::vector<BatchItem> items;
  std::vector<std::string> errors;  ///< "line 3: ...", one per refused line
};

/// Reads a batch file: one item per non-blank line, either a plain prompt or a JSON object with
/// the input fields (`{"prompt": "...", "aspect_ratio": "3:2", "image_urls": ["https://..."]}`).
/// Every item is also validated (`GptImage1Input::validate`), so a batch with a bad line is
/// refused whole, before anything is sent or billed. Trailing '\r' (CRLF files) is ignored.
BatchFile read_batch_file(std::istream& in);

}  // namespace runbase::cli

#endif  // RUNBASE_TOOLS_CLI_BATCH_FILE_HPP
