#include "query/pg_read_model.h"

#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <vector>

#include "apmcov/base/status.h"

namespace apmcov::gateway {
namespace {

// Times leave PostgreSQL as Unix microseconds (exact) and become nanoseconds here.
#define NS(col) "(extract(epoch from " col ") * 1000000)::bigint"
// Arrays leave as JSON text (no ambiguity with separators or NULLs).
#define ARR(col) "to_json(" col ")::text"
// Nanoseconds (bigint parameter) to timestamptz, exact to the microsecond.
#define TS(param) "(timestamptz 'epoch' + (" param "::bigint / 1000) * interval '1 microsecond')"

std::vector<std::string> Strings(const pqxx::field& f) {
  std::vector<std::string> out;
  if (f.is_null()) return out;
  auto j = nlohmann::json::parse(f.c_str(), nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

int64_t Nanos(const pqxx::field& f) { return f.is_null() ? 0 : f.as<int64_t>() * 1000; }
std::optional<int64_t> OptNanos(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int64_t>() * 1000;
}
std::string Str(const pqxx::field& f) { return f.is_null() ? "" : f.c_str(); }

const char* const kServiceCols =
    "name, team, application, tier, lifecycle, type, " ARR("languages") ", " ARR(
        "envs") ", " ARR("tags") ", infra, customer_facing, links::text, schema_version, "
                                 "description, " NS("first_seen") ", " NS(
                                     "last_synced") ", " NS("removed_at");

ServiceRow ToService(const pqxx::row& r) {
  ServiceRow s;
  s.name = Str(r[0]);
  s.team = Str(r[1]);
  s.application = Str(r[2]);
  s.tier = Str(r[3]);
  s.lifecycle = Str(r[4]);
  s.type = Str(r[5]);
  s.languages = Strings(r[6]);
  s.envs = Strings(r[7]);
  s.tags = Strings(r[8]);
  s.infra = Str(r[9]);
  s.customer_facing = r[10].as<bool>();
  s.links_json = Str(r[11]);
  s.schema_version = Str(r[12]);
  s.description = Str(r[13]);
  s.first_seen = Nanos(r[14]);
  s.last_synced = Nanos(r[15]);
  s.removed_at = OptNanos(r[16]);
  return s;
}

const char* const kApmCols = "service, env, " NS("first_seen") ", " NS(
    "last_seen") ", span_count, " ARR("languages") ", " ARR("infra_hints") ", traced, usm_only";

ApmRow ToApm(const pqxx::row& r) {
  ApmRow a;
  a.service = Str(r[0]);
  a.env = Str(r[1]);
  a.first_seen = Nanos(r[2]);
  a.last_seen = Nanos(r[3]);
  a.span_count = r[4].as<int64_t>();
  a.languages = Strings(r[5]);
  a.infra_hints = Strings(r[6]);
  a.traced = r[7].as<bool>();
  a.usm_only = r[8].as<bool>();
  return a;
}

const char* const kTraceCols =
    "trace_id::text, env, root_service, " NS("started_at") ", duration_ns, span_count, " ARR(
        "services") ", " ARR("missing_services") ", " ARR("gap_kinds") ", " NS("detected_at");

TraceRow ToTrace(const pqxx::row& r) {
  TraceRow t;
  t.trace_id = Str(r[0]);
  t.env = Str(r[1]);
  if (!r[2].is_null()) t.root_service = Str(r[2]);
  t.started_at = Nanos(r[3]);
  t.duration_ns = r[4].as<int64_t>();
  t.span_count = r[5].as<int64_t>();
  t.services = Strings(r[6]);
  t.missing_services = Strings(r[7]);
  t.gap_kinds = Strings(r[8]);
  t.detected_at = Nanos(r[9]);
  return t;
}

const char* const kJobCols = "id, trigger, state, " NS("started_at") ", " NS(
    "finished_at") ", api_calls, pages, spans, rate_limited_ms, error, " NS(
    "updated_at") ", sampled_seconds, skipped_seconds, edge_cut_traces";

SyncJobRow ToJob(const pqxx::row& r) {
  SyncJobRow j;
  j.id = Str(r[0]);
  j.trigger = Str(r[1]);
  j.state = Str(r[2]);
  j.started_at = OptNanos(r[3]);
  j.finished_at = OptNanos(r[4]);
  j.api_calls = r[5].as<int64_t>();
  j.pages = r[6].as<int64_t>();
  j.spans = r[7].as<int64_t>();
  j.rate_limited_ms = r[8].as<int64_t>();
  j.error = Str(r[9]);
  j.updated_at = Nanos(r[10]);
  j.sampled_seconds = r[11].as<int64_t>();
  j.skipped_seconds = r[12].as<int64_t>();
  j.edge_cut_traces = r[13].as<int64_t>();
  return j;
}

}  // namespace

struct PgReadModel::Impl {
  std::string url;
  PgOptions options;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<pqxx::connection>> idle;
  size_t open = 0;

  std::unique_ptr<pqxx::connection> Acquire() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !idle.empty() || open < options.pool_size; });
    if (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      return c;
    }
    ++open;
    return nullptr;  // caller opens a new one
  }
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

PgReadModel::PgReadModel(std::string database_url, PgOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->url = std::move(database_url);
  impl_->options = options;
  if (impl_->options.pool_size == 0) impl_->options.pool_size = 1;
}

PgReadModel::~PgReadModel() = default;

absl::StatusOr<CatalogData> PgReadModel::LoadCatalog() {
  CatalogData data;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    for (const auto& r : tx.exec(std::string("SELECT ") + kServiceCols +
                                 " FROM services WHERE removed_at IS NULL ORDER BY name")) {
      data.services.push_back(ToService(r));
    }
    for (const auto& r :
         tx.exec(std::string("SELECT ") + kApmCols + " FROM apm_services ORDER BY service, env")) {
      data.apm.push_back(ToApm(r));
    }
  }));
  return data;
}

