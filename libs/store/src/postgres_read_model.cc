#include "apmcov/store/postgres_read_model.h"

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "apmcov/tracing/db_span.h"
#include "pg_params.h"
#include "pg_rows.h"
#include "pg_util.h"

namespace apmcov::store {
namespace {

using internal::ApmColumns;
using internal::ApmFromRow;
using internal::CoverageColumns;
using internal::CoverageFromRow;
using internal::DependencyColumns;
using internal::DependencyFromRow;
using internal::FieldText;
using internal::ServiceColumns;
using internal::ServiceFromRow;
using internal::SyncJobColumns;
using internal::SyncJobFromRow;
using internal::TraceColumns;
using internal::TraceFromRow;

// A bigint parameter of Unix microseconds as timestamptz.
std::string Ts(const char* param) { return internal::TimestampOf(param); }
using internal::MicrosParam;

// ORDER BY names broken_traces.trace_id: a bare trace_id would be the text output column of the
// same name, which sorts "9" after "10".

// Conditions shared by the count and the page of broken traces: $1 service, $2 missing,
// $3 kind, $4 env, $5 since (microseconds; NULL = none). Containment (@>), not `= ANY`: only
// that form can use the GIN indexes on services and missing_services (a rare service's count
// over 2M rows: 1-2 ms against 350 ms).
const std::string& TraceWhere() {
  static const std::string where = absl::StrCat(
      " WHERE ($1 = '' OR services @> ARRAY[$1]) AND ($2 = '' OR missing_services @> ARRAY[$2])"
      " AND ($3 = '' OR $3 = ANY(gap_kinds)) AND ($4 = '' OR env = $4)"
      " AND ($5::bigint IS NULL OR started_at >= ",
      Ts("$5"), ")");
  return where;
}

// The page's cursor: rows strictly after ($6 started_at in microseconds, $7 trace id).
std::string TraceAfter() {
  return absl::StrCat(" AND ($6::bigint IS NULL OR (started_at, trace_id) < (", Ts("$6"),
                      ", $7::numeric))");
}

// The dependency order, byte-wise whatever the database's collation (migration 0009's index).
constexpr const char* kDependencyKey =
    R"(from_service COLLATE "C", to_name COLLATE "C", kind COLLATE "C")";

// The Status of the exception being handled (call from a catch block): the store's mapping
// (pg_util.h) narrowed to what a read can mean. Unavailable stays (retry later); a query that
// outlived statement_timeout is DeadlineExceeded; anything else is Internal, since a read never
// rejects a record and a client is never to blame for what the database says.
absl::Status ReadError() {
  try {
    throw;
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() == "57014") {  // query_canceled: statement_timeout
      return absl::DeadlineExceededError(absl::StrCat("postgres: query timed out: ", e.what()));
    }
  } catch (...) {
  }
  absl::Status s = internal::StatusFromCurrentException("postgres read");
  if (absl::IsUnavailable(s)) return s;
  return absl::InternalError(s.message());
}

// A list of names as one text[] parameter (libpqxx 6 converts no arrays: the value is an array
// literal, pg_params.h).
std::string NamesParam(const std::vector<std::string>& names) {
  return internal::TextArrayParam(names);
}
std::string NamesOf(const char* param) { return absl::StrCat("(", param, "::text[])"); }

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

  // Runs `fn` in a read-only transaction on a pooled connection, inside the transaction's
  // client span (`what`: the ReadModel call, the span's resource); library exceptions become
  // Status here.
  absl::Status Run(std::string_view what, const std::function<void(pqxx::read_transaction&)>& fn) {
    tracing::Span span = options.tracer != nullptr
                             ? tracing::StartPostgresTransactionSpan(*options.tracer, what)
                             : tracing::Span();
    absl::Status s = RunInTransaction(fn, span);
    // The status code only: a server message may quote a value.
    if (!s.ok()) span.SetError(absl::StatusCodeToString(s.code()));
    return s;
  }

