#include "coverage_refresher.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "apmcov/coverage/store_rows.h"
#include "logger.h"

namespace apmcov::analyzer {

CoverageRefresher::CoverageRefresher(Options options, store::CoverageStore& store, Clock& clock,
                                     Retrier& retrier, AnalyzerMetrics& metrics,
                                     coverage::GapDetector& detector, ApplyFn apply)
    : options_(options),
      store_(store),
      clock_(clock),
      retrier_(retrier),
      metrics_(metrics),
      detector_(detector),
      apply_(std::move(apply)) {}

void CoverageRefresher::NoteSpanService(const std::string& service) {
  if (!known_apm_names_.contains(service)) dirty_ = true;
}

absl::StatusOr<coverage::CoverageReport> CoverageRefresher::ComputeReport(int64_t now_ns) {
  std::vector<store::ServiceRow> services;
  std::vector<store::ApmServiceRow> apm;
  APMCOV_RETURN_IF_ERROR(retrier_.Run("loading catalog and APM data", [&]() -> absl::Status {
    auto s = store_.LoadServices(/*include_removed=*/false);
    if (!s.ok()) return s.status();
    auto a = store_.LoadApmServices();
    if (!a.ok()) return a.status();
    services = std::move(*s);
    apm = std::move(*a);
    return absl::OkStatus();
  }));
  absl::StatusOr<coverage::CoverageReport> report = coverage::ComputeCoverageFromRows(
      services, apm, {now_ns, options_.apm_lookback_ns, options_.infra_aliases});
  if (!report.ok()) {
    return absl::InternalError(absl::StrCat("coverage: ", report.status().message()));
  }
  return report;
}

bool CoverageRefresher::WouldLoad() const {
  return !loaded_ || dirty_ ||
         clock_.NowUnixNanos() - last_refresh_ns_ >= options_.directory_refresh.count();
}

absl::Status CoverageRefresher::Refresh(const SpanSightings& unstored) {
  const int64_t now = clock_.NowUnixNanos();
  if (loaded_ && !dirty_ && now - last_refresh_ns_ < options_.directory_refresh.count()) {
    return absl::OkStatus();
  }
  APMCOV_ASSIGN_OR_RETURN(coverage::CoverageReport report, ComputeReport(now));
  coverage::ServiceDirectory directory = report.Directory();
  known_apm_names_.clear();
  known_apm_names_.insert(directory.apm_names.begin(), directory.apm_names.end());
  known_apm_names_.insert(directory.instrumented.begin(), directory.instrumented.end());
  detector_.SetDirectory(directory);
  metrics_.SetCoverage(report);
  dirty_ = false;
  loaded_ = true;
  last_refresh_ns_ = now;
  for (const std::string& service : unstored.services()) {
    if (!known_apm_names_.contains(service)) dirty_ = true;
  }
  return absl::OkStatus();
}

void CoverageRefresher::OnSyncJob(const store::SyncJobRecord& job) {
  if (SnapshotWorthy(job))
    pending_.try_emplace(job.id, PendingSnapshot{job, clock_.NowUnixNanos()});
}

void CoverageRefresher::OnWatermarkApplied(const std::string& job_id, int32_t partition) {
  if (job_id.empty()) return;
  auto [it, inserted] = job_watermarks_.try_emplace(job_id);
  it->second.insert(partition);
  if (inserted) {
    job_watermark_order_.push_back(job_id);
    while (job_watermark_order_.size() > 1000) {
      job_watermarks_.erase(job_watermark_order_.front());
      job_watermark_order_.pop_front();
    }
  }
}

bool CoverageRefresher::SnapshotReady(const PendingSnapshot& p,
                                      const std::vector<int32_t>& owned_spans_partitions) const {
  if (p.job.spans == 0) return true;
  if (clock_.NowUnixNanos() - p.since_ns >= options_.snapshot_wait.count()) return true;
  auto it = job_watermarks_.find(p.job.id);
  for (int32_t partition : owned_spans_partitions) {
    if (it == job_watermarks_.end() || !it->second.contains(partition)) return false;
  }
  return true;
}

absl::Status CoverageRefresher::WriteReadySnapshots(
    const std::vector<int32_t>& owned_spans_partitions) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (!SnapshotReady(it->second, owned_spans_partitions)) {
      ++it;
      continue;
    }
    const store::SyncJobRecord& job = it->second.job;
    const int64_t taken_at = *job.finished_at_ns;
    // Write-once: a replayed job record must not rewrite its snapshot from later data.
    std::vector<store::CoverageRow> existing;
    APMCOV_RETURN_IF_ERROR(retrier_.Run("reading a coverage snapshot", [&]() -> absl::Status {
      auto r = store_.LoadCoverageSnapshot(taken_at);
      if (!r.ok()) return r.status();
      existing = std::move(*r);
      return absl::OkStatus();
    }));
    if (!existing.empty()) {
      job_watermarks_.erase(job.id);
      it = pending_.erase(it);
      continue;
    }
    APMCOV_ASSIGN_OR_RETURN(coverage::CoverageReport report, ComputeReport(taken_at));
    store::WriteBatch rows;
    for (const auto& row : report.rows) {
      rows.coverage_rows.push_back({taken_at, row.dimension, row.key,
                                    static_cast<int32_t>(row.total),
                                    static_cast<int32_t>(row.instrumented)});
    }
    APMCOV_RETURN_IF_ERROR(apply_(rows, "writing a coverage snapshot"));
    Log().Info("coverage snapshot written",
               {{"job_id", job.id},
                {"rows", rows.coverage_rows.size()},
                {"total_services", report.total_services},
                {"instrumented_services", report.instrumented_services}});
    if (options_.on_snapshot) options_.on_snapshot(report);
    job_watermarks_.erase(job.id);
    it = pending_.erase(it);
  }
  return absl::OkStatus();
}

}  // namespace apmcov::analyzer
