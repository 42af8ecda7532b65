// PostgresReadModel: the ReadModel (read_model.h) over PostgreSQL with libpqxx, private to this
// library. Every query is parameterised and runs in a read-only transaction under
// `statement_timeout`. Holds a small pool of connections opened lazily; a broken connection is
// dropped and the call answers Unavailable, the next call reconnects. Dependencies are paged in
// SQL (keyset on (from_service, to_name, kind) COLLATE "C" with LIMIT, on the index of
// migration 0009), so no call reads more rows than it returns (plus one count).
//
// Thread-safe (each call borrows one pooled connection). Never logs the database URL. Traced
// when options.tracer is set: one client span per call (its one transaction).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "apmcov/store/read_model.h"

namespace apmcov::tracing {
class Tracer;
}

namespace apmcov::store {

struct PostgresReadModelOptions {
  size_t pool_size = 4;
  int statement_timeout_ms = 5000;
  // A filtered broken-trace list (service, missing, kind or env) with at most this many
  // matches reads its matches first (through the GIN indexes where the filter has one) and
  // sorts them; with more, it walks started_at newest first until the page is full. Each alone
  // has its bad case at scale: the walk reads the whole table for a rare service, the sort all
  // the rows of a common one. 0: always walk.
  int64_t filter_first_max_rows = 10000;
  // Not null: each call's transaction is a client span `postgresql.transaction` (design §12;
  // tracing/db_span.h), resource = the ReadModel method, a child of the thread's active span
  // (the request's server span), with out.host the server's host. Outlives the read model.
  tracing::Tracer* tracer = nullptr;
};

class PostgresReadModel final : public ReadModel {
 public:
  // `database_url`: a libpq connection string or URI. Does not connect yet (see Ping()).
  explicit PostgresReadModel(std::string database_url, PostgresReadModelOptions options = {});
  ~PostgresReadModel() override;
  PostgresReadModel(const PostgresReadModel&) = delete;
  PostgresReadModel& operator=(const PostgresReadModel&) = delete;

  absl::StatusOr<CatalogState> LoadCatalog() override;
  absl::StatusOr<std::optional<ServiceRow>> GetService(const std::string& name) override;
  absl::StatusOr<std::vector<ApmServiceRow>> ApmRowsFor(const std::string& service) override;
  absl::StatusOr<TracePage> ListTraces(const TraceFilter& filter,
                                       const std::optional<TraceCursor>& after,
                                       size_t limit) override;
  absl::StatusOr<std::optional<BrokenTraceRecord>> GetTrace(uint64_t trace_id) override;
  absl::StatusOr<int64_t> CountTracesSince(int64_t since_ns) override;
  absl::StatusOr<SampleRows> LoadSample(int64_t jobs_since_ns, int64_t traces_since_ns) override;
  absl::StatusOr<DependencyPage> ListDependencies(const std::string& from_service,
                                                  const std::optional<DependencyCursor>& after,
                                                  size_t limit) override;
  absl::StatusOr<RecommendationPage> RankRecommendations(const RecommendationQuery& query) override;
  absl::StatusOr<ServiceMapRows> LoadServiceMap(int64_t since_ns, const std::string& env,
                                                size_t limit) override;
  absl::StatusOr<std::vector<CoverageRow>> CoverageHistory(const std::string& dimension,
                                                           int64_t since_ns) override;
  absl::StatusOr<std::vector<SyncJobRecord>> ListSyncJobs(size_t limit) override;
  absl::StatusOr<std::optional<SyncJobRecord>> GetSyncJob(const std::string& id) override;
  absl::StatusOr<std::optional<SyncJobRecord>> LastFinishedSyncJob() override;
  absl::Status Ping() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apmcov::store
