#include "apmcov/store/postgres_read_model.h"

#include <condition_variable>
#include <functional>
#include <mutex>
#include <pqxx/pqxx>
#include <vector>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "pg_util.h"

namespace apmcov::store {
namespace {

using internal::EpochMicros;
using internal::ParseJsonStringArray;

// A bigint parameter of Unix microseconds as timestamptz.
std::string Ts(const char* param) {
  return absl::StrCat("(timestamptz 'epoch' + ", param, "::bigint * interval '1 microsecond')");
}

// Nanoseconds to the microseconds the Ts() parameters take: the floor, as TruncateToMicros.
int64_t MicrosParam(int64_t ns) { return TruncateToMicros(ns) / 1000; }

std::string Str(const pqxx::field& f) { return f.is_null() ? "" : f.as<std::string>(); }
std::vector<std::string> Strings(const pqxx::field& f) {
  return f.is_null() ? std::vector<std::string>{} : ParseJsonStringArray(f.as<std::string>());
}
int64_t Nanos(const pqxx::field& f) { return f.is_null() ? 0 : f.as<int64_t>() * 1000; }
std::optional<int64_t> OptNanos(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int64_t>() * 1000;
}
uint64_t Unsigned(const pqxx::field& f) { return std::stoull(f.as<std::string>()); }

// Times leave PostgreSQL as Unix microseconds (exact), arrays as JSON text (no ambiguity with
// separators or NULLs).
const std::string& ServiceCols() {
  static const std::string cols = absl::StrCat(
      "name, team, application, tier, lifecycle, type, to_json(languages)::text, "
      "to_json(tags)::text, to_json(envs)::text, infra, customer_facing, schema_version, "
      "links::text, description, snapshot_id, ",
      EpochMicros("first_seen"), ", ", EpochMicros("last_synced"), ", ", EpochMicros("removed_at"));
  return cols;
}

ServiceRow ToService(const pqxx::row& r) {
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

const std::string& ApmCols() {
  static const std::string cols =
      absl::StrCat("service, env, ", EpochMicros("first_seen"), ", ", EpochMicros("last_seen"),
                   ", span_count, to_json(languages)::text, to_json(infra_hints)::text, traced, "
                   "usm_only, ",
                   EpochMicros("last_traced"), ", usm_seen");
  return cols;
}

ApmServiceRow ToApm(const pqxx::row& r) {
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

const std::string& TraceCols() {
  static const std::string cols = absl::StrCat(
      "trace_id::text, trace_id_high::text, env, root_service, ", EpochMicros("started_at"),
      ", duration_ns, span_count, to_json(services)::text, to_json(missing_services)::text, "
      "to_json(gap_kinds)::text, ",
      EpochMicros("detected_at"));
  return cols;
}

BrokenTraceRecord ToTrace(const pqxx::row& r) {
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

const std::string& JobCols() {
  static const std::string cols = absl::StrCat(
      "id, trigger, state, ", EpochMicros("started_at"), ", ", EpochMicros("finished_at"),
      ", api_calls, pages, spans, rate_limited_ms, error, ", EpochMicros("updated_at"),
      ", sampled_seconds, skipped_seconds, edge_cut_traces");
  return cols;
}

SyncJobRecord ToJob(const pqxx::row& r) {
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

// ORDER BY names the tables' columns (broken_traces.trace_id, trace_spans.span_id): a bare
// name would mean the output column of the same name, the id as text, which sorts "9" after
// "10".

// Conditions shared by the count and the page of broken traces: $1 service, $2 missing,
// $3 kind, $4 env, $5 since (microseconds; NULL = none).
const std::string& TraceWhere() {
  static const std::string where = absl::StrCat(
      " WHERE ($1 = '' OR $1 = ANY(services)) AND ($2 = '' OR $2 = ANY(missing_services))"
      " AND ($3 = '' OR $3 = ANY(gap_kinds)) AND ($4 = '' OR env = $4)"
      " AND ($5::bigint IS NULL OR started_at >= ",
      Ts("$5"), ")");
  return where;
}

// The dependency order, byte-wise whatever the database's collation (migration 0009's index).
constexpr const char* kDependencyKey =
    R"(from_service COLLATE "C", to_name COLLATE "C", kind COLLATE "C")";

}  // namespace

struct PostgresReadModel::Impl {
  std::string url;
  PostgresReadModelOptions options;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<pqxx::connection>> idle;
  size_t open = 0;

  // A pooled connection, or null when the caller may open a new one (counted in `open`).
  std::unique_ptr<pqxx::connection> Acquire() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !idle.empty() || open < options.pool_size; });
    if (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      return c;
    }
    ++open;
    return nullptr;
  }
  // Gives a connection back; null gives its slot back (the connection was dropped).
  void Release(std::unique_ptr<pqxx::connection> c) {
    std::lock_guard lock(mu);
    if (c) {
      idle.push_back(std::move(c));
    } else {
      --open;
    }
    cv.notify_one();
  }

  // Runs `fn` in a read-only transaction on a pooled connection; library exceptions become
  // Status here.
  absl::Status Run(const std::function<void(pqxx::read_transaction&)>& fn) {
    std::unique_ptr<pqxx::connection> conn = Acquire();
    try {
      if (!conn || !conn->is_open()) {
        conn = std::make_unique<pqxx::connection>(url);
        pqxx::nontransaction setup(*conn);
        setup.exec0("SET statement_timeout = " + std::to_string(options.statement_timeout_ms));
      }
      pqxx::read_transaction tx(*conn);
      fn(tx);
      tx.commit();
      Release(std::move(conn));
      return absl::OkStatus();
    } catch (const pqxx::broken_connection& e) {
      Release(nullptr);
      return absl::UnavailableError(absl::StrCat("postgres: connection failed: ", e.what()));
    } catch (const pqxx::sql_error& e) {
      Release(std::move(conn));
      if (e.sqlstate() == "57014") {  // query_canceled: statement_timeout
        return absl::DeadlineExceededError(absl::StrCat("postgres: query timed out: ", e.what()));
      }
      return absl::InternalError(absl::StrCat("postgres: ", e.what()));
    } catch (const std::exception& e) {
      Release(nullptr);
      return absl::UnavailableError(absl::StrCat("postgres: ", e.what()));
    }
  }
};

PostgresReadModel::PostgresReadModel(std::string database_url, PostgresReadModelOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->url = std::move(database_url);
  impl_->options = options;
  if (impl_->options.pool_size == 0) impl_->options.pool_size = 1;
}

PostgresReadModel::~PostgresReadModel() = default;

absl::StatusOr<CatalogState> PostgresReadModel::LoadCatalog() {
  CatalogState data;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    for (const auto& r : tx.exec(absl::StrCat("SELECT ", ServiceCols(),
                                              R"( FROM services WHERE removed_at IS NULL
                                                  ORDER BY name COLLATE "C")"))) {
      data.services.push_back(ToService(r));
    }
    for (const auto& r : tx.exec(absl::StrCat("SELECT ", ApmCols(), R"( FROM apm_services
                                  ORDER BY service COLLATE "C", env COLLATE "C")"))) {
      data.apm.push_back(ToApm(r));
    }
  }));
  return data;
}

absl::StatusOr<std::optional<ServiceRow>> PostgresReadModel::GetService(const std::string& name) {
  std::optional<ServiceRow> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    auto res = tx.exec_params(
        absl::StrCat("SELECT ", ServiceCols(), " FROM services WHERE name = $1"), name);
    if (!res.empty()) out = ToService(res[0]);
  }));
  return out;
}

