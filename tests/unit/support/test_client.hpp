#ifndef RUNBASE_TESTS_UNIT_SUPPORT_TEST_CLIENT_HPP
#define RUNBASE_TESTS_UNIT_SUPPORT_TEST_CLIENT_HPP

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "client_impl.hpp"
#include "runbase/runbase.hpp"
#include "unit/support/fake_clock.hpp"
#include "unit/support/fake_transport.hpp"

namespace runbase::test {

inline constexpr std::string_view kTestKey = "sk-test-4f9c2b7a1e0d";
inline constexpr std::string_view kTestBaseUrl = "https://runbase.test/api/v1";

/// Sets (or unsets, with nullopt) environment variables and restores them on destruction.
/// Not thread-safe: the environment is process-wide, so tests using it stay single-threaded.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, std::optional<std::string>>> values) {
    for (const auto& [name, value] : values) {
      const char* old = std::getenv(name);
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      apply(name, value);
    }
  }
  /// Unsets every RUNBASE_* variable the SDK reads.
  ScopedEnv()
      : ScopedEnv({{"RUNBASE_API_KEY", std::nullopt}, {"RUNBASE_BASE_URL", std::nullopt}}) {}
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) apply(it->first, it->second);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  static void apply(const std::string& name, const std::optional<std::string>& value) {
    if (value) {
      ::setenv(name.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

/// A fake clock, a fake transport and a log sink, and Clients built on them with a fixed jitter
/// source (0.5: half of each backoff ceiling).
class Harness {
 public:
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>();
  std::shared_ptr<FakeTransport> transport = std::make_shared<FakeTransport>(clock);
  double jitter = 0.5;

  /// Options for a test Client: the test key and base URL, the fakes, the log sink, and no rate
  /// limit (tests of the rate window turn it on).
  ClientOptions options() {
    ClientOptions options;
    options.api_key = std::string(kTestKey);
    options.base_url = std::string(kTestBaseUrl);
    options.transport = transport;
    options.rate_limit.requests = 0;
    options.logger = [this](LogLevel level, std::string_view line) {
      std::lock_guard<std::mutex> lock(log_mutex_);
      logs_.emplace_back(level, std::string(line));
    };
    return options;
  }

  Client client(ClientOptions options) {
    const double value = jitter;
    return detail::ClientAccess::make(std::move(options), clock, [value] { return value; });
  }
  Client client() { return client(options()); }

  std::vector<std::pair<LogLevel, std::string>> logs() const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    return logs_;
  }
  std::size_t log_count(LogLevel level) const {
    std::size_t count = 0;
    for (const auto& entry : logs()) count += entry.first == level ? 1u : 0u;
    return count;
  }

 private:
  mutable std::mutex log_mutex_;
  std::vector<std::pair<LogLevel, std::string>> logs_;
};

/// Runs `f`, expecting it to throw `E` (or a subclass); returns a copy of what was thrown.
/// Anything else fails the test and gives nullopt.
template <class E, class F>
std::optional<E> expect_throws(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const E& e) {
    return e;
  } catch (const std::exception& other) {
    ADD_FAILURE() << "expected " << typeid(E).name() << ", got " << typeid(other).name() << ": "
                  << other.what();
    return std::nullopt;
  } catch (...) {
    ADD_FAILURE() << "expected " << typeid(E).name() << ", got a non-std exception";
    return std::nullopt;
  }
  ADD_FAILURE() << "expected " << typeid(E).name() << ", nothing was thrown";
  return std::nullopt;
}

/// Runs `f` and returns what it threw, or null.
template <class F>
std::exception_ptr capture(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

inline std::chrono::milliseconds ms(long long count) { return std::chrono::milliseconds(count); }

/// A fresh, empty directory under the system's temporary directory, removed on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<unsigned> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name =
        "runbase-unit-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
    if (info != nullptr) name += std::string("-") + info->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  /// The names of the files in it, sorted.
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace runbase::test

#endif  // RUNBASE_TESTS_UNIT_SUPPORT_TEST_CLIENT_HPP