  absl::Status RunInTransaction(const std::function<void(pqxx::read_transaction&)>& fn,
                                tracing::Span& span) {
    std::unique_ptr<pqxx::connection> conn = Acquire();
    try {
      if (!conn || !conn->is_open()) {
        conn = std::make_unique<pqxx::connection>(url);
        pqxx::nontransaction setup(*conn);
        // set_config: SET takes no parameters.
        setup.exec_params("SELECT set_config('statement_timeout', $1, false)",
                          std::to_string(options.statement_timeout_ms));
      }
      if (span.recording()) {
        const char* host = conn->hostname();
        tracing::SetPostgresHost(span, host != nullptr ? host : "");
      }
      pqxx::read_transaction tx(*conn);
      fn(tx);
      tx.commit();
      Release(std::move(conn));
      return absl::OkStatus();
    } catch (...) {
      absl::Status s = ReadError();
      // A broken or doubtful session is dropped; the next call opens a fresh one.
      const bool keep = conn && conn->is_open() && !absl::IsUnavailable(s);
      Release(keep ? std::move(conn) : nullptr);
      return s;
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
  APMCOV_RETURN_IF_ERROR(impl_->Run("LoadCatalog", [&](pqxx::read_transaction& tx) {
    for (const auto& r : tx.exec(absl::StrCat("SELECT ", ServiceColumns(),
                                              R"( FROM services WHERE removed_at IS NULL
                                                  ORDER BY name COLLATE "C")"))) {
      data.services.push_back(ServiceFromRow(r));
    }
    for (const auto& r : tx.exec(absl::StrCat("SELECT ", ApmColumns(), R"( FROM apm_services
                                  ORDER BY service COLLATE "C", env COLLATE "C")"))) {
      data.apm.push_back(ApmFromRow(r));
    }
  }));
  return data;
}

absl::StatusOr<std::optional<ServiceRow>> PostgresReadModel::GetService(const std::string& name) {
  std::optional<ServiceRow> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run("GetService", [&](pqxx::read_transaction& tx) {
    auto res = tx.exec_params(
        absl::StrCat("SELECT ", ServiceColumns(), " FROM services WHERE name = $1"), name);
    if (!res.empty()) out = ServiceFromRow(res[0]);
  }));
  return out;
}

absl::StatusOr<std::vector<ApmServiceRow>> PostgresReadModel::ApmRowsFor(
    const std::string& service) {
  std::vector<ApmServiceRow> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run("ApmRowsFor", [&](pqxx::read_transaction& tx) {
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT ", ApmColumns(),
                          R"( FROM apm_services WHERE service = $1 ORDER BY env COLLATE "C")"),
             service)) {
      out.push_back(ApmFromRow(r));
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
  APMCOV_RETURN_IF_ERROR(impl_->Run("ListTraces", [&](pqxx::read_transaction& tx) {
    page.total = tx.exec_params1(absl::StrCat("SELECT count(*) FROM broken_traces", TraceWhere()),
                                 f.service, f.missing, f.kind, f.env, since)[0]
                     .as<int64_t>();
    // $6, $7: the cursor (started_at in microseconds, trace id); $8 the limit. Newest first,
    // either by walking started_at until the page is full, or, for a filter with few matches
    // (the count says how many), by reading the matches first and sorting them: a walk for a
    // rare service reads the whole table (7 s over 2M rows), a sort for a common one all its
    // rows (PostgresReadModelOptions::filter_first_max_rows).
    static const std::string walk =
        absl::StrCat("SELECT ", TraceColumns(), " FROM broken_traces", TraceWhere(), TraceAfter(),
                     " ORDER BY started_at DESC, broken_traces.trace_id DESC LIMIT $8");
    static const std::string filter_first = absl::StrCat(
        "WITH m AS MATERIALIZED (SELECT * FROM broken_traces", TraceWhere(), TraceAfter(),
        ") SELECT ", TraceColumns(), " FROM m ORDER BY started_at DESC, m.trace_id DESC LIMIT $8");
    const bool filtered =
        !f.service.empty() || !f.missing.empty() || !f.kind.empty() || !f.env.empty();
    const std::string& sql =
        filtered && page.total <= impl_->options.filter_first_max_rows ? filter_first : walk;
    for (const auto& r : tx.exec_params(sql, f.service, f.missing, f.kind, f.env, since, after_us,
                                        after_id, static_cast<int64_t>(limit))) {
      page.traces.push_back(TraceFromRow(r));
    }
  }));
  return page;
}

absl::StatusOr<std::optional<BrokenTraceRecord>> PostgresReadModel::GetTrace(uint64_t trace_id) {
  std::optional<BrokenTraceRecord> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run(
      "GetTrace", [&](pqxx::read_transaction& tx) { out = internal::ReadTrace(tx, trace_id); }));
  return out;
}

absl::StatusOr<int64_t> PostgresReadModel::CountTracesSince(int64_t since_ns) {
  int64_t n = 0;
  APMCOV_RETURN_IF_ERROR(impl_->Run("CountTracesSince", [&](pqxx::read_transaction& tx) {
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
  APMCOV_RETURN_IF_ERROR(impl_->Run("LoadSample", [&](pqxx::read_transaction& tx) {
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
      out.judgements.push_back({FieldText(r[0]), r[1].as<int64_t>(), r[2].as<int64_t>()});
    }
    // Each trace once per key, even if its array repeats one.
    for (const auto& r :
         tx.exec_params(absl::StrCat("SELECT m, count(DISTINCT trace_id) FROM broken_traces, "
                                     "unnest(missing_services) m WHERE started_at >= ",
                                     Ts("$1"), R"( GROUP BY m ORDER BY m COLLATE "C")"),
                        since)) {
      out.broken_by_missing_service.emplace_back(FieldText(r[0]), r[1].as<int64_t>());
    }
    for (const auto& r :
         tx.exec_params(absl::StrCat("SELECT k, count(DISTINCT trace_id) FROM broken_traces, "
                                     "unnest(gap_kinds) k WHERE started_at >= ",
                                     Ts("$1"), R"( GROUP BY k ORDER BY k COLLATE "C")"),
                        since)) {
      out.broken_by_gap_kind.emplace_back(FieldText(r[0]), r[1].as<int64_t>());
    }
  }));
  return out;
}

absl::StatusOr<DependencyPage> PostgresReadModel::ListDependencies(
    const std::string& from_service, const std::optional<DependencyCursor>& after, size_t limit) {
  DependencyPage page;
  const DependencyCursor cursor = after.value_or(DependencyCursor{});
  APMCOV_RETURN_IF_ERROR(impl_->Run("ListDependencies", [&](pqxx::read_transaction& tx) {
    page.total =
        tx.exec_params1("SELECT count(*) FROM dependencies WHERE ($1 = '' OR from_service = $1)",
                        from_service)[0]
            .as<int64_t>();
    // $2 false: from the first row; else the rows after the cursor ($3, $4, $5).
    const std::string sql = absl::StrCat(
        "SELECT ", DependencyColumns(),
        " FROM dependencies WHERE ($1 = '' OR from_service = $1) AND (NOT $2::boolean OR (",
        kDependencyKey, ") > ($3, $4, $5)) ORDER BY ", kDependencyKey, " LIMIT $6");
    for (const auto& r : tx.exec_params(sql, from_service, after.has_value(), cursor.from_service,
                                        cursor.to_name, cursor.kind, static_cast<int64_t>(limit))) {
      page.dependencies.push_back(DependencyFromRow(r));
    }
  }));
  return page;
}

absl::StatusOr<RecommendationPage> PostgresReadModel::RankRecommendations(
    const RecommendationQuery& q) {
  RecommendationPage page;
  if (q.candidates.empty() || q.limit == 0) return page;
  const int64_t since = MicrosParam(q.since_ns);
  APMCOV_RETURN_IF_ERROR(impl_->Run("RankRecommendations", [&](pqxx::read_transaction& tx) {
    // $1 candidates, $2 since (µs), $3 env, $4 env members, $5 limit. The broken counts read
    // the window's traces through the started_at index (nearly every missing service is a
    // candidate, so a GIN && on the whole candidate list selects little and cost 5x more on
    // 200k traces); the callers go through migration 0011's index.
    const std::string rank_sql = absl::StrCat(
        "WITH cand AS (SELECT name, team, customer_facing FROM services"
        " WHERE removed_at IS NULL AND name = ANY(",
        NamesOf("$1"),
        ")),"
        " bt AS (SELECT m AS name, count(DISTINCT b.trace_id) AS broken"
        " FROM broken_traces b, unnest(b.missing_services) m"
        " WHERE b.started_at >= ",
        Ts("$2"),
        " AND ($3 = '' OR b.env = $3) AND m IN (SELECT name FROM cand) GROUP BY m),"
        " callers AS (SELECT d.to_name AS name, count(DISTINCT d.from_service) AS n"
        " FROM dependencies d WHERE d.kind = 'call' AND d.to_name IN (SELECT name FROM cand)"
        " AND d.from_service <> d.to_name AND d.last_seen >= ",
        Ts("$2"),
        " GROUP BY d.to_name),"
        " ranked AS (SELECT c.name, c.team, c.customer_facing,"
        " COALESCE(bt.broken, 0) AS broken, COALESCE(callers.n, 0) AS ncallers"
        " FROM cand c LEFT JOIN bt ON bt.name = c.name LEFT JOIN callers ON callers.name = c.name"
        " WHERE $3 = '' OR c.name = ANY(",
        NamesOf("$4"),
        ") OR bt.broken > 0)"
        " SELECT name, team, customer_facing, broken, count(*) OVER () FROM ranked"
        R"( ORDER BY broken DESC, ncallers DESC, customer_facing DESC, name COLLATE "C" LIMIT $5)");
    std::vector<std::string> names;
    for (const auto& r : tx.exec_params(rank_sql, NamesParam(q.candidates), since, q.env,
                                        NamesParam(q.env_members), static_cast<int64_t>(q.limit))) {
      RecommendationRow row;
      row.name = FieldText(r[0]);
      row.team = FieldText(r[1]);
      row.customer_facing = r[2].as<bool>();
      row.broken_traces = r[3].as<int64_t>();
      page.total = r[4].as<int64_t>();
      names.push_back(row.name);
      page.rows.push_back(std::move(row));
    }
    if (names.empty()) return;
    // The details of this page's rows only: $1 names, $2 since, $3 env.
    const std::string names_param = NamesParam(names);
    std::map<std::string, std::set<std::string>> callers, teams;
    for (const auto& r : tx.exec_params(
             absl::StrCat(
                 "SELECT DISTINCT d.to_name, d.from_service, s.team FROM dependencies d"
                 " LEFT JOIN services s ON s.name = d.from_service AND s.removed_at IS NULL"
                 " WHERE d.kind = 'call' AND d.to_name = ANY(",
                 NamesOf("$1"), ") AND d.from_service <> d.to_name AND d.last_seen >= ", Ts("$2")),
             names_param, since)) {
      callers[FieldText(r[0])].insert(FieldText(r[1]));
      if (const std::string team = FieldText(r[2]); !team.empty()) {
        teams[FieldText(r[0])].insert(team);
      }
    }
    const std::string traces_of = absl::StrCat(
        " FROM broken_traces b, unnest(b.missing_services) m WHERE b.missing_services && ",
        NamesOf("$1"), " AND m = ANY(", NamesOf("$1"), ") AND b.started_at >= ", Ts("$2"),
        " AND ($3 = '' OR b.env = $3)");
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT DISTINCT t.m, s.team FROM (SELECT m, b.services", traces_of,
                          ") t, unnest(t.services) sv, services s"
                          " WHERE s.name = sv AND s.removed_at IS NULL AND s.team <> ''"),
             names_param, since, q.env)) {
      teams[FieldText(r[0])].insert(FieldText(r[1]));
    }
    std::map<std::string, std::vector<uint64_t>> examples;
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT m, trace_id::text FROM (SELECT m, trace_id, row_number() OVER"
                          " (PARTITION BY m ORDER BY started_at DESC, trace_id DESC) AS n"
                          " FROM (SELECT DISTINCT m, b.trace_id, b.started_at",
                          traces_of, ") t) x WHERE n <= 3 ORDER BY m, n"),
             names_param, since, q.env)) {
      examples[FieldText(r[0])].push_back(std::stoull(r[1].as<std::string>()));
    }
    for (RecommendationRow& row : page.rows) {
      row.callers.assign(callers[row.name].begin(), callers[row.name].end());
      row.teams_affected.assign(teams[row.name].begin(), teams[row.name].end());
      row.example_trace_ids = std::move(examples[row.name]);
    }
  }));
  return page;
}

