// PgReadModel: the ReadModel over PostgreSQL with libpqxx (schema: 0001_init.sql). Every query
// is parameterised and runs in a read-only transaction under `statement_timeout`. Holds a small
// pool of connections opened lazily; a broken connection is dropped and the call answers
// Unavailable, the next call reconnects. libpqxx stays private to the .cc file.
//
// Thread-safe (each call borrows one pooled connection). Never logs DATABASE_URL.
#pragma once

#include <memory>
#include <string>

#include "query/read_model.h"

namespace apmcov::gateway {

struct PgOptions {
  size_t pool_size = 4;
  int statement_timeout_ms = 5000;
};

class PgReadModel final : public ReadModel {
 public:
  PgReadModel(std::string database_url, PgOptions options = {});
  ~PgReadModel() override;

  absl::StatusOr<CatalogData> LoadCatalog() override;
  absl::StatusOr<std::optional<ServiceRow>> GetService(const std::string& name) override;
  absl::StatusOr<std::vector<ApmRow>> ApmRowsFor(const std::string& service) override;
  absl::StatusOr<TracePage> ListTraces(const TraceFilter& filter,
                                       const std::optional<TraceCursor>& after,
                                       size_t limit) override;
  absl::StatusOr<std::optional<TraceDetail>> GetTrace(const std::string& trace_id) override;
  absl::StatusOr<int64_t> CountTracesSince(int64_t since) override;
  absl::StatusOr<SampleRows> LoadSample(int64_t jobs_since, int64_t traces_since) override;
  absl::StatusOr<std::vector<DependencyRow>> ListDependencies(
      const std::string& from_service) override;
  absl::StatusOr<std::vector<SnapshotRow>> CoverageHistory(const std::string& dimension,
                                                           int64_t since) override;
  absl::StatusOr<std::vector<SyncJobRow>> ListSyncJobs(size_t limit) override;
  absl::StatusOr<std::optional<SyncJobRow>> GetSyncJob(const std::string& id) override;
  absl::StatusOr<std::optional<SyncJobRow>> LastFinishedSyncJob() override;
  absl::Status Ping() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apmcov::gateway
