#include "apmcov/store/postgres_store.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <regex>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "pg_rows.h"
#include "pg_util.h"
#include "validate.h"

namespace apmcov::store {
namespace {

using internal::EpochMicros;
using internal::Text;
using internal::TextArray;
using internal::Timestamp;

constexpr size_t kRowsPerStatement = 1000;

std::string OptTimestamp(const std::optional<int64_t>& ns) {
  return ns ? Timestamp(*ns) : std::string("NULL");
}

// Runs `prefix VALUES <rows...> suffix` in chunks of kRowsPerStatement rows.
void InsertRows(pqxx::work& tx, const std::string& prefix, const std::vector<std::string>& rows,
                const std::string& suffix) {
  for (size_t begin = 0; begin < rows.size(); begin += kRowsPerStatement) {
    const size_t end = std::min(rows.size(), begin + kRowsPerStatement);
    std::string sql = prefix + " VALUES ";
    for (size_t i = begin; i < end; ++i) {
      if (i != begin) sql += ',';
      sql += rows[i];
    }
    sql += ' ';
    sql += suffix;
    tx.exec(sql);
  }
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += ',';
    out += parts[i];
  }
  return out;
}

int64_t Micros(const pqxx::field& f) { return f.as<int64_t>() * 1000; }
uint64_t Unsigned(const pqxx::field& f) { return std::stoull(f.as<std::string>()); }

}  // namespace

std::string RedactDatabaseUrl(std::string_view url) {
  std::string s(url);
  // URI form: scheme://user:password@host...
  static const std::regex uri(R"(^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*):([^@]*)@)");
  s = std::regex_replace(s, uri, "$1:<redacted>@", std::regex_constants::format_first_only);
  // key=value form and URI query parameters.
  static const std::regex kv(R"((^|[\s?&])password\s*=\s*('([^'\\]|\\.)*'|[^\s&]*))",
                             std::regex::icase);
  return std::regex_replace(s, kv, "$1password=<redacted>");
}

struct PostgresCoverageStore::Impl {
  std::string url;
  std::mutex mu;
  std::unique_ptr<pqxx::connection> conn;

  pqxx::connection& Connection() {
    if (conn && !conn->is_open()) conn.reset();
    if (!conn) conn = std::make_unique<pqxx::connection>(url);
    return *conn;
  }

  // Runs `fn` with a connection, turning exceptions into a Status and dropping a broken
  // connection so the next call reconnects.
  template <typename Fn>
  auto Run(std::string_view what, Fn fn) -> decltype(fn(std::declval<pqxx::connection&>())) {
    std::lock_guard lock(mu);
    try {
      return fn(Connection());
    } catch (...) {
      absl::Status s = internal::StatusFromCurrentException(what);
      if (conn && (!conn->is_open() || absl::IsUnavailable(s))) {
        // A fresh connection after any retriable failure: cheap, and never reuses a session
        // in an unknown state.
        conn.reset();
      }
      return s;
    }
  }

  ApplyResult ApplyInTx(pqxx::work& tx, const WriteBatch& b);
  void WriteSyncJobs(pqxx::work& tx, const WriteBatch& b);
  std::vector<CompletedSnapshot> WriteCatalog(pqxx::work& tx, const WriteBatch& b);
  void WriteApm(pqxx::work& tx, const WriteBatch& b);
  void WriteTraces(pqxx::work& tx, const WriteBatch& b);
  void WriteDependencies(pqxx::work& tx, const WriteBatch& b);
  void WriteCoverage(pqxx::work& tx, const WriteBatch& b);
  void WriteWatermarks(pqxx::work& tx, const WriteBatch& b);
  void WriteJudgements(pqxx::work& tx, const WriteBatch& b);
};

void PostgresCoverageStore::Impl::WriteWatermarks(pqxx::work& tx, const WriteBatch& b) {
  if (b.watermarks.empty()) return;
  std::map<std::pair<std::string, int32_t>, const PartitionWatermark*> highest;
  for (const auto& w : b.watermarks) {
    auto [it, inserted] = highest.try_emplace({w.topic, w.partition}, &w);
    if (!inserted && it->second->watermark_ns <= w.watermark_ns) it->second = &w;
  }
  auto& c = tx.conn();
  std::vector<std::string> rows;
  for (const auto& [key, w] : highest) {
    std::string intervals = "ARRAY[";
    for (size_t i = 0; i < w->read_intervals.size(); ++i) {
      if (i > 0) intervals += ',';
      intervals += std::to_string(w->read_intervals[i]);
    }
    intervals += "]::bigint[]";
    rows.push_back("(" +
                   Join({Text(c, key.first), std::to_string(key.second),
                         std::to_string(w->watermark_ns), intervals}) +
                   ")");
  }
  InsertRows(
      tx, "INSERT INTO partition_watermarks (topic, partition, watermark_ns, read_intervals)", rows,
      "ON CONFLICT (topic, partition) DO UPDATE SET watermark_ns = "
      "EXCLUDED.watermark_ns, read_intervals = EXCLUDED.read_intervals, updated_at = "
      "now() WHERE partition_watermarks.watermark_ns <= EXCLUDED.watermark_ns");
}

