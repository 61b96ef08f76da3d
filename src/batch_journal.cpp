#include "batch_journal.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>

#ifdef _WIN32
#include <io.h>
#include <share.h>
#else
#include <sys/file.h>
#include <unistd.h>
#endif

#include "runbase/errors.hpp"

namespace runbase::detail {

namespace {

constexpr std::string_view kHeader =
    "# runbase batch journal v2: kind<TAB>input digest<TAB>occurrence[<TAB>run id]<TAB>check\n";

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string hex16(std::uint64_t value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (int shift = 60; shift >= 0; shift -= 4) text += kHex[(value >> shift) & 0xFu];
  return text;
}

bool plain(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return false;
  }
  return true;
}

bool digits(std::string_view text) {
  return !text.empty() && text.size() <= 18 &&
         text.find_first_not_of("0123456789") == std::string_view::npos;
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  for (;;) {
    const std::size_t tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab == std::string_view::npos ? tab : tab - start));
    if (tab == std::string_view::npos) return fields;
    start = tab + 1;
  }
}

std::string describe_errno(int code) {
  return code == 0 ? std::string("unknown error") : std::string(std::strerror(code));
}

// Shown in `torn()`: enough of the line to find it, nothing that could be long.
std::string quote(std::string_view line) {
  constexpr std::size_t kShown = 80;
  std::string text;
  for (char c : line.substr(0, kShown)) {
    text += c == '\t'                              ? std::string("\\t")
            : static_cast<unsigned char>(c) < 0x20 ? std::string("?")
                                                   : std::string(1, c);
  }
  return "\"" + text + (line.size() > kShown ? "...\"" : "\"");
}

#ifdef _WIN32
int sync_fd(int fd) { return _commit(fd); }
void close_fd(int fd) { _close(fd); }
#else
int sync_fd(int fd) { return ::fsync(fd); }
void close_fd(int fd) { ::close(fd); }
#endif

// Gives up opening the journal: closes `fd` and throws "Cannot <action> the batch journal ...".
// `code`: the errno of the failure, read before the close could change it.
[[noreturn]] void give_up(int& fd, std::string_view action, const std::string& name, int code) {
  close_fd(fd);
  fd = -1;
  throw Error("Cannot " + std::string(action) + " the batch journal " + name + ": " +
              describe_errno(code) + "; nothing was sent.");
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
#ifdef _WIN32
    const int written = _write(fd, data.data(), static_cast<unsigned>(data.size()));
#else
    const ssize_t written = ::write(fd, data.data(), data.size());
#endif
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

}  // namespace

std::string input_digest(std::string_view request_body) {
  return "fnv1a64-" + hex16(fnv1a64(request_body));
}

BatchJournal::BatchJournal(std::filesystem::path path) : path_(std::move(path)) {
  const std::string name = path_.string();
  errno = 0;
#ifdef _WIN32
  // Windows: a share mode that denies everyone else is the lock, held while the file is open.
  const int opened = _sopen_s(&fd_, name.c_str(), _O_RDWR | _O_CREAT | _O_APPEND | _O_BINARY,
                              _SH_DENYRW, _S_IREAD | _S_IWRITE);
  if (opened == EACCES) {
    fd_ = -1;
    throw Error("The batch journal " + name +
                " is in use by another process (another batch holds it open). Wait for that "
                "batch to end, or use another journal file; nothing was sent.");
  }
#else
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg): open(2) is variadic.
  fd_ = ::open(name.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
#endif
  if (fd_ < 0) {
    throw Error("Cannot open the batch journal " + name + ": " + describe_errno(errno) +
                ". Check that its directory exists and is writable; nothing was sent.");
  }
#ifndef _WIN32
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int code = errno;
    if (code == EWOULDBLOCK) {
      close_fd(fd_);
      fd_ = -1;
      throw Error("The batch journal " + name +
                  " is in use: another process (or another batch of this one) holds its lock. "
                  "Wait for that batch to end, or use another journal file; nothing was sent.");
    }
    give_up(fd_, "lock", name, code);
  }
