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

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "pg_params.h"
#include "pg_rows.h"
#include "pg_util.h"
#include "span_sets.h"
#include "validate.h"

namespace apmcov::store {
namespace {

using internal::ArrayLiteral;
using internal::EpochMicros;
using internal::ExecRows;
using internal::MicrosParam;
using internal::QueryRows;
using internal::TextArrayParam;
using internal::TimestampOf;

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
  // read_intervals: one bigint[] literal per row, cast back per row.
  ExecRows(tx,
           "INSERT INTO partition_watermarks (topic, partition, watermark_ns, read_intervals) "
           "SELECT u.topic, u.partition, u.watermark_ns, u.read_intervals::bigint[] "
           "FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::text[]) "
           "AS u(topic, partition, watermark_ns, read_intervals) "
           "ON CONFLICT (topic, partition) DO UPDATE SET watermark_ns = "
           "EXCLUDED.watermark_ns, read_intervals = EXCLUDED.read_intervals, updated_at = "
           "now() WHERE partition_watermarks.watermark_ns <= EXCLUDED.watermark_ns",
           4, highest, [](const auto& entry, std::vector<ArrayLiteral>& c) {
             const auto& [key, w] = entry;
             ArrayLiteral intervals;
             for (const int64_t v : w->read_intervals) intervals.Int(v);
             c[0].Text(key.first);
             c[1].Int(key.second);
             c[2].Int(w->watermark_ns);
             c[3].Text(intervals.Finish());
           });
}

void PostgresCoverageStore::Impl::WriteJudgements(pqxx::work& tx, const WriteBatch& b) {
  if (b.judgements.empty() && b.edge_cuts.empty()) return;
  if (!b.count_key.id.empty()) {
    // Added once per key: an Apply of this batch that committed already recorded it.
    const pqxx::result r = tx.exec_params(
        absl::StrCat("INSERT INTO counted_batches (batch_key, counted_at) VALUES ($1, ",
                     TimestampOf("$2"), ") ON CONFLICT DO NOTHING"),
        b.count_key.id, MicrosParam(b.count_key.at_ns));
    if (r.affected_rows() == 0) return;
  }
  if (!b.judgements.empty()) {
    std::map<std::pair<int64_t, std::string>, std::pair<int64_t, int64_t>> sums;
    for (const auto& j : b.judgements) {
      auto& s = sums[{j.hour_ns, j.root_service}];
      s.first += j.judged;
      s.second += j.broken;
    }
    ExecRows(tx,
             absl::StrCat("INSERT INTO trace_judgements (hour, root_service, judged, broken) "
                          "SELECT ",
                          TimestampOf("u.hour"),
                          ", u.root_service, u.judged, u.broken FROM unnest($1::bigint[], "
                          "$2::text[], $3::bigint[], $4::bigint[]) AS u(hour, root_service, "
                          "judged, broken) "
                          "ON CONFLICT (hour, root_service) DO UPDATE SET judged = "
                          "trace_judgements.judged + EXCLUDED.judged, broken = "
                          "trace_judgements.broken + EXCLUDED.broken"),
             4, sums, [](const auto& entry, std::vector<ArrayLiteral>& c) {
               const auto& [key, n] = entry;
               c[0].Int(MicrosParam(key.first));
               c[1].Text(key.second);
               c[2].Int(n.first);
               c[3].Int(n.second);
             });
  }
  if (!b.edge_cuts.empty()) {
    std::map<std::string, int64_t> sums;
    for (const auto& e : b.edge_cuts) sums[e.job_id] += e.traces;
    // A placeholder row when the job is not known yet: its records win (updated_at epoch).
    ExecRows(tx,
             "INSERT INTO sync_jobs (id, state, updated_at, edge_cut_traces) "
             "SELECT u.id, 'running', timestamptz 'epoch', u.n "
             "FROM unnest($1::text[], $2::bigint[]) AS u(id, n) "
             "ON CONFLICT (id) DO UPDATE SET edge_cut_traces = sync_jobs.edge_cut_traces + "
             "EXCLUDED.edge_cut_traces",
             2, sums, [](const auto& entry, std::vector<ArrayLiteral>& c) {
               c[0].Text(entry.first);
               c[1].Int(entry.second);
             });
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
  ExecRows(tx,
           absl::StrCat(
               "INSERT INTO sync_jobs (id, trigger, state, started_at, finished_at, api_calls, "
               "pages, spans, rate_limited_ms, error, updated_at, sampled_seconds, "
               "skipped_seconds) SELECT u.id, u.trigger, u.state, ",
               TimestampOf("u.started_at"), ", ", TimestampOf("u.finished_at"),
               ", u.api_calls, u.pages, u.spans, u.rate_limited_ms, u.error, ",
               TimestampOf("u.updated_at"),
               ", u.sampled_seconds, u.skipped_seconds FROM unnest($1::text[], $2::text[], "
               "$3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], "
               "$9::bigint[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[]) AS u(id, "
               "trigger, state, started_at, finished_at, api_calls, pages, spans, rate_limited_ms, "
               "error, updated_at, sampled_seconds, skipped_seconds) "
               "ON CONFLICT (id) DO UPDATE SET trigger = EXCLUDED.trigger, state = EXCLUDED.state, "
               "started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, "
               "api_calls = EXCLUDED.api_calls, pages = EXCLUDED.pages, spans = EXCLUDED.spans, "
               "rate_limited_ms = EXCLUDED.rate_limited_ms, error = EXCLUDED.error, "
               "updated_at = EXCLUDED.updated_at, sampled_seconds = EXCLUDED.sampled_seconds, "
               "skipped_seconds = EXCLUDED.skipped_seconds "
               "WHERE sync_jobs.updated_at <= EXCLUDED.updated_at"),
           13, latest, [](const auto& entry, std::vector<ArrayLiteral>& c) {
             const SyncJobRecord& j = entry.second;
             c[0].Text(j.id);
             c[1].Text(j.trigger);
             c[2].Text(j.state);
             c[3].OptInt(MicrosParam(j.started_at_ns));
             c[4].OptInt(MicrosParam(j.finished_at_ns));
             c[5].Int(j.api_calls);
             c[6].Int(j.pages);
             c[7].Int(j.spans);
             c[8].Int(j.rate_limited_ms);
             c[9].Text(j.error);
             c[10].Int(MicrosParam(j.updated_at_ns));
             c[11].Int(j.sampled_seconds);
             c[12].Int(j.skipped_seconds);
           });
}

std::vector<CompletedSnapshot> PostgresCoverageStore::Impl::WriteCatalog(pqxx::work& tx,
                                                                         const WriteBatch& b) {
  std::vector<CompletedSnapshot> completed;
  if (b.catalog_services.empty() && b.snapshot_ends.empty()) return completed;
  std::set<std::string> touched;
  for (const auto& s : b.catalog_services) touched.insert(s.snapshot_id);
  for (const auto& e : b.snapshot_ends) touched.insert(e.snapshot_id);

  // Lock the snapshots' rows first, in a fixed order: an analyzer applying other members of the
  // same snapshot waits here, and then sees them when it counts (read committed).
  ExecRows(tx,
           "INSERT INTO catalog_snapshots (snapshot_id, synced_at) "
           "SELECT u.id, timestamptz 'epoch' FROM unnest($1::text[]) WITH ORDINALITY AS u(id, n) "
           "ORDER BY u.n "
           "ON CONFLICT (snapshot_id) DO UPDATE SET snapshot_id = EXCLUDED.snapshot_id",
           1, touched, [](const std::string& id, std::vector<ArrayLiteral>& c) { c[0].Text(id); });

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
    ExecRows(tx,
             "INSERT INTO catalog_snapshot_members (snapshot_id, name) "
             "SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
             2, members, [](const auto& m, std::vector<ArrayLiteral>& c) {
               c[0].Text(m.first);
               c[1].Text(m.second);
             });

    // languages, envs, tags: one text[] literal per row, cast back per row.
    ExecRows(
        tx,
        absl::StrCat(
            "INSERT INTO services (name, team, application, tier, lifecycle, type, languages, "
            "envs, infra, customer_facing, tags, links, schema_version, description, "
            "snapshot_id, first_seen, last_synced) SELECT u.name, u.team, u.application, "
            "u.tier, u.lifecycle, u.type, u.languages::text[], u.envs::text[], u.infra, "
            "u.customer_facing, u.tags::text[], u.links::jsonb, u.schema_version, "
            "u.description, u.snapshot_id, ",
            TimestampOf("u.synced"), ", ", TimestampOf("u.synced"),
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
            "$6::text[], $7::text[], $8::text[], $9::text[], $10::boolean[], $11::text[], "
            "$12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[]) AS u(name, "
            "team, application, tier, lifecycle, type, languages, envs, infra, "
            "customer_facing, tags, links, schema_version, description, snapshot_id, synced) "
            "ON CONFLICT (name) DO UPDATE SET team = EXCLUDED.team, application = "
            "EXCLUDED.application, tier = EXCLUDED.tier, lifecycle = EXCLUDED.lifecycle, type = "
            "EXCLUDED.type, languages = EXCLUDED.languages, envs = EXCLUDED.envs, infra = "
            "EXCLUDED.infra, customer_facing = EXCLUDED.customer_facing, tags = EXCLUDED.tags, "
            "links = EXCLUDED.links, schema_version = EXCLUDED.schema_version, description = "
            "EXCLUDED.description, snapshot_id = EXCLUDED.snapshot_id, first_seen = "
            "LEAST(services.first_seen, EXCLUDED.first_seen), last_synced = "
            "EXCLUDED.last_synced, removed_at = CASE WHEN services.removed_at > "
            "EXCLUDED.last_synced THEN services.removed_at ELSE NULL END WHERE "
            "services.last_synced <= EXCLUDED.last_synced"),
        16, newest, [](const auto& entry, std::vector<ArrayLiteral>& c) {
          const CatalogServiceRecord& s = *entry.second;
          c[0].Text(s.name);
          c[1].Text(s.team);
          c[2].Text(s.application);
          c[3].Text(s.tier);
          c[4].Text(s.lifecycle);
          c[5].Text(s.type);
          c[6].TextList(s.languages);
          c[7].TextList(s.envs);
          c[8].Text(s.infra);
          c[9].Bool(s.customer_facing);
          c[10].TextList(s.tags);
          c[11].Text(s.links_json.empty() ? "[]" : s.links_json);
          c[12].Text(s.schema_version);
          c[13].Text(s.description);
          c[14].Text(s.snapshot_id);
          c[15].Int(MicrosParam(s.synced_at_ns));
        });
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
      tx.exec_params(absl::StrCat("UPDATE catalog_snapshots SET expected = $1::integer, "
                                  "synced_at = GREATEST(synced_at, ",
                                  TimestampOf("$2"), ") WHERE snapshot_id = $3"),
                     static_cast<int64_t>(e.count), MicrosParam(e.synced_at_ns), id);
    }
  }

