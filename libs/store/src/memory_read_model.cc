#include "apmcov/store/memory_read_model.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "memory_state.h"

namespace apmcov::store {
namespace {

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

int64_t JobOrderTime(const SyncJobRecord& j) { return j.started_at_ns.value_or(j.updated_at_ns); }

// Newest first: (COALESCE(started_at, updated_at), id) descending.
bool NewerJob(const SyncJobRecord& a, const SyncJobRecord& b) {
  return std::make_tuple(JobOrderTime(a), std::cref(a.id)) >
         std::make_tuple(JobOrderTime(b), std::cref(b.id));
}

BrokenTraceRecord WithoutDetail(const BrokenTraceRecord& t) {
  BrokenTraceRecord out = t;
  out.gaps.clear();
  out.spans.clear();
  return out;
}

}  // namespace

template <typename Fn>
auto MemoryReadModel::Read(Fn fn) -> decltype(fn(std::declval<const State&>())) {
  std::lock_guard lock(store_.mu_);
  if (absl::Status s = store_.CheckAvailable(); !s.ok()) return s;
  return fn(static_cast<const State&>(*store_.state_));
}

absl::StatusOr<CatalogState> MemoryReadModel::LoadCatalog() {
  return Read([](const State& st) -> absl::StatusOr<CatalogState> {
    CatalogState out;
    for (const auto& [name, row] : st.services) {
      if (!row.removed_at_ns) out.services.push_back(row);
    }
    for (const auto& [key, row] : st.apm) out.apm.push_back(row);
    return out;
  });
}

absl::StatusOr<std::optional<ServiceRow>> MemoryReadModel::GetService(const std::string& name) {
  return Read([&](const State& st) -> absl::StatusOr<std::optional<ServiceRow>> {
    auto it = st.services.find(name);
    if (it == st.services.end()) return std::nullopt;
    return it->second;
  });
}

absl::StatusOr<std::vector<ApmServiceRow>> MemoryReadModel::ApmRowsFor(const std::string& service) {
  return Read([&](const State& st) -> absl::StatusOr<std::vector<ApmServiceRow>> {
    std::vector<ApmServiceRow> out;
    for (auto it = st.apm.lower_bound({service, ""});
         it != st.apm.end() && it->first.first == service; ++it) {
      out.push_back(it->second);
    }
    return out;
  });
}

absl::StatusOr<TracePage> MemoryReadModel::ListTraces(const TraceFilter& f,
                                                      const std::optional<TraceCursor>& after,
                                                      size_t limit) {
  return Read([&](const State& st) -> absl::StatusOr<TracePage> {
    const std::optional<int64_t> since =
        f.since_ns ? std::optional<int64_t>(TruncateToMicros(*f.since_ns)) : std::nullopt;
    std::vector<const BrokenTraceRecord*> matching;
    for (const auto& [id, t] : st.traces) {
      if (!f.service.empty() && !Contains(t.services, f.service)) continue;
      if (!f.missing.empty() && !Contains(t.missing_services, f.missing)) continue;
      if (!f.kind.empty() && !Contains(t.gap_kinds, f.kind)) continue;
      if (!f.env.empty() && t.env != f.env) continue;
      if (since && t.started_at_ns < *since) continue;
      matching.push_back(&t);
    }
    std::sort(matching.begin(), matching.end(), [](const auto* a, const auto* b) {
      return std::tie(a->started_at_ns, a->trace_id) > std::tie(b->started_at_ns, b->trace_id);
    });
    TracePage page;
    page.total = static_cast<int64_t>(matching.size());
    const std::optional<std::pair<int64_t, uint64_t>> cursor =
        after
            ? std::optional(std::make_pair(TruncateToMicros(after->started_at_ns), after->trace_id))
            : std::nullopt;
    for (const BrokenTraceRecord* t : matching) {
      if (page.traces.size() >= limit) break;
      if (cursor && std::make_pair(t->started_at_ns, t->trace_id) >= *cursor) continue;
      page.traces.push_back(WithoutDetail(*t));
    }
    return page;
  });
}

absl::StatusOr<std::optional<BrokenTraceRecord>> MemoryReadModel::GetTrace(uint64_t trace_id) {
  return Read([&](const State& st) -> absl::StatusOr<std::optional<BrokenTraceRecord>> {
    auto it = st.traces.find(trace_id);
    if (it == st.traces.end()) return std::nullopt;
    return it->second;  // gaps and spans are kept sorted by Apply
  });
}

absl::StatusOr<int64_t> MemoryReadModel::CountTracesSince(int64_t since_ns) {
  return Read([&](const State& st) -> absl::StatusOr<int64_t> {
    const int64_t since = TruncateToMicros(since_ns);
    int64_t n = 0;
    for (const auto& [id, t] : st.traces) n += t.started_at_ns >= since ? 1 : 0;
    return n;
  });
}

absl::StatusOr<SampleRows> MemoryReadModel::LoadSample(int64_t jobs_since_ns,
                                                       int64_t traces_since_ns) {
  return Read([&](const State& st) -> absl::StatusOr<SampleRows> {
    const int64_t jobs_since = TruncateToMicros(jobs_since_ns);
    const int64_t traces_since = TruncateToMicros(traces_since_ns);
    SampleRows out;
    for (const auto& [id, j] : st.jobs) {
      if (!j.finished_at_ns || *j.finished_at_ns < jobs_since) continue;
      out.jobs++;
      out.sampled_seconds += j.sampled_seconds;
      out.skipped_seconds += j.skipped_seconds;
    }
    std::map<std::string, SampleRows::Judged> by_root;
    for (const auto& [key, c] : st.judgements) {
      if (c.hour_ns < traces_since) continue;
      SampleRows::Judged& r = by_root[c.root_service];
      r.root_service = c.root_service;
      r.judged += c.judged;
      r.broken += c.broken;
    }
    for (auto& [root, r] : by_root) out.judgements.push_back(std::move(r));
    std::map<std::string, int64_t> missing, kinds;
    for (const auto& [id, t] : st.traces) {
      if (t.started_at_ns < traces_since) continue;
      // Each trace once per key, even if its array repeats one.
      for (const auto& m :
           std::set<std::string>(t.missing_services.begin(), t.missing_services.end())) {
        missing[m]++;
      }
      for (const auto& k : std::set<std::string>(t.gap_kinds.begin(), t.gap_kinds.end())) {
        kinds[k]++;
      }
    }
    out.broken_by_missing_service.assign(missing.begin(), missing.end());
    out.broken_by_gap_kind.assign(kinds.begin(), kinds.end());
    return out;
  });
}

absl::StatusOr<DependencyPage> MemoryReadModel::ListDependencies(
    const std::string& from_service, const std::optional<DependencyCursor>& after, size_t limit) {
  return Read([&](const State& st) -> absl::StatusOr<DependencyPage> {
    DependencyPage page;
    using Key = std::tuple<std::string, std::string, std::string>;
    const Key start{from_service, "", ""};
    const auto first = st.dependencies.lower_bound(start);
    auto begin = first;
    if (after) {
      const Key cursor{after->from_service, after->to_name, after->kind};
      if (cursor >= start) begin = st.dependencies.upper_bound(cursor);
    }
    for (auto it = first; it != st.dependencies.end(); ++it) {
      if (!from_service.empty() && std::get<0>(it->first) != from_service) break;
      ++page.total;
    }
    for (auto it = begin; it != st.dependencies.end() && page.dependencies.size() < limit; ++it) {
      const auto& [key, d] = *it;
      if (!from_service.empty() && std::get<0>(key) != from_service) break;
      page.dependencies.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), d.to_kind,
                                   d.last_seen_ns, d.count});
    }
    return page;
  });
}