void PostgresCoverageStore::Impl::WriteJudgements(pqxx::work& tx, const WriteBatch& b) {
  auto& c = tx.conn();
  if (!b.judgements.empty()) {
    std::map<std::pair<int64_t, std::string>, std::pair<int64_t, int64_t>> sums;
    for (const auto& j : b.judgements) {
      auto& s = sums[{j.hour_ns, j.root_service}];
      s.first += j.judged;
      s.second += j.broken;
    }
    std::vector<std::string> rows;
    rows.reserve(sums.size());
    for (const auto& [key, n] : sums) {
      rows.push_back("(" +
                     Join({Timestamp(key.first), Text(c, key.second), std::to_string(n.first),
                           std::to_string(n.second)}) +
                     ")");
    }
    InsertRows(tx, "INSERT INTO trace_judgements (hour, root_service, judged, broken)", rows,
               "ON CONFLICT (hour, root_service) DO UPDATE SET judged = trace_judgements.judged "
               "+ EXCLUDED.judged, broken = trace_judgements.broken + EXCLUDED.broken");
  }
  if (!b.edge_cuts.empty()) {
    std::map<std::string, int64_t> sums;
    for (const auto& e : b.edge_cuts) sums[e.job_id] += e.traces;
    std::vector<std::string> rows;
    rows.reserve(sums.size());
    for (const auto& [job, n] : sums) {
      // A placeholder row when the job is not known yet: its records win (updated_at epoch).
      rows.push_back(
          "(" + Join({Text(c, job), "'running'", "'epoch'::timestamptz", std::to_string(n)}) + ")");
    }
    InsertRows(tx, "INSERT INTO sync_jobs (id, state, updated_at, edge_cut_traces)", rows,
               "ON CONFLICT (id) DO UPDATE SET edge_cut_traces = sync_jobs.edge_cut_traces + "
               "EXCLUDED.edge_cut_traces");
  }
}

void PostgresCoverageStore::Impl::WriteSyncJobs(pqxx::work& tx, const WriteBatch& b) {
  if (b.sync_jobs.empty()) return;
  std::map<std::string, SyncJobRecord> latest;  // newest updated_at per id; ties: later wins
  for (const auto& j : b.sync_jobs) {
    auto it = latest.find(j.id);
    if (it == latest.end() ||
        TruncateToMicros(it->second.updated_at_ns) <= TruncateToMicros(j.updated_at_ns)) {
      latest[j.id] = j;
    }
  }
  auto& c = tx.conn();
  std::vector<std::string> rows;
  rows.reserve(latest.size());
  for (const auto& [id, j] : latest) {
    rows.push_back(
        "(" +
        Join({Text(c, j.id), Text(c, j.trigger), Text(c, j.state), OptTimestamp(j.started_at_ns),
              OptTimestamp(j.finished_at_ns), std::to_string(j.api_calls), std::to_string(j.pages),
              std::to_string(j.spans), std::to_string(j.rate_limited_ms), Text(c, j.error),
              Timestamp(j.updated_at_ns), std::to_string(j.sampled_seconds),
              std::to_string(j.skipped_seconds)}) +
        ")");
  }
  InsertRows(tx,
             "INSERT INTO sync_jobs (id, trigger, state, started_at, finished_at, api_calls, "
             "pages, spans, rate_limited_ms, error, updated_at, sampled_seconds, "
             "skipped_seconds)",
             rows,
             "ON CONFLICT (id) DO UPDATE SET trigger = EXCLUDED.trigger, state = EXCLUDED.state, "
             "started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, "
             "api_calls = EXCLUDED.api_calls, pages = EXCLUDED.pages, spans = EXCLUDED.spans, "
             "rate_limited_ms = EXCLUDED.rate_limited_ms, error = EXCLUDED.error, "
             "updated_at = EXCLUDED.updated_at, sampled_seconds = EXCLUDED.sampled_seconds, "
             "skipped_seconds = EXCLUDED.skipped_seconds "
             "WHERE sync_jobs.updated_at <= EXCLUDED.updated_at");
}

