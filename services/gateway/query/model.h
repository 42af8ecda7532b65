// The views the gateway answers with (design §8), over the store's rows (libs/store records.h,
// read through the ReadModel port). Plain values, no I/O. Times are Unix nanoseconds; 0 or
// std::nullopt means "absent".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apmcov/store/records.h"

namespace apmcov::gateway {

// The rows come from the store's ReadModel port, in the store's own types.
using store::ApmServiceRow;
using store::BrokenTraceRecord;
using store::DependencyRow;
using store::ServiceRow;
using store::SyncJobRecord;

// ---- Views (what the API answers) ----

struct CoverageBucket {
  std::string key;
  int64_t total = 0, instrumented = 0;
  double coverage_pct = 0;
};

// A catalog service with its APM facts merged in (design §5).
struct ServiceView {
  std::string name, team;
  std::vector<std::string> envs;  // catalog env tags ∪ APM envs (without "*"), sorted
  std::string infra;              // tag, else inferred from spans, else "unknown"
  std::vector<std::string> languages;
  std::string tier, lifecycle;
  bool customer_facing = false;
  bool instrumented = false;
  bool usm_only = false;
  int64_t span_count = 0;
  std::optional<int64_t> last_seen;
  bool deprecated = false;
  std::vector<std::string> instrumented_envs;  // envs where APM traced it
};

struct ServicesPage {
  std::vector<ServiceView> services;
  int64_t total = 0;
  std::string next_page_token;  // "" on the last page
};

struct ServiceDetailView {
  ServiceView service;
  ServiceRow row;
  std::vector<ApmServiceRow> apm;                // by env
  std::vector<DependencyRow> dependencies;       // every one of the service
  std::vector<BrokenTraceRecord> broken_traces;  // the latest 20, without gaps and spans
};

// One proportion of the sample: `broken` of `judged` judged traces, with its 95% Wilson
// interval. `key` is a root service ("" = rootless), a missing service or a gap kind.
struct SampleBucket {
  std::string key;
  int64_t judged = 0, broken = 0;
  double broken_rate = 0, broken_rate_low = 0, broken_rate_high = 1;
};

// The sample estimate over the lookback (design §7.1): counts are of judged traces, a sample
// of the retained ones when the collector sampled (sampled_share < 1).
struct SampleEstimate {
  std::optional<double> sampled_share;  // none when no sync job finished within the lookback
  int64_t judged_traces = 0, broken_traces = 0;
  double broken_rate = 0, broken_rate_low = 0, broken_rate_high = 1;
  // broken / sampled_share / lookback hours: an estimate for all retained traffic; none when
  // sampled_share is none or 0.
  std::optional<double> broken_traces_per_hour;
  std::vector<SampleBucket> by_root_service;     // by judged desc, then key
  std::vector<SampleBucket> by_missing_service;  // by broken desc, then key; judged = all
  std::vector<SampleBucket> by_gap_kind;         // by broken desc, then key; judged = all
};

struct Stats {
  int64_t total_services = 0, instrumented_services = 0;
  double coverage_pct = 0;
  std::vector<CoverageBucket> by_team, by_env, by_infra, by_language;
  std::vector<std::string> customer_facing_without_apm, usm_only;
  int64_t shadow_services = 0;
  int64_t broken_traces = 0;
  std::optional<SyncJobRecord> last_sync;
  SampleEstimate sample;
};

struct CoverageHistoryPoint {
  int64_t taken_at = 0;
  std::vector<CoverageBucket> buckets;
};

struct ShadowServiceView {
  std::string name;
  std::vector<std::string> envs;
  int64_t span_count = 0;
  std::optional<int64_t> last_seen;
};

struct TracesPageView {
  std::vector<BrokenTraceRecord> traces;  // without gaps and spans
  int64_t total = 0;
  std::string next_page_token;
};

struct DependenciesPageView {
  std::vector<DependencyRow> dependencies;  // by (from_service, to_name, kind)
  int64_t total = 0;                        // every dependency matching the filter
  std::string next_page_token;              // "" on the last page
};

// "Instrument next" (design §8): one catalog service without APM (or USM-only), ranked.
struct RecommendationView {
  std::string name, team;
  bool customer_facing = false;
  bool usm_only = false;
  int64_t broken_traces = 0;  // judged broken traces of the lookback naming it as missing
  // broken_traces / sampled_share / lookback hours: an estimate for all retained traffic; none
  // when no sync finished within the lookback (no sampled share).
  std::optional<double> broken_traces_per_hour;
  std::vector<std::string> callers;         // distinct services calling it, byte order
  std::vector<std::string> teams_affected;  // teams of its callers and of its broken traces
  std::vector<uint64_t> example_trace_ids;  // up to 3, newest first
};

struct RecommendationsView {
  std::vector<RecommendationView> recommendations;  // ranked, at most `limit`
  int64_t total = 0;                                // every service ranked, whatever the limit
  std::optional<double> sampled_share;              // the sample the hourly estimates divide by
  int64_t lookback_hours = 0;
};

// The service map (design §8). Node ids: a service's name; "datastore:<name>",
// "queue:<name>"; "external:<caller>" (collapsed: every external host one caller calls) or
// "external:<host>" (expanded).
struct ServiceMapNode {
  std::string id, label;
  std::string kind;  // instrumented, uninstrumented, usm_only, shadow, datastore, queue, external
  std::string team;
  bool customer_facing = false;
  std::vector<std::string> names;  // a collapsed external node: the hosts it stands for
};

struct ServiceMapEdge {
  std::string from, to;  // node ids
  std::string kind;      // call, db, queue
  int64_t traces = 0;    // distinct traces the edge was seen in (dependencies)
  int64_t broken_traces = 0;
  std::vector<std::string> gap_kinds;
};

struct ServiceMapView {
  std::vector<ServiceMapNode> nodes;  // by id
  std::vector<ServiceMapEdge> edges;  // by (from, to, kind)
  bool truncated = false;             // more edges than the gateway draws (max_map_edges)
  int64_t lookback_hours = 0;
};

}  // namespace apmcov::gateway
