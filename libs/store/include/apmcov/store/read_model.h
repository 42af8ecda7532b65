// The read side's storage port (design §4, §8): what the gateway answers from, over the tables
// the CoverageStore port writes, in the same row types (records.h), so the analyzer and the
// gateway read one model of one database. Two implementations share one contract test suite,
// seeded through CoverageStore::Apply: PostgresReadModel (postgres_read_model.h, libpqxx) and
// MemoryReadModel (memory_read_model.h, reading a MemoryCoverageStore).
//
// Contract:
//  - Never writes. Each call is one consistent snapshot of the tables and sees every Apply that
//    returned OK before the call began.
//  - Rows are what the CoverageStore's own reads return for the same keys: times truncated to the
//    microsecond, arrays as stored. ServiceRow.catalog.synced_at_ns is last_synced_ns;
//    BrokenTraceRecord rows of a list carry no gaps and no spans (GetTrace has them).
//  - Orders are part of the contract; text compares byte-wise (COLLATE "C"):
//      services by name; apm rows by (service, env);
//      ListTraces by (started_at, trace_id) descending, trace ids as unsigned numbers;
//      a trace's spans by (start_ns, span_id), its gaps by (span_id, kind);
//      dependencies by (from_service, to_name, kind);
//      coverage history by (taken_at, key);
//      ListSyncJobs newest first by (COALESCE(started_at, updated_at), id) descending;
//      RankRecommendations by (broken_traces desc, callers desc, customer_facing desc, name);
//      LoadServiceMap's edges by (from, to, kind).
//  - Keyset pages (ListTraces, ListDependencies): the rows strictly after the cursor in the
//    order above (a cursor need not name a stored row), at most `limit` of them; `total`
//    counts every row matching the filter, whatever the cursor.
//  - Errors: Unavailable when the database cannot be reached (the next call reconnects),
//    DeadlineExceeded when a query outlives the statement timeout, Internal for anything else.
//    Absence is an empty optional or list, never NotFound.
//  - Thread-safe: any number of threads may call at once. Lifetime: owned by main(), passed
//    by reference; it must outlive its callers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/store/records.h"

namespace apmcov::store {

// Everything coverage is computed from: the live catalog (removed_at null) and every
// apm_services row.
struct CatalogState {
  std::vector<ServiceRow> services;
  std::vector<ApmServiceRow> apm;
};

// Filters of the broken-trace list. Empty string = no filter.
struct TraceFilter {
  std::string service;  // in `services`
  std::string missing;  // in `missing_services`
  std::string kind;     // in `gap_kinds`
  std::string env;
  std::optional<int64_t> since_ns;  // started_at >= since
};

// A position in the broken-trace order.
struct TraceCursor {
  int64_t started_at_ns = 0;
  uint64_t trace_id = 0;
};

struct TracePage {
  std::vector<BrokenTraceRecord> traces;  // without gaps and spans
  int64_t total = 0;
};

// A position in the dependency order: the key of the last row of the previous page.
struct DependencyCursor {
  std::string from_service, to_name, kind;
  bool operator==(const DependencyCursor&) const = default;
};

struct DependencyPage {
  std::vector<DependencyRow> dependencies;
  int64_t total = 0;
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
  // Broken traces per missing service and per gap kind, each trace counted once per key;
  // sorted by key.
  std::vector<std::pair<std::string, int64_t>> broken_by_missing_service, broken_by_gap_kind;
  bool operator==(const SampleRows&) const = default;
};

// What "instrument next" ranks (design §8): the catalog services the caller judged to be without
// APM (coverage is libs/coverage's, design §5), and the window their broken traces count in.
struct RecommendationQuery {
  std::vector<std::string> candidates;  // live catalog service names; others are ignored
  int64_t since_ns = 0;                 // broken traces started at or after; call edges last seen
  // "" = every env. Else only broken traces of that env count, and a candidate is ranked when it
  // is listed in env_members (the services the caller places in that env) or broke a trace there.
  std::string env;
  std::vector<std::string> env_members;
  size_t limit = 0;
};

// One ranked service without APM.
struct RecommendationRow {
  std::string name, team;  // team as the catalog writes it ("" when none)
  bool customer_facing = false;
  // Distinct broken traces started in the window (env) that name it in missing_services.
  int64_t broken_traces = 0;
  // Distinct services that called it (call dependencies last seen in the window, itself
  // excluded): services whose spans name it as their target, hence traced ones. Byte order.
  std::vector<std::string> callers;
  // Distinct non-empty catalog teams of its callers and of the services of its broken traces
  // counted above. Byte order.
  std::vector<std::string> teams_affected;
  // Up to 3 of those broken traces, newest first (started_at, trace_id descending).
  std::vector<uint64_t> example_trace_ids;
  bool operator==(const RecommendationRow&) const = default;
};

struct RecommendationPage {
  std::vector<RecommendationRow> rows;  // at most `limit`, in the ranking order
  int64_t total = 0;                    // every candidate ranked, whatever the limit
};

// One edge of the service map (design §8): a dependency seen in the window, or a gap whose
// caller and callee are known (to_service set) in a broken trace of the window, or both.
struct ServiceMapEdgeRow {
  std::string from_service, to_name;
  std::string kind;     // call, db, messaging (as `dependencies` writes it)
  std::string to_kind;  // service, datastore, queue, external
  int64_t traces = 0;   // dependencies.count: distinct traces the edge was seen in; 0 = gaps only
  // Distinct broken traces started in the window (env) with a gap from -> to, and their kinds.
  int64_t broken_traces = 0;
  std::vector<std::string> gap_kinds;  // sorted, distinct
  bool operator==(const ServiceMapEdgeRow&) const = default;
};

struct ServiceMapRows {
  std::vector<ServiceMapEdgeRow> edges;  // at most `limit`, by (from_service, to_name, kind)
  bool truncated = false;                // more edges matched than `limit`
};

class ReadModel {
 public:
  virtual ~ReadModel() = default;

