#ifndef RUNBASE_SRC_BATCH_JOURNAL_HPP
#define RUNBASE_SRC_BATCH_JOURNAL_HPP

#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace runbase::detail {

/// A digest of a create request's body (model and input), to tell whether an item of a batch is
/// still the input a journal recorded: "fnv1a64-" and 16 hex digits.
std::string input_digest(std::string_view request_body);

/// The journal of a resumable batch (`BatchOptions::journal`): a text file of lines
/// `<index>\t<input digest>\t<run id>`, one per run created, after a `#` header line. A line is
/// appended and flushed to disk before the batch waits on its run, so a batch that dies leaves
/// every run it paid for on record. Lines that do not parse (a write cut short) are ignored.
///
/// Thread safety: none; one batch uses it from one thread.
class BatchJournal {
 public:
  /// Reads what an earlier run of the batch recorded and opens the file for appending (creating
  /// it). Throws `Error` when it cannot.
  explicit BatchJournal(std::filesystem::path path);
  ~BatchJournal();
  BatchJournal(const BatchJournal&) = delete;
  BatchJournal& operator=(const BatchJournal&) = delete;

  /// The run recorded last for item `index` with this digest, if any.
  std::optional<std::string> find(std::size_t index, std::string_view digest) const;
  /// Appends the line and flushes it to disk before returning. Throws `Error` when it cannot.
  void record(std::size_t index, std::string_view digest, std::string_view run_id);
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct Recorded {
    std::string digest;
    std::string run_id;
  };
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  std::unordered_map<std::size_t, Recorded> entries_;
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_BATCH_JOURNAL_HPP
