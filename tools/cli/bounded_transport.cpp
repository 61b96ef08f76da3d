#include "bounded_transport.hpp"

#include <utility>

namespace runbase::cli {

BoundedTransport::BoundedTransport(std::shared_ptr<HttpTransport> inner,
                                   const CancellationToken& stop,
                                   std::optional<std::chrono::steady_clock::time_point> deadline)
    : inner_(std::move(inner)), stop_(stop), deadline_(deadline) {}

template <typename Send>
HttpResponse BoundedTransport::bounded(const HttpRequest& request, Send&& send) {
  using std::chrono::milliseconds;
  HttpRequest bounded_request = request;
  if (bounded_request.cancel == nullptr) bounded_request.cancel = &stop_;
  bool clipped = false;
  if (deadline_) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(*deadline_ - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      throw DeadlineError("--timeout passed before " + request.method + " " + request.url +
                          " could be sent.");
    }
    // At or under: a caller that clipped to its own, same deadline a moment earlier (CallOptions)
    // is still cut here, so the timeout is reported as --timeout's.
    if (bounded_request.timeout.count() <= 0 || left <= bounded_request.timeout) {
      bounded_request.timeout = left;
      clipped = true;
    }
  }
  try {
    return send(bounded_request);
  } catch (const TimeoutError&) {
    if (!clipped) throw;
    throw DeadlineError("--timeout passed during " + request.method + " " + request.url + ".");
  }
}

HttpResponse BoundedTransport::send(const HttpRequest& request) {
  return bounded(request, [this](const HttpRequest& r) { return inner_->send(r); });
}

HttpResponse BoundedTransport::send_to_file(const HttpRequest& request,
                                            const std::filesystem::path& file) {
  return bounded(request,
                 [this, &file](const HttpRequest& r) { return inner_->send_to_file(r, file); });
}

}  // namespace runbase::cli
