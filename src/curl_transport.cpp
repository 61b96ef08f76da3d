#include "curl_transport.hpp"

#include <curl/curl.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <deque>
#include <exception>
#include <fstream>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "error_mapping.hpp"
#include "runbase/errors.hpp"
#include "runbase/options.hpp"
#include "text.hpp"

namespace runbase {
namespace detail {
namespace {

// A download that fails with an HTTP error keeps only this much of the error body: enough to
// quote in an error, never a whole HTML page or a large file.
constexpr std::size_t error_body_cap = std::size_t{64} * 1024;
constexpr long max_redirects = 5;
// Idle handles kept for reuse. More threads than this at once still work; the extra handles (and
// their connections) are closed when returned.
constexpr std::size_t max_idle_handles = 16;
// How often a transfer that can be cancelled looks at its token while nothing else happens.
constexpr int cancel_poll_ms = 50;

void global_init() {
  static std::once_flag once;
  // If init fails the flag stays unset and the next transport tries again.
  std::call_once(once, [] {
    const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
      throw ConnectionError(std::string("libcurl could not be initialised: ") +
                            curl_easy_strerror(rc) + ".");
    }
  });
}

bool starts_with(std::string_view text, std::string_view prefix) noexcept {
  return text.substr(0, prefix.size()) == prefix;
}

std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

bool is_success(int status) noexcept { return status >= 200 && status < 300; }

bool is_safe_method(std::string_view method) noexcept {
  return method == "GET" || method == "HEAD";
}

// A request that would put the API key on the wire in clear text: plain http with credentials.
bool sends_key_in_clear(const HttpRequest& request) {
  if (!iequals(std::string_view(request.url).substr(0, 7), "http://")) return false;
  return std::any_of(request.headers.begin(), request.headers.end(),
                     [](const auto& header) { return iequals(header.first, "Authorization"); });
}

// "scheme://host[:port]/path" of a URL for error messages: no user info, no query (signed CDN URLs
// carry credentials there), no fragment. Falls back to "the server" if the URL does not parse.
struct UrlParts {
  std::string host;      // "example.com" or "127.0.0.1"
  std::string endpoint;  // "example.com:8443" when a port was given, else the host
  std::string display;   // "https://example.com:8443/runs"
};

std::string url_part(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK || value == nullptr) return {};
  std::string result(value);
  curl_free(value);
  return result;
}

UrlParts describe_url(const char* raw) {
  UrlParts parts;
  CURLU* url = curl_url();
  if (url != nullptr && raw != nullptr && curl_url_set(url, CURLUPART_URL, raw, 0) == CURLUE_OK) {
    parts.host = url_part(url, CURLUPART_HOST);
    const std::string scheme = url_part(url, CURLUPART_SCHEME);
    const std::string port = url_part(url, CURLUPART_PORT);
    const std::string path = url_part(url, CURLUPART_PATH);
    parts.endpoint = port.empty() ? parts.host : parts.host + ":" + port;
    parts.display = scheme + "://" + parts.endpoint + path;
  }
  if (url != nullptr) curl_url_cleanup(url);
  if (parts.host.empty()) {
    parts.host = parts.endpoint = "the server";
    parts.display = "the request URL";
  }
  return parts;
}

// The DNS cache and the TLS session cache, shared by every handle of one transport under one
// mutex per kind of data, as libcurl asks. Connections are not put in the share: libcurl 7.x
// documents that sharing the connection cache between concurrent threads is not supported, so
// each pooled handle keeps its own (see Slot).
class Share {
 public:
  Share() : handle_(curl_share_init()) {
    if (handle_ == nullptr) throw std::bad_alloc();
    curl_share_setopt(handle_, CURLSHOPT_LOCKFUNC, &Share::lock);
    curl_share_setopt(handle_, CURLSHOPT_UNLOCKFUNC, &Share::unlock);
    curl_share_setopt(handle_, CURLSHOPT_USERDATA, this);
    curl_share_setopt(handle_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(handle_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  ~Share() { curl_share_cleanup(handle_); }
  Share(const Share&) = delete;
  Share& operator=(const Share&) = delete;

  CURLSH* get() const noexcept { return handle_; }

 private:
  std::mutex& mutex_for(curl_lock_data data) noexcept {
    const auto index = static_cast<std::size_t>(data);
    return mutexes_[index < mutexes_.size() ? index : 0];
  }
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<Share*>(self)->mutex_for(data).lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<Share*>(self)->mutex_for(data).unlock();
  }

  std::array<std::mutex, CURL_LOCK_DATA_LAST> mutexes_;
  CURLSH* handle_;
};

struct HeaderList {
  curl_slist* list = nullptr;
  HeaderList() = default;
  ~HeaderList() { curl_slist_free_all(list); }
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;
  void append(const std::string& line) {
    curl_slist* next = curl_slist_append(list, line.c_str());
    if (next == nullptr) throw std::bad_alloc();
    list = next;
  }
  void swap(HeaderList& other) noexcept { std::swap(list, other.list); }
};

// One pooled handle. The multi handle owns the connection cache: a thread that takes this slot
// gets its warm keep-alive (or HTTP/2) connections, so sequential calls from any thread reuse
// them, and concurrent calls each use their own slot. Driving the easy handle through a multi
// handle also lets a cancellation be noticed within `cancel_poll_ms`.
//
// The options that are the same for every request are set once, when the slot is first used,
// and the header list is kept while requests carry the same headers (every API call of a Client
// does): a `curl_easy_reset` and rebuilding both on every request were a third of the
// transport's own cost. What may differ between requests is set on every one (`configure`).
struct Slot {
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
  bool fixed_options_set = false;
  // The request headers, already checked, that `header_list` (which the easy handle points to)
  // was built from.
  std::vector<std::pair<std::string, std::string>> header_source;
  HeaderList header_list;
  char error_buffer[CURL_ERROR_SIZE] = {};

  Slot() : easy(curl_easy_init()) {
    if (easy == nullptr) throw std::bad_alloc();
  }
  ~Slot() { cleanup(); }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

 private:
  void cleanup() noexcept {
    // The multi first: it closes the cached connections; then the easy handle.
    if (multi != nullptr) curl_multi_cleanup(multi);
    if (easy != nullptr) curl_easy_cleanup(easy);
    multi = nullptr;
    easy = nullptr;
  }
};

// Everything the callbacks of one transfer touch.
struct Transfer {
  const HttpRequest* request = nullptr;
  HttpResponse response;
  int current_status = 0;  // status of the response whose headers or body are arriving
  std::size_t received = 0;
  bool too_large = false;
  bool cancelled = false;
  // send_streaming only: receives a 2xx body instead of `response.body`
  const std::function<void(std::string_view)>* on_data = nullptr;
  // send_to_file only
  const std::filesystem::path* file = nullptr;
  std::optional<std::ofstream> out;  // built only when a download's body arrives
  bool file_opened = false;
  bool file_failed = false;
  bool error_body_cut = false;
  std::exception_ptr callback_error;
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) noexcept {
  auto& t = *static_cast<Transfer*>(user);
  const std::size_t length = size * count;
  try {
    std::string_view line(data, length);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (starts_with(line, "HTTP/")) {
      // A new response begins (after a 1xx, a proxy's CONNECT reply or a followed redirect): the
      // headers and any body collected so far belonged to an earlier one.
      t.response.headers.clear();
      t.response.body.clear();
      t.current_status = 0;
      const auto space = line.find(' ');
      if (space != std::string_view::npos) {
        int status = 0;
        for (std::size_t i = space + 1; i < line.size() && i < space + 4; ++i) {
          if (line[i] < '0' || line[i] > '9') break;
          status = status * 10 + (line[i] - '0');
        }
        t.current_status = status;
      }
      return length;
    }
    if (line.empty()) return length;
    if ((line.front() == ' ' || line.front() == '\t') && !t.response.headers.empty()) {
      // Obsolete line folding: the line continues the previous header's value.
      auto& value = t.response.headers.back().second;
      value += ' ';
      value += trim(line);
      return length;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return length;
    t.response.headers.emplace_back(std::string(trim(line.substr(0, colon))),
                                    std::string(trim(line.substr(colon + 1))));
    return length;
  } catch (...) {
    t.callback_error = std::current_exception();
    return 0;
  }
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) noexcept {
  auto& t = *static_cast<Transfer*>(user);
  const std::size_t length = size * count;
  try {
    t.received += length;
    const std::size_t cap = t.request->max_response_bytes;
    if (cap != 0 && t.received > cap) {
      t.too_large = true;
      return 0;  // anything but `length` makes libcurl stop with CURLE_WRITE_ERROR
    }
    if (t.on_data != nullptr && is_success(t.current_status)) {
      (*t.on_data)(std::string_view(data, length));  // what it throws ends the transfer
      return length;
    }
    if (t.file != nullptr && is_success(t.current_status)) {
      // Opened only when a 2xx body arrives: an error reply never creates or truncates the file.
      if (!t.file_opened) {
        t.out.emplace(*t.file, std::ios::binary | std::ios::trunc);
        t.file_opened = true;
        if (!*t.out) {
          t.file_failed = true;
          return 0;
        }
      }
      t.out->write(data, static_cast<std::streamsize>(length));
      if (!*t.out) {
        t.file_failed = true;
        return 0;
      }
      return length;
    }
    if (t.file != nullptr || t.on_data != nullptr) {
      const std::size_t kept = t.response.body.size();
      const std::size_t room = kept < error_body_cap ? error_body_cap - kept : 0;
      if (length > room) {
        t.response.body.append(data, room);
        t.error_body_cut = true;
        return 0;
      }
    }
    t.response.body.append(data, length);
    return length;
  } catch (...) {
    t.callback_error = std::current_exception();
    return 0;
  }
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) noexcept {
  auto& t = *static_cast<Transfer*>(user);
  if (t.request->cancel != nullptr && t.request->cancel->cancelled()) {
    t.cancelled = true;
    return 1;  // CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

bool has_line_break(std::string_view text) noexcept {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// An RFC 9110 token: what a method or a header name may be made of.
bool is_token(std::string_view text) noexcept {
  if (text.empty()) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// Sets an option the transport's guarantees depend on: if libcurl refuses it, nothing is sent.
template <typename T>
void set(CURL* easy, CURLoption option, T value) {
  const CURLcode rc = curl_easy_setopt(easy, option, value);
  if (rc == CURLE_OK) return;
  if (rc == CURLE_OUT_OF_MEMORY) throw std::bad_alloc();
  throw ConnectionError(std::string("libcurl refused a transport setting (") +
                        curl_easy_strerror(rc) +
                        "); nothing was sent. This libcurl may lack a feature the SDK needs.");
}

// Sets an option that only improves things (HTTP/2): without it the transfer still works.
template <typename T>
void try_set(CURL* easy, CURLoption option, T value) {
  if (curl_easy_setopt(easy, option, value) == CURLE_OUT_OF_MEMORY) throw std::bad_alloc();
}

}  // namespace

struct CurlTransport::Impl {
  explicit Impl(CurlTransportOptions opts) : options(std::move(opts)) {}

  CurlTransportOptions options;
  Share share;  // declared before the pool: it must outlive every easy handle
  std::mutex pool_mutex;
  std::vector<std::unique_ptr<Slot>> idle;

  std::unique_ptr<Slot> acquire() {
    {
      std::lock_guard<std::mutex> lock(pool_mutex);
      if (!idle.empty()) {
        // Most recently used first: its connections are the likeliest to still be open.
        std::unique_ptr<Slot> slot = std::move(idle.back());
        idle.pop_back();
        return slot;
      }
    }
    return std::make_unique<Slot>();
  }

  void release(std::unique_ptr<Slot> slot) noexcept {
    std::lock_guard<std::mutex> lock(pool_mutex);
    if (idle.size() < max_idle_handles) idle.push_back(std::move(slot));
  }

  void set_fixed_options(Slot& slot);
  void set_headers(Slot& slot, const HttpRequest& request);
  void configure(Slot& slot, const HttpRequest& request, Transfer& transfer);
  CURLcode run(Slot& slot, const HttpRequest& request, Transfer& transfer);
  [[noreturn]] void fail(CURL* easy, CURLcode code, const HttpRequest& request,
                         const Transfer& transfer, const char* error_buffer);
  /// The response of a transfer that ended with `code`, or the error it maps to (thrown).
  HttpResponse take_response(Slot& slot, const HttpRequest& request, Transfer& transfer,
                             CURLcode code);
  HttpResponse perform(const HttpRequest& request, const std::filesystem::path* file,
                       const std::function<void(std::string_view)>* on_data);
};

void CurlTransport::Impl::set_fixed_options(Slot& slot) {
  CURL* easy = slot.easy;
  set(easy, CURLOPT_SHARE, share.get());
  set(easy, CURLOPT_ERRORBUFFER, slot.error_buffer);
  set(easy, CURLOPT_NOSIGNAL, 1L);
  set(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  try_set(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  set(easy, CURLOPT_ACCEPT_ENCODING, "");  // every encoding this libcurl can decode
#if LIBCURL_VERSION_NUM >= 0x075500
  set(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  set(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  set(easy, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  set(easy, CURLOPT_REDIR_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif

  // TLS verification is always on; there is deliberately no option to turn it off.
  set(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  set(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_bundle.empty()) set(easy, CURLOPT_CAINFO, options.ca_bundle.c_str());
  // Empty: libcurl reads http_proxy, https_proxy, all_proxy and no_proxy itself.
  if (!options.proxy.empty()) set(easy, CURLOPT_PROXY, options.proxy.c_str());
  if (options.connect_timeout.count() > 0) {
    set(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  }
  set(easy, CURLOPT_MAXREDIRS, max_redirects);
  set(easy, CURLOPT_HEADERFUNCTION, &on_header);
  set(easy, CURLOPT_WRITEFUNCTION, &on_body);
  set(easy, CURLOPT_XFERINFOFUNCTION, &on_progress);
  slot.fixed_options_set = true;
}

void CurlTransport::Impl::set_headers(Slot& slot, const HttpRequest& request) {
  if (slot.header_list.list != nullptr && request.headers == slot.header_source) return;
  HeaderList headers;
  for (const auto& [name, value] : request.headers) {
    if (!is_token(name) || has_line_break(value)) {
      // The value is not quoted: it may be a credential.
      throw ValidationError(
          "The request header \"" + name +
          "\" has an invalid name or a line break in its value; it was not sent.");
    }
    std::string line = name;
    line += ": ";
    line += value;
    headers.append(line);
  }
  // libcurl would otherwise send "Expect: 100-continue" for larger bodies and wait for a reply
  // that many servers never send.
  headers.append("Expect:");
  // Forget the old source first: if the copy below throws, the next request rebuilds the list.
  slot.header_source.clear();
  set(slot.easy, CURLOPT_HTTPHEADER, headers.list);
  slot.header_list.swap(headers);
  slot.header_source = request.headers;
}

void CurlTransport::Impl::configure(Slot& slot, const HttpRequest& request, Transfer& transfer) {
  if (!is_token(request.method)) {
    throw ValidationError("The HTTP method \"" + request.method + "\" is not a valid method name.");
  }
  if (!slot.fixed_options_set) set_fixed_options(slot);
  set_headers(slot, request);
  CURL* easy = slot.easy;
  slot.error_buffer[0] = '\0';

  // Every option below may differ from the slot's previous request, so each is set every time.
  set(easy, CURLOPT_URL, request.url.c_str());
  set(easy, CURLOPT_TIMEOUT_MS,
      request.timeout.count() == 0 ? 0L
                                   : static_cast<long>(std::max<std::chrono::milliseconds::rep>(
                                         request.timeout.count(), 1)));
  set(easy, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  // The key never reaches a proxy in clear text: a keyed plain-http request (base_url allows
  // http only to loopback) goes direct. Otherwise an explicit proxy serves every host, whatever
  // $no_proxy says; without one (null), libcurl reads the *_proxy variables and no_proxy.
  const char* no_proxy = nullptr;
  if (sends_key_in_clear(request)) {
    no_proxy = "*";
  } else if (!options.proxy.empty()) {
    no_proxy = "";
  }
  set(easy, CURLOPT_NOPROXY, no_proxy);

  if (request.method == "GET" || request.method == "HEAD") {
    // A POST's body pointer is dropped (setting it selects POST, so before HTTPGET).
    set(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(-1));
    set(easy, CURLOPT_POSTFIELDS, static_cast<const char*>(nullptr));
    set(easy, CURLOPT_CUSTOMREQUEST, static_cast<const char*>(nullptr));
    set(easy, CURLOPT_HTTPGET, 1L);  // also turns NOBODY off
    if (request.method == "HEAD") set(easy, CURLOPT_NOBODY, 1L);
  } else {
    set(easy, CURLOPT_CUSTOMREQUEST, request.method == "POST" ? nullptr : request.method.c_str());
    set(easy, CURLOPT_POST, 1L);
    set(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    set(easy, CURLOPT_POSTFIELDS, request.body.data());
  }
  // Billing safety. When a request fails on a reused keep-alive connection before any reply
  // byte arrives, libcurl silently sends it again on a new connection (it assumes the server
  // closed the idle connection first). The server may in fact have received and acted on the
  // first copy, and every POST /runs is billed, with no idempotency key to deduplicate it. A
  // fresh connection is never retried that way, so a create reaches the server at most once
  // per attempt and the retry decision stays with the SDK's retry rules. GETs keep reusing.
  set(easy, CURLOPT_FRESH_CONNECT, is_safe_method(request.method) ? 0L : 1L);

  set(easy, CURLOPT_HEADERDATA, static_cast<void*>(&transfer));
  set(easy, CURLOPT_WRITEDATA, static_cast<void*>(&transfer));
  set(easy, CURLOPT_XFERINFODATA, static_cast<void*>(&transfer));
  set(easy, CURLOPT_NOPROGRESS, request.cancel != nullptr ? 0L : 1L);
}

CURLcode CurlTransport::Impl::run(Slot& slot, const HttpRequest& request, Transfer& transfer) {
  // Made on first use here: a slot of the event loop's pool runs in the loop's multi handle and
  // would only carry an unused one (a connection cache and a handle of its own).
  if (slot.multi == nullptr) slot.multi = curl_multi_init();
  if (slot.multi == nullptr) throw std::bad_alloc();
  CURLMcode mc = curl_multi_add_handle(slot.multi, slot.easy);
  if (mc != CURLM_OK) {
    if (mc == CURLM_OUT_OF_MEMORY) throw std::bad_alloc();
    throw ConnectionError(std::string("libcurl could not start the request: ") +
                          curl_multi_strerror(mc) + ".");
  }
  struct Detach {
    Slot& slot;
    // Removing an unfinished transfer (a cancellation) closes its connection.
    ~Detach() { curl_multi_remove_handle(slot.multi, slot.easy); }
  } detach{slot};

  const int wait_ms = request.cancel != nullptr ? cancel_poll_ms : 1000;
  for (;;) {
    int running = 0;
    mc = curl_multi_perform(slot.multi, &running);
    if (mc != CURLM_OK) break;
    if (running == 0) break;
    if (request.cancel != nullptr && request.cancel->cancelled()) {
      transfer.cancelled = true;
      return CURLE_ABORTED_BY_CALLBACK;
    }
    // Returns early when a socket is ready or a libcurl timer (the timeouts) is due.
    mc = curl_multi_poll(slot.multi, nullptr, 0, wait_ms, nullptr);
    if (mc != CURLM_OK) break;
  }
  if (mc == CURLM_OUT_OF_MEMORY) throw std::bad_alloc();
  if (mc != CURLM_OK) {
    throw ConnectionError(
        std::string("libcurl failed while running the request: ") + curl_multi_strerror(mc) + ".",
        true);
  }
  CURLcode result = CURLE_OK;
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(slot.multi, &queued)) {
    if (message->msg == CURLMSG_DONE && message->easy_handle == slot.easy) {
      result = message->data.result;
    }
  }
  return result;
}

void CurlTransport::Impl::fail(CURL* easy, CURLcode code, const HttpRequest& request,
                               const Transfer& transfer, const char* error_buffer) {
  if (transfer.callback_error) std::rethrow_exception(transfer.callback_error);

  char* effective_url = nullptr;
  curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective_url);
  const UrlParts url = describe_url(effective_url != nullptr ? effective_url : request.url.c_str());
  const std::string what = request.method + " " + url.display;

  // Whether any byte of the request may have left this machine. libcurl records the pretransfer
  // time (never 0 once reached: it counts at least 1 us) when the connection is ready and the
  // request has been handed to it, and adds up CURLINFO_REQUEST_SIZE as request bytes are
  // written; both are reset at the start of every transfer. While both are 0 the failure came
  // from name resolution, the TCP connect, the TLS handshake or a proxy tunnel: nothing of the
  // request was sent. Errors that can only happen on an open exchange (SEND/RECV errors, an
  // empty or partial reply) count as sent whatever these say.
  curl_off_t pretransfer = 0;
  curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
  long request_size = 0;
  curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_size);
  const bool sent = pretransfer > 0 || request_size > 0;

  long redirects = 0;
  curl_easy_getinfo(easy, CURLINFO_REDIRECT_COUNT, &redirects);

  std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  const std::string because = " (" + detail + ")";
  const std::string unknown = " It may have reached the server, so its effect is unknown.";
  // Only the configured proxy is named: libcurl 7.x cannot say whether an environment proxy (or
  // no_proxy) applied.
  const std::string via =
      options.proxy.empty() ? std::string()
                            : " through the proxy " + describe_url(options.proxy.c_str()).endpoint;

  if (transfer.cancelled || code == CURLE_ABORTED_BY_CALLBACK) {
    throw CancelledError("The request " + what + " was cancelled.");
  }
  if (transfer.too_large) {
    throw ProtocolError("The server's reply to " + what + " was refused: response larger than " +
                            std::to_string(request.max_response_bytes) +
                            " bytes, the most this request accepts.",
                        true);
  }
  if (transfer.file_failed) {
    throw Error("Could not write the download from " + url.display + " to " +
                transfer.file->string() +
                ": check that the directory exists, is writable and has free space.");
  }

  // A proxy that answered the CONNECT with an error opened no tunnel: the request never left
  // for the server, whatever the byte counts say (they include the CONNECT).
  long connect_code = 0;
  curl_easy_getinfo(easy, CURLINFO_HTTP_CONNECTCODE, &connect_code);
  if (connect_code != 0 && (connect_code < 200 || connect_code >= 300)) {
    const std::string proxy = options.proxy.empty()
                                  ? std::string("The proxy")
                                  : "The proxy " + describe_url(options.proxy.c_str()).endpoint;
    throw ConnectionError(
        proxy + " refused to open a tunnel to " + url.endpoint + " for " + what + " (HTTP " +
        std::to_string(connect_code) + "); nothing was sent to the server." +
        (connect_code == 407
             ? " It wants credentials: put them in the proxy URL (http://user:password@host:port)."
             : " Check the proxy settings (ClientOptions::proxy, the *_proxy variables)."));
  }

  switch (code) {
    case CURLE_OUT_OF_MEMORY:
      throw std::bad_alloc();
    case CURLE_UNSUPPORTED_PROTOCOL:
      if (redirects > 0) {
        throw ProtocolError(what + " was redirected to a URL that is not http or https; only " +
                                "http and https are followed" + because + ".",
                            true);
      }
      throw ConnectionError("Only http and https URLs are supported; " + what + " was not sent" +
                            because + ".");
    case CURLE_URL_MALFORMAT:
      throw ConnectionError("The URL of the " + request.method +
                            " request is malformed and was not sent" + because +
                            ": check base_url or the download URL.");
    case CURLE_COULDNT_RESOLVE_PROXY:
      throw ConnectionError("Could not resolve the proxy's host name for " + what + because +
                            ": check ClientOptions::proxy or the *_proxy environment variables.");
    case CURLE_COULDNT_RESOLVE_HOST:
      throw ConnectionError("Could not resolve the host name " + url.host + " for " + what +
                            because + ": check the URL (base_url) and this machine's DNS and " +
                            "network connection.");
    case CURLE_COULDNT_CONNECT:
      throw ConnectionError("Could not connect to " + url.endpoint + via + " for " + what +
                            because + ": check that the server is running, that the URL and " +
                            "port are right, and that no firewall or proxy setting blocks it.");
    case CURLE_OPERATION_TIMEDOUT: {
      if (!sent) {
        const bool request_limit =
            request.timeout.count() > 0 &&
            (options.connect_timeout.count() <= 0 || request.timeout <= options.connect_timeout);
        throw TimeoutError("Timed out connecting to " + url.endpoint + via + " for " + what +
                           because + "; nothing was sent. Check the network, firewall and " +
                           "proxy, or raise " +
                           (request_limit ? "the request timeout." : "connect_timeout."));
      }
      throw TimeoutError("No complete reply to " + what + " within the request timeout of " +
                             std::to_string(request.timeout.count()) + " ms" + because + "." +
                             unknown,
                         true);
    }
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      throw LastingConnectionError(
          "The TLS certificate of " + url.endpoint + " could not be verified for " + what +
              because + ". If the server uses a private CA, pass that CA's PEM file in " +
              "ClientOptions::ca_bundle; TLS verification cannot be turned off.",
          sent);
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
      throw LastingConnectionError(
          "Could not load the trusted CA certificates" + because + " for " + what +
              ": check that ClientOptions::ca_bundle (\"" + options.ca_bundle +
              "\") names a readable PEM file, or that the " +
              "system's CA certificates are installed.",
          sent);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
      throw ConnectionError(
          "The TLS handshake with " + url.endpoint + " failed for " + what + because +
              ": check that the URL uses https on a TLS port and that " +
              "this machine's clock is right; a private CA goes in " +
              "ClientOptions::ca_bundle (TLS verification cannot be turned " + "off).",
          sent);
    case CURLE_GOT_NOTHING:
      throw ConnectionError(url.endpoint + " closed the connection without replying to " + what +
                                because + "." + unknown,
                            true);
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      throw ConnectionError(
          "The connection to " + url.endpoint + " broke during " + what + because + "." + unknown,
          true);
    case CURLE_PARTIAL_FILE:
      throw ConnectionError("The connection to " + url.endpoint +
                                " closed before the whole reply to " + what + " arrived" + because +
                                "." + unknown,
                            true);
    case CURLE_TOO_MANY_REDIRECTS:
      throw ProtocolError(what + " was redirected more than " + std::to_string(max_redirects) +
                              " times: check the URL.",
                          true);
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_FILESIZE_EXCEEDED:
      throw ProtocolError("The reply to " + what + " could not be read" + because + "." + unknown,
                          sent);
    default:
      if (sent) {
        throw ConnectionError(what + " failed" + because + "." + unknown, true);
      }
      throw ConnectionError(what + " failed before anything was sent" + because +
                            ": check the URL, the network and any proxy settings.");
  }
}

HttpResponse CurlTransport::Impl::perform(const HttpRequest& request,
                                          const std::filesystem::path* file,
                                          const std::function<void(std::string_view)>* on_data) {
  if (request.cancel != nullptr && request.cancel->cancelled()) {
    throw CancelledError("The request " + request.method + " " +
                         describe_url(request.url.c_str()).display +
                         " was cancelled before it was sent.");
  }
  Transfer transfer;
  transfer.request = &request;
  transfer.file = file;
  transfer.on_data = on_data;

  std::unique_ptr<Slot> slot = acquire();
  struct Return {
    Impl& impl;
    std::unique_ptr<Slot>& slot;
    ~Return() { impl.release(std::move(slot)); }
  } give_back{*this, slot};

  // A partly written download is removed whatever goes wrong.
  struct RemovePartialFile {
    Transfer& transfer;
    bool keep = false;
    ~RemovePartialFile() {
      if (keep || !transfer.file_opened) return;
      transfer.out.reset();  // closes the file
      std::error_code ignored;
      std::filesystem::remove(*transfer.file, ignored);
    }
  } cleanup{transfer};

  configure(*slot, request, transfer);
  const CURLcode code = run(*slot, request, transfer);
  HttpResponse response = take_response(*slot, request, transfer, code);

  if (file != nullptr && is_success(response.status)) {
    if (!transfer.file_opened) {  // an empty 2xx body still creates an empty file
      transfer.out.emplace(*file, std::ios::binary | std::ios::trunc);
      transfer.file_opened = true;
    }
    transfer.out->close();
    if (!*transfer.out) {
      transfer.file_failed = true;
      throw Error("Could not write the download to " + file->string() +
                  ": check that the directory exists, is writable and has free space.");
    }
    cleanup.keep = true;
  }
  return response;
}

HttpResponse CurlTransport::Impl::take_response(Slot& slot, const HttpRequest& request,
                                                Transfer& transfer, CURLcode code) {
  long status = 0;
  curl_easy_getinfo(slot.easy, CURLINFO_RESPONSE_CODE, &status);
  if (code != CURLE_OK) {
    // A download's error body was cut at its cap on purpose: that is a complete answer.
    const bool cut_on_purpose = code == CURLE_WRITE_ERROR && transfer.error_body_cut &&
                                !transfer.too_large && !transfer.callback_error;
    if (!cut_on_purpose) fail(slot.easy, code, request, transfer, slot.error_buffer);
  }
  transfer.response.status = static_cast<int>(status);
  return std::move(transfer.response);
}

CurlTransport::CurlTransport(CurlTransportOptions options) {
  global_init();
  impl_ = std::make_unique<Impl>(std::move(options));
}

CurlTransport::~CurlTransport() = default;

HttpResponse CurlTransport::send(const HttpRequest& request) {
  return impl_->perform(request, nullptr, nullptr);
}

HttpResponse CurlTransport::send_to_file(const HttpRequest& request,
                                         const std::filesystem::path& file) {
  return impl_->perform(request, &file, nullptr);
}

HttpResponse CurlTransport::send_streaming(const HttpRequest& request,
                                           const std::function<void(std::string_view)>& on_data) {
  return impl_->perform(request, nullptr, &on_data);
}

// --- the event loop's transfers -----------------------------------------------------------

// Every transfer of a Client's event loop on one multi handle, driven from the loop's thread:
// the multi handle owns the connection cache, so the loop's polls share warm keep-alive (or
// HTTP/2) connections; its transfers run side by side, each with its own timeout, and none waits
// for another. Handles are pooled like the blocking path's, and configured by the same code.
class CurlLoopHttp final : public LoopHttp {
 public:
  explicit CurlLoopHttp(std::shared_ptr<CurlTransport> transport)
      : transport_(std::move(transport)),
        impl_(*transport_->impl_),
        multi_(curl_multi_init()),
        max_on_wire_(static_cast<std::size_t>(std::min(kMaxOnWire, max_connections()))) {
    if (multi_ == nullptr) throw std::bad_alloc();
    curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_connections());
    // Creates each open a fresh connection (never a reused one that may be stale): without a
    // bound, the cache would keep four per handle ever added, open and idle (docs/PERFORMANCE.md).
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(max_on_wire_));
  }

  ~CurlLoopHttp() override {
    for (auto& [id, active] : active_) {
      if (active.slot) curl_multi_remove_handle(multi_, active.slot->easy);
    }
    active_.clear();
    idle_.clear();
    curl_multi_cleanup(multi_);
  }

  CurlLoopHttp(const CurlLoopHttp&) = delete;
  CurlLoopHttp& operator=(const CurlLoopHttp&) = delete;

  TransferId start(HttpRequest request, Done done) override {
    const TransferId id = next_id_++;
    Active active;
    active.request = std::make_unique<HttpRequest>(std::move(request));
    active.request->cancel = nullptr;  // the loop aborts by removing the handle
    active.done = std::move(done);
    active_.emplace(id, std::move(active));
    waiting_.push_back(id);
    launch_waiting();
    return id;
  }

  void abort(TransferId id, std::exception_ptr error) override {
    const auto it = active_.find(id);
    if (it == active_.end()) return;
    Active active = std::move(it->second);
    active_.erase(it);
    if (active.slot) {
      by_handle_.erase(active.slot->easy);
      // Removing an unfinished transfer closes its connection; the handle is not reused.
      curl_multi_remove_handle(multi_, active.slot->easy);
      --on_wire_;
    }  // else still waiting for a connection: its id in waiting_ is skipped when reached
    active.done(std::nullopt, std::move(error));
    launch_waiting();
  }

  void abort_all(std::exception_ptr error) override {
    waiting_.clear();  // none of them goes on the wire now
    std::vector<TransferId> ids;
    ids.reserve(active_.size());
    for (const auto& [id, active] : active_) ids.push_back(id);
    for (TransferId id : ids) abort(id, error);
    deliver_refused();
  }

  std::size_t active() const override { return active_.size() + refused_.size(); }

  void wait(std::chrono::milliseconds timeout) override {
    if (deliver_refused()) return;
    int running = 0;
    curl_multi_perform(multi_, &running);
    if (collect() > 0) return;
    curl_multi_poll(multi_, nullptr, 0, static_cast<int>(timeout.count()), nullptr);
    curl_multi_perform(multi_, &running);
    collect();
  }

  void wakeup() noexcept override { curl_multi_wakeup(multi_); }

 private:
  struct Active {
    std::unique_ptr<Slot> slot;
    std::unique_ptr<HttpRequest> request;  // the callbacks hold pointers: kept in place
    std::unique_ptr<Transfer> transfer;
    Done done;
  };
  struct Refused {
    TransferId id;
    Done done;
    std::exception_ptr error;
  };

  // Connections kept at once: half of the process's descriptor limit, so that a large fan-out
  // (rate limit off) queues transfers for a connection instead of failing with EMFILE.
  static long max_connections() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 4096;
    return static_cast<long>(std::clamp<rlim_t>(limit.rlim_cur / 2, 8, 65536));
  }

  // Transfers on the wire at once; the rest wait here, their timeouts not yet running. With the
  // rate limit off, 10,000 creates sent at once took a 2-core server down: half of them ended
  // in a request timeout, a create of unknown outcome each (docs/PERFORMANCE.md).
  static constexpr long kMaxOnWire = 256;

  // Puts waiting transfers on the wire while there is room, in the order they were started.
  void launch_waiting() {
    while (on_wire_ < max_on_wire_ && !waiting_.empty()) {
      const TransferId id = waiting_.front();
      waiting_.pop_front();
      const auto it = active_.find(id);
      if (it == active_.end()) continue;  // aborted while waiting
      Active& active = it->second;
      try {
        if (idle_.empty()) {
          active.slot = std::make_unique<Slot>();
        } else {
          active.slot = std::move(idle_.back());
          idle_.pop_back();
        }
        // Made only now: a transfer waiting for room holds its request and nothing more.
        active.transfer = std::make_unique<Transfer>();
        active.transfer->request = active.request.get();
        impl_.configure(*active.slot, *active.request, *active.transfer);
        const CURLMcode mc = curl_multi_add_handle(multi_, active.slot->easy);
        if (mc == CURLM_OUT_OF_MEMORY) throw std::bad_alloc();
        if (mc != CURLM_OK) {
          throw ConnectionError(std::string("libcurl could not start the request: ") +
                                curl_multi_strerror(mc) + ".");
        }
      } catch (...) {
        // Reported from the next wait(), never from inside start() or a `done`.
        refused_.push_back({id, std::move(active.done), std::current_exception()});
        active_.erase(it);
        continue;
      }
      by_handle_.emplace(active.slot->easy, id);
      ++on_wire_;
    }
  }

  bool deliver_refused() {
    if (refused_.empty()) return false;
    std::vector<Refused> refused;
    refused.swap(refused_);
    for (Refused& r : refused) r.done(std::nullopt, std::move(r.error));
    return true;
  }

  // Hands every ended transfer to its `done`; returns how many.
  std::size_t collect() {
    std::size_t ended = 0;
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL* easy = message->easy_handle;
      const CURLcode code = message->data.result;
      const auto handle = by_handle_.find(easy);
      if (handle == by_handle_.end()) continue;
      const auto it = active_.find(handle->second);
      by_handle_.erase(handle);
      if (it == active_.end()) continue;
      Active active = std::move(it->second);
      active_.erase(it);
      curl_multi_remove_handle(multi_, easy);
      --on_wire_;
      std::optional<HttpResponse> response;
      std::exception_ptr error;
      try {
        response = impl_.take_response(*active.slot, *active.request, *active.transfer, code);
      } catch (...) {
        error = std::current_exception();
      }
      // As many as may be on the wire at once: a wave of transfers reuses its handles instead
      // of making new ones.
      if (idle_.size() < max_on_wire_) idle_.push_back(std::move(active.slot));
      ++ended;
      active.done(std::move(response), std::move(error));
    }
    launch_waiting();
    return ended;
  }

  const std::shared_ptr<CurlTransport> transport_;  // keeps impl_ (and its Share) alive
  CurlTransport::Impl& impl_;
  CURLM* multi_;
  const std::size_t max_on_wire_;  // kMaxOnWire, or fewer when descriptors are scarce
  TransferId next_id_ = 1;
  std::unordered_map<TransferId, Active> active_;  // on the wire (with a slot) or waiting
  std::deque<TransferId> waiting_;                 // started, not yet on the wire
  std::size_t on_wire_ = 0;
  std::unordered_map<CURL*, TransferId> by_handle_;
  std::vector<std::unique_ptr<Slot>> idle_;
  std::vector<Refused> refused_;
};

std::unique_ptr<LoopHttp> make_curl_loop_http(std::shared_ptr<CurlTransport> transport) {
  return std::make_unique<CurlLoopHttp>(std::move(transport));
}

}  // namespace detail

std::shared_ptr<HttpTransport> make_curl_transport(const ClientOptions& options) {
  detail::CurlTransportOptions transport_options;
  transport_options.connect_timeout = options.connect_timeout;
  transport_options.ca_bundle = options.ca_bundle;
  transport_options.proxy = options.proxy;
  return std::make_shared<detail::CurlTransport>(std::move(transport_options));
}

}  // namespace runbase
