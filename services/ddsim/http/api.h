// The Datadog API as ddsim serves it, independent of any HTTP library: Handle() maps one
// request to one response. Covers /api/v1/validate, service definitions (page number),
// catalog entities (offset), the APM service list, spans list/search (cursor), spans
// aggregate, trace by id, and ddsim's own /_ddsim/* control surface (ground truth, faults,
// stats). Keys, per-bucket rate limits and injected faults are applied here, so tests and
// benchmarks exercise the same code the server runs. Thread-safe: Handle() may be called
// from many server threads at once.
//
// Layout: a request is classified once into an Endpoint of a Family (endpoint.h); api.cc
// applies faults, keys and limits and dispatches on the family; each family is handled in a
// file of its own (api_catalog.cc, api_spans.cc, api_trace.cc, api_agent.cc,
// api_control.cc). Catalog rendering is catalog_render.h, injected faults faults.h, request
// parameters params.h, the two error styles responses.h.
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
#include "ddsim/http/aggregate_memo.h"
#include "ddsim/http/endpoint.h"
#include "ddsim/http/faults.h"
#include "ddsim/http/message.h"
#include "ddsim/http/params.h"
#include "ddsim/http/rate_limiter.h"
#include "ddsim/http/scorecards.h"
#include "ddsim/http/span_render.h"
#include "ddsim/intake/received.h"
#include "ddsim/traffic/traffic.h"

namespace apmcov::ddsim {

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

class DdsimApi {
 public:
  DdsimApi(const World& world, const TrafficOptions& traffic, ApiOptions options, Clock& clock);

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

  // The largest body the server reads for a request to `path` (the Agent intake takes more).
  size_t MaxBodyBytes(const std::string& path) const;

  ReceivedStore& received() { return received_; }
  int64_t agent_spans_received() const { return agent_spans_.load(); }

 private:
  // Spans whose start falls in one second, sorted by (start, span id). Keeps its buckets alive.
  struct Slice {
    std::shared_ptr<const Bucket> prev, cur;
    std::vector<const Span*> spans;
  };
  std::shared_ptr<const Slice> GetSlice(int64_t index);
  std::shared_ptr<const Bucket> PeekBucket(int64_t index);  // cached bucket or nullptr

  // Counts the answer in the request stats.
  void Count(Endpoint endpoint, const HttpResponse& resp);
  // An API request: faults, keys and rate limits, then its family.
  HttpResponse ApiRequest(Endpoint endpoint, const HttpRequest& r);
  // Dispatches an API request that passed keys and limits to its family.
  HttpResponse Route(Endpoint endpoint, const HttpRequest& r);

  // One handler per family (endpoint.h), each in http/api_<family>.cc.
  HttpResponse ControlEndpoint(Endpoint endpoint, const HttpRequest& r);  // api_control.cc
  HttpResponse AgentEndpoint(Endpoint endpoint, const HttpRequest& r);    // api_agent.cc
  HttpResponse CatalogEndpoint(Endpoint endpoint, const HttpRequest& r);  // api_catalog.cc
  HttpResponse SpansEndpoint(Endpoint endpoint, const HttpRequest& r);    // api_spans.cc
  HttpResponse Trace(const std::string& id);                              // api_trace.cc

  HttpResponse ServiceDefinitions(const HttpRequest& r);
  HttpResponse ServiceDefinition(const HttpRequest& r, const std::string& name);
  HttpResponse CatalogEntities(const HttpRequest& r);
  HttpResponse ApmServices(const HttpRequest& r);
  HttpResponse SpansList(const HttpRequest& r);
  HttpResponse SpansSearch(const HttpRequest& r);
  HttpResponse SpansAggregate(const HttpRequest& r);
  HttpResponse ReceivedTrace(uint64_t lo, uint64_t hi, bool has_hi);
  HttpResponse GroundTruth(const HttpRequest& r);
  HttpResponse Faults(const HttpRequest& r);
  HttpResponse AgentTraces(const HttpRequest& r);
  HttpResponse AgentInfo(const HttpRequest& r);

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
  // An hour and a bit of seconds per aggregate shape: the collector's inventory lookback.
  AggregateMemo aggregate_memo_{4000, 8};

  FaultInjector faults_;

  std::mutex stats_mu_;
  std::map<std::string, std::map<int, int64_t>> stats_;
  std::atomic<int64_t> spans_served_{0};
  std::atomic<uint64_t> request_seq_{0};
};

}  // namespace apmcov::ddsim