absl::StatusOr<std::optional<ServiceRow>> PgReadModel::GetService(const std::string& name) {
  std::optional<ServiceRow> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    auto res = tx.exec_params(
        std::string("SELECT ") + kServiceCols + " FROM services WHERE name = $1", name);
    if (!res.empty()) out = ToService(res[0]);
  }));
  return out;
}

absl::StatusOr<std::vector<ApmRow>> PgReadModel::ApmRowsFor(const std::string& service) {
  std::vector<ApmRow> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    for (const auto& r : tx.exec_params(std::string("SELECT ") + kApmCols +
                                            " FROM apm_services WHERE service = $1 ORDER BY env",
                                        service)) {
      out.push_back(ToApm(r));
    }
  }));
  return out;
}

namespace {
// Conditions shared by the count and the page: $1 service, $2 missing, $3 kind, $4 env,
// $5 since (ns, -1 = none).
const char* const kTraceWhere =
    " WHERE ($1 = '' OR $1 = ANY(services)) AND ($2 = '' OR $2 = ANY(missing_services))"
    " AND ($3 = '' OR $3 = ANY(gap_kinds)) AND ($4 = '' OR env = $4)"
    " AND ($5::bigint < 0 OR started_at >= " TS("$5") ")";
}  // namespace

absl::StatusOr<TracePage> PgReadModel::ListTraces(const TraceFilter& f,
                                                  const std::optional<TraceCursor>& after,
                                                  size_t limit) {
  TracePage page;
  int64_t since = f.since ? std::max<int64_t>(0, *f.since) : -1;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    page.total = tx.exec_params1(std::string("SELECT count(*) FROM broken_traces") + kTraceWhere,
                                 f.service, f.missing, f.kind, f.env, since)[0]
                     .as<int64_t>();
    std::string sql = std::string("SELECT ") + kTraceCols + " FROM broken_traces" + kTraceWhere +
                      " AND ($6::bigint < 0 OR (started_at, trace_id) < (" TS("$6") ", $7::numeric))"
                      " ORDER BY started_at DESC, trace_id DESC LIMIT $8";
    int64_t after_ts = after ? after->started_at : -1;
    std::string after_id = after ? after->trace_id : "0";
    for (const auto& r : tx.exec_params(sql, f.service, f.missing, f.kind, f.env, since, after_ts,
                                        after_id, static_cast<int64_t>(limit))) {
      page.traces.push_back(ToTrace(r));
    }
  }));
  return page;
}