std::vector<CompletedSnapshot> PostgresCoverageStore::Impl::WriteCatalog(pqxx::work& tx,
                                                                         const WriteBatch& b) {
  std::vector<CompletedSnapshot> completed;
  if (b.catalog_services.empty() && b.snapshot_ends.empty()) return completed;
  auto& c = tx.conn();
  std::set<std::string> touched;
  for (const auto& s : b.catalog_services) touched.insert(s.snapshot_id);
  for (const auto& e : b.snapshot_ends) touched.insert(e.snapshot_id);

  // Lock the snapshots' rows first, in a fixed order: an analyzer applying other members of the
  // same snapshot waits here, and then sees them when it counts (read committed).
  std::vector<std::string> ids, lock_rows;
  for (const auto& id : touched) {
    ids.push_back(Text(c, id));
    lock_rows.push_back("(" + Text(c, id) + ", timestamptz 'epoch')");
  }
  InsertRows(tx, "INSERT INTO catalog_snapshots (snapshot_id, synced_at)", lock_rows,
             "ON CONFLICT (snapshot_id) DO UPDATE SET snapshot_id = EXCLUDED.snapshot_id");

  if (!b.catalog_services.empty()) {
    std::map<std::string, const CatalogServiceRecord*> newest;
    std::set<std::pair<std::string, std::string>> members;
    for (const auto& s : b.catalog_services) {
      members.insert({s.snapshot_id, s.name});
      auto it = newest.find(s.name);
      if (it == newest.end() ||
          TruncateToMicros(it->second->synced_at_ns) <= TruncateToMicros(s.synced_at_ns)) {
        newest[s.name] = &s;
      }
    }
    std::vector<std::string> member_rows;
    member_rows.reserve(members.size());
    for (const auto& [snap, name] : members) {
      member_rows.push_back("(" + Text(c, snap) + "," + Text(c, name) + ")");
    }
    InsertRows(tx, "INSERT INTO catalog_snapshot_members (snapshot_id, name)", member_rows,
               "ON CONFLICT DO NOTHING");

    std::vector<std::string> rows;
    for (const auto& [name, p] : newest) {
      const CatalogServiceRecord& s = *p;
      const std::string links = s.links_json.empty() ? "[]" : s.links_json;
      rows.push_back(
          "(" +
          Join({Text(c, s.name), Text(c, s.team), Text(c, s.application), Text(c, s.tier),
                Text(c, s.lifecycle), Text(c, s.type), TextArray(c, s.languages),
                TextArray(c, s.envs), Text(c, s.infra), s.customer_facing ? "true" : "false",
                TextArray(c, s.tags), Text(c, links) + "::jsonb", Text(c, s.schema_version),
                Text(c, s.description), Text(c, s.snapshot_id), Timestamp(s.synced_at_ns),
                Timestamp(s.synced_at_ns)}) +
          ")");
    }
    InsertRows(
        tx,
        "INSERT INTO services (name, team, application, tier, lifecycle, type, languages, envs, "
        "infra, customer_facing, tags, links, schema_version, description, snapshot_id, "
        "first_seen, last_synced)",
        rows,
        "ON CONFLICT (name) DO UPDATE SET team = EXCLUDED.team, application = "
        "EXCLUDED.application, tier = EXCLUDED.tier, lifecycle = EXCLUDED.lifecycle, type = "
        "EXCLUDED.type, languages = EXCLUDED.languages, envs = EXCLUDED.envs, infra = "
        "EXCLUDED.infra, customer_facing = EXCLUDED.customer_facing, tags = EXCLUDED.tags, links "
        "= EXCLUDED.links, schema_version = EXCLUDED.schema_version, description = "
        "EXCLUDED.description, snapshot_id = EXCLUDED.snapshot_id, first_seen = "
        "LEAST(services.first_seen, EXCLUDED.first_seen), last_synced = EXCLUDED.last_synced, "
        "removed_at = CASE WHEN services.removed_at > EXCLUDED.last_synced THEN "
        "services.removed_at ELSE NULL END WHERE services.last_synced <= EXCLUDED.last_synced");
  }

  if (!b.snapshot_ends.empty()) {
    std::map<std::string, CatalogSnapshotEndRecord> ends;  // later count wins, max time
    for (const auto& e : b.snapshot_ends) {
      auto [it, inserted] = ends.try_emplace(e.snapshot_id, e);
      if (!inserted) {
        it->second.count = e.count;
        it->second.synced_at_ns = std::max(it->second.synced_at_ns, e.synced_at_ns);
      }
    }
    for (const auto& [id, e] : ends) {
      tx.exec("UPDATE catalog_snapshots SET expected = " + std::to_string(e.count) +
              ", synced_at = GREATEST(synced_at, " + Timestamp(e.synced_at_ns) +
              ") WHERE snapshot_id = " + Text(c, id));
    }
  }

  // Count members of every touched, incomplete snapshot; complete those that hold exactly the
  // announced number.
  const pqxx::result counted = tx.exec(
      "UPDATE catalog_snapshots s SET received = (SELECT count(*) FROM catalog_snapshot_members "
      "m WHERE m.snapshot_id = s.snapshot_id) WHERE s.completed_at IS NULL AND s.snapshot_id IN (" +
      Join(ids) + ") RETURNING s.snapshot_id, s.expected, s.received, " +
      EpochMicros("s.synced_at"));
  std::vector<std::tuple<std::string, int64_t>> to_complete;
  for (const auto& row : counted) {
    if (row[1].is_null() || row[1].as<int64_t>() != row[2].as<int64_t>()) continue;
    to_complete.emplace_back(row[0].as<std::string>(), Micros(row[3]));
  }
  std::sort(to_complete.begin(), to_complete.end());
  for (const auto& [id, synced_ns] : to_complete) {
    const std::string t = Timestamp(synced_ns);
    const pqxx::result removed = tx.exec(absl::StrCat(
        "WITH removed AS (UPDATE services SET removed_at = ", t,
        " WHERE removed_at IS NULL AND last_synced < ", t,
        " AND NOT EXISTS (SELECT 1 FROM catalog_snapshot_members m WHERE m.snapshot_id = ",
        Text(c, id), " AND m.name = services.name) RETURNING 1) SELECT count(*) FROM removed"));
    tx.exec("UPDATE catalog_snapshots SET completed_at = now() WHERE snapshot_id = " + Text(c, id));
    // A completed snapshot is never counted again: its member list is no longer needed.
    tx.exec("DELETE FROM catalog_snapshot_members WHERE snapshot_id = " + Text(c, id));
    completed.push_back({id, removed[0][0].as<int64_t>()});
  }
  return completed;
}

void PostgresCoverageStore::Impl::WriteApm(pqxx::work& tx, const WriteBatch& b) {
  if (b.apm_observations.empty()) return;
  std::map<std::pair<std::string, std::string>, ApmServiceRow> merged;
  for (const auto& o : b.apm_observations) {
    const int64_t seen = TruncateToMicros(o.last_seen_ns);
    auto [it, inserted] = merged.try_emplace({o.service, o.env});
    internal::MergeApmObservation(it->second, o, seen, inserted);
  }
  auto& c = tx.conn();
  std::vector<std::string> rows;
  rows.reserve(merged.size());
  for (const auto& [key, r] : merged) {
    rows.push_back("(" +
                   Join({Text(c, r.service), Text(c, r.env), Timestamp(r.first_seen_ns),
                         Timestamp(r.last_seen_ns), std::to_string(r.span_count),
                         TextArray(c, r.languages), TextArray(c, r.infra_hints),
                         r.traced ? "true" : "false", r.usm_only ? "true" : "false",
                         OptTimestamp(r.last_traced_ns), r.usm_seen ? "true" : "false"}) +
                   ")");
  }
  auto union_of = [](const std::string& col) {
    return "ARRAY(SELECT x FROM (SELECT DISTINCT unnest(apm_services." + col + " || EXCLUDED." +
           col + ") AS x) d ORDER BY x COLLATE \"C\")";
  };
  InsertRows(tx,
             "INSERT INTO apm_services (service, env, first_seen, last_seen, span_count, "
             "languages, infra_hints, traced, usm_only, last_traced, usm_seen)",
             rows,
             "ON CONFLICT (service, env) DO UPDATE SET first_seen = "
             "LEAST(apm_services.first_seen, EXCLUDED.first_seen), last_seen = "
             "GREATEST(apm_services.last_seen, EXCLUDED.last_seen), span_count = "
             "GREATEST(apm_services.span_count, EXCLUDED.span_count), languages = " +
                 union_of("languages") + ", infra_hints = " + union_of("infra_hints") +
                 ", traced = apm_services.traced OR EXCLUDED.traced, usm_seen = "
                 "apm_services.usm_seen OR EXCLUDED.usm_seen, usm_only = (apm_services.usm_seen "
                 "OR EXCLUDED.usm_seen) AND NOT (apm_services.traced OR EXCLUDED.traced), "
                 "last_traced = GREATEST(apm_services.last_traced, EXCLUDED.last_traced)");
}

