// The analyzer's storage port (design §3, §4). Two implementations share one contract test
// suite: PostgresCoverageStore (postgres_store.h, libpqxx) and MemoryCoverageStore
// (memory_store.h).
//
// Contract:
//  - Apply(batch) is the unit of work of one consumed Kafka batch: every effect of the batch is
//    applied in ONE transaction, all or nothing, and is durable when Apply returns OK. The caller
//    commits Kafka offsets only after that.
//  - Apply is idempotent: applying a batch again, or any suffix of an already applied stream of
//    batches, leaves every table as it was (design §3 "a replay changes nothing"). The merge
//    rules below are chosen for that:
//      services          upsert by name; a record older (synced_at) than the stored one is
//                        ignored; a listed service is no longer removed.
//      catalog snapshots members are remembered per snapshot; when the end marker is stored and
//                        exactly `count` distinct members are, every service not in the
//                        snapshot and last synced before it gets removed_at = snapshot time.
//                        Completion is checked under a row lock on the snapshot, so members
//                        applied by several analyzers in parallel still complete it once.
//      apm_services      a semilattice merge, so order between topics does not matter:
//                        first_seen = min, last_seen = max, span_count = max, languages and
//                        infra_hints = set union, traced = OR, usm_seen = OR, usm_only =
//                        usm_seen AND NOT traced, last_traced = max last_seen of the traced
//                        observations (what the lookback applies to for "instrumented").
//      broken traces     the latest judgement of a trace replaces its row, gaps and spans.
//      dependencies      count = number of distinct traces an edge was seen in (the
//                        observations are keyed by trace id), last_seen = max.
//      sync_jobs         the record with the newest updated_at wins (ties: the later one).
//      coverage rows     upsert by (taken_at, dimension, key).
//      watermarks        per (topic, partition): the maximum ever applied, with the read
//                        intervals of the latest record at or above it.
//      judgements, edge cuts  ADDED to what is stored: the one exception to idempotence. The
//                        analyzer writes them in the same transaction as the watermark that
//                        finalised their traces, and its replay guard (a trace final at an
//                        already applied watermark is not judged again) keeps a replay from
//                        counting a trace twice. The same batch applied again (a retry after a
//                        commit whose outcome was unknown: it may have committed) adds them
//                        once when it carries a count_key: the key is recorded in the batch's
//                        transaction (table counted_batches) and a batch whose key is already
//                        there adds nothing; without a key they are added on every Apply.
//  - Text: NUL characters are dropped from every string (PostgreSQL text cannot hold them), so
//    such a record is stored rather than failing its batch forever.
//  - Errors: Unavailable when the database cannot be reached or the transaction's outcome is
//    retriable (connection lost, serialization failure, deadlock), Aborted when another writer
//    wrote the same keys at the same moment (a rebalance overlap): in both cases the caller
//    retries the same batch. A record the store cannot hold (a check here, or the database's
//    verdict on the data: SQLSTATE class 22, class 23 except unique_violation, 54000) is
//    InvalidArgument and IsRecordRejected(): retrying the same batch can never succeed, the
//    caller sets the record aside (the analyzer dead-letters its message). Internal otherwise.
//  - Dead letters (design §3 `dlq`): ClaimDeadLetters / MarkDeadLettersPublished keep one row
//    per original (topic, partition, offset), so a consumer that replays a poison message after
//    a crash publishes its dead letter once: claim (durable on OK) before producing, mark
//    after the producer's flush; a claimed key not yet marked is handed out again.
//  - Retention (design §4): Prune(policy, now_ns, batch_rows) deletes what the policy says is
//    too old, in short transactions of at most `batch_rows` rows of the table that drives each
//    deletion (a broken trace's gaps and spans go with it), so no lock is held for long and
//    concurrent Applies and analyzer replicas only ever wait for one small batch (rows another
//    transaction holds are skipped, not waited for). One call deletes at most one batch per
//    table; `more` says a table had a full batch: call again (the analyzer yields between
//    calls). Cutoffs are `now_ns` minus the policy's durations; strictly older rows go:
//      broken_traces      started_at < now - broken_trace, with their trace_gaps and
//                         trace_spans rows;
//      trace_judgements   hour < now - broken_trace (the denominators of what was pruned);
//      dependencies       last_seen < now - broken_trace (an edge not seen within the
//                         retention);
//      dependency_counted_traces  seen_at < now - replay_guard: the replay guard of the
//                         counts only matters while Kafka still holds the trace's spans;
//      counted_batches    counted_at (the key's at_ns) < now - replay_guard: a batch is
//                         retried within that time or not at all;
//      sync_jobs          updated_at (the job's latest record) < now - sync_job; an edge-cut
//                         placeholder no record of its job ever replaced is kept;
//      dead_letters       claimed_at < now - sync_job (the store's own clock);
//      catalog_snapshots  synced_at (of its end marker) < now - sync_job, with the members
//                         an incomplete one still holds; one whose end marker never came
//                         is kept;
//      coverage_snapshots taken_at < now - snapshot_full, unless it is the latest taken_at of
//                         its UTC day: older history is thinned to one snapshot a day, the
//                         day's last; newer snapshots are all kept.
//    Idempotent; what is left satisfies every other rule above (a pruned trace replayed later
//    is simply a new trace). Errors as for Apply (Unavailable: try again later).
//  - Thread-safe: calls are serialised internally. Lifetime: owned by main(); ports are passed
//    by reference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/store/records.h"

