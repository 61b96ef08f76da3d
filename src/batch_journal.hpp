#ifndef RUNBASE_SRC_BATCH_JOURNAL_HPP
#define RUNBASE_SRC_BATCH_JOURNAL_HPP

#include <cstddef>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace runbase::detail {

/// A digest of a create request's body (model and input), to tell which input an item of a batch
/// is: "fnv1a64-" and 16 hex digits.
std::string input_digest(std::string_view request_body);

/// The journal of a resumable batch (`BatchOptions::journal`). An item is known by its input, not
/// its place in the batch: the digest of its create body and which occurrence of that input it is
/// (0 for the first item with this input, 1 for the second, ...), so lines added to, removed from
/// or moved in a prompt file still find their runs.
///
/// A text file of records after a `#` header line, one per line, tab-separated, each ending in a
/// check (16 hex digits of FNV-1a over the rest of the line):
///
///     intent  <digest>  <occurrence>            <check>   written and fsynced before the create
///     run     <digest>  <occurrence>  <run id>  <check>   the create's answer: this run
///     none    <digest>  <occurrence>            <check>   the create was refused: no run exists
///
/// The last record of an input and occurrence says where it stands. An intent with no answer
/// after it is a create that may or may not have reached the server: it is reported, never sent
/// again unless the caller says so. A line whose check does not match (a write cut short when the
/// machine died) is not trusted and is reported in `torn()`; an intent torn that way was never
/// sent, since a create goes out only once its intent is on disk. Version 1 lines
/// (`<index> <digest> <run id>`, no check) are read as runs, numbered by occurrence in file order.
///
/// The file is locked (`flock`, exclusive, not waiting) from construction to destruction, so two
/// processes, or two batches of one process, never run the same journal at once.
///
/// Thread safety: `lookup` and `torn` from one thread; `record_*` from any threads at once.
class BatchJournal {
 public:
  enum class Kind { Intent, Run, None };
  struct Entry {
    Kind kind = Kind::Intent;
    std::string run_id;    ///< for Run
    std::size_t line = 0;  ///< 1-based line of the record in the file
  };

  /// Opens (creating it) and locks the file, then reads what earlier runs of the batch recorded.
  /// Throws `Error` when it cannot, or when another process or batch holds the lock.
  explicit BatchJournal(std::filesystem::path path);
  /// Flushes the answers recorded since the last intent to disk and releases the lock.
  ~BatchJournal();
  BatchJournal(const BatchJournal&) = delete;
  BatchJournal& operator=(const BatchJournal&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  /// Where the input `digest`'s `occurrence` stood when the journal was opened, if on record.
  std::optional<Entry> lookup(std::string_view digest, std::size_t occurrence) const;
  /// Lines not trusted (check mismatch, cut short, unreadable), e.g. "line 7: \"run\tfnv...\"".
  const std::vector<std::string>& torn() const noexcept { return torn_; }

  /// Appends an intent and fsyncs it: once this returns, a create may be sent. Throws `Error`.
  void record_intent(std::string_view digest, std::size_t occurrence);
  /// Appends the create's answer; on disk by the next intent's fsync or the destructor (a crash
  /// before that leaves the intent unanswered: reported, never sent again). Throws `Error`.
  void record_run(std::string_view digest, std::size_t occurrence, std::string_view run_id);
  void record_none(std::string_view digest, std::size_t occurrence);

 private:
  void load(const std::string& text);
  void append(std::string_view kind, std::string_view digest, std::size_t occurrence,
              std::string_view run_id, bool sync);

  std::filesystem::path path_;
  int fd_ = -1;
  std::map<std::pair<std::string, std::size_t>, Entry> entries_;
  std::vector<std::string> torn_;
  std::mutex write_mutex_;
};

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_BATCH_JOURNAL_HPP
