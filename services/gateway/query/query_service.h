// QueryService: every read of the gateway's API (design §8), shared by the REST and gRPC
// adapters so both always answer the same. Pure logic over the store's ReadModel port
// (libs/store read_model.h) and a Clock: request validation, coverage (design §5, computed from
// the stored rows by libs/coverage's ComputeCoverageFromRows, as the analyzer's snapshots are),
// filtering, sorting and keyset paging.
//
// Contract:
//  - Parameters arrive as the strings a client sent ("" = not given). A bad one gives
//    InvalidArgument whose message starts with the parameter's name ("page_size: ...").
//    Unknown names and ids give NotFound; a store failure keeps its code (Unavailable).
//  - Page tokens are opaque base64url strings encoding the last row's sort key and name
//    (services), start time and id (traces) or key (dependencies: from_service, to_name, kind):
//    rows inserted before the cursor never shift later pages, and a token is only valid with the
//    sort it was issued for. Traces and dependencies are paged by the ReadModel, in SQL.
//  - The catalog (services + apm_services) is cached for `catalog_ttl`; 0 reloads on every
//    call (see QueryOptions::background_refresh). Everything else is read through on each call.
//  - Sync jobs accepted by this gateway (NoteAcceptedSyncJob) but not yet recorded in sync_jobs
//    by the collector are answered by GetSyncJob as a synthetic queued job (same shape as a
//    stored one: trigger "manual", state "queued", no started/finished time, zero counters,
//    updated_at = when it was accepted), so a client following the 202's Location never sees a
//    404 in between. The stored row always wins once it exists. At most
//    QueryOptions::pending_sync_jobs ids are remembered (oldest forgotten first), each for
//    QueryOptions::pending_sync_ttl; after that, a job the collector never recorded is NotFound
//    again (the request was most likely lost, and the gateway stops vouching for it).
//    ListSyncJobs shows stored rows only.
//  - Thread-safe.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "apmcov/base/clock.h"
#include "apmcov/coverage/infra_aliases.h"
#include "apmcov/store/read_model.h"
#include "query/model.h"

namespace apmcov::gateway {

struct QueryOptions {
  std::chrono::hours apm_lookback{24};                                     // APM_LOOKBACK_HOURS
  coverage::InfraAliases infra_aliases = coverage::DefaultInfraAliases();  // INFRA_ALIASES
  std::chrono::milliseconds catalog_ttl{1000};  // how long a loaded catalog is reused
  size_t default_page_size = 50;
  size_t max_page_size = 1000;
  // When the cached catalog is older than catalog_ttl: false reloads it in the calling request;
  // true serves the stale copy and reloads it on a background thread (stale-while-revalidate),
  // so no request waits for a reload once the first load is done.
  bool background_refresh = false;
  // Accepted sync job ids remembered for GetSyncJob until the collector records them.
  size_t pending_sync_jobs = 1000;
  std::chrono::minutes pending_sync_ttl{10};
  // Dependencies: the default page holds every dependency of a typical organisation.
  size_t default_dependencies_page_size = 1000;
  size_t max_dependencies_page_size = 5000;
  // Instrument next: rows by default and at most; the service map's edges at most.
  size_t default_recommendations = 20;
  size_t max_recommendations = 500;
  size_t max_map_edges = 5000;
};

// GET /api/services parameters, as sent.
struct ServicesQuery {
  std::string team, env, infra, language, tier, apm, customer_facing, include_deprecated, q, sort,
      page_size, page_token;
};

// GET /api/traces parameters, as sent.
struct TracesQuery {
  std::string service, missing, kind, env, since, page_size, page_token;
};

// GET /api/dependencies parameters, as sent.
struct DependenciesQuery {
  std::string service, page_size, page_token;
};

// GET /api/recommendations parameters, as sent.
struct RecommendationsQuery {
  std::string team, env, limit;
};

// GET /api/service-map parameters, as sent. externals: "" or "collapse" (one node per caller),
// "expand" (one node per external host).
struct ServiceMapQuery {
  std::string env, team, externals;
};

// The catalog with APM facts merged, computed once per load.
struct CatalogView {
  std::vector<ServiceView> services;  // every live service, deprecated included, by name
  std::vector<ShadowServiceView> shadows;
  std::map<std::string, std::vector<CoverageBucket>> buckets;  // per dimension, once per load
  int64_t broken_traces = 0;                                   // within the lookback, at load
  std::optional<SyncJobRecord> last_sync;
  SampleEstimate sample;  // over the lookback, at load
};

class QueryService {
 public:
  QueryService(store::ReadModel& store, const Clock& clock, QueryOptions options = {});
  ~QueryService();
  QueryService(const QueryService&) = delete;
  QueryService& operator=(const QueryService&) = delete;

