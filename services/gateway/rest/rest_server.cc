#include "rest/rest_server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/net.h>

#include <cctype>
#include <chrono>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "apmcov/base/log.h"
#include "apmcov/base/status.h"
#include "apmcov/tracing/propagation.h"
#include "rest/client_input.h"
#include "rest/json_views.h"

namespace apmcov::gateway {

const char* const kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

namespace {

using namespace Pistache;

const Logger& Log() {
  static const Logger log("gateway.rest");
  return log;
}

// A response header with a name chosen at run time (Pistache 0.0.5 writes only typed headers,
// not the raw ones).
class NamedHeader : public Http::Header::Header {
 public:
  NamedHeader(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void write(std::ostream& os) const override { os << value_; }
#ifdef SAFE_HEADER_CAST
  uint64_t hash() const override { return 0; }
#endif

 private:
  std::string name_, value_;
};

void AddHeader(Http::ResponseWriter& w, std::string name, std::string value) {
  w.headers().add(std::make_shared<NamedHeader>(std::move(name), std::move(value)));
}

void AddSecurityHeaders(Http::ResponseWriter& w) {
  AddHeader(w, "Content-Security-Policy", kContentSecurityPolicy);
  AddHeader(w, "X-Content-Type-Options", "nosniff");
  AddHeader(w, "Referrer-Policy", "no-referrer");
  AddHeader(w, "X-Frame-Options", "DENY");
}

class Handler : public Http::Handler {
 public:
  HTTP_PROTOTYPE(Handler)
  Handler(RestApi* api, GatewayMetrics* metrics, tracing::Tracer* tracer)
      : api_(api), metrics_(metrics), tracer_(tracer) {}

  // The caller's trace context, from the raw headers (Pistache keeps unknown headers raw).
  static std::optional<tracing::SpanContext> Extract(const Http::Request& request) {
    std::map<std::string, std::string> lower;
    for (const auto& [name, raw] : request.headers().rawList()) {
      std::string n = name;
      for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (n.starts_with("x-datadog-") || n == "traceparent" || n == "tracestate") {
        lower[n] = raw.value();
      }
    }
    if (lower.empty()) return std::nullopt;
    return tracing::Extract(tracing::ReadFrom(lower));
  }

  void onRequest(const Http::Request& request, Http::ResponseWriter writer) override {
    auto start = std::chrono::steady_clock::now();
    HttpRequest req;
    req.method = Http::methodString(request.method());
    req.path = request.resource();
    tracing::Span span;
    if (tracer_->enabled()) {
      const std::optional<tracing::SpanContext> parent = Extract(request);
      span = tracer_->StartSpan("http.request", {.type = "web",
                                                 .kind = tracing::kinds::kServer,
                                                 .parent = parent ? &*parent : nullptr,
                                                 .root = !parent.has_value()});
      span.SetTag("http.method", req.method);
    }
    tracing::ActiveSpanScope active(span);
    const auto& query = request.query();
    for (auto it = query.parameters_begin(); it != query.parameters_end(); ++it) {
      req.query[PercentDecode(it->first, true)] = PercentDecode(it->second, true);
    }
    if (auto auth = request.headers().tryGet<Http::Header::Authorization>()) {
      req.authorization = auth->value();
    } else if (auto raw = request.headers().tryGetRaw("Authorization")) {
      req.authorization = raw->value();
    }
    req.body = request.body();
    req.request_id = NewRequestId();
    HttpResponse resp;
    try {
      resp = api_->Handle(req);
    } catch (const std::exception& e) {
      Log().Error("request failed",
                  {{"request_id", req.request_id}, {"path", req.path}, {"error", e.what()}});
      resp = HttpResponse{};
      resp.status = 500;
      resp.body =
          ErrorBody("internal", "internal error; request id " + req.request_id, req.request_id);
      resp.route = "unmatched";
      resp.headers.push_back({"X-Request-Id", req.request_id});
    }
    AddSecurityHeaders(writer);
    for (const auto& [k, v] : resp.headers) AddHeader(writer, k, v);
    if (resp.next_chunk) {
      Stream(resp, writer);
    } else {
      writer.send(static_cast<Http::Code>(resp.status), resp.body,
                  Http::Mime::MediaType::fromString(resp.content_type));
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics_->ObserveHttp(resp.route, req.method, resp.status, secs);
    if (span.recording()) {
      span.SetResource(absl::StrCat(req.method, " ", resp.route));
      span.SetTag("http.route", resp.route);
      span.SetTag("http.url", req.path);  // the path only: a query may hold anything
      span.SetTag("http.status_code", std::to_string(resp.status));
      span.SetTag("http.request_id", req.request_id);
      if (resp.status >= 500) span.SetError(absl::StrCat("HTTP ", resp.status));
    }
  }

  // Sends the body part by part with chunked transfer encoding, so an export is never held
  // whole in memory.
  static void Stream(HttpResponse& resp, Http::ResponseWriter& writer) {
    writer.setMime(Http::Mime::MediaType::fromString(resp.content_type));
    Http::ResponseStream stream = writer.stream(static_cast<Http::Code>(resp.status));
    std::string chunk;
    try {
      while (resp.next_chunk(chunk)) {
        if (chunk.empty()) continue;  // an empty chunk would end the body
        stream.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));  // one chunk
        stream.flush();
      }
    } catch (const std::exception& e) {
      // The status line is out: all that is left is to end the answer short.
      Log().Error("streaming a response failed", {{"route", resp.route}, {"error", e.what()}});
    }
    stream.ends();
  }

