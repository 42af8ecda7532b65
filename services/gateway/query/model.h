// Rows the gateway reads from the store (libs/store/migrations/0001_init.sql) and the views it
// answers with (design §8). Plain values, no I/O. Times are Unix nanoseconds; 0 or
// std::nullopt means "absent".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace apmcov::gateway {

// One row of `services` (catalog entry).
struct ServiceRow {
  std::string name, team, application, tier, lifecycle, type;
  std::vector<std::string> languages, envs, tags;
  std::string infra;  // from a catalog tag; "" when none
  bool customer_facing = false;
  std::string links_json = "[]";
  std::string schema_version, description;
  int64_t first_seen = 0, last_synced = 0;
  std::optional<int64_t> removed_at;
};

// One row of `apm_services`: (service, env); env "*" is the env-less APM service list view.
struct ApmRow {
  std::string service, env;
  int64_t first_seen = 0, last_seen = 0;
  int64_t span_count = 0;
  std::vector<std::string> languages, infra_hints;
  bool traced = false, usm_only = false;
};

// One row of `broken_traces`. trace_id is the decimal lower 64 bits.
struct TraceRow {
  std::string trace_id;
  std::string env;
  std::optional<std::string> root_service;
  int64_t started_at = 0;
  int64_t duration_ns = 0;
  int64_t span_count = 0;
  std::vector<std::string> services, missing_services, gap_kinds;
  int64_t detected_at = 0;
};

struct SpanRow {
  std::string span_id, parent_id, service, resource, kind, type;
  int64_t start_ns = 0, duration_ns = 0;
  std::string target;
};

struct GapRow {
  std::string kind, span_id, from_service;
  std::optional<std::string> to_service;
  std::string peer, detail;
};

struct TraceDetail {
  TraceRow trace;
  std::vector<SpanRow> spans;  // by start, then span id
  std::vector<GapRow> gaps;    // by span id, then kind
};

struct DependencyRow {
  std::string from_service, to_name, kind, to_kind;
  int64_t last_seen = 0;
  int64_t count = 0;
};

// One row of `coverage_snapshots`.
struct SnapshotRow {
  int64_t taken_at = 0;
  std::string dimension, key;
  int64_t total = 0, instrumented = 0;
};

struct SyncJobRow {
  std::string id, trigger, state;
  std::optional<int64_t> started_at, finished_at;
  int64_t api_calls = 0, pages = 0, spans = 0, rate_limited_ms = 0;
  std::string error;
  int64_t updated_at = 0;
  // Design §7.1: span time read whole / skipped on purpose, traces cut at a read interval's edge.
  int64_t sampled_seconds = 0, skipped_seconds = 0, edge_cut_traces = 0;
  bool operator==(const SyncJobRow&) const = default;
};

// What the sample estimates of design §7.1 are computed from, over one lookback.
struct SampleRows {
  // Sync jobs that finished within the lookback: how many, and their span time read whole and
  // skipped on purpose.
  int64_t jobs = 0, sampled_seconds = 0, skipped_seconds = 0;
  // trace_judgements summed per root service ("" = rootless), by root service.
  struct Judged {
    std::string root_service;
    int64_t judged = 0, broken = 0;
    bool operator==(const Judged&) const = default;
  };
  std::vector<Judged> judgements;
  // Broken traces (broken_traces rows) per missing service and per gap kind, each trace
  // counted once per key; sorted by key.
  std::vector<std::pair<std::string, int64_t>> broken_by_missing_service, broken_by_gap_kind;
};

// Everything coverage is computed from: the live catalog (removed_at null) and every APM row.
struct CatalogData {
  std::vector<ServiceRow> services;
  std::vector<ApmRow> apm;
};

// Filters of GET /api/traces, already validated. Empty string = no filter.
struct TraceFilter {
  std::string service, missing, kind, env;
  std::optional<int64_t> since;  // started_at >= since
};

// Keyset position in the traces order (started_at DESC, trace_id DESC): rows strictly after it.
struct TraceCursor {
  int64_t started_at = 0;
  std::string trace_id;  // decimal
};

struct TracePage {
  std::vector<TraceRow> traces;
  int64_t total = 0;  // rows matching the filter, all pages
};

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
  std::vector<ApmRow> apm;
  std::vector<DependencyRow> dependencies;
  std::vector<TraceRow> broken_traces;
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
  std::optional<SyncJobRow> last_sync;
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
  std::vector<TraceRow> traces;
  int64_t total = 0;
  std::string next_page_token;
};

}  // namespace apmcov::gateway