  absl::StatusOr<Stats> GetStats();
  absl::StatusOr<ServicesPage> ListServices(const ServicesQuery& query);
  // Changes whenever the cached catalog is replaced (loading it if needed, and starting a
  // background refresh when it is older than catalog_ttl, as any read does): an answer derived
  // from the catalog alone stays valid while this returns the same number.
  absl::StatusOr<uint64_t> CatalogGeneration();
  // Every service matching the filters and sort of `query` (page_size/page_token ignored).
  absl::StatusOr<std::vector<ServiceView>> ExportServices(const ServicesQuery& query);
  absl::StatusOr<ServiceDetailView> GetService(const std::string& name);
  // by: team, env, infra, language, tier, lifecycle.
  absl::StatusOr<std::vector<CoverageBucket>> GetCoverage(const std::string& by);
  // by: overall (default), team, env, infra, language, tier, lifecycle; since: RFC 3339
  // (default 30 days ago).
  absl::StatusOr<std::vector<CoverageHistoryPoint>> GetCoverageHistory(const std::string& by,
                                                                       const std::string& since);
  absl::StatusOr<TracesPageView> ListTraces(const TracesQuery& query);
  // The trace with its gaps and spans.
  absl::StatusOr<BrokenTraceRecord> GetTrace(const std::string& trace_id);
  // service: "" = every one; page_size: "" (default_dependencies_page_size) or 1 to
  // max_dependencies_page_size.
  absl::StatusOr<DependenciesPageView> ListDependencies(const DependenciesQuery& query);
  absl::StatusOr<std::vector<ShadowServiceView>> ListShadowServices();
  // Instrument next (design §8): the live, non-deprecated catalog services without APM (USM-only
  // included) of `team` (as /api/services filters it; "unknown" = none), ranked by the
  // ReadModel over the lookback. env: only that env's broken traces count, and a service ranks
  // when it is placed in that env or broke a trace there. limit: "" (20) or 1..500.
  absl::StatusOr<RecommendationsView> ListRecommendations(const RecommendationsQuery& query);
  // The service map over the lookback: edges of the ReadModel's LoadServiceMap, node kinds from
  // the catalog view (coverage, design §5). env keeps the edges whose caller was seen in that
  // env or that broke a trace there; team keeps the edges touching a service of that team.
  absl::StatusOr<ServiceMapView> GetServiceMap(const ServiceMapQuery& query);
  // limit: "" (50) or 1..500.
  absl::StatusOr<std::vector<SyncJobRecord>> ListSyncJobs(const std::string& limit);
  // The stored job; else the synthetic queued job for an id accepted by NoteAcceptedSyncJob
  // within pending_sync_ttl; else NotFound.
  absl::StatusOr<SyncJobRecord> GetSyncJob(const std::string& id);
  // Records that this gateway published a sync request with job id `id`, now.
  void NoteAcceptedSyncJob(const std::string& id);

  // The merged view of one catalog, computed by libs/coverage's ComputeCoverageFromRows (design
  // §5), so the API and the analyzer's coverage snapshots share one definition.
  static absl::StatusOr<CatalogView> BuildView(
      const store::CatalogState& data, int64_t now_ns, int64_t lookback_ns,
      const coverage::InfraAliases& infra_aliases = coverage::DefaultInfraAliases());
  // The sample estimate of design §7.1 from `rows` loaded over one lookback: rates with their
  // 95% Wilson intervals; per missing service and gap kind the denominator is every judged
  // trace; broken traces an hour = broken / sampled share / lookback hours (a function of the
  // stored rows only, so an answer does not drift with the clock between syncs).
  static SampleEstimate EstimateSample(const store::SampleRows& rows, int64_t lookback_ns);
  // The start of the hour holding `ns` (trace_judgements rows are per hour of trace start).
  static int64_t FloorHour(int64_t ns);
  // Buckets of one dimension (from the view), by total desc then key; InvalidArgument naming
  // `by` for an unknown dimension.
  static absl::StatusOr<std::vector<CoverageBucket>> Buckets(const CatalogView& view,
                                                             const std::string& by);

 private:
  absl::StatusOr<std::shared_ptr<const CatalogView>> Catalog();
  absl::StatusOr<std::vector<const ServiceView*>> Select(const CatalogView& view,
                                                         const ServicesQuery& query);
  // Every dependency of `service`, read page by page.
  absl::StatusOr<std::vector<DependencyRow>> AllDependencies(const std::string& service);

  store::ReadModel& store_;
  const Clock& clock_;
  QueryOptions options_;
  std::mutex mu_;
  std::shared_ptr<const CatalogView> cached_;
  int64_t cached_at_ns_ = 0;
  uint64_t generation_ = 0;  // bumped each time cached_ is replaced
  bool refreshing_ = false;
  std::thread refresher_;

  std::mutex pending_mu_;
  std::map<std::string, int64_t> pending_;                     // job id -> accepted at (unix ns)
  std::deque<std::pair<int64_t, std::string>> pending_order_;  // (accepted at, id), oldest first
};

// Percentage 0..100 rounded to one decimal; 0 when total is 0.
double CoveragePct(int64_t instrumented, int64_t total);

// The five gap kinds of design §6.
bool IsGapKind(const std::string& kind);

}  // namespace apmcov::gateway