  // Count members of every touched, incomplete snapshot; complete those that hold exactly the
  // announced number.
  const pqxx::result counted = tx.exec_params(
      absl::StrCat("UPDATE catalog_snapshots s SET received = (SELECT count(*) FROM "
                   "catalog_snapshot_members m WHERE m.snapshot_id = s.snapshot_id) WHERE "
                   "s.completed_at IS NULL AND s.snapshot_id = ANY($1::text[]) RETURNING "
                   "s.snapshot_id, s.expected, s.received, ",
                   EpochMicros("s.synced_at")),
      TextArrayParam({touched.begin(), touched.end()}));
  std::vector<std::tuple<std::string, int64_t>> to_complete;
  for (const auto& row : counted) {
    if (row[1].is_null() || row[1].as<int64_t>() != row[2].as<int64_t>()) continue;
    to_complete.emplace_back(row[0].as<std::string>(), Micros(row[3]));
  }
  std::sort(to_complete.begin(), to_complete.end());
  for (const auto& [id, synced_ns] : to_complete) {
    // $1 the snapshot's synced_at (µs), $2 its id.
    const pqxx::result removed = tx.exec_params(
        absl::StrCat("WITH removed AS (UPDATE services SET removed_at = ", TimestampOf("$1"),
                     " WHERE removed_at IS NULL AND last_synced < ", TimestampOf("$1"),
                     " AND NOT EXISTS (SELECT 1 FROM catalog_snapshot_members m WHERE "
                     "m.snapshot_id = $2 AND m.name = services.name) RETURNING 1) SELECT "
                     "count(*) FROM removed"),
        MicrosParam(synced_ns), id);
    tx.exec_params("UPDATE catalog_snapshots SET completed_at = now() WHERE snapshot_id = $1", id);
    // A completed snapshot is never counted again: its member list is no longer needed.
    tx.exec_params("DELETE FROM catalog_snapshot_members WHERE snapshot_id = $1", id);
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
  // The sorted union of the stored and the new list, computed only when the new one brings
  // something: nearly every batch names the languages a row already holds, and the union's
  // subquery was 40% of this upsert's time (a run of 60k updates: 0.71-0.75 s against
  // 1.15-1.44 s).
  auto union_of = [](const char* col) {
    return absl::StrCat("CASE WHEN EXCLUDED.", col, " <@ apm_services.", col, " THEN apm_services.",
                        col, " ELSE ARRAY(SELECT x FROM (SELECT DISTINCT unnest(apm_services.", col,
                        " || EXCLUDED.", col, ") AS x) d ORDER BY x COLLATE \"C\") END");
  };
  // languages, infra_hints: one text[] literal per row, cast back per row.
  ExecRows(
      tx,
      absl::StrCat("INSERT INTO apm_services (service, env, first_seen, last_seen, span_count, "
                   "languages, infra_hints, traced, usm_only, last_traced, usm_seen) SELECT "
                   "u.service, u.env, ",
                   TimestampOf("u.first_seen"), ", ", TimestampOf("u.last_seen"),
                   ", u.span_count, u.languages::text[], u.infra_hints::text[], u.traced, "
                   "u.usm_only, ",
                   TimestampOf("u.last_traced"),
                   ", u.usm_seen FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], "
                   "$5::bigint[], $6::text[], $7::text[], $8::boolean[], $9::boolean[], "
                   "$10::bigint[], $11::boolean[]) AS u(service, env, first_seen, last_seen, "
                   "span_count, languages, infra_hints, traced, usm_only, last_traced, usm_seen) "
                   "ON CONFLICT (service, env) DO UPDATE SET first_seen = "
                   "LEAST(apm_services.first_seen, EXCLUDED.first_seen), last_seen = "
                   "GREATEST(apm_services.last_seen, EXCLUDED.last_seen), span_count = "
                   "GREATEST(apm_services.span_count, EXCLUDED.span_count), languages = ",
                   union_of("languages"), ", infra_hints = ", union_of("infra_hints"),
                   ", traced = apm_services.traced OR EXCLUDED.traced, usm_seen = "
                   "apm_services.usm_seen OR EXCLUDED.usm_seen, usm_only = (apm_services.usm_seen "
                   "OR EXCLUDED.usm_seen) AND NOT (apm_services.traced OR EXCLUDED.traced), "
                   "last_traced = GREATEST(apm_services.last_traced, EXCLUDED.last_traced)"),
      11, merged, [](const auto& entry, std::vector<ArrayLiteral>& c) {
        const ApmServiceRow& r = entry.second;
        c[0].Text(r.service);
        c[1].Text(r.env);
        c[2].Int(MicrosParam(r.first_seen_ns));
        c[3].Int(MicrosParam(r.last_seen_ns));
        c[4].Uint(r.span_count);
        c[5].TextList(r.languages);
        c[6].TextList(r.infra_hints);
        c[7].Bool(r.traced);
        c[8].Bool(r.usm_only);
        c[9].OptInt(MicrosParam(r.last_traced_ns));
        c[10].Bool(r.usm_seen);
      });
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
  // services, missing_services, gap_kinds: one text[] literal per row, cast back per row.
  // Returns the traces that were already stored (the conflict updated them: xmax is set),
  // the only ones that can have gaps and spans to replace (they are written and pruned
  // together with their broken_traces row). Nearly every trace is written once: its two
  // DELETE probes into the numeric primary keys of trace_gaps and trace_spans were the
  // largest share of PostgreSQL's index scans under load.
  std::vector<std::string> stored;  // trace ids, as the server prints numeric
  QueryRows(
      tx,
      absl::StrCat(
          "WITH up AS (INSERT INTO broken_traces (trace_id, trace_id_high, env, root_service, "
          "started_at, "
          "duration_ns, span_count, services, missing_services, gap_kinds, detected_at) SELECT "
          "u.trace_id, u.trace_id_high, u.env, u.root_service, ",
          TimestampOf("u.started_at"),
          ", u.duration_ns, u.span_count, u.services::text[], u.missing_services::text[], "
          "u.gap_kinds::text[], ",
          TimestampOf("u.detected_at"),
          " FROM unnest($1::numeric[], $2::numeric[], $3::text[], $4::text[], $5::bigint[], "
          "$6::bigint[], $7::integer[], $8::text[], $9::text[], $10::text[], $11::bigint[]) AS "
          "u(trace_id, trace_id_high, env, root_service, started_at, duration_ns, span_count, "
          "services, missing_services, gap_kinds, detected_at) "
          "ON CONFLICT (trace_id) DO UPDATE SET trace_id_high = EXCLUDED.trace_id_high, env = "
          "EXCLUDED.env, root_service = EXCLUDED.root_service, started_at = "
          "EXCLUDED.started_at, duration_ns = EXCLUDED.duration_ns, span_count = "
          "EXCLUDED.span_count, services = EXCLUDED.services, missing_services = "
          "EXCLUDED.missing_services, gap_kinds = EXCLUDED.gap_kinds, detected_at = "
          "LEAST(broken_traces.detected_at, EXCLUDED.detected_at) RETURNING trace_id, xmax) "
          "SELECT trace_id FROM up WHERE xmax <> '0'::xid"),
      11, latest,
      [&](const auto& entry, std::vector<ArrayLiteral>& c) {
        const auto& [id, p] = entry;
        const BrokenTraceRecord& t = *p;
        c[0].Uint(id);
        c[1].Uint(t.trace_id_high);
        c[2].Text(t.env);
        c[3].OptText(t.root_service);
        c[4].Int(MicrosParam(t.started_at_ns));
        c[5].Int(t.duration_ns);
        c[6].Int(t.span_count);
        c[7].TextList(t.services);
        c[8].TextList(t.missing_services);
        c[9].TextList(t.gap_kinds);
        c[10].Int(MicrosParam(first_detected[id]));
      },
      [&stored](const pqxx::row& r) { stored.push_back(r[0].as<std::string>()); });
  // The latest judgement replaces the gaps and spans of a trace stored before (a statement
  // of its own: under READ COMMITTED it sees rows another analyzer committed meanwhile).
  ExecRows(tx,
           "WITH ids AS (SELECT unnest($1::numeric[]) AS id), "
           "g AS (DELETE FROM trace_gaps WHERE trace_id IN (SELECT id FROM ids)) "
           "DELETE FROM trace_spans WHERE trace_id IN (SELECT id FROM ids)",
           1, stored, [](const std::string& id, std::vector<ArrayLiteral>& c) { c[0].Text(id); });
  struct Gap {
    uint64_t trace_id;
    const TraceGapRecord* gap;
  };
  std::vector<Gap> gaps;
  for (const auto& [id, p] : latest) {
    for (const auto& g : p->gaps) gaps.push_back({id, &g});
  }
  ExecRows(tx,
           "INSERT INTO trace_gaps (trace_id, span_id, kind, from_service, to_service, peer, "
           "detail) SELECT * FROM unnest($1::numeric[], $2::numeric[], $3::text[], $4::text[], "
           "$5::text[], $6::text[], $7::text[]) ON CONFLICT DO NOTHING",
           7, gaps, [](const Gap& g, std::vector<ArrayLiteral>& c) {
             c[0].Uint(g.trace_id);
             c[1].Uint(g.gap->span_id);
             c[2].Text(g.gap->kind);
             c[3].Text(g.gap->from_service);
             c[4].OptText(g.gap->to_service);
             c[5].Text(g.gap->peer);
             c[6].Text(g.gap->detail);
           });
  // Spans are the bulk of what is written: one row per trace, its spans as one JSON text
  // (migration 0012), sent by COPY. Their old row was just deleted and duplicate span ids are
  // dropped (first wins, like the fake), so no key can conflict unless another analyzer writes
  // the same trace at this moment (a rebalance overlap): that unique violation fails the
  // transaction as retriable.
  pqxx::stream_to copy(tx, "trace_spans", std::vector<std::string>{"trace_id", "spans"});
  for (const auto& [id, p] : latest) {
    if (p->spans.empty()) continue;
    copy << std::make_tuple(std::to_string(id), internal::SpanSetJson(p->spans));
  }
  copy.complete();
}

void PostgresCoverageStore::Impl::WriteDependencies(pqxx::work& tx, const WriteBatch& b) {
  if (b.dependencies.empty()) return;
  // A batch holds one sighting per (edge, trace): tens of thousands at full rate, over a few
  // hundred edges whose names it holds once. The rows are written in (from, to, kind) order,
  // so that concurrent analyzers upsert the same rows in the same order.
  //
  // Each trace counts once for every edge it has, the first time it is written
  // (dependency_counted_traces, migration 0005): a replayed batch adds nothing.
  const auto& sightings = b.dependencies.sightings();
  absl::flat_hash_map<int64_t, int64_t> trace_seen;  // trace id (signed) -> latest seen
  trace_seen.reserve(sightings.size());
  for (const auto& d : sightings) {
    auto [it, inserted] = trace_seen.try_emplace(static_cast<int64_t>(d.trace_id), d.seen_at_ns);
    if (!inserted) it->second = std::max(it->second, d.seen_at_ns);
  }
  std::vector<std::pair<int64_t, int64_t>> traces_in_order(trace_seen.begin(), trace_seen.end());
  std::sort(traces_in_order.begin(), traces_in_order.end());
  ArrayLiteral traces, seen_us;
  for (const auto& [trace, seen] : traces_in_order) {
    traces.Int(trace);
    seen_us.Int(seen / 1000);
  }
  absl::flat_hash_set<int64_t> fresh;  // traces never counted before
  const pqxx::result r = tx.exec_params(
      "INSERT INTO dependency_counted_traces (trace_id, seen_at) "
      "SELECT t, to_timestamp(s / 1000000.0) FROM unnest($1::bigint[], $2::bigint[]) AS u(t, s) "
      "ON CONFLICT DO NOTHING RETURNING trace_id",
      traces.Finish(), seen_us.Finish());
  fresh.reserve(r.size());
  for (const auto& row : r) fresh.insert(row[0].as<int64_t>());

  // The batch's edges differ in (from, to, kind, to_kind); a row is (from, to, kind), its
  // to_kind the last sighting's.
  using Edge = std::tuple<std::string_view, std::string_view, std::string_view>;
  struct Agg {
    Edge edge;
    std::string_view to_kind;
    int64_t last_seen_ns = 0;
    int64_t new_traces = 0;  // distinct fresh traces
  };
  std::vector<Agg> edges;
  absl::flat_hash_map<Edge, uint32_t> edge_index;
  std::vector<uint32_t> row_of;  // batch edge -> its row in `edges`
  row_of.reserve(b.dependencies.edges().size());
  for (const auto& e : b.dependencies.edges()) {
    const Edge key{e.from_service, e.to_name, e.kind};
    auto [it, inserted] = edge_index.try_emplace(key, static_cast<uint32_t>(edges.size()));
    if (inserted) edges.push_back({key, {}, 0, 0});
    row_of.push_back(it->second);
  }
  std::vector<std::pair<uint32_t, uint64_t>> counted;  // (row, fresh trace), maybe repeated
  for (const auto& d : sightings) {
    const uint32_t row = row_of[d.edge];
    Agg& a = edges[row];
    a.to_kind = b.dependencies.edges()[d.edge].to_kind;
    a.last_seen_ns = std::max(a.last_seen_ns, d.seen_at_ns);
    if (fresh.contains(static_cast<int64_t>(d.trace_id))) counted.emplace_back(row, d.trace_id);
  }
  std::sort(counted.begin(), counted.end());
  counted.erase(std::unique(counted.begin(), counted.end()), counted.end());
  for (const auto& [edge, trace] : counted) ++edges[edge].new_traces;
  std::sort(edges.begin(), edges.end(), [](const Agg& x, const Agg& y) { return x.edge < y.edge; });
  ExecRows(tx,
           absl::StrCat("INSERT INTO dependencies (from_service, to_name, kind, to_kind, "
                        "last_seen, count) SELECT u.from_service, u.to_name, u.kind, u.to_kind, ",
                        TimestampOf("u.last_seen"),
                        ", u.count FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
                        "$5::bigint[], $6::bigint[]) AS u(from_service, to_name, kind, to_kind, "
                        "last_seen, count) "
                        "ON CONFLICT (from_service, to_name, kind) DO UPDATE SET to_kind = "
                        "EXCLUDED.to_kind, last_seen = GREATEST(dependencies.last_seen, "
                        "EXCLUDED.last_seen), count = dependencies.count + EXCLUDED.count"),
           6, edges, [](const Agg& agg, std::vector<ArrayLiteral>& c) {
             const auto& [from, to, kind] = agg.edge;
             c[0].Text(from);
             c[1].Text(to);
             c[2].Text(kind);
             c[3].Text(agg.to_kind);
             c[4].Int(MicrosParam(agg.last_seen_ns));
             c[5].Int(agg.new_traces);
           });
}

void PostgresCoverageStore::Impl::WriteCoverage(pqxx::work& tx, const WriteBatch& b) {
  if (b.coverage_rows.empty()) return;
  std::map<std::tuple<int64_t, std::string, std::string>, const CoverageRow*> latest;
  for (const auto& r : b.coverage_rows) {
    latest[{TruncateToMicros(r.taken_at_ns), r.dimension, r.key}] = &r;
  }
  ExecRows(tx,
           absl::StrCat("INSERT INTO coverage_snapshots (taken_at, dimension, key, total, "
                        "instrumented) SELECT ",
                        TimestampOf("u.taken_at"),
                        ", u.dimension, u.key, u.total, u.instrumented FROM unnest($1::bigint[], "
                        "$2::text[], $3::text[], $4::integer[], $5::integer[]) AS u(taken_at, "
                        "dimension, key, total, instrumented) "
                        "ON CONFLICT (taken_at, dimension, key) DO UPDATE SET total = "
                        "EXCLUDED.total, instrumented = EXCLUDED.instrumented"),
           5, latest, [](const auto& entry, std::vector<ArrayLiteral>& c) {
             const CoverageRow& r = *entry.second;
             c[0].Int(MicrosParam(r.taken_at_ns));
             c[1].Text(r.dimension);
             c[2].Text(r.key);
             c[3].Int(r.total);
             c[4].Int(r.instrumented);
           });
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
  return impl_->Run(
      "loading a coverage snapshot",
      [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<CoverageRow>> {
        pqxx::read_transaction tx(conn);
        std::vector<CoverageRow> out;
        for (const auto& row : tx.exec_params(
                 absl::StrCat("SELECT ", internal::CoverageColumns(),
                              " FROM coverage_snapshots WHERE taken_at = ", TimestampOf("$1"),
                              R"( ORDER BY dimension COLLATE "C", key COLLATE "C")"),
                 MicrosParam(taken_at_ns))) {
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
                      const pqxx::result r = tx.exec_params(
                          "SELECT expected, received, completed_at IS NOT NULL FROM "
                          "catalog_snapshots WHERE snapshot_id = $1",
                          snapshot_id);
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
        for (const auto& row : tx.exec_params(
                 absl::StrCat("SELECT ", EpochMicros("hour"),
                              ", root_service, judged, broken FROM trace_judgements WHERE hour >= ",
                              TimestampOf("$1"), " ORDER BY hour, root_service COLLATE \"C\""),
                 MicrosParam(since_ns))) {
          out.push_back({Micros(row[0]), row[1].as<std::string>(), row[2].as<int64_t>(),
                         row[3].as<int64_t>()});
        }
        return out;
      });
}

namespace {

// The keys as three array parameters ($1 topics, $2 partitions, $3 offsets), and $4 errors
// when `errors`.
std::vector<std::string> DeadLetterParams(const std::vector<DeadLetterKey>& keys, bool errors) {
  ArrayLiteral topics, partitions, offsets, messages;
  for (const auto& k : keys) {
    topics.Text(k.topic);
    partitions.Int(k.partition);
    offsets.Int(k.offset);
    if (errors) messages.Text(k.error);
  }
  std::vector<std::string> out = {topics.Finish(), partitions.Finish(), offsets.Finish()};
  if (errors) out.push_back(messages.Finish());
  return out;
}

constexpr const char* kDeadLetterKeys =
    "(topic, partition, \"offset\") IN (SELECT * FROM unnest($1::text[], $2::integer[], "
    "$3::bigint[]))";

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
        tx.exec_params(
            "INSERT INTO dead_letters (topic, partition, \"offset\", error) SELECT * FROM "
            "unnest($1::text[], $2::integer[], $3::bigint[], $4::text[]) "
            "ON CONFLICT (topic, partition, \"offset\") DO NOTHING",
            pqxx::prepare::make_dynamic_params(DeadLetterParams(keys, true)));
        std::set<std::tuple<std::string, int32_t, int64_t>> published;
        for (const auto& row : tx.exec_params(
                 absl::StrCat("SELECT topic, partition, \"offset\" FROM dead_letters WHERE ",
                              kDeadLetterKeys, " AND published_at IS NOT NULL"),
                 pqxx::prepare::make_dynamic_params(DeadLetterParams(keys, false)))) {
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
        for (const auto& row : tx.exec(absl::StrCat(
                 "SELECT rule, service, state, remarks, ", EpochMicros("sent_at"),
                 R"( FROM scorecard_outcomes ORDER BY rule COLLATE "C", service COLLATE "C")"))) {
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
    tx.exec_params(absl::StrCat("UPDATE dead_letters SET published_at = now() WHERE "
                                "published_at IS NULL AND ",
                                kDeadLetterKeys),
                   pqxx::prepare::make_dynamic_params(DeadLetterParams(keys, false)));
    tx.commit();
    return absl::OkStatus();
  });
}

namespace {

// `DELETE FROM table` of at most $2 rows matching `where` (rows another transaction holds
// are skipped, not waited for), as the ctid list a data-modifying CTE can use. `table`,
// `where` and `returning` are SQL of this file; the values are the step's parameters: $1 the
// cutoff (Unix microseconds), $2 the batch size.
std::string DeleteBatch(std::string_view table, std::string_view where,
                        std::string_view returning = "1") {
  return absl::StrCat("DELETE FROM ", AbslView(table), " WHERE ctid = ANY(ARRAY(SELECT ctid FROM ",
                      AbslView(table), " AS c WHERE ", AbslView(where),
                      " LIMIT $2 FOR UPDATE SKIP LOCKED)) RETURNING ", AbslView(returning));
}

}  // namespace

absl::StatusOr<PruneResult> PostgresCoverageStore::Prune(const RetentionPolicy& policy,
                                                         int64_t now_ns, size_t batch_rows) {
  if (batch_rows == 0) return absl::InvalidArgumentError("Prune: batch_rows must be at least 1");
  const int64_t trace_cut = MicrosParam(now_ns - policy.broken_trace_ns);
  const int64_t job_cut = MicrosParam(now_ns - policy.sync_job_ns);
  const int64_t snap_cut = MicrosParam(now_ns - policy.snapshot_full_ns);
  const int64_t guard_cut = MicrosParam(now_ns - policy.replay_guard_ns);
  const std::string cut = TimestampOf("$1");
  // The UTC day of c.taken_at, independent of the session's TimeZone.
  const std::string day = "(date_trunc('day', c.taken_at AT TIME ZONE 'UTC'))";
  struct Step {
    const char* table;
    int64_t cut_us;   // $1
    std::string sql;  // returns one row: the count of deleted driving rows, then dependents'
    std::vector<const char*> dependents = {};  // tables whose rows go with the driving ones
  };
  const std::vector<Step> steps = {
      {"broken_traces",
       trace_cut,
       absl::StrCat(
           "WITH v AS (",
           DeleteBatch("broken_traces", absl::StrCat("c.started_at < ", cut), "trace_id"),
           "), g AS (DELETE FROM trace_gaps WHERE trace_id IN (SELECT trace_id FROM v) "
           "RETURNING 1), s AS (DELETE FROM trace_spans WHERE trace_id IN (SELECT trace_id FROM "
           "v) RETURNING json_array_length(spans) AS n) SELECT (SELECT count(*) FROM v), (SELECT "
           "count(*) FROM g), (SELECT coalesce(sum(n), 0) FROM s)"),
       {"trace_gaps", "trace_spans"}},
      {"catalog_snapshots",
       job_cut,
       absl::StrCat("WITH v AS (",
                    DeleteBatch("catalog_snapshots",
                                absl::StrCat("c.synced_at < ", cut,
                                             " AND c.synced_at > timestamptz 'epoch'"),
                                "snapshot_id"),
                    "), m AS (DELETE FROM catalog_snapshot_members WHERE snapshot_id IN (SELECT "
                    "snapshot_id FROM v) RETURNING 1) SELECT (SELECT count(*) FROM v), (SELECT "
                    "count(*) FROM m)"),
       {"catalog_snapshot_members"}},
      {"trace_judgements", trace_cut,
       absl::StrCat("WITH v AS (", DeleteBatch("trace_judgements", absl::StrCat("c.hour < ", cut)),
                    ") SELECT count(*) FROM v")},
      {"dependencies", trace_cut,
       absl::StrCat("WITH v AS (", DeleteBatch("dependencies", absl::StrCat("c.last_seen < ", cut)),
                    ") SELECT count(*) FROM v")},
      {"dependency_counted_traces", guard_cut,
       absl::StrCat("WITH v AS (",
                    DeleteBatch("dependency_counted_traces", absl::StrCat("c.seen_at < ", cut)),
                    ") SELECT count(*) FROM v")},
      {"counted_batches", guard_cut,
       absl::StrCat("WITH v AS (",
                    DeleteBatch("counted_batches", absl::StrCat("c.counted_at < ", cut)),
                    ") SELECT count(*) FROM v")},
      {"sync_jobs", job_cut,
       absl::StrCat(
           "WITH v AS (",
           DeleteBatch("sync_jobs", absl::StrCat("c.updated_at < ", cut,
                                                 " AND c.updated_at > timestamptz 'epoch'")),
           ") SELECT count(*) FROM v")},
      {"dead_letters", job_cut,
       absl::StrCat("WITH v AS (",
                    DeleteBatch("dead_letters", absl::StrCat("c.claimed_at < ", cut)),
                    ") SELECT count(*) FROM v")},
      {"coverage_snapshots", snap_cut,
       absl::StrCat("WITH v AS (",
                    DeleteBatch("coverage_snapshots",
                                absl::StrCat("c.taken_at < ", cut,
                                             " AND c.taken_at < (SELECT max(d.taken_at) FROM "
                                             "coverage_snapshots d WHERE d.taken_at >= ",
                                             day, " AT TIME ZONE 'UTC' AND d.taken_at < (", day,
                                             " + interval '1 day') AT TIME ZONE 'UTC')")),
                    ") SELECT count(*) FROM v")},
  };
  PruneResult result;
  for (const Step& step : steps) {
    absl::Status s = impl_->Run(absl::StrCat("pruning ", step.table), [&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      const pqxx::row row =
          tx.exec_params1(step.sql, step.cut_us, static_cast<int64_t>(batch_rows));
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
