// MemoryReadModel: the in-memory fake of ReadModel for unit tests. Tests fill it with the
// Put*/Add* methods; reads follow the ReadModel contract (orders, filters, cursors) exactly as
// the PostgreSQL adapter does. Thread-safe (one mutex). SetUnavailable makes every call fail
// with Unavailable, to test error mapping.
#pragma once

#include <map>
#include <mutex>

#include "query/read_model.h"

namespace apmcov::gateway {

class MemoryReadModel final : public ReadModel {
 public:
  void PutService(ServiceRow row);
  void PutApm(ApmRow row);
  void PutTrace(TraceDetail trace);
  void PutDependency(DependencyRow row);
  void PutSnapshot(SnapshotRow row);
  void PutSyncJob(SyncJobRow row);
  // Adds to the trace_judgements row (hour, root_service).
  void AddJudgement(int64_t hour, const std::string& root_service, int64_t judged, int64_t broken);
  void SetUnavailable(bool unavailable);

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
  absl::Status Check() const;

  mutable std::mutex mu_;
  bool unavailable_ = false;
  std::map<std::string, ServiceRow> services_;
  std::map<std::pair<std::string, std::string>, ApmRow> apm_;
  std::map<std::string, TraceDetail> traces_;
  std::vector<DependencyRow> dependencies_;
  std::vector<SnapshotRow> snapshots_;
  std::map<std::string, SyncJobRow> jobs_;
  std::map<std::pair<int64_t, std::string>, std::pair<int64_t, int64_t>> judgements_;
};

// Numeric order of decimal strings without leading zeros: -1, 0, 1 like strcmp.
int CompareDecimal(const std::string& a, const std::string& b);

}  // namespace apmcov::gateway