absl::StatusOr<std::optional<TraceDetail>> PgReadModel::GetTrace(const std::string& trace_id) {
  std::optional<TraceDetail> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    auto res = tx.exec_params(
        std::string("SELECT ") + kTraceCols + " FROM broken_traces WHERE trace_id = $1::numeric",
        trace_id);
    if (res.empty()) return;
    TraceDetail d;
    d.trace = ToTrace(res[0]);
    for (const auto& r : tx.exec_params(
             "SELECT span_id::text, parent_id::text, service, resource, kind, type, start_ns, "
             "duration_ns, target FROM trace_spans WHERE trace_id = $1::numeric "
             "ORDER BY start_ns, span_id",
             trace_id)) {
      SpanRow s;
      s.span_id = Str(r[0]);
      s.parent_id = Str(r[1]);
      s.service = Str(r[2]);
      s.resource = Str(r[3]);
      s.kind = Str(r[4]);
      s.type = Str(r[5]);
      s.start_ns = r[6].as<int64_t>();
      s.duration_ns = r[7].as<int64_t>();
      s.target = Str(r[8]);
      d.spans.push_back(std::move(s));
    }
    for (const auto& r : tx.exec_params(
             "SELECT kind, span_id::text, from_service, to_service, peer, detail FROM trace_gaps "
             "WHERE trace_id = $1::numeric ORDER BY span_id, kind",
             trace_id)) {
      GapRow g;
      g.kind = Str(r[0]);
      g.span_id = Str(r[1]);
      g.from_service = Str(r[2]);
      if (!r[3].is_null()) g.to_service = Str(r[3]);
      g.peer = Str(r[4]);
      g.detail = Str(r[5]);
      d.gaps.push_back(std::move(g));
    }
    out = std::move(d);
  }));
  return out;
}

absl::StatusOr<int64_t> PgReadModel::CountTracesSince(int64_t since) {
  int64_t n = 0;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    n = tx.exec_params1("SELECT count(*) FROM broken_traces WHERE started_at >= " TS("$1"),
                        std::max<int64_t>(0, since))[0]
            .as<int64_t>();
  }));
  return n;
}

absl::StatusOr<SampleRows> PgReadModel::LoadSample(int64_t jobs_since, int64_t traces_since) {
  SampleRows out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    auto jobs = tx.exec_params1(
        "SELECT count(*), COALESCE(sum(sampled_seconds), 0)::bigint, "
        "COALESCE(sum(skipped_seconds), 0)::bigint FROM sync_jobs "
        "WHERE finished_at >= " TS("$1"),
        std::max<int64_t>(0, jobs_since));
    out.jobs = jobs[0].as<int64_t>();
    out.sampled_seconds = jobs[1].as<int64_t>();
    out.skipped_seconds = jobs[2].as<int64_t>();
    const int64_t since = std::max<int64_t>(0, traces_since);
    for (const auto& r : tx.exec_params(
             "SELECT root_service, sum(judged)::bigint, sum(broken)::bigint FROM trace_judgements "
             "WHERE hour >= " TS("$1") " GROUP BY root_service ORDER BY root_service COLLATE \"C\"",
             since)) {
      out.judgements.push_back({Str(r[0]), r[1].as<int64_t>(), r[2].as<int64_t>()});
    }
    // Each trace once per key, even if its array repeats one.
    for (const auto& r : tx.exec_params(
             "SELECT m, count(DISTINCT trace_id) FROM broken_traces, unnest(missing_services) m "
             "WHERE started_at >= " TS("$1") " GROUP BY m ORDER BY m COLLATE \"C\"",
             since)) {
      out.broken_by_missing_service.emplace_back(Str(r[0]), r[1].as<int64_t>());
    }
    for (const auto& r : tx.exec_params(
             "SELECT k, count(DISTINCT trace_id) FROM broken_traces, unnest(gap_kinds) k "
             "WHERE started_at >= " TS("$1") " GROUP BY k ORDER BY k COLLATE \"C\"",
             since)) {
      out.broken_by_gap_kind.emplace_back(Str(r[0]), r[1].as<int64_t>());
    }
  }));
  return out;
}