absl::StatusOr<ServiceMapRows> PostgresReadModel::LoadServiceMap(int64_t since_ns,
                                                                 const std::string& env,
                                                                 size_t limit) {
  ServiceMapRows out;
  if (limit == 0) return out;
  APMCOV_RETURN_IF_ERROR(impl_->Run("LoadServiceMap", [&](pqxx::read_transaction& tx) {
    // $1 since (µs), $2 env, $3 limit + 1 (to know whether more matched).
    const std::string sql = absl::StrCat(
        "WITH g AS (SELECT tg.from_service, tg.to_service AS to_name, 'call'::text AS kind,"
        " count(DISTINCT tg.trace_id) AS broken, to_json(array_agg(DISTINCT tg.kind))::text AS"
        " kinds FROM broken_traces b JOIN trace_gaps tg ON tg.trace_id = b.trace_id"
        " WHERE b.started_at >= ",
        Ts("$1"),
        " AND ($2 = '' OR b.env = $2) AND tg.to_service IS NOT NULL"
        " GROUP BY tg.from_service, tg.to_service),"
        " d AS (SELECT from_service, to_name, kind, to_kind, count FROM dependencies"
        " WHERE last_seen >= ",
        Ts("$1"),
        ")"
        " SELECT * FROM (SELECT COALESCE(d.from_service, g.from_service) AS f,"
        " COALESCE(d.to_name, g.to_name) AS t, COALESCE(d.kind, g.kind) AS k,"
        " COALESCE(d.to_kind, 'service') AS tk, COALESCE(d.count, 0) AS traces,"
        " COALESCE(g.broken, 0) AS broken, g.kinds"
        " FROM d FULL OUTER JOIN g ON g.from_service = d.from_service AND g.to_name = d.to_name"
        " AND g.kind = d.kind) e"
        R"( ORDER BY f COLLATE "C", t COLLATE "C", k COLLATE "C" LIMIT $3)");
    for (const auto& r :
         tx.exec_params(sql, MicrosParam(since_ns), env, static_cast<int64_t>(limit) + 1)) {
      ServiceMapEdgeRow e;
      e.from_service = FieldText(r[0]);
      e.to_name = FieldText(r[1]);
      e.kind = FieldText(r[2]);
      e.to_kind = FieldText(r[3]);
      e.traces = r[4].as<int64_t>();
      e.broken_traces = r[5].as<int64_t>();
      if (!r[6].is_null()) {
        e.gap_kinds = internal::ParseJsonStringArray(r[6].as<std::string>());
        std::sort(e.gap_kinds.begin(), e.gap_kinds.end());
      }
      out.edges.push_back(std::move(e));
    }
  }));
  if (out.edges.size() > limit) {
    out.edges.resize(limit);
    out.truncated = true;
  }
  return out;
}

