#include "query/memory_read_model.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace apmcov::gateway {

int CompareDecimal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

namespace {
bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}
int64_t JobOrderTime(const SyncJobRow& j) { return j.started_at.value_or(j.updated_at); }
}  // namespace

void MemoryReadModel::PutService(ServiceRow row) {
  std::lock_guard lock(mu_);
  services_[row.name] = std::move(row);
}
void MemoryReadModel::PutApm(ApmRow row) {
  std::lock_guard lock(mu_);
  apm_[{row.service, row.env}] = std::move(row);
}
void MemoryReadModel::PutTrace(TraceDetail trace) {
  std::lock_guard lock(mu_);
  traces_[trace.trace.trace_id] = std::move(trace);
}
void MemoryReadModel::PutDependency(DependencyRow row) {
  std::lock_guard lock(mu_);
  dependencies_.push_back(std::move(row));
}
void MemoryReadModel::PutSnapshot(SnapshotRow row) {
  std::lock_guard lock(mu_);
  snapshots_.push_back(std::move(row));
}
void MemoryReadModel::PutSyncJob(SyncJobRow row) {
  std::lock_guard lock(mu_);
  jobs_[row.id] = std::move(row);
}
void MemoryReadModel::AddJudgement(int64_t hour, const std::string& root_service, int64_t judged,
                                   int64_t broken) {
  std::lock_guard lock(mu_);
  auto& j = judgements_[{hour, root_service}];
  j.first += judged;
  j.second += broken;
}
void MemoryReadModel::SetUnavailable(bool unavailable) {
  std::lock_guard lock(mu_);
  unavailable_ = unavailable;
}

absl::Status MemoryReadModel::Check() const {
  if (unavailable_) return absl::UnavailableError("memory read model: marked unavailable");
  return absl::OkStatus();
}

absl::StatusOr<CatalogData> MemoryReadModel::LoadCatalog() {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  CatalogData data;
  for (const auto& [name, row] : services_) {
    if (!row.removed_at) data.services.push_back(row);
  }
  for (const auto& [key, row] : apm_) data.apm.push_back(row);
  return data;
}

absl::StatusOr<std::optional<ServiceRow>> MemoryReadModel::GetService(const std::string& name) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  auto it = services_.find(name);
  if (it == services_.end()) return std::optional<ServiceRow>();
  return std::optional<ServiceRow>(it->second);
}

absl::StatusOr<std::vector<ApmRow>> MemoryReadModel::ApmRowsFor(const std::string& service) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  std::vector<ApmRow> out;
  for (const auto& [key, row] : apm_) {
    if (key.first == service) out.push_back(row);
  }
  return out;
}

absl::StatusOr<TracePage> MemoryReadModel::ListTraces(const TraceFilter& f,
                                                      const std::optional<TraceCursor>& after,
                                                      size_t limit) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  std::vector<const TraceRow*> matching;
  for (const auto& [id, t] : traces_) {
    const TraceRow& r = t.trace;
    if (!f.service.empty() && !Contains(r.services, f.service)) continue;
    if (!f.missing.empty() && !Contains(r.missing_services, f.missing)) continue;
    if (!f.kind.empty() && !Contains(r.gap_kinds, f.kind)) continue;
    if (!f.env.empty() && r.env != f.env) continue;
    if (f.since && r.started_at < *f.since) continue;
    matching.push_back(&r);
  }
  std::sort(matching.begin(), matching.end(), [](const TraceRow* a, const TraceRow* b) {
    if (a->started_at != b->started_at) return a->started_at > b->started_at;
    return CompareDecimal(a->trace_id, b->trace_id) > 0;
  });
  TracePage page;
  page.total = static_cast<int64_t>(matching.size());
  for (const TraceRow* r : matching) {
    if (after) {
      bool is_after =
          r->started_at < after->started_at ||
          (r->started_at == after->started_at && CompareDecimal(r->trace_id, after->trace_id) < 0);
      if (!is_after) continue;
    }
    if (page.traces.size() >= limit) break;
    page.traces.push_back(*r);
  }
  return page;
}

