// ReadModel: the gateway's read-only port onto the store (schema in
// libs/store/migrations/0001_init.sql). Two implementations: PgReadModel (libpqxx, parameterised
// SQL) and MemoryReadModel (the fake for unit tests). QueryService is written against this port
// only.
//
// Contract (both implementations):
//  - Never writes. Every call sees committed data at the time of the call.
//  - Thread-safe: any number of threads may call at once.
//  - Errors: Unavailable when the store cannot be reached, Internal for unexpected data;
//    NotFound is never returned (absence is an empty optional).
//  - Orders are part of the contract: ListTraces by started_at DESC, trace_id DESC (numeric);
//    ListSyncJobs newest first by COALESCE(started_at, updated_at) DESC, id DESC;
//    history by taken_at ASC, key ASC; dependencies by from_service, to_name, kind.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "query/model.h"

namespace apmcov::gateway {

class ReadModel {
 public:
  virtual ~ReadModel() = default;

  // Live catalog (removed_at IS NULL) and every apm_services row.
  virtual absl::StatusOr<CatalogData> LoadCatalog() = 0;
  // One catalog row by name, removed or not.
  virtual absl::StatusOr<std::optional<ServiceRow>> GetService(const std::string& name) = 0;
  virtual absl::StatusOr<std::vector<ApmRow>> ApmRowsFor(const std::string& service) = 0;

  // Broken traces matching `filter`, strictly after `after` in the order above, at most
  // `limit` rows; `total` counts every match regardless of the cursor.
  virtual absl::StatusOr<TracePage> ListTraces(const TraceFilter& filter,
                                               const std::optional<TraceCursor>& after,
                                               size_t limit) = 0;
  virtual absl::StatusOr<std::optional<TraceDetail>> GetTrace(const std::string& trace_id) = 0;
  // Number of broken traces with started_at >= since.
  virtual absl::StatusOr<int64_t> CountTracesSince(int64_t since) = 0;

  // The rows of the sample estimate (design §7.1): sync jobs with finished_at >= jobs_since;
  // trace_judgements with hour >= traces_since; broken_traces with started_at >= traces_since.
  virtual absl::StatusOr<SampleRows> LoadSample(int64_t jobs_since, int64_t traces_since) = 0;

  // Dependencies; `from_service` empty = all.
  virtual absl::StatusOr<std::vector<DependencyRow>> ListDependencies(
      const std::string& from_service) = 0;

  // coverage_snapshots rows of one dimension with taken_at >= since.
  virtual absl::StatusOr<std::vector<SnapshotRow>> CoverageHistory(const std::string& dimension,
                                                                   int64_t since) = 0;

  virtual absl::StatusOr<std::vector<SyncJobRow>> ListSyncJobs(size_t limit) = 0;
  virtual absl::StatusOr<std::optional<SyncJobRow>> GetSyncJob(const std::string& id) = 0;
  // The finished job (finished_at not null) with the latest finished_at.
  virtual absl::StatusOr<std::optional<SyncJobRow>> LastFinishedSyncJob() = 0;

  // OK when the store answers a trivial query (readiness).
  virtual absl::Status Ping() = 0;
};

}  // namespace apmcov::gateway
