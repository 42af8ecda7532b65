// Coverage computation (design §5): from catalog services and APM observations to per-service
// status, per-dimension totals, customer-facing services without APM, USM-only services and
// shadow services. Pure function of its inputs; no clock read (the caller passes `now`).
//
// Rules, as implemented:
// - Only observations with now − lookback <= last_seen_ns <= now+∞ count ("within
//   APM_LOOKBACK_HOURS"); older ones are ignored for every rule below.
// - "APM data" for a service = an observation with traced=true or span_count > 0. A service is
//   instrumented when it has APM data in any env (env "*" included). USM-only = not
//   instrumented and some observation has usm=true; usm_only services are never instrumented.
// - Deprecated services (lifecycle "deprecated", ASCII case-insensitive) are excluded from
//   totals, every dimension, customer_facing_without_apm and usm_only; they stay in
//   `services` flagged deprecated so the services list can show them on request.
// - Dimensions (a missing value counts under the key "unknown"):
//   overall (key "all"); team; tier; lifecycle (as written);
//   env: the catalog env tags plus every env E != "*" with an observation (of any kind) for
//     the service; the service counts under each. It is instrumented under E when it has APM
//     data in E. Env "*" (the APM service list: it carries no env): its APM data never adds
//     an env; it counts as APM data in every env of the service only when the service has no
//     env-specific APM data at all (we know it is traced, not where; its own envs are the best
//     attribution). A service with no env at all counts under "unknown", instrumented there
//     when instrumented overall.
//   infra: the catalog's infra tag value (lowercased by the collector) when set; else the
//     infra hints of its observations (kubernetes, ecs, serverless, host): the first present
//     of kubernetes, ecs, serverless, then host; "" hints count as host; else "unknown".
//     Either way the value is then replaced by its canonical form under
//     options.infra_aliases (k8s → kubernetes, lambda → serverless, ...).
//   language: the catalog's (v2.2) languages when any; else the union of its observations'
//     languages; counted under each; none → "unknown".
// - Shadow services: names with APM data (traced or spans) absent from the catalog.
// - Outputs are sorted: rows by dimension (overall, team, env, infra, language, tier,
//   lifecycle) then key; name lists alphabetically.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "apmcov/coverage/gap_detector.h"
#include "apmcov/coverage/infra_aliases.h"
#include "apmcov/coverage/span.h"

namespace apmcov::coverage {

// One catalog service, normalised (CatalogService of events.proto, removed ones left out).
struct CatalogServiceInfo {
  std::string name;  // dd-service, required and unique
  std::string team;
  std::string tier;
  std::string lifecycle;
  std::string infra;                   // from an infra tag, lowercased; "" when none
  std::vector<std::string> languages;  // v2.2 languages
  std::vector<std::string> envs;       // env: tags
  bool customer_facing = false;
};

// One APM observation of (service, env) (ApmObservation of events.proto, or the analyzer's own
// span tallies). env "*" = the APM service list's env-less entry.
struct ApmSeen {
  std::string service;  // required
  std::string env;      // "*" when unknown
  bool traced = false;
  bool usm = false;
  uint64_t span_count = 0;
  std::vector<std::string> languages;
  std::vector<std::string> infra_hints;  // kubernetes, ecs, serverless, host ("" = host)
  int64_t last_seen_ns = 0;              // Unix ns; callers fill it (observed_at if unknown)
};

struct CoverageOptions {
  int64_t now_ns = 0;
  int64_t lookback_ns = int64_t{24} * 3600 * 1'000'000'000;  // APM_LOOKBACK_HOURS
  InfraAliases infra_aliases = DefaultInfraAliases();        // INFRA_ALIASES
};

inline constexpr std::string_view kUnknownKey = "unknown";
inline constexpr std::string_view kOverallKey = "all";

struct CoverageRow {
  std::string dimension;  // overall, team, env, infra, language, tier, lifecycle
  std::string key;
  int64_t total = 0;
  int64_t instrumented = 0;
  double pct() const { return total == 0 ? 0.0 : 100.0 * instrumented / total; }
};

struct ServiceCoverage {
  std::string name;
  std::string team;
  std::string tier;
  std::string lifecycle;
  bool deprecated = false;
  bool customer_facing = false;
  bool instrumented = false;
  bool usm_only = false;
  std::vector<std::string> envs;               // catalog envs ∪ envs seen, sorted
  std::vector<std::string> instrumented_envs;  // envs it counts as instrumented under
  std::string infra;                           // resolved per the rule above ("unknown" when none)
  std::vector<std::string> languages;          // resolved, sorted
  uint64_t span_count = 0;   // env-specific observations summed; "*" ones when none
  int64_t last_seen_ns = 0;  // latest APM data within the lookback, 0 when none
};

struct ShadowService {
  std::string name;
  std::vector<std::string> envs;  // envs != "*" it was seen in, sorted
  uint64_t span_count = 0;
  int64_t last_seen_ns = 0;
};

struct CoverageReport {
  int64_t total_services = 0;  // non-deprecated catalog services
  int64_t instrumented_services = 0;
  std::vector<CoverageRow> rows;          // every dimension, overall first
  std::vector<ServiceCoverage> services;  // every catalog service, sorted by name
  std::vector<std::string> customer_facing_without_apm;
  std::vector<std::string> usm_only;
  std::vector<ShadowService> shadow_services;

  // The rows of one dimension, in key order.
  std::vector<CoverageRow> Dimension(std::string_view dimension) const;
  // What the GapDetector needs: catalog names, the instrumented ones, names seen in APM.
  ServiceDirectory Directory() const;
};

// Computes the report. InvalidArgument when a catalog service or observation has an empty
// name, a catalog name repeats, or lookback_ns <= 0.
absl::StatusOr<CoverageReport> ComputeCoverage(std::span<const CatalogServiceInfo> catalog,
                                               std::span<const ApmSeen> observations,
                                               const CoverageOptions& options);

}  // namespace apmcov::coverage