absl::StatusOr<RecommendationPage> MemoryReadModel::RankRecommendations(
    const RecommendationQuery& q) {
  return Read([&](const State& st) -> absl::StatusOr<RecommendationPage> {
    RecommendationPage page;
    if (q.limit == 0) return page;
    const int64_t since = TruncateToMicros(q.since_ns);
    const std::set<std::string> members(q.env_members.begin(), q.env_members.end());
    struct Facts {
      const ServiceRow* service = nullptr;
      std::set<uint64_t> traces;
      std::vector<std::pair<std::pair<int64_t, uint64_t>, uint64_t>> examples;
      std::set<std::string> callers, teams;
    };
    std::map<std::string, Facts> facts;
    for (const std::string& name : q.candidates) {
      auto it = st.services.find(name);
      if (it != st.services.end() && !it->second.removed_at_ns) facts[name].service = &it->second;
    }
    auto live_team = [&](const std::string& name) -> std::string {
      auto it = st.services.find(name);
      return it == st.services.end() || it->second.removed_at_ns ? "" : it->second.catalog.team;
    };
    for (const auto& [id, t] : st.traces) {
      if (t.started_at_ns < since || (!q.env.empty() && t.env != q.env)) continue;
      for (const std::string& m : t.missing_services) {
        auto f = facts.find(m);
        if (f == facts.end() || !f->second.traces.insert(id).second) continue;
        f->second.examples.push_back({{t.started_at_ns, id}, id});
        for (const std::string& s : t.services) {
          if (std::string team = live_team(s); !team.empty()) f->second.teams.insert(team);
        }
      }
    }
    for (const auto& [key, d] : st.dependencies) {
      const auto& [from, to, kind] = key;
      if (kind != "call" || from == to || d.last_seen_ns < since) continue;
      auto f = facts.find(to);
      if (f == facts.end()) continue;
      f->second.callers.insert(from);
      if (std::string team = live_team(from); !team.empty()) f->second.teams.insert(team);
    }
    std::vector<RecommendationRow> ranked;
    for (auto& [name, f] : facts) {
      if (!q.env.empty() && !members.count(name) && f.traces.empty()) continue;
      RecommendationRow row;
      row.name = name;
      row.team = f.service->catalog.team;
      row.customer_facing = f.service->catalog.customer_facing;
      row.broken_traces = static_cast<int64_t>(f.traces.size());
      row.callers.assign(f.callers.begin(), f.callers.end());
      row.teams_affected.assign(f.teams.begin(), f.teams.end());
      std::sort(f.examples.begin(), f.examples.end(), std::greater<>());
      for (size_t i = 0; i < f.examples.size() && i < 3; ++i) {
        row.example_trace_ids.push_back(f.examples[i].second);
      }
      ranked.push_back(std::move(row));
    }
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return std::make_tuple(-a.broken_traces, -static_cast<int64_t>(a.callers.size()),
                             !a.customer_facing, std::cref(a.name)) <
             std::make_tuple(-b.broken_traces, -static_cast<int64_t>(b.callers.size()),
                             !b.customer_facing, std::cref(b.name));
    });
    page.total = static_cast<int64_t>(ranked.size());
    if (ranked.size() > q.limit) ranked.resize(q.limit);
    page.rows = std::move(ranked);
    return page;
  });
}

