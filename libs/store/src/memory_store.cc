#include "apmcov/store/memory_store.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "memory_state.h"
#include "validate.h"

namespace apmcov::store {
namespace {

int64_t Micros(int64_t ns) { return TruncateToMicros(ns); }

void SortSpans(std::vector<TraceSpanRecord>& spans) {
  std::sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) {
    return std::tie(a.start_ns, a.span_id) < std::tie(b.start_ns, b.span_id);
  });
}

}  // namespace

MemoryCoverageStore::MemoryCoverageStore() : state_(std::make_unique<State>()) {}
MemoryCoverageStore::~MemoryCoverageStore() = default;

absl::Status MemoryCoverageStore::CheckAvailable() const {
  if (unavailable_) return absl::UnavailableError("memory store: marked unavailable by the test");
  return absl::OkStatus();
}

absl::StatusOr<ApplyResult> MemoryCoverageStore::Apply(const WriteBatch& input) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  if (!fail_next_.ok() && (!fail_next_which_ || fail_next_which_(input))) {
    fail_next_which_ = nullptr;
    return std::exchange(fail_next_, absl::OkStatus());
  }
  WriteBatch cleaned;
  const WriteBatch& batch = internal::WithoutNul(input, &cleaned);
  if (absl::Status s = internal::ValidateBatch(batch); !s.ok()) return s;

  // Work on a copy so a failure part-way leaves nothing behind (all or nothing).
  State next = *state_;
  ApplyResult result;

  for (const SyncJobRecord& in : batch.sync_jobs) {
    SyncJobRecord j = in;
    if (j.started_at_ns) j.started_at_ns = Micros(*j.started_at_ns);
    if (j.finished_at_ns) j.finished_at_ns = Micros(*j.finished_at_ns);
    j.updated_at_ns = Micros(j.updated_at_ns);
    j.edge_cut_traces = 0;  // not the job record's to say
    auto it = next.jobs.find(j.id);
    if (it == next.jobs.end()) {
      next.jobs[j.id] = j;
    } else if (it->second.updated_at_ns <= j.updated_at_ns) {
      j.edge_cut_traces = it->second.edge_cut_traces;
      it->second = j;
    }
  }
  // The additive records count once per count key (see the contract).
  const bool additive = !batch.judgements.empty() || !batch.edge_cuts.empty();
  if (additive &&
      (batch.count_key.id.empty() ||
       next.counted_batches.try_emplace(batch.count_key.id, Micros(batch.count_key.at_ns))
           .second)) {
    for (const EdgeCutCount& e : batch.edge_cuts) {
      auto [it, inserted] = next.jobs.try_emplace(e.job_id);
      if (inserted) {
        it->second.id = e.job_id;
        it->second.state = "running";
        it->second.updated_at_ns = 0;  // any record of the job wins over this placeholder
      }
      it->second.edge_cut_traces += e.traces;
    }
    for (const TraceJudgementCount& in : batch.judgements) {
      TraceJudgementCount& c = next.judgements[{Micros(in.hour_ns), in.root_service}];
      c.hour_ns = Micros(in.hour_ns);
      c.root_service = in.root_service;
      c.judged += in.judged;
      c.broken += in.broken;
    }
  }

  std::set<std::string> touched;
  for (const CatalogServiceRecord& in : batch.catalog_services) {
    CatalogServiceRecord c = in;
    c.synced_at_ns = Micros(c.synced_at_ns);
    if (c.links_json.empty()) c.links_json = "[]";
    touched.insert(c.snapshot_id);
    next.snapshots[c.snapshot_id].members.insert(c.name);
    auto it = next.services.find(c.name);
    if (it == next.services.end()) {
      ServiceRow row;
      row.catalog = c;
      row.first_seen_ns = c.synced_at_ns;
      row.last_synced_ns = c.synced_at_ns;
      next.services.emplace(c.name, std::move(row));
      continue;
    }
    ServiceRow& row = it->second;
    if (c.synced_at_ns < row.last_synced_ns) continue;  // an older snapshot's record
    row.catalog = c;
    row.first_seen_ns = std::min(row.first_seen_ns, c.synced_at_ns);
    row.last_synced_ns = c.synced_at_ns;
    if (row.removed_at_ns && *row.removed_at_ns <= c.synced_at_ns) row.removed_at_ns.reset();
  }
  for (const CatalogSnapshotEndRecord& e : batch.snapshot_ends) {
    touched.insert(e.snapshot_id);
    auto& snap = next.snapshots[e.snapshot_id];
    snap.expected = e.count;
    snap.synced_at_ns = std::max(snap.synced_at_ns, Micros(e.synced_at_ns));
  }
  for (const std::string& id : touched) {
    auto& snap = next.snapshots[id];
    if (snap.completed || !snap.expected || snap.members.size() != *snap.expected) continue;
    snap.completed = true;
    CompletedSnapshot done{id, 0};
    for (auto& [name, row] : next.services) {
      if (!row.removed_at_ns && row.last_synced_ns < snap.synced_at_ns &&
          !snap.members.contains(name)) {
        row.removed_at_ns = snap.synced_at_ns;
        ++done.removed;
      }
    }
    result.completed_snapshots.push_back(std::move(done));
  }

  for (const ApmObservationRecord& o : batch.apm_observations) {
    const int64_t seen = Micros(o.last_seen_ns);
    auto [it, inserted] = next.apm.try_emplace({o.service, o.env});
    internal::MergeApmObservation(it->second, o, seen, inserted);
  }

  for (const BrokenTraceRecord& in : batch.broken_traces) {
    BrokenTraceRecord t = in;
    t.started_at_ns = Micros(t.started_at_ns);
    t.detected_at_ns = Micros(t.detected_at_ns);
    auto it = next.traces.find(t.trace_id);
    if (it != next.traces.end()) {
      t.detected_at_ns = std::min(t.detected_at_ns, it->second.detected_at_ns);
    }
    // Same keys as the tables: first of a duplicated (span_id, kind) / span_id wins.
    std::vector<TraceGapRecord> gaps;
    std::set<std::pair<uint64_t, std::string>> gap_keys;
    for (const auto& g : t.gaps) {
      if (gap_keys.insert({g.span_id, g.kind}).second) gaps.push_back(g);
    }
    std::sort(gaps.begin(), gaps.end(), [](const auto& a, const auto& b) {
      return std::tie(a.span_id, a.kind) < std::tie(b.span_id, b.kind);
    });
    t.gaps = std::move(gaps);
    std::vector<TraceSpanRecord> spans;
    std::set<uint64_t> span_keys;
    for (const auto& s : t.spans) {
      if (span_keys.insert(s.span_id).second) spans.push_back(s);
    }
    SortSpans(spans);
    t.spans = std::move(spans);
    next.traces[t.trace_id] = std::move(t);
  }

  std::map<uint64_t, int64_t> fresh;  // trace → latest seen_at in this batch
  for (const DependencyObservation& d : batch.dependencies) {
    if (next.counted_traces.count(d.trace_id) > 0) continue;
    auto [it, inserted] = fresh.try_emplace(d.trace_id, Micros(d.seen_at_ns));
    if (!inserted) it->second = std::max(it->second, Micros(d.seen_at_ns));
  }
  std::set<std::tuple<std::string, std::string, std::string, uint64_t>> counted_edges;
  for (const DependencyObservation& d : batch.dependencies) {
    auto& dep = next.dependencies[{d.from_service, d.to_name, d.kind}];
    dep.to_kind = d.to_kind;
    dep.last_seen_ns = std::max(dep.last_seen_ns, Micros(d.seen_at_ns));
    if (fresh.count(d.trace_id) > 0 &&
        counted_edges.insert({d.from_service, d.to_name, d.kind, d.trace_id}).second) {
      ++dep.count;
    }
  }
  next.counted_traces.insert(fresh.begin(), fresh.end());

  for (const CoverageRow& in : batch.coverage_rows) {
    CoverageRow c = in;
    c.taken_at_ns = Micros(c.taken_at_ns);
    next.coverage[{c.taken_at_ns, c.dimension, c.key}] = c;
  }

  for (const PartitionWatermark& w : batch.watermarks) {
    auto [it, inserted] = next.watermarks.try_emplace({w.topic, w.partition}, w);
    if (!inserted && it->second.watermark_ns <= w.watermark_ns) it->second = w;
  }

  *state_ = std::move(next);
  ++apply_count_;
  if (!lose_next_.ok() && (!lose_next_which_ || lose_next_which_(input))) {
    lose_next_which_ = nullptr;
    return std::exchange(lose_next_, absl::OkStatus());
  }
  return result;
}