void PostgresCoverageStore::Impl::WriteTraces(pqxx::work& tx, const WriteBatch& b) {
  if (b.broken_traces.empty()) return;
  std::map<uint64_t, const BrokenTraceRecord*> latest;
  std::map<uint64_t, int64_t> first_detected;
  for (const auto& t : b.broken_traces) {
    latest[t.trace_id] = &t;
    auto [it, inserted] = first_detected.try_emplace(t.trace_id, t.detected_at_ns);
    if (!inserted) it->second = std::min(it->second, t.detected_at_ns);
  }
  auto& c = tx.conn();
  std::vector<std::string> rows, ids, gap_rows;
  for (const auto& [id, p] : latest) {
    const BrokenTraceRecord& t = *p;
    const std::string tid = std::to_string(id);
    ids.push_back(tid);
    rows.push_back(
        "(" +
        Join({tid, std::to_string(t.trace_id_high), Text(c, t.env),
              t.root_service ? Text(c, *t.root_service) : "NULL", Timestamp(t.started_at_ns),
              std::to_string(t.duration_ns), std::to_string(t.span_count), TextArray(c, t.services),
              TextArray(c, t.missing_services), TextArray(c, t.gap_kinds),
              Timestamp(first_detected[id])}) +
        ")");
    for (const auto& g : t.gaps) {
      gap_rows.push_back(
          "(" +
          Join({tid, std::to_string(g.span_id), Text(c, g.kind), Text(c, g.from_service),
                g.to_service ? Text(c, *g.to_service) : "NULL", Text(c, g.peer),
                Text(c, g.detail)}) +
          ")");
    }
  }
  InsertRows(tx,
             "INSERT INTO broken_traces (trace_id, trace_id_high, env, root_service, started_at, "
             "duration_ns, span_count, services, missing_services, gap_kinds, detected_at)",
             rows,
             "ON CONFLICT (trace_id) DO UPDATE SET trace_id_high = EXCLUDED.trace_id_high, env = "
             "EXCLUDED.env, root_service = EXCLUDED.root_service, started_at = "
             "EXCLUDED.started_at, duration_ns = EXCLUDED.duration_ns, span_count = "
             "EXCLUDED.span_count, services = EXCLUDED.services, missing_services = "
             "EXCLUDED.missing_services, gap_kinds = EXCLUDED.gap_kinds, detected_at = "
             "LEAST(broken_traces.detected_at, EXCLUDED.detected_at)");
  // The latest judgement replaces the trace's gaps and spans.
  for (size_t begin = 0; begin < ids.size(); begin += kRowsPerStatement) {
    const std::vector<std::string> chunk(
        ids.begin() + begin, ids.begin() + std::min(ids.size(), begin + kRowsPerStatement));
    tx.exec("DELETE FROM trace_gaps WHERE trace_id IN (" + Join(chunk) + ")");
    tx.exec("DELETE FROM trace_spans WHERE trace_id IN (" + Join(chunk) + ")");
  }
  InsertRows(tx,
             "INSERT INTO trace_gaps (trace_id, span_id, kind, from_service, to_service, peer, "
             "detail)",
             gap_rows, "ON CONFLICT DO NOTHING");
  // Spans are the bulk of the rows: COPY them (10x a multi-row INSERT). Their old rows were
  // just deleted and duplicates are dropped here (first wins, like the fake), so no key can
  // conflict unless another analyzer writes the same trace at this moment (a rebalance
  // overlap): that unique violation fails the transaction as retriable.
  pqxx::stream_to copy(
      tx, "trace_spans",
      std::vector<std::string>{"trace_id", "span_id", "parent_id", "service", "resource", "kind",
                               "type", "start_ns", "duration_ns", "target"});
  for (const auto& [id, p] : latest) {
    const std::string tid = std::to_string(id);
    std::set<uint64_t> seen;
    for (const auto& sp : p->spans) {
      if (!seen.insert(sp.span_id).second) continue;
      copy << std::make_tuple(tid, std::to_string(sp.span_id), std::to_string(sp.parent_id),
                              sp.service, sp.resource, sp.kind, sp.type, sp.start_ns,
                              sp.duration_ns, sp.target);
    }
  }
  copy.complete();
}

