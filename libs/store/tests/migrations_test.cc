#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "apmcov/store/postgres_store.h"
#include "test_database.h"

namespace apmcov::store::testing {
namespace {

TEST(MigrationsTest, EmbeddedMigrationsAreOrderedAndStartWithTheInitialSchema) {
  const auto& m = EmbeddedMigrations();
  ASSERT_GE(m.size(), 2u);
  EXPECT_EQ(m[0].version, 1);
  EXPECT_EQ(m[0].name, "init");
  EXPECT_NE(m[0].sql.find("CREATE TABLE services"), std::string::npos);
  for (size_t i = 1; i < m.size(); ++i) EXPECT_LT(m[i - 1].version, m[i].version);
}

TEST(MigrationsTest, AppliesOnceEvenWhenTwoRunnersRace) {
  absl::StatusOr<TestDatabase> db = TestDatabase::Create(/*migrate=*/false);
  ASSERT_TRUE(db.ok()) << db.status();
  absl::StatusOr<MigrationReport> r1, r2;
  std::thread t1([&] { r1 = RunMigrations(db->url()); });
  std::thread t2([&] { r2 = RunMigrations(db->url()); });
  t1.join();
  t2.join();
  ASSERT_TRUE(r1.ok()) << r1.status();
  ASSERT_TRUE(r2.ok()) << r2.status();
  const int latest = EmbeddedMigrations().back().version;
  EXPECT_EQ(r1->applied.size() + r2->applied.size(), EmbeddedMigrations().size());
  EXPECT_EQ(r1->current_version, latest);
  EXPECT_EQ(r2->current_version, latest);
  EXPECT_EQ(db->QueryOne("SELECT count(*) FROM schema_migrations"),
            std::to_string(EmbeddedMigrations().size()));
  absl::StatusOr<MigrationReport> again = RunMigrations(db->url());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->applied.empty());
}

TEST(MigrationsTest, AFailingMigrationIsRolledBackAndNamed) {
  absl::StatusOr<TestDatabase> db = TestDatabase::Create(/*migrate=*/false);
  ASSERT_TRUE(db.ok()) << db.status();
  std::vector<Migration> ms = {{1, "ok", "CREATE TABLE t1 (x int)"},
                               {2, "broken", "CREATE TABLE t2 (x int); SELECT nope FROM t2"}};
  absl::StatusOr<MigrationReport> r = RunMigrations(db->url(), ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(std::string(r.status().message()).find("2_broken"), std::string::npos) << r.status();
  EXPECT_EQ(db->QueryOne("SELECT string_agg(version::text, ',') FROM schema_migrations"), "1");
  EXPECT_EQ(db->QueryOne("SELECT count(*) FROM pg_tables WHERE tablename = 't2'"), "0");
}

TEST(MigrationsTest, TraceSpansOfEarlierVersionsAreKeptAsOneRowPerTrace) {
  // A database at migration 0011, with spans of broken traces one row per span, then upgraded:
  // 0012 gathers each trace's spans into one JSON row that the store reads back whole.
  absl::StatusOr<TestDatabase> db = TestDatabase::Create(/*migrate=*/false);
  ASSERT_TRUE(db.ok()) << db.status();
  std::vector<Migration> before;
  for (const Migration& m : EmbeddedMigrations()) {
    if (m.version <= 11) before.push_back(m);
  }
  ASSERT_TRUE(RunMigrations(db->url(), before).ok());
  db->QueryOne(
      "INSERT INTO broken_traces (trace_id, env, root_service, started_at, duration_ns, "
      "span_count, services, missing_services, gap_kinds, detected_at) VALUES "
      "(18446744073709551615, 'prod', 'web', now(), 5, 3, '{web,db}', '{}', "
      "'{orphan_span}', now()), (7, 'prod', 'web', now(), 5, 1, '{web}', '{}', "
      "'{orphan_span}', now())");
  db->QueryOne(
      "INSERT INTO trace_spans (trace_id, span_id, parent_id, service, resource, kind, type, "
      "start_ns, duration_ns, target) VALUES "
      "(18446744073709551615, 3, 1, 'db', 'SELECT \"x\"', 'client', 'sql', 30, 4, 'pg'), "
      "(18446744073709551615, 1, 0, 'web', 'GET /', 'server', 'web', 10, 50, ''), "
      "(18446744073709551615, 18446744073709551614, 1, 'web', 'a\\b', '', '', 10, 1, ''), "
      "(7, 9, 0, 'web', 'GET /x', 'server', 'web', 1, 2, '')");
  absl::StatusOr<MigrationReport> r = RunMigrations(db->url());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(db->QueryOne("SELECT count(*) FROM trace_spans"), "2");

  PostgresCoverageStore store(db->url());
  const auto trace = store.LoadBrokenTrace(UINT64_MAX);
  ASSERT_TRUE(trace.ok()) << trace.status();
  ASSERT_TRUE(trace->has_value());
  const std::vector<TraceSpanRecord>& spans = (*trace)->spans;
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0].span_id, 1u);  // by start_ns, then span id
  EXPECT_EQ(spans[1].span_id, UINT64_MAX - 1);
  EXPECT_EQ(spans[1].resource, "a\\b");
  EXPECT_EQ(spans[2].span_id, 3u);
  EXPECT_EQ(spans[2].parent_id, 1u);
  EXPECT_EQ(spans[2].service, "db");
  EXPECT_EQ(spans[2].resource, "SELECT \"x\"");
  EXPECT_EQ(spans[2].kind, "client");
  EXPECT_EQ(spans[2].type, "sql");
  EXPECT_EQ(spans[2].start_ns, 30);
  EXPECT_EQ(spans[2].duration_ns, 4);
  EXPECT_EQ(spans[2].target, "pg");
  const auto other = store.LoadBrokenTrace(7);
  ASSERT_TRUE(other.ok() && other->has_value());
  ASSERT_EQ((*other)->spans.size(), 1u);
  EXPECT_EQ((*other)->spans[0].resource, "GET /x");
}

TEST(MigrationsTest, ACorruptSpanSetIsAnErrorNotAnEmptyTrace) {
  absl::StatusOr<TestDatabase> db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  db->QueryOne(
      "INSERT INTO broken_traces (trace_id, env, root_service, started_at, duration_ns, "
      "span_count, services, missing_services, gap_kinds, detected_at) VALUES "
      "(5, 'prod', 'web', now(), 5, 1, '{web}', '{}', '{orphan_span}', now())");
  db->QueryOne("INSERT INTO trace_spans (trace_id, spans) VALUES (5, '[[\"1\", \"0\"]]')");
  PostgresCoverageStore store(db->url());
  const auto trace = store.LoadBrokenTrace(5);
  ASSERT_FALSE(trace.ok());
  EXPECT_EQ(trace.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(std::string(trace.status().message()).find("span 0 is not an array of 9"),
            std::string::npos)
      << trace.status();
}

}  // namespace
}  // namespace apmcov::store::testing