absl::StatusOr<std::vector<ServiceRow>> MemoryCoverageStore::LoadServices(bool include_removed) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  std::vector<ServiceRow> out;
  for (const auto& [name, row] : state_->services) {
    if (include_removed || !row.removed_at_ns) out.push_back(row);
  }
  return out;
}

absl::StatusOr<std::vector<ApmServiceRow>> MemoryCoverageStore::LoadApmServices() {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  std::vector<ApmServiceRow> out;
  for (const auto& [key, row] : state_->apm) out.push_back(row);
  return out;
}

absl::StatusOr<std::optional<BrokenTraceRecord>> MemoryCoverageStore::LoadBrokenTrace(
    uint64_t trace_id) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  auto it = state_->traces.find(trace_id);
  if (it == state_->traces.end()) return std::optional<BrokenTraceRecord>();
  return std::optional<BrokenTraceRecord>(it->second);
}

absl::StatusOr<std::vector<uint64_t>> MemoryCoverageStore::ListBrokenTraceIds() {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  std::vector<uint64_t> out;
  for (const auto& [id, t] : state_->traces) out.push_back(id);
  return out;
}

absl::StatusOr<std::vector<DependencyRow>> MemoryCoverageStore::LoadDependencies() {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  std::vector<DependencyRow> out;
  for (const auto& [key, d] : state_->dependencies) {
    out.push_back(
        {std::get<0>(key), std::get<1>(key), std::get<2>(key), d.to_kind, d.last_seen_ns, d.count});
  }
  return out;
}

