#include "status_line.hpp"

namespace runbase::cli {

namespace {

constexpr std::chrono::milliseconds kTick{100};
constexpr char kSpinner[] = {'|', '/', '-', '\\'};

std::string seconds_text(std::chrono::steady_clock::duration elapsed) {
  const long long tenths =
      std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

}  // namespace

StatusLine::StatusLine(std::ostream& err, bool live)
    : err_(err), live_(live), started_(std::chrono::steady_clock::now()) {}

StatusLine::~StatusLine() { finish(); }

std::string StatusLine::elapsed_text() const {
  return seconds_text(std::chrono::steady_clock::now() - started_);
}

void StatusLine::set(std::string text) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_ || text == text_) return;
  text_ = std::move(text);
  if (live_) {
    // The ticker starts with the first status: commands that never show one pay nothing.
    if (!ticker_.joinable()) ticker_ = std::thread([this] { tick(); });
    draw_locked();
  } else {
    err_ << text_ << " (" << elapsed_text() << ")\n" << std::flush;
  }
}

void StatusLine::print(std::string_view line) {
  std::lock_guard<std::mutex> lock(mutex_);
  clear_locked();
  err_ << line << '\n';
  if (live_ && !finished_ && !text_.empty()) draw_locked();
  err_ << std::flush;
}

void StatusLine::finish(bool keep_last) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!finished_) {
      finished_ = true;
      const bool was_shown = shown_;
      clear_locked();
      if (keep_last && live_ && was_shown) err_ << text_ << " (" << elapsed_text() << ")\n";
      err_ << std::flush;
    }
  }
  wake_.notify_all();
  if (ticker_.joinable() && ticker_.get_id() != std::this_thread::get_id()) ticker_.join();
}

void StatusLine::draw_locked() {
  // \r: back to column 0; ESC[K: erase the rest of the line from the last, longer, draw.
  err_ << '\r' << kSpinner[frame_ % sizeof kSpinner] << ' ' << text_ << "  " << elapsed_text()
       << "\x1b[K" << std::flush;
  shown_ = true;
}

void StatusLine::clear_locked() {
  if (!shown_) return;
  err_ << "\r\x1b[K";
  shown_ = false;
}

void StatusLine::tick() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!finished_) {
    wake_.wait_for(lock, kTick, [this] { return finished_; });
    if (finished_) break;
    ++frame_;
    if (!text_.empty()) draw_locked();
  }
}

}  // namespace runbase::cli