absl::StatusOr<std::vector<DependencyRow>> PgReadModel::ListDependencies(
    const std::string& from_service) {
  std::vector<DependencyRow> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    for (const auto& r :
         tx.exec_params("SELECT from_service, to_name, kind, to_kind, " NS(
                            "last_seen") ", count "
                                         "FROM dependencies WHERE ($1 = '' OR from_service = $1) "
                                         "ORDER BY from_service, to_name, kind",
                        from_service)) {
      out.push_back({Str(r[0]), Str(r[1]), Str(r[2]), Str(r[3]), Nanos(r[4]), r[5].as<int64_t>()});
    }
  }));
  return out;
}

absl::StatusOr<std::vector<SnapshotRow>> PgReadModel::CoverageHistory(const std::string& dimension,
                                                                      int64_t since) {
  std::vector<SnapshotRow> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    for (const auto& r : tx.exec_params(
             "SELECT " NS(
                 "taken_at") ", dimension, key, total, instrumented "
                             "FROM coverage_snapshots WHERE dimension = $1 AND taken_at >= " TS(
                                 "$2") " ORDER BY taken_at, key",
             dimension, std::max<int64_t>(0, since))) {
      out.push_back({Nanos(r[0]), Str(r[1]), Str(r[2]), r[3].as<int64_t>(), r[4].as<int64_t>()});
    }
  }));
  return out;
}

absl::StatusOr<std::vector<SyncJobRow>> PgReadModel::ListSyncJobs(size_t limit) {
  std::vector<SyncJobRow> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    for (const auto& r :
         tx.exec_params(std::string("SELECT ") + kJobCols +
                            " FROM sync_jobs ORDER BY COALESCE(started_at, updated_at) DESC, "
                            "id DESC LIMIT $1",
                        static_cast<int64_t>(limit))) {
      out.push_back(ToJob(r));
    }
  }));
  return out;
}

absl::StatusOr<std::optional<SyncJobRow>> PgReadModel::GetSyncJob(const std::string& id) {
  std::optional<SyncJobRow> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    auto res =
        tx.exec_params(std::string("SELECT ") + kJobCols + " FROM sync_jobs WHERE id = $1", id);
    if (!res.empty()) out = ToJob(res[0]);
  }));
  return out;
}

absl::StatusOr<std::optional<SyncJobRow>> PgReadModel::LastFinishedSyncJob() {
  std::optional<SyncJobRow> out;
  APMCOV_RETURN_IF_ERROR(impl_->Run([&](pqxx::read_transaction& tx) {
    auto res = tx.exec(std::string("SELECT ") + kJobCols +
                       " FROM sync_jobs WHERE finished_at IS NOT NULL "
                       "ORDER BY finished_at DESC, id DESC LIMIT 1");
    if (!res.empty()) out = ToJob(res[0]);
  }));
  return out;
}

absl::Status PgReadModel::Ping() {
  return impl_->Run([](pqxx::read_transaction& tx) { tx.exec("SELECT 1"); });
}

}  // namespace apmcov::gateway