namespace apmcov::store {

// Everything one consumed batch writes. Order inside a vector does not matter.
struct WriteBatch {
  std::vector<CatalogServiceRecord> catalog_services;
  std::vector<CatalogSnapshotEndRecord> snapshot_ends;
  std::vector<ApmObservationRecord> apm_observations;
  std::vector<BrokenTraceRecord> broken_traces;
  DependencyObservations dependencies;
  std::vector<SyncJobRecord> sync_jobs;
  std::vector<CoverageRow> coverage_rows;
  std::vector<PartitionWatermark> watermarks;
  std::vector<TraceJudgementCount> judgements;
  std::vector<EdgeCutCount> edge_cuts;
  // Makes judgements and edge_cuts (the additive records) count once however often this batch
  // is applied: set by a writer that retries a batch after a commit whose outcome it could not
  // learn. `id` is unique per batch (at most 128 bytes), `at_ns` when it was made (retention
  // counts from it). An empty id: they are added on every Apply. Not a record: not in size().
  struct CountKey {
    std::string id;
    int64_t at_ns = 0;
  };
  CountKey count_key;

  bool empty() const { return size() == 0; }
  size_t size() const {
    return catalog_services.size() + snapshot_ends.size() + apm_observations.size() +
           broken_traces.size() + dependencies.size() + sync_jobs.size() + coverage_rows.size() +
           watermarks.size() + judgements.size() + edge_cuts.size();
  }
};

// A catalog snapshot that became complete in this Apply.
struct CompletedSnapshot {
  std::string snapshot_id;
  int64_t removed = 0;  // services newly marked removed
  bool operator==(const CompletedSnapshot&) const = default;
};

struct ApplyResult {
  std::vector<CompletedSnapshot> completed_snapshots;
};

// The state of a catalog snapshot (table `catalog_snapshots`).
struct SnapshotState {
  std::string snapshot_id;
  std::optional<uint32_t> expected;
  uint32_t received = 0;
  bool completed = false;
};

// How long rows are kept (see Retention in the contract above). Durations in nanoseconds.
struct RetentionPolicy {
  static constexpr int64_t kDay = int64_t{86400} * 1'000'000'000;
  int64_t broken_trace_ns = 14 * kDay;   // BROKEN_TRACE_RETENTION_DAYS
  int64_t sync_job_ns = 30 * kDay;       // SYNC_JOB_RETENTION_DAYS
  int64_t snapshot_full_ns = 30 * kDay;  // coverage snapshots older: one a day
  int64_t replay_guard_ns = 3 * kDay;    // dependency_counted_traces (spans live 24 h in Kafka)
};

// What one Prune call deleted, per table (tables with no deleted row may be absent).
struct PruneResult {
  // Deleted, by table; for trace_spans the spans (a row holds one trace's spans).
  std::map<std::string, int64_t> rows;
  bool more = false;  // some table had a full batch: call again

