#include "pg_rows.h"

#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "pg_util.h"
#include "span_sets.h"

namespace apmcov::store::internal {
namespace {

std::string Str(const pqxx::field& f) { return FieldText(f); }
std::vector<std::string> Strings(const pqxx::field& f) {
  return f.is_null() ? std::vector<std::string>{} : ParseJsonStringArray(f.as<std::string>());
}
int64_t Nanos(const pqxx::field& f) { return f.is_null() ? 0 : f.as<int64_t>() * 1000; }
std::optional<int64_t> OptNanos(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int64_t>() * 1000;
}
uint64_t Unsigned(const pqxx::field& f) { return std::stoull(f.as<std::string>()); }

}  // namespace

std::string FieldText(const pqxx::field& f) { return f.is_null() ? "" : f.as<std::string>(); }

const std::string& ServiceColumns() {
  static const std::string cols = absl::StrCat(
      "name, team, application, tier, lifecycle, type, to_json(languages)::text, "
      "to_json(tags)::text, to_json(envs)::text, infra, customer_facing, schema_version, "
      "links::text, description, snapshot_id, ",
      EpochMicros("first_seen"), ", ", EpochMicros("last_synced"), ", ", EpochMicros("removed_at"));
  return cols;
}

ServiceRow ServiceFromRow(const pqxx::row& r) {
  ServiceRow s;
  CatalogServiceRecord& c = s.catalog;
  c.name = Str(r[0]);
  c.team = Str(r[1]);
  c.application = Str(r[2]);
  c.tier = Str(r[3]);
  c.lifecycle = Str(r[4]);
  c.type = Str(r[5]);
  c.languages = Strings(r[6]);
  c.tags = Strings(r[7]);
  c.envs = Strings(r[8]);
  c.infra = Str(r[9]);
  c.customer_facing = r[10].as<bool>();
  c.schema_version = Str(r[11]);
  c.links_json = Str(r[12]);
  c.description = Str(r[13]);
  c.snapshot_id = Str(r[14]);
  s.first_seen_ns = Nanos(r[15]);
  s.last_synced_ns = Nanos(r[16]);
  c.synced_at_ns = s.last_synced_ns;
  s.removed_at_ns = OptNanos(r[17]);
  return s;
}

const std::string& ApmColumns() {
  static const std::string cols =
      absl::StrCat("service, env, ", EpochMicros("first_seen"), ", ", EpochMicros("last_seen"),
                   ", span_count, to_json(languages)::text, to_json(infra_hints)::text, traced, "
                   "usm_only, ",
                   EpochMicros("last_traced"), ", usm_seen");
  return cols;
}

ApmServiceRow ApmFromRow(const pqxx::row& r) {
  ApmServiceRow a;
  a.service = Str(r[0]);
  a.env = Str(r[1]);
  a.first_seen_ns = Nanos(r[2]);
  a.last_seen_ns = Nanos(r[3]);
  a.span_count = r[4].as<uint64_t>();
  a.languages = Strings(r[5]);
  a.infra_hints = Strings(r[6]);
  a.traced = r[7].as<bool>();
  a.usm_only = r[8].as<bool>();
  a.last_traced_ns = OptNanos(r[9]);
  a.usm_seen = r[10].as<bool>();
  return a;
}

const std::string& TraceColumns() {
  static const std::string cols = absl::StrCat(
      "trace_id::text, trace_id_high::text, env, root_service, ", EpochMicros("started_at"),
      ", duration_ns, span_count, to_json(services)::text, to_json(missing_services)::text, "
      "to_json(gap_kinds)::text, ",
      EpochMicros("detected_at"));
  return cols;
}

BrokenTraceRecord TraceFromRow(const pqxx::row& r) {
  BrokenTraceRecord t;
  t.trace_id = Unsigned(r[0]);
  t.trace_id_high = Unsigned(r[1]);
  t.env = Str(r[2]);
  if (!r[3].is_null()) t.root_service = Str(r[3]);
  t.started_at_ns = Nanos(r[4]);
  t.duration_ns = r[5].as<int64_t>();
  t.span_count = r[6].as<int32_t>();
  t.services = Strings(r[7]);
  t.missing_services = Strings(r[8]);
  t.gap_kinds = Strings(r[9]);
  t.detected_at_ns = Nanos(r[10]);
  return t;
}

std::optional<BrokenTraceRecord> ReadTrace(pqxx::transaction_base& tx, uint64_t trace_id) {
  const std::string id = std::to_string(trace_id);
  const pqxx::result res = tx.exec_params(
      absl::StrCat("SELECT ", TraceColumns(), " FROM broken_traces WHERE trace_id = $1::numeric"),
      id);
  if (res.empty()) return std::nullopt;
  BrokenTraceRecord t = TraceFromRow(res[0]);
  // ORDER BY names the tables' columns: a bare span_id would be the text output column of the
  // same name, which sorts "9" after "10".
  for (const auto& r : tx.exec_params(
           R"(SELECT span_id::text, kind, from_service, to_service, peer, detail FROM trace_gaps
              WHERE trace_id = $1::numeric ORDER BY trace_gaps.span_id, kind COLLATE "C")",
           id)) {
    TraceGapRecord g;
    g.span_id = Unsigned(r[0]);
    g.kind = Str(r[1]);
    g.from_service = Str(r[2]);
    if (!r[3].is_null()) g.to_service = Str(r[3]);
    g.peer = Str(r[4]);
    g.detail = Str(r[5]);
    t.gaps.push_back(std::move(g));
  }
  // One row per trace (migration 0012): its spans as JSON, ordered by the parse.
  const pqxx::result spans =
      tx.exec_params("SELECT spans::text FROM trace_spans WHERE trace_id = $1::numeric", id);
  if (!spans.empty()) {
    absl::StatusOr<std::vector<TraceSpanRecord>> parsed =
        ParseSpanSetJson(std::string_view(spans[0][0].c_str(), spans[0][0].size()));
    if (!parsed.ok()) {
      throw std::runtime_error(absl::StrCat("trace ", id, ": ", parsed.status().message()));
    }
    t.spans = *std::move(parsed);
  }
  return t;
}