absl::StatusOr<ServiceMapRows> MemoryReadModel::LoadServiceMap(int64_t since_ns,
                                                               const std::string& env,
                                                               size_t limit) {
  return Read([&](const State& st) -> absl::StatusOr<ServiceMapRows> {
    ServiceMapRows out;
    if (limit == 0) return out;
    const int64_t since = TruncateToMicros(since_ns);
    using Key = std::tuple<std::string, std::string, std::string>;
    struct Edge {
      ServiceMapEdgeRow row;
      std::set<uint64_t> broken;
      std::set<std::string> kinds;
    };
    std::map<Key, Edge> edges;
    for (const auto& [key, d] : st.dependencies) {
      if (d.last_seen_ns < since) continue;
      Edge& e = edges[key];
      e.row = {std::get<0>(key), std::get<1>(key), std::get<2>(key), d.to_kind, d.count, 0, {}};
    }
    for (const auto& [id, t] : st.traces) {
      if (t.started_at_ns < since || (!env.empty() && t.env != env)) continue;
      for (const TraceGapRecord& g : t.gaps) {
        if (!g.to_service) continue;
        Edge& e = edges[Key{g.from_service, *g.to_service, "call"}];
        if (e.row.kind.empty())
          e.row = {g.from_service, *g.to_service, "call", "service", 0, 0, {}};
        e.broken.insert(id);
        e.kinds.insert(g.kind);
      }
    }
    for (auto& [key, e] : edges) {
      if (out.edges.size() == limit) {
        out.truncated = true;
        break;
      }
      e.row.broken_traces = static_cast<int64_t>(e.broken.size());
      e.row.gap_kinds.assign(e.kinds.begin(), e.kinds.end());
      out.edges.push_back(std::move(e.row));
    }
    return out;
  });
}

absl::StatusOr<std::vector<CoverageRow>> MemoryReadModel::CoverageHistory(
    const std::string& dimension, int64_t since_ns) {
  return Read([&](const State& st) -> absl::StatusOr<std::vector<CoverageRow>> {
    const int64_t since = TruncateToMicros(since_ns);
    std::vector<CoverageRow> out;
    // Keys are (taken_at, dimension, key): taken_at then key once the dimension is fixed.
    for (auto it = st.coverage.lower_bound({since, "", ""}); it != st.coverage.end(); ++it) {
      if (std::get<1>(it->first) == dimension) out.push_back(it->second);
    }
    return out;
  });
}

absl::StatusOr<std::vector<SyncJobRecord>> MemoryReadModel::ListSyncJobs(size_t limit) {
  return Read([&](const State& st) -> absl::StatusOr<std::vector<SyncJobRecord>> {
    std::vector<SyncJobRecord> out;
    for (const auto& [id, j] : st.jobs) out.push_back(j);
    std::sort(out.begin(), out.end(), NewerJob);
    if (out.size() > limit) out.resize(limit);
    return out;
  });
}

absl::StatusOr<std::optional<SyncJobRecord>> MemoryReadModel::GetSyncJob(const std::string& id) {
  return Read([&](const State& st) -> absl::StatusOr<std::optional<SyncJobRecord>> {
    auto it = st.jobs.find(id);
    if (it == st.jobs.end()) return std::nullopt;
    return it->second;
  });
}

absl::StatusOr<std::optional<SyncJobRecord>> MemoryReadModel::LastFinishedSyncJob() {
  return Read([](const State& st) -> absl::StatusOr<std::optional<SyncJobRecord>> {
    std::optional<SyncJobRecord> best;
    for (const auto& [id, j] : st.jobs) {
      // Ascending ids: `>=` lets the greatest id win a tie.
      if (j.finished_at_ns && (!best || *j.finished_at_ns >= *best->finished_at_ns)) best = j;
    }
    return best;
  });
}

absl::Status MemoryReadModel::Ping() {
  return Read([](const State&) { return absl::OkStatus(); });
}

}  // namespace apmcov::store