absl::StatusOr<std::optional<SyncJobRecord>> MemoryCoverageStore::LoadSyncJob(
    const std::string& id) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  auto it = state_->jobs.find(id);
  if (it == state_->jobs.end()) return std::optional<SyncJobRecord>();
  return std::optional<SyncJobRecord>(it->second);
}

absl::StatusOr<std::vector<CoverageRow>> MemoryCoverageStore::LoadCoverageSnapshot(
    int64_t taken_at_ns) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  std::vector<CoverageRow> out;
  const int64_t t = Micros(taken_at_ns);
  for (const auto& [key, row] : state_->coverage) {
    if (std::get<0>(key) == t) out.push_back(row);
  }
  return out;
}

absl::StatusOr<std::optional<SnapshotState>> MemoryCoverageStore::LoadSnapshotState(
    const std::string& snapshot_id) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  auto it = state_->snapshots.find(snapshot_id);
  if (it == state_->snapshots.end()) return std::optional<SnapshotState>();
  const auto& snap = it->second;
  return std::optional<SnapshotState>(SnapshotState{
      snapshot_id, snap.expected, static_cast<uint32_t>(snap.members.size()), snap.completed});
}

absl::StatusOr<std::vector<PartitionWatermark>> MemoryCoverageStore::LoadWatermarks() {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  std::vector<PartitionWatermark> out;
  for (const auto& [key, w] : state_->watermarks) out.push_back(w);
  return out;
}

absl::StatusOr<std::vector<TraceJudgementCount>> MemoryCoverageStore::LoadJudgements(
    int64_t since_ns) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  std::vector<TraceJudgementCount> out;
  for (const auto& [key, c] : state_->judgements) {
    if (c.hour_ns >= since_ns) out.push_back(c);
  }
  return out;
}

