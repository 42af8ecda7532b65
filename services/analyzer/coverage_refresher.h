// Coverage refresher (design §5): keeps what the analyzer knows of coverage in step with the
// store. The GapDetector's service directory (catalog names, the instrumented ones, names seen
// in APM) and the coverage gauges are recomputed from the store at once when catalog or APM
// data changed (or a span named a service the directory does not know from APM), else every
// directory_refresh, as the lookback moves on. A sync job that finished (succeeded or partial)
// gets its coverage snapshot, taken at its finish time, once this member has applied a
// watermark of that job on every `spans` partition it owns (or the job published no spans,
// or snapshot_wait passed); a snapshot already in the store is never rewritten (a replayed
// job record), so a replay writes nothing new.
//
// Reads and writes the store through `retrier` (outages are retried; Cancelled on stop) and
// writes through `apply`, the App's one way of applying a batch. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/base/clock.h"
#include "apmcov/coverage/coverage_report.h"
#include "apmcov/coverage/gap_detector.h"
#include "apmcov/store/coverage_store.h"
#include "metrics.h"
#include "record_mapping.h"
#include "retry.h"

namespace apmcov::analyzer {

class CoverageRefresher {
 public:
  struct Options {
    int64_t apm_lookback_ns = 0;
    std::chrono::nanoseconds directory_refresh{0};
    std::chrono::nanoseconds snapshot_wait{0};
    coverage::InfraAliases infra_aliases = coverage::DefaultInfraAliases();  // INFRA_ALIASES
    // Called with the report of each snapshot this member writes (Scorecards); may be empty.
    std::function<void(const coverage::CoverageReport&)> on_snapshot;
  };
  using ApplyFn = std::function<absl::Status(const store::WriteBatch&, std::string_view what)>;

  CoverageRefresher(Options options, store::CoverageStore& store, Clock& clock, Retrier& retrier,
                    AnalyzerMetrics& metrics, coverage::GapDetector& detector, ApplyFn apply);

  // --- the service directory ---

  // Catalog or APM data changed: the next Refresh() rebuilds.
  void MarkDirty() { dirty_ = true; }
  // A span named `service` (a new (service, env) of this poll).
  void NoteSpanService(const std::string& service);
  // Rebuilds the directory and the gauges when due. `unstored` are the services seen in spans
  // of this poll, stored with the batch after this: a rebuild that does not know them yet
  // leaves the directory due again.
  absl::Status Refresh(const SpanSightings& unstored);
  // Refresh() would read the store now (dirty, never loaded, or the refresh interval passed):
  // the batches still being written must be in it first.
  bool WouldLoad() const;
  // Coverage snapshots waiting to be written (WriteReadySnapshots reads the store).
  bool HasPendingSnapshots() const { return !pending_.empty(); }

  // --- coverage snapshots ---

  // A sync job record was consumed; a finished one (SnapshotWorthy) waits for its snapshot.
  void OnSyncJob(const store::SyncJobRecord& job);
  // A watermark of `job_id` was applied on `partition` (the last 1000 jobs are remembered).
  void OnWatermarkApplied(const std::string& job_id, int32_t partition);
  // Writes the snapshots whose jobs are done on `owned_spans_partitions`.
  absl::Status WriteReadySnapshots(const std::vector<int32_t>& owned_spans_partitions);

 private:
  struct PendingSnapshot {
    store::SyncJobRecord job;
    int64_t since_ns = 0;
  };

  absl::StatusOr<coverage::CoverageReport> ComputeReport(int64_t now_ns);
  bool SnapshotReady(const PendingSnapshot& p,
                     const std::vector<int32_t>& owned_spans_partitions) const;

  const Options options_;
  store::CoverageStore& store_;
  Clock& clock_;
  Retrier& retrier_;
  AnalyzerMetrics& metrics_;
  coverage::GapDetector& detector_;
  const ApplyFn apply_;

  bool dirty_ = true;
  bool loaded_ = false;
  int64_t last_refresh_ns_ = 0;
  std::set<std::string> known_apm_names_;  // services the current directory knows from APM

  std::map<std::string, PendingSnapshot> pending_;           // job id →
  std::map<std::string, std::set<int32_t>> job_watermarks_;  // job → spans partitions
  std::deque<std::string> job_watermark_order_;              // to bound job_watermarks_
};

}  // namespace apmcov::analyzer
