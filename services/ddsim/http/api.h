// The Datadog API as ddsim serves it, independent of any HTTP library: Handle() maps one
// request to one response. Covers /api/v1/validate, service definitions (page number),
// catalog entities (offset), the APM service list, spans list/search (cursor), spans
// aggregate, trace by id, and ddsim's own /_ddsim/* control surface (ground truth, faults,
// stats). Keys, per-bucket rate limits and injected faults are applied here, so tests and
// benchmarks exercise the same code the server runs. Thread-safe: Handle() may be called
// from many server threads at once.
//
// ddsim is also a Datadog Agent (design §12): PUT or POST /v0.4/traces (msgpack) and GET /info,
// without keys, rate limits or faults, like a local Agent. What it receives joins the org:
// received spans are served by the spans list, search, aggregate and trace endpoints with the
// generated ones (a second's spans in (start, span id) order, so a page cursor stays valid
// unless spans of that second arrive after it was read, as with Datadog's own ingestion
// delay), their services appear in the APM service list, and the ground truth judges them.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "apmcov/base/clock.h"
#include "ddsim/http/rate_limiter.h"
#include "ddsim/http/scorecards.h"
#include "ddsim/http/span_render.h"
#include "ddsim/intake/received.h"
#include "ddsim/traffic/traffic.h"

namespace apmcov::ddsim {

struct HttpRequest {
  std::string method;                                      // "GET", "POST", ...
  std::string path;                                        // without the query string
  std::vector<std::pair<std::string, std::string>> query;  // percent-decoded
  std::map<std::string, std::string> headers;              // lowercase names
  std::string body;

  const std::string* Query(const std::string& name) const;
  const std::string* Header(const std::string& lowercase_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int64_t delay_ms = 0;          // the server waits this long before answering
  bool drop_connection = false;  // the server closes the connection without answering
};

struct ApiOptions {
  std::string api_key;  // "" = any non-empty key is accepted
  std::string app_key;  // "" = any non-empty key is accepted
  std::map<std::string, RateLimit> rate_limits = RateLimiter::Defaults();
  int64_t aggregate_budget_ms = 5000;      // aggregate answers status "timeout" past this
  size_t bucket_cache = 16;                // generated buckets kept in memory
  size_t agent_max_spans = 200'000;        // received spans kept (oldest seconds evicted first)
  size_t agent_max_body_bytes = 25 << 20;  // a larger /v0.4/traces body answers 413
  // The application key has apm_service_catalog_write (Scorecards writes; else 403).
  bool scorecard_write_scope = true;
};

// Faults applied to the next API requests (never to /_ddsim/*). Counts are consumed in the
// order below; rates are independent per request (seeded, reproducible).
struct FaultPlan {
  int64_t rate_limit_burst = 0;  // next N answer 429
  int64_t server_errors = 0;     // next N answer server_error_status
  int server_error_status = 503;
  int64_t slow_requests = 0;  // next N wait slow_ms first
  int64_t slow_ms = 0;
  int64_t malformed = 0;  // next N bodies are invalid JSON
  int64_t truncated = 0;  // next N bodies are cut in half
  int64_t drop = 0;       // next N connections are closed without an answer
  double server_error_rate = 0, rate_limit_rate = 0, malformed_rate = 0, slow_rate = 0;
  std::string endpoint;  // only requests to this endpoint name ("" = all)
  // Faults on given API request numbers (1-based, counted from when the plan was set).
  std::vector<int64_t> server_error_at, rate_limit_at, malformed_at, drop_at;
};
absl::StatusOr<FaultPlan> ParseFaultPlan(std::string_view json);

class DdsimApi {
 public:
  DdsimApi(const World& world, TrafficOptions traffic, ApiOptions options, Clock& clock);

  HttpResponse Handle(const HttpRequest& request);

