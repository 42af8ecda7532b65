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

}  // namespace apmcov::gateway