void PostgresCoverageStore::Impl::WriteDependencies(pqxx::work& tx, const WriteBatch& b) {
  if (b.dependencies.empty()) return;
  // Each trace counts once for every edge it has, the first time it is written
  // (dependency_counted_traces, migration 0005): a replayed batch adds nothing.
  std::map<int64_t, int64_t> trace_seen;  // trace id (signed) -> latest seen
  for (const auto& d : b.dependencies) {
    auto [it, inserted] = trace_seen.try_emplace(static_cast<int64_t>(d.trace_id), d.seen_at_ns);
    if (!inserted) it->second = std::max(it->second, d.seen_at_ns);
  }
  std::string traces = "{", seen_us = "{";
  for (const auto& [trace, seen] : trace_seen) {
    if (traces.size() > 1) {
      traces += ',';
      seen_us += ',';
    }
    traces += std::to_string(trace);
    seen_us += std::to_string(seen / 1000);
  }
  traces += '}';
  seen_us += '}';
  std::set<int64_t> fresh;  // traces never counted before
  const pqxx::result r = tx.exec_params(
      "INSERT INTO dependency_counted_traces (trace_id, seen_at) "
      "SELECT t, to_timestamp(s / 1000000.0) FROM unnest($1::bigint[], $2::bigint[]) AS u(t, s) "
      "ON CONFLICT DO NOTHING RETURNING trace_id",
      traces, seen_us);
  for (const auto& row : r) fresh.insert(row[0].as<int64_t>());

  using Edge = std::tuple<std::string, std::string, std::string>;
  struct Agg {
    std::string to_kind;
    int64_t last_seen_ns = 0;
    std::set<uint64_t> new_traces;
  };
  std::map<Edge, Agg> edges;
  for (const auto& d : b.dependencies) {
    Agg& a = edges[Edge{d.from_service, d.to_name, d.kind}];
    a.to_kind = d.to_kind;
    a.last_seen_ns = std::max(a.last_seen_ns, d.seen_at_ns);
    if (fresh.count(static_cast<int64_t>(d.trace_id)) > 0) a.new_traces.insert(d.trace_id);
  }
  auto& c = tx.conn();
  std::vector<std::string> rows;
  for (const auto& [e, agg] : edges) {
    const auto& [from, to, kind] = e;
    rows.push_back("(" +
                   Join({Text(c, from), Text(c, to), Text(c, kind), Text(c, agg.to_kind),
                         Timestamp(agg.last_seen_ns), std::to_string(agg.new_traces.size())}) +
                   ")");
  }
  InsertRows(
      tx, "INSERT INTO dependencies (from_service, to_name, kind, to_kind, last_seen, count)", rows,
      "ON CONFLICT (from_service, to_name, kind) DO UPDATE SET to_kind = "
      "EXCLUDED.to_kind, last_seen = GREATEST(dependencies.last_seen, EXCLUDED.last_seen), "
      "count = dependencies.count + EXCLUDED.count");
}

void PostgresCoverageStore::Impl::WriteCoverage(pqxx::work& tx, const WriteBatch& b) {
  if (b.coverage_rows.empty()) return;
  std::map<std::tuple<int64_t, std::string, std::string>, const CoverageRow*> latest;
  for (const auto& r : b.coverage_rows) {
    latest[{TruncateToMicros(r.taken_at_ns), r.dimension, r.key}] = &r;
  }
  auto& c = tx.conn();
  std::vector<std::string> rows;
  rows.reserve(latest.size());
  for (const auto& [key, r] : latest) {
    rows.push_back("(" +
                   Join({Timestamp(r->taken_at_ns), Text(c, r->dimension), Text(c, r->key),
                         std::to_string(r->total), std::to_string(r->instrumented)}) +
                   ")");
  }
  InsertRows(tx, "INSERT INTO coverage_snapshots (taken_at, dimension, key, total, instrumented)",
             rows,
             "ON CONFLICT (taken_at, dimension, key) DO UPDATE SET total = EXCLUDED.total, "
             "instrumented = EXCLUDED.instrumented");
}

ApplyResult PostgresCoverageStore::Impl::ApplyInTx(pqxx::work& tx, const WriteBatch& b) {
  ApplyResult result;
  WriteSyncJobs(tx, b);
  result.completed_snapshots = WriteCatalog(tx, b);
  WriteApm(tx, b);
  WriteTraces(tx, b);
  WriteDependencies(tx, b);
  WriteCoverage(tx, b);
  WriteWatermarks(tx, b);
  WriteJudgements(tx, b);
  return result;
}

PostgresCoverageStore::PostgresCoverageStore(std::string database_url)
    : impl_(std::make_unique<Impl>()) {
  impl_->url = std::move(database_url);
}

PostgresCoverageStore::~PostgresCoverageStore() = default;

absl::StatusOr<ApplyResult> PostgresCoverageStore::Apply(const WriteBatch& input) {
  WriteBatch cleaned;
  const WriteBatch& batch = internal::WithoutNul(input, &cleaned);
  if (absl::Status s = internal::ValidateBatch(batch); !s.ok()) return s;
  if (batch.empty()) return ApplyResult{};
  return impl_->Run("applying a batch", [&](pqxx::connection& conn) -> absl::StatusOr<ApplyResult> {
    pqxx::work tx(conn);
    ApplyResult result = impl_->ApplyInTx(tx, batch);
    tx.commit();
    return result;
  });
}

