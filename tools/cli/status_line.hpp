#ifndef RUNBASE_TOOLS_CLI_STATUS_LINE_HPP
#define RUNBASE_TOOLS_CLI_STATUS_LINE_HPP

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>

namespace runbase::cli {

/// Progress on stderr. On a terminal (`live`) one line redrawn in place by a light ticker, with a
/// spinner and the elapsed time; otherwise one plain line per change, for logs and pipes.
///
/// Thread safety: safe from many threads (the SDK calls back from the waiting thread, the ticker
/// redraws from its own, the logger may print from either).
class StatusLine {
 public:
  StatusLine(std::ostream& err, bool live);
  ~StatusLine();
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  /// Shows `text` followed by the time elapsed since construction. Plain mode prints a line only
  /// when the text changes.
  void set(std::string text);
  /// Prints a whole line (a log line, a message) above the live line.
  void print(std::string_view line);
  /// Stops the ticker and removes the live line. With `keep_last`, the last status stays on
  /// screen as a plain line (plain mode printed it already). Further `set` calls are ignored.
  /// Idempotent.
  void finish(bool keep_last = false);

  /// True on a terminal: the line is redrawn in place.
  bool live() const noexcept { return live_; }

  /// Time since construction, e.g. "4.2 s".
  std::string elapsed_text() const;

 private:
  void draw_locked();
  void clear_locked();
  void tick();

  std::ostream& err_;
  const bool live_;
  const std::chrono::steady_clock::time_point started_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::string text_;
  bool shown_ = false;  // a live line is on screen
  bool finished_ = false;
  unsigned frame_ = 0;
  std::thread ticker_;
};

}  // namespace runbase::cli

#endif  // RUNBASE_TOOLS_CLI_STATUS_LINE_HPP
