// MemoryCoverageStore: the in-memory fake of the CoverageStore port, for unit tests of the
// analyzer and, read through MemoryReadModel (memory_read_model.h), of the gateway. Same
// contract as the PostgreSQL adapter (the contract suite runs against both), except
// durability: its state lives as long as the object. Times are truncated to the microsecond
// like PostgreSQL's timestamptz. Dead letters are stamped with the wall clock when claimed (the
// table's now()), which is what Prune compares with.
//
// Test hooks: FailNextApply(status, which) makes the next Apply of a batch `which` accepts (any
// batch without it) fail with that status and change nothing (to test retries);
// LoseNextApplyOutcome(status, which) makes it apply the batch and then return that status, as
// a commit whose outcome the client never learnt; SetUnavailable(true) makes every call (of the
// store and of its read models) fail with Unavailable; apply_count() counts successful applies.
// Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <tuple>

#include "apmcov/store/coverage_store.h"

namespace apmcov::store {

class MemoryReadModel;

class MemoryCoverageStore final : public CoverageStore {
 public:
  MemoryCoverageStore();
  ~MemoryCoverageStore() override;

  absl::StatusOr<ApplyResult> Apply(const WriteBatch& batch) override;
  absl::StatusOr<std::vector<ServiceRow>> LoadServices(bool include_removed) override;
  absl::StatusOr<std::vector<ApmServiceRow>> LoadApmServices() override;
  absl::StatusOr<std::optional<BrokenTraceRecord>> LoadBrokenTrace(uint64_t trace_id) override;
  absl::StatusOr<std::vector<uint64_t>> ListBrokenTraceIds() override;
  absl::StatusOr<std::vector<DependencyRow>> LoadDependencies() override;
  absl::StatusOr<std::optional<SyncJobRecord>> LoadSyncJob(const std::string& id) override;
  absl::StatusOr<std::vector<CoverageRow>> LoadCoverageSnapshot(int64_t taken_at_ns) override;
  absl::StatusOr<std::optional<SnapshotState>> LoadSnapshotState(
      const std::string& snapshot_id) override;
  absl::StatusOr<std::vector<PartitionWatermark>> LoadWatermarks() override;
  absl::StatusOr<std::vector<TraceJudgementCount>> LoadJudgements(int64_t since_ns) override;
  absl::StatusOr<std::vector<BrokenTraceBlame>> LoadBrokenTraceBlame(int64_t since_ns) override;
  absl::StatusOr<std::vector<ScorecardOutcomeRow>> LoadScorecardOutcomes() override;
  absl::Status SaveScorecardOutcomes(const std::vector<ScorecardOutcomeRow>& rows) override;
  absl::StatusOr<std::vector<DeadLetterKey>> ClaimDeadLetters(
      const std::vector<DeadLetterKey>& keys) override;
  absl::Status MarkDeadLettersPublished(const std::vector<DeadLetterKey>& keys) override;
  absl::StatusOr<PruneResult> Prune(const RetentionPolicy& policy, int64_t now_ns,
                                    size_t batch_rows) override;
  absl::Status Ping() override;

  void FailNextApply(absl::Status status, std::function<bool(const WriteBatch&)> which = nullptr);
  void LoseNextApplyOutcome(absl::Status status,
                            std::function<bool(const WriteBatch&)> which = nullptr);
  void SetUnavailable(bool unavailable);  // Apply, reads and Ping fail with Unavailable
  int64_t apply_count() const;

 private:
  friend class MemoryReadModel;  // reads state_ under mu_
  struct State;
  absl::Status CheckAvailable() const;

  mutable std::mutex mu_;
  std::unique_ptr<State> state_;
  absl::Status fail_next_;
  std::function<bool(const WriteBatch&)> fail_next_which_;
  absl::Status lose_next_;
  std::function<bool(const WriteBatch&)> lose_next_which_;
  bool unavailable_ = false;
  int64_t apply_count_ = 0;
};

}  // namespace apmcov::store