  // Generated bucket `index` (cached).
  std::shared_ptr<const Bucket> GetBucket(int64_t index);
  const TrafficOptions& traffic() const { return traffic_; }
  const SpanRenderer& renderer() const { return renderer_; }
  void SetFaults(const FaultPlan& plan);
  std::string StatsJson();
  // Requests served so far: endpoint name → HTTP status → count (for /metrics).
  std::map<std::string, std::map<int, int64_t>> RequestCounts();
  int64_t spans_served() const { return spans_served_.load(); }

  // Endpoint name of a request ("spans_list", ...), "" when unknown.
  static std::string EndpointName(const std::string& method, const std::string& path);
  // The largest body the server reads for a request to `path` (the Agent intake takes more).
  size_t MaxBodyBytes(const std::string& path) const;

  ReceivedStore& received() { return received_; }
  int64_t agent_spans_received() const { return agent_spans_.load(); }

 private:
  struct Slice;
  std::shared_ptr<const Slice> GetSlice(int64_t index);
  std::shared_ptr<const Bucket> PeekBucket(int64_t index);  // cached bucket or nullptr

  HttpResponse Route(const HttpRequest& r, const std::string& endpoint);
  HttpResponse Validate(const HttpRequest& r);
  HttpResponse ServiceDefinitions(const HttpRequest& r);
  HttpResponse ServiceDefinition(const HttpRequest& r, const std::string& name);
  HttpResponse CatalogEntities(const HttpRequest& r);
  HttpResponse ApmServices(const HttpRequest& r);
  HttpResponse SpansList(const HttpRequest& r);
  HttpResponse SpansSearch(const HttpRequest& r);
  HttpResponse SpansAggregate(const HttpRequest& r);
  HttpResponse Trace(const HttpRequest& r, const std::string& id);
  HttpResponse GroundTruth(const HttpRequest& r);
  HttpResponse Faults(const HttpRequest& r);
  HttpResponse AgentTraces(const HttpRequest& r);
  HttpResponse AgentInfo(const HttpRequest& r);
  HttpResponse ReceivedTrace(uint64_t lo, uint64_t hi, bool has_hi);

  struct SpanPageRequest {
    std::string query_text;
    bool query_given = false;
    int64_t from_ns = 0, to_ns = 0;
    bool ascending = false;
    bool sort_given = false;
    int64_t limit = 10;
    std::string cursor;
    std::string host;   // for links.next
    bool post = false;  // search: even the final empty page is application/vnd.api+json
  };
  HttpResponse SpanPage(const SpanPageRequest& p);

  const World& world_;
  const TrafficOptions traffic_;
  const ApiOptions options_;
  Clock& clock_;
  SpanRenderer renderer_;
  RateLimiter limiter_;
  // The service definitions served: the generated catalog in listing order, then the
  // tracker's own entries (World::self_services).
  std::vector<const Service*> catalog_;
  ReceivedStore received_;
  ScorecardEndpoints scorecards_{clock_, options_.scorecard_write_scope};
  std::atomic<int64_t> agent_payloads_{0}, agent_spans_{0}, agent_traces_{0},
      agent_dropped_spans_{0};

  std::mutex cache_mu_;
  std::list<std::pair<int64_t, std::shared_ptr<const Bucket>>> buckets_;  // MRU first
  std::list<std::pair<int64_t, std::shared_ptr<const Slice>>> slices_;

  std::mutex faults_mu_;
  FaultPlan faults_;
  int64_t fault_seq_ = 0;  // API requests since the plan was set
  Rng fault_rng_{0xFA017};

  std::mutex stats_mu_;
  std::map<std::string, std::map<int, int64_t>> stats_;
  std::atomic<int64_t> spans_served_{0};
  std::atomic<uint64_t> request_seq_{0};
};

// Parses a Datadog time: ISO 8601, epoch milliseconds, or `now`, `now-15m` (s, m, h, d, w).
absl::StatusOr<int64_t> ParseDatadogTime(std::string_view text, int64_t now_ns);

}  // namespace apmcov::ddsim
