// The HTTP side of the Datadog adapter.
//
//  - HttpTransport: one request, one response; no retries. CurlTransport is the real one
//    (libcurl: one easy handle reused for keep-alive, gzip, connect and total timeouts, TLS
//    verification on).
//  - DatadogHttpClient: adds the auth headers, tracks X-RateLimit-* per bucket (waits before
//    a call while a bucket has Remaining 0), waits X-RateLimit-Reset on 429 (else 2*2^n s),
//    retries 5xx, 408 and timeouts with capped exponential backoff and jitter, and turns
//    error bodies into a Status that says what to do. Every wait goes through the Clock, is
//    bounded by max_rate_limit_wait_s, and ends the call with Cancelled when the clock is
//    cancelled (shutdown).
//  - HttpDatadogSource: the DatadogSource port over DatadogHttpClient.
//
// Keys are sent only as headers and never appear in a Status, a log line or a span.
//
// Traced (design §12) when ClientOptions::tracer is set: each HTTP attempt is a client span
// `http.request` (resource "METHOD /path", peer.service datadog-api, out.host, http.url without
// user-info and without the query, http.status_code, datadog.endpoint), child of the thread's
// active span (the sync), and its context is injected into the request (Datadog and W3C
// headers), as any traced client does.
// None of these classes is thread-safe; each is owned by one sync thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/base/clock.h"
#include "apmcov/base/process.h"
#include "apmcov/datadog/source.h"
#include "apmcov/tracing/tracer.h"

namespace apmcov::datadog {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;                            // decoded (gzip already undone)
  std::string Header(std::string_view lower_name) const;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // DeadlineExceeded on a timeout, Unavailable when no connection could be made or it broke.
  virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;
  // Gives a response body's buffer back, for a later response to be written into without
  // growing a fresh one (a span page is over a megabyte). Optional.
  virtual void RecycleBody(std::string body) { (void)body; }
};

struct TransportOptions {
  int64_t connect_timeout_ms = 5'000;
  int64_t total_timeout_ms = 60'000;
  std::string user_agent = "apmcov-collector/0.1";
  bool verify_tls = true;  // only tests turn this off
  // Polled during a transfer (about once a second and on progress): true aborts it with
  // Cancelled. Default: the process received SIGTERM/SIGINT, so no request outlives it.
  std::function<bool()> cancelled = &ShutdownRequested;
};

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(TransportOptions options = {});
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override;
  // Keeps the largest buffer given back; the next response's body is written into it.
  void RecycleBody(std::string body) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "https://api.<site>", or `override_url` (trailing slash removed) when not empty.
// InvalidArgument naming DD_SITE / DD_API_BASE_URL for a value that cannot be a URL.
absl::StatusOr<std::string> ResolveBaseUrl(std::string_view site, std::string_view override_url);

// Percent-encodes a query component (RFC 3986 unreserved characters kept).
std::string UrlEncode(std::string_view text);

// The URL a span records for a call: `base_url` + `path` with any user-info dropped and no
// query (a query may carry anything; keys never travel there, but nothing is assumed).
std::string UrlForSpan(std::string_view base_url, std::string_view path);
// The host of `base_url` (no user-info, no port, IPv6 brackets kept); "" when there is none.
std::string HostOf(std::string_view base_url);

struct ClientOptions {
  std::string base_url;  // from ResolveBaseUrl
  std::string site;      // for messages ("datadoghq.com" or the override URL)
  std::string api_key;
  std::string app_key;
  int max_retries = 4;          // retries after the first attempt
  double backoff_base_s = 1.0;  // 5xx/timeouts: min(cap, base * 2^n) with jitter in [1/2, 1]
  double backoff_cap_s = 30.0;
  double max_rate_limit_wait_s = 900.0;  // a longer X-RateLimit-Reset fails the call instead
  uint32_t jitter_seed = 0;              // 0: random
  tracing::Tracer* tracer = nullptr;     // null: calls are not traced. Not owned.
};

struct ApiCall {
  std::string endpoint;  // stable name for metrics and rate-limit buckets ("spans_list")
  std::string method = "GET";
  std::string path;  // "/api/v2/spans/events"
  std::vector<std::pair<std::string, std::string>> query;
  std::string body;  // JSON for POST
  bool needs_app_key = true;
  std::string scope;  // the application-key scope the endpoint needs, for 403 messages
  // Reads a 2xx body (the caller keeps what it parsed, and may take the body itself). An error
  // means the body was cut short or garbled in transit: the call is retried like a 5xx, and
  // the error returned after the last attempt.
  std::function<absl::Status(HttpResponse&)> read_body;
};

// What the client knows of one rate-limit bucket.
struct RateLimitBucket {
  int64_t limit = -1;
  int64_t remaining = -1;  // -1: unknown
  Clock::TimePoint reset_at{};
};

class DatadogHttpClient {
 public:
  DatadogHttpClient(ClientOptions options, HttpTransport& transport, Clock& clock,
                    ApiObserver* observer = nullptr);

  // A 2xx response, or the Status of the last attempt once retries are exhausted.
  absl::StatusOr<HttpResponse> Call(const ApiCall& call);
  // A body the caller is done with, its buffer given back to the transport.
  void RecycleBody(std::string body) { transport_.RecycleBody(std::move(body)); }

  // Bucket name (X-RateLimit-Name, else the endpoint) → state. For tests and metrics.
  const std::map<std::string, RateLimitBucket>& buckets() const { return buckets_; }
  const ClientOptions& options() const { return options_; }

 private:
  // False when the clock was cancelled during the wait (the call then ends with Cancelled).
  bool WaitForBucket(const std::string& endpoint);
  void RecordRateLimit(const std::string& endpoint, const HttpResponse& response);
  bool Wait(const std::string& bucket, double seconds, bool rate_limit);
  double Backoff(int attempt);
  absl::Status ErrorFor(const ApiCall& call, const HttpResponse& response, int attempts) const;

  ClientOptions options_;
  HttpTransport& transport_;
  Clock& clock_;
  ApiObserver* observer_;
  std::map<std::string, RateLimitBucket> buckets_;
  std::map<std::string, std::string> endpoint_bucket_;
  std::mt19937 rng_;
};

// The DatadogSource port over HTTP.
class HttpDatadogSource final : public DatadogSource {
 public:
  explicit HttpDatadogSource(DatadogHttpClient& client) : client_(client) {}

  absl::Status Validate() override;
  absl::StatusOr<ServiceDefinitionPage> ListServiceDefinitions(int32_t page_number,
                                                               int32_t page_size) override;
  absl::StatusOr<CatalogEntityPage> ListCatalogEntities(int64_t offset, int32_t limit) override;
  absl::StatusOr<std::vector<v1::ApmObservation>> ListApmServices() override;
  absl::StatusOr<AggregateResult> AggregateSpanCounts(const AggregateQuery& query) override;
  using DatadogSource::ListSpans;
  absl::Status ListSpans(const SpanQuery& query, SpanPage* page) override;
  absl::Status ScanSpans(const SpanQuery& query, SpanPage* page) override;

 private:
  // `whole`: parse the spans in the call (ListSpans), else scan only (ScanSpans).
  absl::Status ReadSpans(const SpanQuery& query, SpanPage* page, bool whole);

  DatadogHttpClient& client_;
};

}  // namespace apmcov::datadog