absl::StatusOr<std::optional<TraceDetail>> MemoryReadModel::GetTrace(const std::string& trace_id) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  auto it = traces_.find(trace_id);
  if (it == traces_.end()) return std::optional<TraceDetail>();
  TraceDetail d = it->second;
  std::sort(d.spans.begin(), d.spans.end(), [](const SpanRow& a, const SpanRow& b) {
    if (a.start_ns != b.start_ns) return a.start_ns < b.start_ns;
    return CompareDecimal(a.span_id, b.span_id) < 0;
  });
  std::sort(d.gaps.begin(), d.gaps.end(), [](const GapRow& a, const GapRow& b) {
    int c = CompareDecimal(a.span_id, b.span_id);
    if (c != 0) return c < 0;
    return a.kind < b.kind;
  });
  return std::optional<TraceDetail>(std::move(d));
}

absl::StatusOr<int64_t> MemoryReadModel::CountTracesSince(int64_t since) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  int64_t n = 0;
  for (const auto& [id, t] : traces_) n += t.trace.started_at >= since ? 1 : 0;
  return n;
}

absl::StatusOr<SampleRows> MemoryReadModel::LoadSample(int64_t jobs_since, int64_t traces_since) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  SampleRows out;
  for (const auto& [id, j] : jobs_) {
    if (!j.finished_at || *j.finished_at < jobs_since) continue;
    out.jobs++;
    out.sampled_seconds += j.sampled_seconds;
    out.skipped_seconds += j.skipped_seconds;
  }
  std::map<std::string, SampleRows::Judged> by_root;
  for (const auto& [key, n] : judgements_) {
    if (key.first < traces_since) continue;
    auto& r = by_root[key.second];
    r.root_service = key.second;
    r.judged += n.first;
    r.broken += n.second;
  }
  for (auto& [root, r] : by_root) out.judgements.push_back(std::move(r));
  std::map<std::string, int64_t> missing, kinds;
  for (const auto& [id, t] : traces_) {
    if (t.trace.started_at < traces_since) continue;
    std::set<std::string> m(t.trace.missing_services.begin(), t.trace.missing_services.end());
    for (const auto& s : m) missing[s]++;
    std::set<std::string> k(t.trace.gap_kinds.begin(), t.trace.gap_kinds.end());
    for (const auto& s : k) kinds[s]++;
  }
  out.broken_by_missing_service.assign(missing.begin(), missing.end());
  out.broken_by_gap_kind.assign(kinds.begin(), kinds.end());
  return out;
}

absl::StatusOr<std::vector<DependencyRow>> MemoryReadModel::ListDependencies(
    const std::string& from_service) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  std::vector<DependencyRow> out;
  for (const auto& d : dependencies_) {
    if (from_service.empty() || d.from_service == from_service) out.push_back(d);
  }
  std::sort(out.begin(), out.end(), [](const DependencyRow& a, const DependencyRow& b) {
    return std::tie(a.from_service, a.to_name, a.kind) <
           std::tie(b.from_service, b.to_name, b.kind);
  });
  return out;
}

absl::StatusOr<std::vector<SnapshotRow>> MemoryReadModel::CoverageHistory(
    const std::string& dimension, int64_t since) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  std::vector<SnapshotRow> out;
  for (const auto& r : snapshots_) {
    if (r.dimension == dimension && r.taken_at >= since) out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const SnapshotRow& a, const SnapshotRow& b) {
    return std::tie(a.taken_at, a.key) < std::tie(b.taken_at, b.key);
  });
  return out;
}

absl::StatusOr<std::vector<SyncJobRow>> MemoryReadModel::ListSyncJobs(size_t limit) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  std::vector<SyncJobRow> out;
  for (const auto& [id, j] : jobs_) out.push_back(j);
  std::sort(out.begin(), out.end(), [](const SyncJobRow& a, const SyncJobRow& b) {
    if (JobOrderTime(a) != JobOrderTime(b)) return JobOrderTime(a) > JobOrderTime(b);
    return a.id > b.id;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

absl::StatusOr<std::optional<SyncJobRow>> MemoryReadModel::GetSyncJob(const std::string& id) {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::optional<SyncJobRow>();
  return std::optional<SyncJobRow>(it->second);
}

absl::StatusOr<std::optional<SyncJobRow>> MemoryReadModel::LastFinishedSyncJob() {
  std::lock_guard lock(mu_);
  if (auto s = Check(); !s.ok()) return s;
  std::optional<SyncJobRow> best;
  for (const auto& [id, j] : jobs_) {
    if (!j.finished_at) continue;
    if (!best || *j.finished_at > *best->finished_at) best = j;
  }
  return best;
}

absl::Status MemoryReadModel::Ping() {
  std::lock_guard lock(mu_);
  return Check();
}

}  // namespace apmcov::gateway