absl::StatusOr<std::vector<ServiceRow>> PostgresCoverageStore::LoadServices(bool include_removed) {
  return impl_->Run(
      "loading services", [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<ServiceRow>> {
        pqxx::read_transaction tx(conn);
        const pqxx::result r = tx.exec(absl::StrCat(
            "SELECT ", internal::ServiceColumns(), " FROM services",
            include_removed ? "" : " WHERE removed_at IS NULL", " ORDER BY name COLLATE \"C\""));
        std::vector<ServiceRow> out;
        out.reserve(r.size());
        for (const auto& row : r) out.push_back(internal::ServiceFromRow(row));
        return out;
      });
}

absl::StatusOr<std::vector<ApmServiceRow>> PostgresCoverageStore::LoadApmServices() {
  return impl_->Run("loading apm_services",
                    [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<ApmServiceRow>> {
                      pqxx::read_transaction tx(conn);
                      const pqxx::result r = tx.exec(absl::StrCat(
                          "SELECT ", internal::ApmColumns(),
                          " FROM apm_services ORDER BY service COLLATE \"C\", env COLLATE \"C\""));
                      std::vector<ApmServiceRow> out;
                      out.reserve(r.size());
                      for (const auto& row : r) out.push_back(internal::ApmFromRow(row));
                      return out;
                    });
}

absl::StatusOr<std::optional<BrokenTraceRecord>> PostgresCoverageStore::LoadBrokenTrace(
    uint64_t trace_id) {
  using Result = std::optional<BrokenTraceRecord>;
  return impl_->Run("loading a broken trace",
                    [&](pqxx::connection& conn) -> absl::StatusOr<Result> {
                      pqxx::read_transaction tx(conn);
                      return internal::ReadTrace(tx, trace_id);
                    });
}

absl::StatusOr<std::vector<uint64_t>> PostgresCoverageStore::ListBrokenTraceIds() {
  return impl_->Run("listing broken traces",
                    [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<uint64_t>> {
                      pqxx::read_transaction tx(conn);
                      std::vector<uint64_t> out;
                      for (const auto& row : tx.exec("SELECT trace_id::text FROM broken_traces "
                                                     "ORDER BY broken_traces.trace_id")) {
                        out.push_back(Unsigned(row[0]));
                      }
                      return out;
                    });
}

absl::StatusOr<std::vector<DependencyRow>> PostgresCoverageStore::LoadDependencies() {
  return impl_->Run(
      "loading dependencies",
      [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<DependencyRow>> {
        pqxx::read_transaction tx(conn);
        std::vector<DependencyRow> out;
        for (const auto& row : tx.exec(absl::StrCat(
                 "SELECT ", internal::DependencyColumns(),
                 " FROM dependencies ORDER BY from_service COLLATE \"C\", to_name COLLATE \"C\", "
                 "kind COLLATE \"C\""))) {
          out.push_back(internal::DependencyFromRow(row));
        }
        return out;
      });
}

absl::StatusOr<std::optional<SyncJobRecord>> PostgresCoverageStore::LoadSyncJob(
    const std::string& id) {
  using Result = std::optional<SyncJobRecord>;
  return impl_->Run("loading a sync job", [&](pqxx::connection& conn) -> absl::StatusOr<Result> {
    pqxx::read_transaction tx(conn);
    const pqxx::result r = tx.exec_params(
        absl::StrCat("SELECT ", internal::SyncJobColumns(), " FROM sync_jobs WHERE id = $1"), id);
    if (r.empty()) return Result();
    return Result(internal::SyncJobFromRow(r[0]));
  });
}

absl::StatusOr<std::vector<CoverageRow>> PostgresCoverageStore::LoadCoverageSnapshot(
    int64_t taken_at_ns) {
  return impl_->Run("loading a coverage snapshot",
                    [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<CoverageRow>> {
                      pqxx::read_transaction tx(conn);
                      std::vector<CoverageRow> out;
                      for (const auto& row : tx.exec(absl::StrCat(
                               "SELECT ", internal::CoverageColumns(),
                               " FROM coverage_snapshots WHERE taken_at = ", Timestamp(taken_at_ns),
                               R"( ORDER BY dimension COLLATE "C", key COLLATE "C")"))) {
                        out.push_back(internal::CoverageFromRow(row));
                      }
                      return out;
                    });
}

absl::StatusOr<std::optional<SnapshotState>> PostgresCoverageStore::LoadSnapshotState(
    const std::string& snapshot_id) {
  using Result = std::optional<SnapshotState>;
  return impl_->Run("loading a catalog snapshot",
                    [&](pqxx::connection& conn) -> absl::StatusOr<Result> {
                      pqxx::read_transaction tx(conn);
                      const pqxx::result r = tx.exec(
                          "SELECT expected, received, completed_at IS NOT NULL FROM "
                          "catalog_snapshots WHERE snapshot_id = " +
                          tx.quote(snapshot_id));
                      if (r.empty()) return Result();
                      SnapshotState s;
                      s.snapshot_id = snapshot_id;
                      if (!r[0][0].is_null()) s.expected = r[0][0].as<uint32_t>();
                      s.received = r[0][1].as<uint32_t>();
                      s.completed = r[0][2].as<bool>();
                      return Result(s);
                    });
}

absl::StatusOr<std::vector<PartitionWatermark>> PostgresCoverageStore::LoadWatermarks() {
  return impl_->Run(
      "loading partition watermarks",
      [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<PartitionWatermark>> {
        pqxx::read_transaction tx(conn);
        std::vector<PartitionWatermark> out;
        for (const auto& row :
             tx.exec("SELECT topic, partition, watermark_ns, array_to_string(read_intervals, ',') "
                     "FROM partition_watermarks ORDER BY topic COLLATE \"C\", partition")) {
          PartitionWatermark w{
              row[0].as<std::string>(), row[1].as<int32_t>(), row[2].as<int64_t>(), {}};
          const std::string text = row[3].as<std::string>();
          for (const char *p = text.data(), *end = p + text.size(); p < end;) {
            int64_t v = 0;
            auto [next, ec] = std::from_chars(p, end, v);
            if (ec != std::errc()) break;
            w.read_intervals.push_back(v);
            p = next + 1;  // the comma
          }
          out.push_back(std::move(w));
        }
        return out;
      });
}

absl::StatusOr<std::vector<TraceJudgementCount>> PostgresCoverageStore::LoadJudgements(
    int64_t since_ns) {
  return impl_->Run(
      "loading judged-trace counts",
      [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<TraceJudgementCount>> {
        pqxx::read_transaction tx(conn);
        std::vector<TraceJudgementCount> out;
        for (const auto& row :
             tx.exec("SELECT " + EpochMicros("hour") +
                     ", root_service, judged, broken FROM trace_judgements WHERE hour >= " +
                     Timestamp(since_ns) + " ORDER BY hour, root_service COLLATE \"C\"")) {
          out.push_back({Micros(row[0]), row[1].as<std::string>(), row[2].as<int64_t>(),
                         row[3].as<int64_t>()});
        }
        return out;
      });
}

namespace {

// "(topic, partition, offset)" row constructors for an IN list.
std::string DeadLetterKeys(pqxx::connection_base& c, const std::vector<DeadLetterKey>& keys) {
  std::vector<std::string> rows;
  rows.reserve(keys.size());
  for (const auto& k : keys) {
    rows.push_back("(" +
                   Join({Text(c, k.topic), std::to_string(k.partition), std::to_string(k.offset)}) +
                   ")");
  }
  return Join(rows);
}

}  // namespace

absl::StatusOr<std::vector<DeadLetterKey>> PostgresCoverageStore::ClaimDeadLetters(
    const std::vector<DeadLetterKey>& input) {
  if (input.empty()) return std::vector<DeadLetterKey>{};
  std::vector<DeadLetterKey> keys = input;
  for (auto& k : keys) {
    k.topic.erase(std::remove(k.topic.begin(), k.topic.end(), '\0'), k.topic.end());
    k.error.erase(std::remove(k.error.begin(), k.error.end(), '\0'), k.error.end());
  }
  return impl_->Run(
      "claiming dead letters",
      [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<DeadLetterKey>> {
        pqxx::work tx(conn);
        std::vector<std::string> rows;
        rows.reserve(keys.size());
        for (const auto& k : keys) {
          rows.push_back("(" +
                         Join({Text(conn, k.topic), std::to_string(k.partition),
                               std::to_string(k.offset), Text(conn, k.error)}) +
                         ")");
        }
        tx.exec("INSERT INTO dead_letters (topic, partition, \"offset\", error) VALUES " +
                Join(rows) + " ON CONFLICT (topic, partition, \"offset\") DO NOTHING");
        std::set<std::tuple<std::string, int32_t, int64_t>> published;
        for (const auto& row :
             tx.exec("SELECT topic, partition, \"offset\" FROM dead_letters WHERE (topic, "
                     "partition, \"offset\") IN (" +
                     DeadLetterKeys(conn, keys) + ") AND published_at IS NOT NULL")) {
          published.emplace(row[0].as<std::string>(), row[1].as<int32_t>(), row[2].as<int64_t>());
        }
        tx.commit();
        std::vector<DeadLetterKey> out;
        for (size_t i = 0; i < keys.size(); ++i) {
          if (published.count({keys[i].topic, keys[i].partition, keys[i].offset}) == 0) {
            out.push_back(input[i]);
          }
        }
        return out;
      });
}

absl::StatusOr<std::vector<BrokenTraceBlame>> PostgresCoverageStore::LoadBrokenTraceBlame(
    int64_t since_ns) {
  return impl_->Run("loading the services broken traces blame",
                    [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<BrokenTraceBlame>> {
                      pqxx::read_transaction tx(conn);
                      std::vector<BrokenTraceBlame> out;
                      // The services missing from each trace, and the callees of its propagation
                      // breaks; each trace counts once per service.
                      for (const auto& row : tx.exec_params(
                               R"(SELECT service, count(DISTINCT trace_id) FROM (
                      SELECT t.trace_id, unnest(t.missing_services) AS service
                        FROM broken_traces t WHERE t.started_at >= (timestamptz 'epoch' + $1::bigint * interval '1 microsecond')
                      UNION ALL
                      SELECT g.trace_id, g.to_service FROM trace_gaps g
                        JOIN broken_traces t ON t.trace_id = g.trace_id
                       WHERE g.kind = 'propagation_break' AND g.to_service IS NOT NULL
                         AND g.to_service <> ''
                         AND t.started_at >= (timestamptz 'epoch' + $1::bigint * interval '1 microsecond')
                    ) blamed GROUP BY service ORDER BY service COLLATE "C")",
                               since_ns / 1000)) {
                        out.push_back({row[0].as<std::string>(), row[1].as<int64_t>()});
                      }
                      return out;
                    });
}

absl::StatusOr<std::vector<ScorecardOutcomeRow>> PostgresCoverageStore::LoadScorecardOutcomes() {
  return impl_->Run(
      "loading scorecard outcomes",
      [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<ScorecardOutcomeRow>> {
        pqxx::read_transaction tx(conn);
        std::vector<ScorecardOutcomeRow> out;
        for (const auto& row : tx.exec(
                 "SELECT rule, service, state, remarks, " + EpochMicros("sent_at") +
                 R"( FROM scorecard_outcomes ORDER BY rule COLLATE "C", service COLLATE "C")")) {
          out.push_back({row[0].as<std::string>(), row[1].as<std::string>(),
                         row[2].as<std::string>(), row[3].as<std::string>(), Micros(row[4])});
        }
        return out;
      });
}

absl::Status PostgresCoverageStore::SaveScorecardOutcomes(
    const std::vector<ScorecardOutcomeRow>& rows) {
  for (const auto& r : rows) {
    if (absl::Status s = internal::ValidateScorecardOutcome(r); !s.ok()) return s;
  }
  if (rows.empty()) return absl::OkStatus();
  return impl_->Run("saving scorecard outcomes", [&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    for (const auto& r : rows) {
      tx.exec_params(
          "INSERT INTO scorecard_outcomes (rule, service, state, remarks, sent_at) "
          "VALUES ($1, $2, $3, $4, (timestamptz 'epoch' + $5::bigint * interval '1 microsecond')) "
          "ON CONFLICT (rule, service) DO UPDATE SET state = EXCLUDED.state, "
          "remarks = EXCLUDED.remarks, sent_at = EXCLUDED.sent_at",
          r.rule, r.service, r.state, r.remarks, r.sent_at_ns / 1000);
    }
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status PostgresCoverageStore::MarkDeadLettersPublished(
    const std::vector<DeadLetterKey>& keys) {
  if (keys.empty()) return absl::OkStatus();
  return impl_->Run("marking dead letters published", [&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    tx.exec(
        "UPDATE dead_letters SET published_at = now() WHERE published_at IS NULL AND "
        "(topic, partition, \"offset\") IN (" +
        DeadLetterKeys(conn, keys) + ")");
    tx.commit();
    return absl::OkStatus();
  });
}

namespace {

// `DELETE FROM table` of at most `limit` rows matching `where` (rows another transaction holds
// are skipped, not waited for), as the ctid list a data-modifying CTE can use.
std::string DeleteBatch(const std::string& table, const std::string& where, size_t limit,
                        const std::string& returning = "1") {
  return "DELETE FROM " + table + " WHERE ctid = ANY(ARRAY(SELECT ctid FROM " + table +
         " AS c WHERE " + where + " LIMIT " + std::to_string(limit) +
         " FOR UPDATE SKIP LOCKED)) RETURNING " + returning;
}

}  // namespace

absl::StatusOr<PruneResult> PostgresCoverageStore::Prune(const RetentionPolicy& policy,
                                                         int64_t now_ns, size_t batch_rows) {
  if (batch_rows == 0) return absl::InvalidArgumentError("Prune: batch_rows must be at least 1");
  const std::string trace_cut = Timestamp(now_ns - policy.broken_trace_ns);
  const std::string job_cut = Timestamp(now_ns - policy.sync_job_ns);
  const std::string snap_cut = Timestamp(now_ns - policy.snapshot_full_ns);
  const std::string guard_cut = Timestamp(now_ns - policy.replay_guard_ns);
  // The UTC day of c.taken_at, independent of the session's TimeZone.
  const std::string day = "(date_trunc('day', c.taken_at AT TIME ZONE 'UTC'))";
  struct Step {
    const char* table;
    std::string sql;  // returns one row: the count of deleted driving rows, then dependents'
    std::vector<const char*> dependents = {};  // tables whose rows go with the driving ones
  };
  const std::vector<Step> steps = {
      {"broken_traces",
       "WITH v AS (" +
           DeleteBatch("broken_traces", "c.started_at < " + trace_cut, batch_rows, "trace_id") +
           "), g AS (DELETE FROM trace_gaps WHERE trace_id IN (SELECT trace_id FROM v) "
           "RETURNING 1), s AS (DELETE FROM trace_spans WHERE trace_id IN (SELECT trace_id FROM "
           "v) RETURNING 1) SELECT (SELECT count(*) FROM v), (SELECT count(*) FROM g), (SELECT "
           "count(*) FROM s)",
       {"trace_gaps", "trace_spans"}},
      {"catalog_snapshots",
       "WITH v AS (" +
           DeleteBatch("catalog_snapshots",
                       "c.synced_at < " + job_cut + " AND c.synced_at > timestamptz 'epoch'",
                       batch_rows, "snapshot_id") +
           "), m AS (DELETE FROM catalog_snapshot_members WHERE snapshot_id IN (SELECT "
           "snapshot_id FROM v) RETURNING 1) SELECT (SELECT count(*) FROM v), (SELECT count(*) "
           "FROM m)",
       {"catalog_snapshot_members"}},
      {"trace_judgements",
       "WITH v AS (" + DeleteBatch("trace_judgements", "c.hour < " + trace_cut, batch_rows) +
           ") SELECT count(*) FROM v"},
      {"dependencies", "WITH v AS (" +
                           DeleteBatch("dependencies", "c.last_seen < " + trace_cut, batch_rows) +
                           ") SELECT count(*) FROM v"},
      {"dependency_counted_traces",
       "WITH v AS (" +
           DeleteBatch("dependency_counted_traces", "c.seen_at < " + guard_cut, batch_rows) +
           ") SELECT count(*) FROM v"},
      {"sync_jobs",
       "WITH v AS (" +
           DeleteBatch("sync_jobs",
                       "c.updated_at < " + job_cut + " AND c.updated_at > timestamptz 'epoch'",
                       batch_rows) +
           ") SELECT count(*) FROM v"},
      {"dead_letters", "WITH v AS (" +
                           DeleteBatch("dead_letters", "c.claimed_at < " + job_cut, batch_rows) +
                           ") SELECT count(*) FROM v"},
      {"coverage_snapshots",
       "WITH v AS (" +
           DeleteBatch("coverage_snapshots",
                       "c.taken_at < " + snap_cut +
                           " AND c.taken_at < (SELECT max(d.taken_at) FROM coverage_snapshots d "
                           "WHERE d.taken_at >= " +
                           day + " AT TIME ZONE 'UTC' AND d.taken_at < (" + day +
                           " + interval '1 day') AT TIME ZONE 'UTC')",
                       batch_rows) +
           ") SELECT count(*) FROM v"},
  };
  PruneResult result;
  for (const Step& step : steps) {
    absl::Status s = impl_->Run(absl::StrCat("pruning ", step.table), [&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      const pqxx::row row = tx.exec1(step.sql);
      tx.commit();
      const int64_t driving = row[0].as<int64_t>();
      if (static_cast<size_t>(driving) >= batch_rows) result.more = true;
      for (size_t i = 0; i < row.size(); ++i) {
        const int64_t n = row[static_cast<pqxx::row::size_type>(i)].as<int64_t>();
        if (n > 0) result.rows[i == 0 ? step.table : step.dependents[i - 1]] += n;
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  return result;
}

absl::Status PostgresCoverageStore::Ping() {
  return impl_->Run("pinging PostgreSQL", [&](pqxx::connection& conn) -> absl::Status {
    pqxx::nontransaction tx(conn);
    tx.exec("SELECT 1");
    return absl::OkStatus();
  });
}

}  // namespace apmcov::store