  void onTimeout(const Http::Request&, Http::ResponseWriter writer) override {
    AddSecurityHeaders(writer);
    writer.send(Http::Code::Request_Timeout, ErrorBody("deadline_exceeded", "request timed out"),
                MIME(Application, Json));
    metrics_->ObserveHttp("timeout", "", 408, 0);
  }

 private:
  RestApi* api_;
  GatewayMetrics* metrics_;
  tracing::Tracer* tracer_;
};

}  // namespace

struct RestServer::Impl {
  RestApi* api;
  GatewayMetrics* metrics;
  RestServerOptions options;
  tracing::Tracer* tracer = nullptr;
  std::unique_ptr<Http::Endpoint> endpoint;
  uint16_t port = 0;
  bool started = false;
};

RestServer::RestServer(RestApi& api, GatewayMetrics& metrics, RestServerOptions options,
                       tracing::Tracer& tracer)
    : impl_(std::make_unique<Impl>()) {
  impl_->tracer = &tracer;
  impl_->api = &api;
  impl_->metrics = &metrics;
  impl_->options = std::move(options);
  impl_->port = impl_->options.port;
}

RestServer::~RestServer() { Stop(); }

absl::Status RestServer::Start() {
  if (impl_->started) return absl::FailedPreconditionError("REST server already started");
  try {
    Address addr(impl_->options.bind_address, Port(impl_->options.port));
    impl_->endpoint = std::make_unique<Http::Endpoint>(addr);
    auto opts = Http::Endpoint::options()
                    .threads(impl_->options.threads)
                    .flags(Tcp::Options::ReuseAddr)
                    .maxRequestSize(impl_->options.max_request_bytes)
                    .maxResponseSize(64 * 1024 * 1024)
                    .headerTimeout(impl_->options.header_timeout)
                    .bodyTimeout(impl_->options.body_timeout);
    impl_->endpoint->init(opts);
    impl_->endpoint->setHandler(
        Http::make_handler<Handler>(impl_->api, impl_->metrics, impl_->tracer));
    impl_->endpoint->serveThreaded();
    impl_->port = static_cast<uint16_t>(impl_->endpoint->getPort());
    impl_->started = true;
  } catch (const std::invalid_argument& e) {
    impl_->endpoint.reset();
    return absl::InvalidArgumentError(absl::StrCat("HTTP bind address: ", e.what()));
  } catch (const std::exception& e) {
    impl_->endpoint.reset();
    return absl::UnavailableError(absl::StrCat("HTTP server: ", e.what()));
  }
  return absl::OkStatus();
}

void RestServer::Stop() {
  if (impl_->endpoint) {
    impl_->endpoint->shutdown();
    impl_->endpoint.reset();
  }
  impl_->started = false;
}

uint16_t RestServer::port() const { return impl_->port; }

}  // namespace apmcov::gateway
