#include "batch_journal.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

#ifdef _WIN32
#include <io.h>
#else
#include <unistd.h>
#endif

#include "runbase/errors.hpp"

namespace runbase::detail {

namespace {

constexpr std::string_view kHeader =
    "# runbase batch journal v1: index<TAB>input digest<TAB>run id\n";

bool plain(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return false;
  }
  return true;
}

std::string describe_errno() {
  const int code = errno;
  return code == 0 ? std::string("unknown error") : std::string(std::strerror(code));
}

bool sync_to_disk(std::FILE* file) {
  if (std::fflush(file) != 0) return false;
#ifdef _WIN32
  return _commit(_fileno(file)) == 0;
#else
  return ::fsync(::fileno(file)) == 0;
#endif
}

}  // namespace

std::string input_digest(std::string_view request_body) {
  std::uint64_t hash = 14695981039346656037ull;
  for (char c : request_body) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string digest = "fnv1a64-";
  for (int shift = 60; shift >= 0; shift -= 4) {
    digest += kHex[(hash >> shift) & 0xFu];
  }
  return digest;
}

BatchJournal::BatchJournal(std::filesystem::path path) : path_(std::move(path)) {
  bool ends_with_newline = true;
  bool empty = true;
  {
    std::ifstream in(path_, std::ios::binary);
    if (in) {
      std::string line;
      while (std::getline(in, line)) {
        empty = false;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || line.front() == '#') continue;
        const std::size_t tab1 = line.find('\t');
        const std::size_t tab2 = tab1 == std::string::npos ? tab1 : line.find('\t', tab1 + 1);
        if (tab2 == std::string::npos) continue;
        const std::string index_text = line.substr(0, tab1);
        if (index_text.empty() || index_text.size() > 18 ||
            index_text.find_first_not_of("0123456789") != std::string::npos) {
          continue;
        }
        std::string digest = line.substr(tab1 + 1, tab2 - tab1 - 1);
        std::string run_id = line.substr(tab2 + 1);
        if (!plain(digest) || !plain(run_id) || run_id.find('\t') != std::string::npos) continue;
        entries_[static_cast<std::size_t>(std::stoull(index_text))] =
            Recorded{std::move(digest), std::move(run_id)};
      }
      // A last line without its newline was cut short; the next record starts on a line of its own.
      in.clear();
      in.seekg(0, std::ios::end);
      const auto size = in.tellg();
      if (size > 0) {
        in.seekg(-1, std::ios::end);
        char last = '\n';
        in.get(last);
        ends_with_newline = last == '\n';
      }
    }
  }
  errno = 0;
  file_ = std::fopen(path_.string().c_str(), "ab");
  if (file_ == nullptr) {
    throw Error("Cannot open the batch journal " + path_.string() +
                " for writing: " + describe_errno() + ".");
  }
  std::string start;
  if (!ends_with_newline) start += '\n';
  if (empty) start += kHeader;
  if (!start.empty() &&
      (std::fwrite(start.data(), 1, start.size(), file_) != start.size() || !sync_to_disk(file_))) {
    const std::string reason = describe_errno();
    std::fclose(file_);
    file_ = nullptr;
    throw Error("Cannot write the batch journal " + path_.string() + ": " + reason + ".");
  }
}

BatchJournal::~BatchJournal() {
  if (file_ != nullptr) std::fclose(file_);
}

std::optional<std::string> BatchJournal::find(std::size_t index, std::string_view digest) const {
  const auto it = entries_.find(index);
  if (it == entries_.end() || it->second.digest != digest) return std::nullopt;
  return it->second.run_id;
}

void BatchJournal::record(std::size_t index, std::string_view digest, std::string_view run_id) {
  if (!plain(run_id) || run_id.find('\t') != std::string_view::npos) {
    throw Error("Cannot record run id \"" + std::string(run_id) + "\" in the batch journal " +
                path_.string() + ": it contains control characters.");
  }
  std::string line = std::to_string(index);
  line += '\t';
  line += digest;
  line += '\t';
  line += run_id;
  line += '\n';
  errno = 0;
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || !sync_to_disk(file_)) {
    throw Error("Cannot write run " + std::string(run_id) + " to the batch journal " +
                path_.string() + ": " + describe_errno() + ". The run exists and is billed.");
  }
  entries_[index] = Recorded{std::string(digest), std::string(run_id)};
}

}  // namespace runbase::detail
