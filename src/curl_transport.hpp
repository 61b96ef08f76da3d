#ifndef RUNBASE_SRC_CURL_TRANSPORT_HPP
#define RUNBASE_SRC_CURL_TRANSPORT_HPP

#include <chrono>
#include <memory>
#include <string>

#include "loop_http.hpp"
#include "runbase/transport.hpp"

namespace runbase::detail {

class CurlLoopHttp;

struct CurlTransportOptions {
  std::chrono::milliseconds connect_timeout{10000};
  std::string ca_bundle;  ///< PEM file of CAs to trust; empty: the system's
  std::string proxy;      ///< empty: libcurl's usual *_proxy environment variables
};

/// HttpTransport over libcurl: a pool of handles, each keeping its own keep-alive connections
/// (taken by whichever thread sends next, most recently used first, so connections are reused
/// across calls and threads) and all sharing one DNS cache and one TLS session cache; HTTP/2 when
/// the server offers it over TLS; TLS verification always on; compressed responses accepted;
/// POSTs on fresh connections so libcurl never resends one by itself. Errors carry
/// `outcome_unknown()` true once any byte of the request may have been sent.
///
/// Thread safety: safe from many threads.
class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(CurlTransportOptions options);
  ~CurlTransport() override;

  HttpResponse send(const HttpRequest& request) override;
  HttpResponse send_to_file(const HttpRequest& request, const std::filesystem::path& file) override;
  HttpResponse send_streaming(const HttpRequest& request,
                              const std::function<void(std::string_view)>& on_data) override;

 private:
  friend class CurlLoopHttp;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The event loop's side of `transport`: its transfers on one libcurl multi handle, driven
/// without blocking (see `LoopHttp`). Shares the transport's settings, DNS and TLS session cache.
std::unique_ptr<LoopHttp> make_curl_loop_http(std::shared_ptr<CurlTransport> transport);

}  // namespace runbase::detail

#endif  // RUNBASE_SRC_CURL_TRANSPORT_HPP
