#include "gateway_test_env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <random>
#include <sstream>

namespace apmcov::gateway::testing {

std::string WithDatabase(const std::string& url, const std::string& db) {
  size_t scheme = url.find("://");
  size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  size_t q = url.find('?');
  std::string base = slash == std::string::npos ? url.substr(0, q) : url.substr(0, slash);
  std::string query = q == std::string::npos ? "" : url.substr(q);
  return base + "/" + db + query;
}

TestDatabase::TestDatabase() {
  const char* env = std::getenv("DATABASE_URL");
  if (!env || !*env) {
    ADD_FAILURE() << "DATABASE_URL is not set: start PostgreSQL with scripts/pg-local.sh start "
                     "and export DATABASE_URL (scripts/test.sh does both)";
    return;
  }
  admin_url_ = env;
  std::random_device rd;
  name_ = "apmcov_gw_" + std::to_string(getpid()) + "_" + std::to_string(rd() % 1000000);
  pqxx::connection c(admin_url_);
  pqxx::nontransaction tx(c);
  tx.exec0("CREATE DATABASE " + tx.quote_name(name_));
  url_ = WithDatabase(admin_url_, name_);
}

TestDatabase::~TestDatabase() {
  if (url_.empty()) return;
  try {
    pqxx::connection c(admin_url_);
    pqxx::nontransaction tx(c);
    tx.exec0("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "dropping " << name_ << ": " << e.what();
  }
}

void TestDatabase::Exec(const std::string& sql) const {
  pqxx::connection c(url_);
  pqxx::work tx(c);
  tx.exec0(sql);
  tx.commit();
}

void TestDatabase::Migrate() const {
  const char* src = std::getenv("APMCOV_SOURCE_DIR");
  std::filesystem::path dir = std::filesystem::path(src && *src ? src : APMCOV_DEFAULT_SOURCE_DIR) /
                              "libs/store/migrations";
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".sql") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty()) << "no migrations under " << dir;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    Exec(ss.str());
  }
}