  int64_t total() const {
    int64_t n = 0;
    for (const auto& [table, count] : rows) n += count;
    return n;
  }
};

// True for the errors that mean "this record can never be stored" (see Errors above), as
// opposed to an outage or a defect.
bool IsRecordRejected(const absl::Status& status);
// InvalidArgument carrying the mark IsRecordRejected() looks for; `sqlstate` may be empty.
absl::Status RecordRejectedError(std::string_view message, std::string_view sqlstate = "");

class CoverageStore {
 public:
  virtual ~CoverageStore() = default;

  // Applies the batch atomically (see the contract above).
  virtual absl::StatusOr<ApplyResult> Apply(const WriteBatch& batch) = 0;

  // --- Reads. Each is one consistent snapshot of the tables. ---

  // Catalog services, sorted by name; removed ones only when asked.
  virtual absl::StatusOr<std::vector<ServiceRow>> LoadServices(bool include_removed) = 0;
  // Every apm_services row, sorted by (service, env).
  virtual absl::StatusOr<std::vector<ApmServiceRow>> LoadApmServices() = 0;
  virtual absl::StatusOr<std::optional<BrokenTraceRecord>> LoadBrokenTrace(uint64_t trace_id) = 0;
  // Broken trace ids, ascending.
  virtual absl::StatusOr<std::vector<uint64_t>> ListBrokenTraceIds() = 0;
  // Sorted by (from_service, to_name, kind).
  virtual absl::StatusOr<std::vector<DependencyRow>> LoadDependencies() = 0;
  virtual absl::StatusOr<std::optional<SyncJobRecord>> LoadSyncJob(const std::string& id) = 0;
  // The rows of the snapshot taken at `taken_at_ns`, sorted by (dimension, key).
  virtual absl::StatusOr<std::vector<CoverageRow>> LoadCoverageSnapshot(int64_t taken_at_ns) = 0;
  virtual absl::StatusOr<std::optional<SnapshotState>> LoadSnapshotState(
      const std::string& snapshot_id) = 0;

  // Every stored partition watermark, sorted by (topic, partition).
  virtual absl::StatusOr<std::vector<PartitionWatermark>> LoadWatermarks() = 0;

  // Judged-trace counts of the hours starting at or after `since_ns`, sorted by (hour, root).
  virtual absl::StatusOr<std::vector<TraceJudgementCount>> LoadJudgements(int64_t since_ns) = 0;
  // Records each key not seen before (its `error` kept) and returns, in input order, the keys
  // whose dead letter is not marked published yet: the new ones and those a crash left between
  // claim and mark. Idempotent; durable when it returns OK.
  virtual absl::StatusOr<std::vector<DeadLetterKey>> ClaimDeadLetters(
      const std::vector<DeadLetterKey>& keys) = 0;
  // Marks the keys' dead letters published. Idempotent; unknown keys are ignored.
  virtual absl::Status MarkDeadLettersPublished(const std::vector<DeadLetterKey>& keys) = 0;

  // --- Scorecards (design §13) ---

  // Services blamed by the broken traces that started at or after `since_ns` (see
  // BrokenTraceBlame), sorted by service.
  virtual absl::StatusOr<std::vector<BrokenTraceBlame>> LoadBrokenTraceBlame(int64_t since_ns) = 0;
  // Every remembered outcome, sorted by (rule, service).
  virtual absl::StatusOr<std::vector<ScorecardOutcomeRow>> LoadScorecardOutcomes() = 0;
  // Upserts by (rule, service), in one transaction; idempotent, durable when OK. A state other
  // than pass, fail or skip, or an empty rule or service, is InvalidArgument (nothing stored).
  virtual absl::Status SaveScorecardOutcomes(const std::vector<ScorecardOutcomeRow>& rows) = 0;

  // Deletes one batch (at most `batch_rows` driving rows per table, batch_rows >= 1) of what
  // `policy` says is too old at `now_ns` (see Retention above).
  virtual absl::StatusOr<PruneResult> Prune(const RetentionPolicy& policy, int64_t now_ns,
                                            size_t batch_rows) = 0;

  // OK when the store is reachable (readiness).
  virtual absl::Status Ping() = 0;
};

}  // namespace apmcov::store