#endif
  // Read only once the lock is held: what another process wrote before it let go is seen.
  std::string text;
  char buffer[65536];
  for (;;) {
#ifdef _WIN32
    const int got = _read(fd_, buffer, sizeof buffer);
#else
    const ssize_t got = ::read(fd_, buffer, sizeof buffer);
#endif
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) give_up(fd_, "read", name, errno);
    if (got == 0) break;
    text.append(buffer, static_cast<std::size_t>(got));
  }
  load(text);
  std::string start;
  if (!text.empty() && text.back() != '\n') start += '\n';  // a record cut short: not joined to
  if (text.empty()) start += kHeader;
  if (!start.empty() && (!write_all(fd_, start) || sync_fd(fd_) != 0)) {
    give_up(fd_, "write", name, errno);
  }
}

BatchJournal::~BatchJournal() {
  if (fd_ < 0) return;
  sync_fd(fd_);
  close_fd(fd_);  // releases the lock
}

void BatchJournal::load(const std::string& text) {
  std::map<std::string, std::size_t> v1_seen;  // version 1 lines: occurrences by file order
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const bool complete = end != std::string::npos;
    std::string_view line(text.data() + start, (complete ? end : text.size()) - start);
    start = complete ? end + 1 : text.size();
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::vector<std::string_view> fields = split_tabs(line);
    const auto torn = [&] {
      torn_.push_back("line " + std::to_string(line_number) + ": " + quote(line));
    };

    if (fields.size() == 3 && digits(fields[0])) {
      // Version 1: `<index> <digest> <run id>`, written once the create was answered.
      if (!complete || !plain(fields[1]) || !plain(fields[2])) {
        torn();
        continue;
      }
      const std::string digest(fields[1]);
      const std::size_t occurrence = v1_seen[digest]++;
      entries_[{digest, occurrence}] = Entry{Kind::Run, std::string(fields[2]), line_number};
      continue;
    }
    const std::size_t check_at = line.rfind('\t');
    const bool sized = fields.size() == 4 || fields.size() == 5;
    if (!sized || check_at == std::string_view::npos ||
        hex16(fnv1a64(line.substr(0, check_at))) != line.substr(check_at + 1) ||
        !plain(fields[1]) || !digits(fields[2])) {
      torn();
      continue;
    }
    Entry entry;
    entry.line = line_number;
    if (fields[0] == "intent" && fields.size() == 4) {
      entry.kind = Kind::Intent;
    } else if (fields[0] == "none" && fields.size() == 4) {
      entry.kind = Kind::None;
    } else if (fields[0] == "run" && fields.size() == 5 && plain(fields[3])) {
      entry.kind = Kind::Run;
      entry.run_id = std::string(fields[3]);
    } else {
      torn();
      continue;
    }
    entries_[{std::string(fields[1]),
              static_cast<std::size_t>(std::stoull(std::string(fields[2])))}] = std::move(entry);
  }
}

std::optional<BatchJournal::Entry> BatchJournal::lookup(std::string_view digest,
                                                        std::size_t occurrence) const {
  const auto it = entries_.find({std::string(digest), occurrence});
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void BatchJournal::append(std::string_view kind, std::string_view digest, std::size_t occurrence,
                          std::string_view run_id, bool sync) {
  std::string line(kind);
  line += '\t';
  line += digest;
  line += '\t';
  line += std::to_string(occurrence);
  if (!run_id.empty()) {
    line += '\t';
    line += run_id;
  }
  const std::string check = hex16(fnv1a64(line));
  line += '\t';
  line += check;
  line += '\n';
  const std::lock_guard<std::mutex> lock(write_mutex_);
  errno = 0;
  if (!write_all(fd_, line) || (sync && sync_fd(fd_) != 0)) {
    throw Error("Cannot write to the batch journal " + path_.string() + ": " +
                describe_errno(errno) + ".");
  }
}

void BatchJournal::record_intent(std::string_view digest, std::size_t occurrence) {
  append("intent", digest, occurrence, {}, true);
}

void BatchJournal::record_run(std::string_view digest, std::size_t occurrence,
                              std::string_view run_id) {
  if (!plain(run_id) || run_id.find('\t') != std::string_view::npos) {
    throw Error("Cannot record run id \"" + std::string(run_id) + "\" in the batch journal " +
                path_.string() + ": it contains control characters.");
  }
  append("run", digest, occurrence, run_id, false);
}

void BatchJournal::record_none(std::string_view digest, std::size_t occurrence) {
  append("none", digest, occurrence, {}, false);
}

}  // namespace runbase::detail