// The world:
//  catalog: checkout (web, prod+staging, kubernetes tag, go, tier 1, customer-facing, traced),
//   payments (payments team, prod, customer-facing, USM-only), inventory (web, spans in prod
//   only, infra from spans: ecs, java), search (team with a comma and quotes, never seen),
//   legacy (deprecated, traced), gone (removed), and 30 filler services svc-00..svc-29 (team
//   filler, half traced) for paging.
//  shadow: ghost (APM only), gone (removed from the catalog, still in APM).
//  broken traces: 101 (checkout -> payments uninstrumented_callee), 102 (orphan_span, rootless),
//   103 (old, 3 days ago).
//  sample (design §7.1): jobs 1 and 2 read 60 + 40 s of span time and skipped 300 s (sampled
//   share 0.25); judged an hour ago: checkout 8 broken of 60, rootless 5 of 40 (13 of 100);
//   3 days ago: 1000 of 1000 (outside the lookback).
void TestDatabase::Seed() const {
  std::string sql = R"SQL(
INSERT INTO services (name, team, tier, lifecycle, languages, envs, infra, customer_facing, tags, links)
VALUES
 ('checkout', 'web', '1', 'production', '{go}', '{prod,staging}', 'kubernetes', true, '{env:prod,infra:kubernetes}', '[{"name":"runbook","url":"https://x"}]'),
 ('payments', 'payments', '1', 'production', '{}', '{prod}', '', true, '{}', '[]'),
 ('inventory', 'web', '2', 'production', '{}', '{}', '', false, '{}', '[]'),
 ('search', 'Platform, "Core"', '', '', '{python}', '{}', 'vm', false, '{}', '[]'),
 ('legacy', 'web', '3', 'deprecated', '{}', '{prod}', '', true, '{}', '[]');
INSERT INTO services (name, team, lifecycle, removed_at) VALUES ('gone', 'web', 'production', now());
INSERT INTO services (name, team, lifecycle, envs)
  SELECT 'svc-' || lpad(i::text, 2, '0'), 'filler', 'production', '{prod}' FROM generate_series(0, 29) i;
INSERT INTO apm_services (service, env, last_seen, span_count, languages, infra_hints, traced, usm_only) VALUES
 ('checkout', 'prod', now() - interval '1 hour', 1000, '{go}', '{kubernetes}', true, false),
 ('checkout', 'staging', now() - interval '2 hours', 10, '{go}', '{kubernetes}', true, false),
 ('payments', 'prod', now() - interval '1 hour', 0, '{}', '{}', false, true),
 ('inventory', 'prod', now() - interval '1 hour', 50, '{java}', '{ecs}', false, false),
 ('legacy', 'prod', now() - interval '1 hour', 5, '{}', '{}', true, false),
 ('ghost', 'prod', now() - interval '1 hour', 77, '{}', '{}', true, false),
 ('gone', 'prod', now() - interval '1 hour', 3, '{}', '{}', true, false);
INSERT INTO apm_services (service, env, last_seen, span_count, traced)
  SELECT 'svc-' || lpad(i::text, 2, '0'), 'prod', now() - interval '30 minutes', i, true
  FROM generate_series(0, 29, 2) i;
INSERT INTO broken_traces (trace_id, env, root_service, started_at, duration_ns, span_count, services, missing_services, gap_kinds) VALUES
 (101, 'prod', 'checkout', now() - interval '10 minutes', 5000000, 3, '{checkout,inventory}', '{payments}', '{uninstrumented_callee}'),
 (102, 'prod', NULL, now() - interval '20 minutes', 2000000, 2, '{inventory}', '{}', '{missing_root,orphan_span}'),
 (18446744073709551615, 'staging', 'checkout', now() - interval '3 days', 1000, 1, '{checkout}', '{}', '{propagation_break}');
INSERT INTO trace_spans (trace_id, span_id, parent_id, service, resource, kind, type, start_ns, duration_ns, target) VALUES
 (101, 1, 0, 'checkout', 'POST /checkout', 'server', 'web', 1700000000000000000, 5000000, ''),
 (101, 2, 1, 'checkout', 'POST /pay', 'client', 'http', 1700000000001000000, 3000000, 'payments.internal:8443'),
 (101, 3, 1, 'inventory', 'GET /stock', 'server', 'web', 1700000000000500000, 400000, ''),
 (102, 7, 99, 'inventory', 'GET /x', 'server', 'web', 1700000000000000000, 2000000, '');
INSERT INTO trace_gaps (trace_id, span_id, kind, from_service, to_service, peer) VALUES
 (101, 2, 'uninstrumented_callee', 'checkout', 'payments', 'payments.internal:8443'),
 (102, 7, 'missing_root', 'inventory', NULL, ''),
 (102, 7, 'orphan_span', 'inventory', NULL, '');
INSERT INTO dependencies (from_service, to_name, kind, to_kind, count) VALUES
 ('checkout', 'payments', 'call', 'service', 12),
 ('checkout', 'postgres', 'db', 'datastore', 40),
 ('inventory', 'kafka', 'messaging', 'queue', 3);
INSERT INTO coverage_snapshots (taken_at, dimension, key, total, instrumented) VALUES
 (now() - interval '2 days', 'overall', 'all', 34, 15),
 (now() - interval '1 day', 'overall', 'all', 34, 17),
 (now() - interval '1 day', 'team', 'web', 3, 2),
 (now() - interval '1 day', 'team', 'filler', 30, 15);
INSERT INTO sync_jobs (id, trigger, state, started_at, finished_at, api_calls, pages, spans, error, updated_at, sampled_seconds, skipped_seconds, edge_cut_traces) VALUES
 ('job-1', 'schedule', 'succeeded', now() - interval '2 hours', now() - interval '119 minutes', 12, 10, 9000, '', now() - interval '119 minutes', 60, 0, 2),
 ('job-2', 'manual', 'partial', now() - interval '1 hour', now() - interval '59 minutes', 8, 6, 5000, 'span budget reached', now() - interval '59 minutes', 40, 300, 5),
 ('job-3', 'schedule', 'running', now() - interval '1 minute', NULL, 2, 1, 100, '', now(), 0, 0, 0);
INSERT INTO trace_judgements (hour, root_service, judged, broken) VALUES
 (date_trunc('hour', now() - interval '1 hour'), 'checkout', 60, 8),
 (date_trunc('hour', now() - interval '1 hour'), '', 40, 5),
 (date_trunc('hour', now() - interval '3 days'), 'checkout', 1000, 1000);
)SQL";
  Exec(sql);
}

absl::Status RecordingPublisher::Publish(bus::OutgoingMessage message) {
  std::lock_guard lock(mu_);
  messages_.push_back(std::move(message));
  return absl::OkStatus();
}
absl::Status RecordingPublisher::Flush(std::chrono::milliseconds) {
  if (fail) return absl::UnavailableError("broker down (test)");
  return absl::OkStatus();
}
absl::StatusOr<int32_t> RecordingPublisher::PartitionCount(const std::string&) { return 1; }
std::vector<bus::OutgoingMessage> RecordingPublisher::messages() const {
  std::lock_guard lock(mu_);
  return messages_;
}

}  // namespace apmcov::gateway::testing