absl::StatusOr<std::vector<ApmServiceRow>> PostgresReadModel::ApmRowsFor(
    const std::string& service) {
  std::vector<ApmServiceRow> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT ", ApmCols(),
                          R"( FROM apm_services WHERE service = $1 ORDER BY env COLLATE "C")"),
             service)) {
      out.push_back(ToApm(r));
    }
  }));
  return out;
}

absl::StatusOr<TracePage> PostgresReadModel::ListTraces(const TraceFilter& f,
                                                        const std::optional<TraceCursor>& after,
                                                        size_t limit) {
  TracePage page;
  const std::optional<int64_t> since =
      f.since_ns ? std::optional<int64_t>(MicrosParam(*f.since_ns)) : std::nullopt;
  const std::optional<int64_t> after_us =
      after ? std::optional<int64_t>(MicrosParam(after->started_at_ns)) : std::nullopt;
  const std::string after_id = after ? std::to_string(after->trace_id) : "0";
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    page.total = tx.exec_params1(absl::StrCat("SELECT count(*) FROM broken_traces", TraceWhere()),
                                 f.service, f.missing, f.kind, f.env, since)[0]
                     .as<int64_t>();
    // $6, $7: the cursor (started_at in microseconds, trace id); $8 the limit.
    const std::string sql = absl::StrCat(
        "SELECT ", TraceCols(), " FROM broken_traces", TraceWhere(),
        " AND ($6::bigint IS NULL OR (started_at, trace_id) < (", Ts("$6"), ", $7::numeric))",
        " ORDER BY started_at DESC, broken_traces.trace_id DESC LIMIT $8");
    for (const auto& r : tx.exec_params(sql, f.service, f.missing, f.kind, f.env, since, after_us,
                                        after_id, static_cast<int64_t>(limit))) {
      page.traces.push_back(ToTrace(r));
    }
  }));
  return page;
}

