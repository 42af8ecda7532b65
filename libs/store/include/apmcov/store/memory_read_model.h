// MemoryReadModel: the in-memory ReadModel (read_model.h), for unit tests of the gateway. It
// reads the state of a MemoryCoverageStore, so a test seeds it the way the analyzer writes the
// database, through CoverageStore::Apply, and the contract suite holds it to what
// PostgresReadModel answers over the same writes. Each call takes the store's mutex once (one
// consistent snapshot); SetUnavailable on the store makes every call fail with Unavailable.
// Holds the store by reference: the store must outlive it. Thread-safe.
#pragma once

#include <utility>

#include "apmcov/store/memory_store.h"
#include "apmcov/store/read_model.h"

namespace apmcov::store {

class MemoryReadModel final : public ReadModel {
 public:
  explicit MemoryReadModel(MemoryCoverageStore& store) : store_(store) {}

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
  using State = MemoryCoverageStore::State;
  // Runs `fn(state)` under the store's mutex, unless the store is marked unavailable.
  template <typename Fn>
  auto Read(Fn fn) -> decltype(fn(std::declval<const State&>()));

  MemoryCoverageStore& store_;
};

}  // namespace apmcov::store