absl::StatusOr<std::vector<BrokenTraceBlame>> MemoryCoverageStore::LoadBrokenTraceBlame(
    int64_t since_ns) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  std::map<std::string, int64_t> blamed;
  for (const auto& [id, t] : state_->traces) {
    if (t.started_at_ns < since_ns) continue;
    std::set<std::string> names(t.missing_services.begin(), t.missing_services.end());
    for (const auto& g : t.gaps) {
      if (g.kind == "propagation_break" && g.to_service && !g.to_service->empty()) {
        names.insert(*g.to_service);
      }
    }
    for (const auto& n : names) ++blamed[n];
  }
  std::vector<BrokenTraceBlame> out;
  out.reserve(blamed.size());
  for (const auto& [service, count] : blamed) out.push_back({service, count});
  return out;
}

absl::StatusOr<std::vector<ScorecardOutcomeRow>> MemoryCoverageStore::LoadScorecardOutcomes() {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  std::vector<ScorecardOutcomeRow> out;
  for (const auto& [key, row] : state_->scorecard_outcomes) out.push_back(row);
  return out;
}

absl::Status MemoryCoverageStore::SaveScorecardOutcomes(
    const std::vector<ScorecardOutcomeRow>& rows) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  for (const auto& r : rows) {
    if (absl::Status s = internal::ValidateScorecardOutcome(r); !s.ok()) return s;
  }
  for (const auto& r : rows) state_->scorecard_outcomes[{r.rule, r.service}] = r;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<DeadLetterKey>> MemoryCoverageStore::ClaimDeadLetters(
    const std::vector<DeadLetterKey>& keys) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  std::vector<DeadLetterKey> out;
  for (const auto& k : keys) {
    auto [it, inserted] = state_->dead_letters.try_emplace({k.topic, k.partition, k.offset});
    if (inserted) {
      it->second.claimed_at_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
    }
    if (!it->second.published) out.push_back(k);
  }
  return out;
}

absl::Status MemoryCoverageStore::MarkDeadLettersPublished(const std::vector<DeadLetterKey>& keys) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  for (const auto& k : keys) {
    auto it = state_->dead_letters.find({k.topic, k.partition, k.offset});
    if (it != state_->dead_letters.end()) it->second.published = true;
  }
  return absl::OkStatus();
}

namespace {

// Erases up to `limit` entries of `m` for which `old(value)` holds, calling `on_erase(value)`
// first; returns how many. Sets `*more` when the limit was reached.
template <typename Map, typename Pred, typename OnErase>
int64_t EraseOld(Map& m, size_t limit, bool* more, Pred old, OnErase on_erase) {
  int64_t n = 0;
  for (auto it = m.begin(); it != m.end();) {
    if (!old(it->second)) {
      ++it;
      continue;
    }
    if (static_cast<size_t>(n) == limit) {
      *more = true;
      break;
    }
    on_erase(it->second);
    it = m.erase(it);
    ++n;
  }
  return n;
}

template <typename Map, typename Pred>
int64_t EraseOld(Map& m, size_t limit, bool* more, Pred old) {
  return EraseOld(m, limit, more, old, [](const auto&) {});
}

constexpr int64_t kDayNs = RetentionPolicy::kDay;

int64_t UtcDay(int64_t ns) { return ns >= 0 ? ns / kDayNs : (ns - kDayNs + 1) / kDayNs; }

}  // namespace