absl::StatusOr<std::optional<BrokenTraceRecord>> PostgresReadModel::GetTrace(uint64_t trace_id) {
  std::optional<BrokenTraceRecord> out;
  const std::string id = std::to_string(trace_id);
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    auto res = tx.exec_params(
        absl::StrCat("SELECT ", TraceCols(), " FROM broken_traces WHERE trace_id = $1::numeric"),
        id);
    if (res.empty()) return;
    BrokenTraceRecord t = ToTrace(res[0]);
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
    for (const auto& r : tx.exec_params(
             "SELECT span_id::text, parent_id::text, service, resource, kind, type, start_ns, "
             "duration_ns, target FROM trace_spans WHERE trace_id = $1::numeric "
             "ORDER BY start_ns, trace_spans.span_id",
             id)) {
      TraceSpanRecord s;
      s.span_id = Unsigned(r[0]);
      s.parent_id = Unsigned(r[1]);
      s.service = Str(r[2]);
      s.resource = Str(r[3]);
      s.kind = Str(r[4]);
      s.type = Str(r[5]);
      s.start_ns = r[6].as<int64_t>();
      s.duration_ns = r[7].as<int64_t>();
      s.target = Str(r[8]);
      t.spans.push_back(std::move(s));
    }
    out = std::move(t);
  }));
  return out;
}

absl::StatusOr<int64_t> PostgresReadModel::CountTracesSince(int64_t since_ns) {
  int64_t n = 0;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    n = tx.exec_params1(
              absl::StrCat("SELECT count(*) FROM broken_traces WHERE started_at >= ", Ts("$1")),
              MicrosParam(since_ns))[0]
            .as<int64_t>();
  }));
  return n;
}

absl::StatusOr<SampleRows> PostgresReadModel::LoadSample(int64_t jobs_since_ns,
                                                         int64_t traces_since_ns) {
  SampleRows out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    auto jobs = tx.exec_params1(absl::StrCat("SELECT count(*), "
                                             "COALESCE(sum(sampled_seconds), 0)::bigint, "
                                             "COALESCE(sum(skipped_seconds), 0)::bigint "
                                             "FROM sync_jobs WHERE finished_at >= ",
                                             Ts("$1")),
                                MicrosParam(jobs_since_ns));
    out.jobs = jobs[0].as<int64_t>();
    out.sampled_seconds = jobs[1].as<int64_t>();
    out.skipped_seconds = jobs[2].as<int64_t>();
    const int64_t since = MicrosParam(traces_since_ns);
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT root_service, sum(judged)::bigint, sum(broken)::bigint "
                          "FROM trace_judgements WHERE hour >= ",
                          Ts("$1"), R"( GROUP BY root_service ORDER BY root_service COLLATE "C")"),
             since)) {
      out.judgements.push_back({Str(r[0]), r[1].as<int64_t>(), r[2].as<int64_t>()});
    }
    // Each trace once per key, even if its array repeats one.
    for (const auto& r :
         tx.exec_params(absl::StrCat("SELECT m, count(DISTINCT trace_id) FROM broken_traces, "
                                     "unnest(missing_services) m WHERE started_at >= ",
                                     Ts("$1"), R"( GROUP BY m ORDER BY m COLLATE "C")"),
                        since)) {
      out.broken_by_missing_service.emplace_back(Str(r[0]), r[1].as<int64_t>());
    }
    for (const auto& r :
         tx.exec_params(absl::StrCat("SELECT k, count(DISTINCT trace_id) FROM broken_traces, "
                                     "unnest(gap_kinds) k WHERE started_at >= ",
                                     Ts("$1"), R"( GROUP BY k ORDER BY k COLLATE "C")"),
                        since)) {
      out.broken_by_gap_kind.emplace_back(Str(r[0]), r[1].as<int64_t>());
    }
  }));
  return out;
}