const std::string& DependencyColumns() {
  static const std::string cols =
      absl::StrCat("from_service, to_name, kind, to_kind, ", EpochMicros("last_seen"), ", count");
  return cols;
}

DependencyRow DependencyFromRow(const pqxx::row& r) {
  return {Str(r[0]), Str(r[1]), Str(r[2]), Str(r[3]), Nanos(r[4]), r[5].as<int64_t>()};
}

const std::string& CoverageColumns() {
  static const std::string cols =
      absl::StrCat(EpochMicros("taken_at"), ", dimension, key, total, instrumented");
  return cols;
}

CoverageRow CoverageFromRow(const pqxx::row& r) {
  return {Nanos(r[0]), Str(r[1]), Str(r[2]), r[3].as<int32_t>(), r[4].as<int32_t>()};
}

const std::string& SyncJobColumns() {
  static const std::string cols = absl::StrCat(
      "id, trigger, state, ", EpochMicros("started_at"), ", ", EpochMicros("finished_at"),
      ", api_calls, pages, spans, rate_limited_ms, error, ", EpochMicros("updated_at"),
      ", sampled_seconds, skipped_seconds, edge_cut_traces");
  return cols;
}

SyncJobRecord SyncJobFromRow(const pqxx::row& r) {
  SyncJobRecord j;
  j.id = Str(r[0]);
  j.trigger = Str(r[1]);
  j.state = Str(r[2]);
  j.started_at_ns = OptNanos(r[3]);
  j.finished_at_ns = OptNanos(r[4]);
  j.api_calls = r[5].as<int64_t>();
  j.pages = r[6].as<int64_t>();
  j.spans = r[7].as<int64_t>();
  j.rate_limited_ms = r[8].as<int64_t>();
  j.error = Str(r[9]);
  j.updated_at_ns = Nanos(r[10]);
  j.sampled_seconds = r[11].as<int64_t>();
  j.skipped_seconds = r[12].as<int64_t>();
  j.edge_cut_traces = r[13].as<int64_t>();
  return j;
}

}  // namespace apmcov::store::internal