absl::StatusOr<std::vector<CoverageRow>> PostgresReadModel::CoverageHistory(
    const std::string& dimension, int64_t since_ns) {
  std::vector<CoverageRow> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run("CoverageHistory", [&](pqxx::read_transaction& tx) {
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT ", CoverageColumns(),
                          " FROM coverage_snapshots WHERE dimension = $1 AND taken_at >= ",
                          Ts("$2"), R"( ORDER BY taken_at, key COLLATE "C")"),
             dimension, MicrosParam(since_ns))) {
      out.push_back(CoverageFromRow(r));
    }
  }));
  return out;
}

absl::StatusOr<std::vector<SyncJobRecord>> PostgresReadModel::ListSyncJobs(size_t limit) {
  std::vector<SyncJobRecord> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run("ListSyncJobs", [&](pqxx::read_transaction& tx) {
    for (const auto& r : tx.exec_params(absl::StrCat("SELECT ", SyncJobColumns(), R"( FROM sync_jobs
                        ORDER BY COALESCE(started_at, updated_at) DESC, id COLLATE "C" DESC
                        LIMIT $1)"),
                                        static_cast<int64_t>(limit))) {
      out.push_back(SyncJobFromRow(r));
    }
  }));
  return out;
}

absl::StatusOr<std::optional<SyncJobRecord>> PostgresReadModel::GetSyncJob(const std::string& id) {
  std::optional<SyncJobRecord> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run("GetSyncJob", [&](pqxx::read_transaction& tx) {
    auto res = tx.exec_params(
        absl::StrCat("SELECT ", SyncJobColumns(), " FROM sync_jobs WHERE id = $1"), id);
    if (!res.empty()) out = SyncJobFromRow(res[0]);
  }));
  return out;
}

absl::StatusOr<std::optional<SyncJobRecord>> PostgresReadModel::LastFinishedSyncJob() {
  std::optional<SyncJobRecord> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run("LastFinishedSyncJob", [&](pqxx::read_transaction& tx) {
    auto res = tx.exec(absl::StrCat("SELECT ", SyncJobColumns(), R"( FROM sync_jobs
                       WHERE finished_at IS NOT NULL
                       ORDER BY finished_at DESC, id COLLATE "C" DESC LIMIT 1)"));
    if (!res.empty()) out = SyncJobFromRow(res[0]);
  }));
  return out;
}

absl::Status PostgresReadModel::Ping() {
  return impl_->Run("Ping", [](pqxx::read_transaction& tx) { tx.exec("SELECT 1"); });
}

}  // namespace apmcov::store