  // The live catalog and every APM row, in one snapshot.
  virtual absl::StatusOr<CatalogState> LoadCatalog() = 0;
  // One catalog service by name, removed or not.
  virtual absl::StatusOr<std::optional<ServiceRow>> GetService(const std::string& name) = 0;
  // The apm_services rows of one service, by env.
  virtual absl::StatusOr<std::vector<ApmServiceRow>> ApmRowsFor(const std::string& service) = 0;

  // Broken traces matching `filter` after `after`, at most `limit` (see Keyset pages).
  virtual absl::StatusOr<TracePage> ListTraces(const TraceFilter& filter,
                                               const std::optional<TraceCursor>& after,
                                               size_t limit) = 0;
  // One broken trace with its gaps and spans.
  virtual absl::StatusOr<std::optional<BrokenTraceRecord>> GetTrace(uint64_t trace_id) = 0;
  // Broken traces with started_at >= since_ns.
  virtual absl::StatusOr<int64_t> CountTracesSince(int64_t since_ns) = 0;

  // The rows of the sample estimate (design §7.1): sync jobs with finished_at >= jobs_since_ns;
  // trace_judgements with hour >= traces_since_ns; broken traces with started_at >=
  // traces_since_ns.
  virtual absl::StatusOr<SampleRows> LoadSample(int64_t jobs_since_ns, int64_t traces_since_ns) = 0;

  // Dependencies of `from_service` ("" = every one) after `after`, at most `limit` (see Keyset
  // pages).
  virtual absl::StatusOr<DependencyPage> ListDependencies(
      const std::string& from_service, const std::optional<DependencyCursor>& after,
      size_t limit) = 0;

  // "Instrument next": the candidates ranked by broken traces, then callers, then
  // customer-facing, then name (byte order); at most `limit` rows, in one query plus one for the
  // rows' details.
  virtual absl::StatusOr<RecommendationPage> RankRecommendations(
      const RecommendationQuery& query) = 0;

  // The edges of the service map: dependencies with last_seen >= since_ns and the gaps with a
  // to_service of broken traces started at or after since_ns (of `env`, "" = every env; the
  // dependencies table has no env, so `env` narrows the broken counts only). At most `limit`.
  virtual absl::StatusOr<ServiceMapRows> LoadServiceMap(int64_t since_ns, const std::string& env,
                                                        size_t limit) = 0;

  // coverage_snapshots rows of one dimension with taken_at >= since_ns.
  virtual absl::StatusOr<std::vector<CoverageRow>> CoverageHistory(const std::string& dimension,
                                                                   int64_t since_ns) = 0;

  // The newest `limit` sync jobs.
  virtual absl::StatusOr<std::vector<SyncJobRecord>> ListSyncJobs(size_t limit) = 0;
  virtual absl::StatusOr<std::optional<SyncJobRecord>> GetSyncJob(const std::string& id) = 0;
  // The finished job (finished_at set) with the latest finished_at, ties by the greatest id.
  virtual absl::StatusOr<std::optional<SyncJobRecord>> LastFinishedSyncJob() = 0;

  // OK when the store answers a trivial query (readiness).
  virtual absl::Status Ping() = 0;
};

}  // namespace apmcov::store