absl::StatusOr<PruneResult> MemoryCoverageStore::Prune(const RetentionPolicy& policy,
                                                       int64_t now_ns, size_t batch_rows) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckAvailable(); !s.ok()) return s;
  if (batch_rows == 0) return absl::InvalidArgumentError("Prune: batch_rows must be at least 1");
  State& st = *state_;
  PruneResult r;
  // Microseconds, like the adapter's timestamptz cutoffs.
  const int64_t trace_cut = Micros(now_ns - policy.broken_trace_ns);
  const int64_t job_cut = Micros(now_ns - policy.sync_job_ns);
  const int64_t snap_cut = Micros(now_ns - policy.snapshot_full_ns);
  const int64_t guard_cut = Micros(now_ns - policy.replay_guard_ns);
  auto add = [&r](const char* table, int64_t n) {
    if (n > 0) r.rows[table] += n;
  };

  int64_t traces = 0, gaps = 0, spans = 0;
  for (auto it = st.traces.begin(); it != st.traces.end();) {
    if (it->second.started_at_ns >= trace_cut) {
      ++it;
      continue;
    }
    if (static_cast<size_t>(traces) == batch_rows) {
      r.more = true;
      break;
    }
    gaps += static_cast<int64_t>(it->second.gaps.size());
    spans += static_cast<int64_t>(it->second.spans.size());
    it = st.traces.erase(it);
    ++traces;
  }
  add("broken_traces", traces);
  add("trace_gaps", gaps);
  add("trace_spans", spans);
  add("trace_judgements", EraseOld(st.judgements, batch_rows, &r.more,
                                   [&](const auto& j) { return j.hour_ns < trace_cut; }));
  add("dependencies", EraseOld(st.dependencies, batch_rows, &r.more,
                               [&](const auto& d) { return d.last_seen_ns < trace_cut; }));
  add("dependency_counted_traces", EraseOld(st.counted_traces, batch_rows, &r.more,
                                            [&](int64_t seen) { return seen < guard_cut; }));
  add("counted_batches", EraseOld(st.counted_batches, batch_rows, &r.more,
                                  [&](int64_t at) { return at < guard_cut; }));
  add("sync_jobs", EraseOld(st.jobs, batch_rows, &r.more, [&](const SyncJobRecord& j) {
        return j.updated_at_ns != 0 && j.updated_at_ns < job_cut;
      }));
  // A completed snapshot's members are gone already (the adapter deletes them on completion).
  int64_t members = 0;
  add("catalog_snapshots",
      EraseOld(
          st.snapshots, batch_rows, &r.more,
          [&](const auto& snap) { return snap.synced_at_ns != 0 && snap.synced_at_ns < job_cut; },
          [&](const auto& snap) {
            if (!snap.completed) members += std::ssize(snap.members);
          }));
  add("catalog_snapshot_members", members);
  add("dead_letters", EraseOld(st.dead_letters, batch_rows, &r.more,
                               [&](const auto& d) { return d.claimed_at_ns < job_cut; }));
  // The latest taken_at of each UTC day, among the snapshots old enough to thin.
  std::map<int64_t, int64_t> day_last;
  for (const auto& [key, row] : st.coverage) {
    const int64_t t = std::get<0>(key);
    int64_t& last = day_last[UtcDay(t)];
    last = std::max(last, t);
  }
  add("coverage_snapshots", EraseOld(st.coverage, batch_rows, &r.more, [&](const CoverageRow& c) {
        return c.taken_at_ns < snap_cut && c.taken_at_ns < day_last[UtcDay(c.taken_at_ns)];
      }));
  return r;
}

absl::Status MemoryCoverageStore::Ping() {
  std::lock_guard lock(mu_);
  return CheckAvailable();
}

void MemoryCoverageStore::FailNextApply(absl::Status status,
                                        std::function<bool(const WriteBatch&)> which) {
  std::lock_guard lock(mu_);
  fail_next_ = std::move(status);
  fail_next_which_ = std::move(which);
}

void MemoryCoverageStore::LoseNextApplyOutcome(absl::Status status,
                                               std::function<bool(const WriteBatch&)> which) {
  std::lock_guard lock(mu_);
  lose_next_ = std::move(status);
  lose_next_which_ = std::move(which);
}

void MemoryCoverageStore::SetUnavailable(bool unavailable) {
  std::lock_guard lock(mu_);
  unavailable_ = unavailable;
}

int64_t MemoryCoverageStore::apply_count() const {
  std::lock_guard lock(mu_);
  return apply_count_;
}

}  // namespace apmcov::store