absl::StatusOr<DependencyPage> PostgresReadModel::ListDependencies(
    const std::string& from_service, const std::optional<DependencyCursor>& after, size_t limit) {
  DependencyPage page;
  const DependencyCursor cursor = after.value_or(DependencyCursor{});
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    page.total =
        tx.exec_params1("SELECT count(*) FROM dependencies WHERE ($1 = '' OR from_service = $1)",
                        from_service)[0]
            .as<int64_t>();
    // $2 false: from the first row; else the rows after the cursor ($3, $4, $5).
    const std::string sql = absl::StrCat(
        "SELECT from_service, to_name, kind, to_kind, ", EpochMicros("last_seen"),
        ", count FROM dependencies WHERE ($1 = '' OR from_service = $1) AND (NOT $2::boolean OR (",
        kDependencyKey, ") > ($3, $4, $5)) ORDER BY ", kDependencyKey, " LIMIT $6");
    for (const auto& r : tx.exec_params(sql, from_service, after.has_value(), cursor.from_service,
                                        cursor.to_name, cursor.kind, static_cast<int64_t>(limit))) {
      page.dependencies.push_back(
          {Str(r[0]), Str(r[1]), Str(r[2]), Str(r[3]), Nanos(r[4]), r[5].as<int64_t>()});
    }
  }));
  return page;
}

absl::StatusOr<std::vector<CoverageRow>> PostgresReadModel::CoverageHistory(
    const std::string& dimension, int64_t since_ns) {
  std::vector<CoverageRow> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT ", EpochMicros("taken_at"),
                          ", dimension, key, total, instrumented FROM coverage_snapshots "
                          "WHERE dimension = $1 AND taken_at >= ",
                          Ts("$2"), R"( ORDER BY taken_at, key COLLATE "C")"),
             dimension, MicrosParam(since_ns))) {
      out.push_back({Nanos(r[0]), Str(r[1]), Str(r[2]), r[3].as<int32_t>(), r[4].as<int32_t>()});
    }
  }));
  return out;
}

absl::StatusOr<std::vector<SyncJobRecord>> PostgresReadModel::ListSyncJobs(size_t limit) {
  std::vector<SyncJobRecord> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    for (const auto& r : tx.exec_params(absl::StrCat("SELECT ", JobCols(), R"( FROM sync_jobs
                        ORDER BY COALESCE(started_at, updated_at) DESC, id COLLATE "C" DESC
                        LIMIT $1)"),
                                        static_cast<int64_t>(limit))) {
      out.push_back(ToJob(r));
    }
  }));
  return out;
}

absl::StatusOr<std::optional<SyncJobRecord>> PostgresReadModel::GetSyncJob(const std::string& id) {
  std::optional<SyncJobRecord> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    auto res =
        tx.exec_params(absl::StrCat("SELECT ", JobCols(), " FROM sync_jobs WHERE id = $1"), id);
    if (!res.empty()) out = ToJob(res[0]);
  }));
  return out;
}

absl::StatusOr<std::optional<SyncJobRecord>> PostgresReadModel::LastFinishedSyncJob() {
  std::optional<SyncJobRecord> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    auto res = tx.exec(absl::StrCat("SELECT ", JobCols(), R"( FROM sync_jobs
                       WHERE finished_at IS NOT NULL
                       ORDER BY finished_at DESC, id COLLATE "C" DESC LIMIT 1)"));
    if (!res.empty()) out = ToJob(res[0]);
  }));
  return out;
}

absl::Status PostgresReadModel::Ping() {
  return impl_->Run([](pqxx::read_transaction& tx) { tx.exec("SELECT 1"); });
}

}  // namespace apmcov::store
