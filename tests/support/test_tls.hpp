#ifndef RUNBASE_TESTS_SUPPORT_TEST_TLS_HPP
#define RUNBASE_TESTS_SUPPORT_TEST_TLS_HPP

#include <filesystem>
#include <string>

namespace runbase::test_support {

/// A fresh directory under the system's temporary directory, removed with everything in it when
/// the object goes away.
///
/// Thread safety: not shared between threads.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

/// PEM files of a certificate and its private key.
struct TlsFiles {
  std::filesystem::path cert;  ///< the certificate; also usable as a CA bundle that trusts it
  std::filesystem::path key;   ///< its private key (unencrypted)
};

/// Generates, with the OpenSSL API, a self-signed EC P-256 certificate for `common_name`, valid
/// from an hour ago for a day, with subjectAltName IP:127.0.0.1 and DNS:localhost and
/// basicConstraints CA:TRUE (so the certificate itself can be passed as `ca_bundle`). Writes
/// `<dir>/cert.pem` and `<dir>/key.pem`. Throws std::runtime_error on failure.
TlsFiles make_self_signed_certificate(const std::filesystem::path& dir,
                                      const std::string& common_name = "127.0.0.1");

}  // namespace runbase::test_support

#endif  // RUNBASE_TESTS_SUPPORT_TEST_TLS_HPP
