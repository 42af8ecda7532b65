#include <optional>
#include <thread>

#include "../src/pg_util.h"
#include "apmcov/store/postgres_store.h"
#include "commit_cutting_proxy.h"
#include "coverage_store_contract.h"
#include "test_database.h"

namespace apmcov::store::testing {
namespace {

class PostgresHarness {
 public:
  absl::Status SetUp() {
    absl::StatusOr<TestDatabase> db = TestDatabase::Create();
    if (!db.ok()) return db.status();
    db_.emplace(std::move(*db));
    store_ = std::make_unique<PostgresCoverageStore>(db_->url());
    return store_->Ping();
  }
  CoverageStore& store() { return *store_; }

 private:
  std::optional<TestDatabase> db_;
  std::unique_ptr<PostgresCoverageStore> store_;  // destroyed (disconnected) before db_
};

INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, CoverageStoreContract, PostgresHarness);

TEST(PostgresCoverageStoreTest, UnreachableServerIsUnavailableAndRedacted) {
  PostgresCoverageStore store(
      "postgresql://apmcov:s3cret@127.0.0.1:1/nope?sslmode=disable&connect_timeout=2");
  absl::Status s = store.Ping();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(std::string(s.message()).find("s3cret"), std::string::npos) << s;
  WriteBatch b;
  b.sync_jobs = {Job("j", "queued", kT0)};
  EXPECT_EQ(store.Apply(b).status().code(), absl::StatusCode::kUnavailable);
}

// A commit whose answer never reaches the client (the connection drops while it waits): the
// transaction committed, the client cannot know, and the analyzer applies the batch again.
// Its upserts are safe either way; its counts are added once when the batch has a count key,
// and twice without one (which shows the lost commit did happen).
TEST(PostgresCoverageStoreTest, ABatchRetriedAfterItsCommitsAnswerWasLostCountsOnce) {
  absl::StatusOr<TestDatabase> db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  CommitCuttingProxy proxy(PortOf(db->url()));
  PostgresCoverageStore store(WithLocalPort(db->url(), proxy.port()));
  auto apply_losing_the_answer = [&](const WriteBatch& b) {
    const int cuts = proxy.cuts();
    proxy.ArmCut();
    const absl::StatusOr<ApplyResult> first = store.Apply(b);
    EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
    EXPECT_EQ(proxy.cuts(), cuts + 1);
    const absl::StatusOr<ApplyResult> retry = store.Apply(b);  // as the analyzer retries
    EXPECT_TRUE(retry.ok()) << retry.status();
  };
  const int64_t hour = kHourOfT0;
  WriteBatch keyed;
  keyed.judgements = {{hour, "frontend", 10, 2}};
  keyed.edge_cuts = {{"j1", 4}};
  keyed.broken_traces = {Trace(5, kT0)};
  keyed.count_key = {"batch-1", kT0};
  apply_losing_the_answer(keyed);
  EXPECT_EQ(db->QueryOne("SELECT judged || '/' || broken FROM trace_judgements"), "10/2");
  EXPECT_EQ(db->QueryOne("SELECT edge_cut_traces FROM sync_jobs WHERE id = 'j1'"), "4");
  EXPECT_EQ(db->QueryOne("SELECT count(*) FROM broken_traces"), "1");

  WriteBatch unkeyed = keyed;
  unkeyed.count_key = {};
  apply_losing_the_answer(unkeyed);
  EXPECT_EQ(db->QueryOne("SELECT judged || '/' || broken FROM trace_judgements"), "30/6");
  EXPECT_EQ(db->QueryOne("SELECT edge_cut_traces FROM sync_jobs WHERE id = 'j1'"), "12");
}

// What PostgreSQL says about a statement, through the adapter's exception mapping.
absl::Status StatusOfSql(pqxx::connection& conn, const std::string& sql) {
  try {
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
    return absl::OkStatus();
  } catch (...) {
    return internal::StatusFromCurrentException("test");
  }
}

TEST(PostgresCoverageStoreTest, ErrorsAreClassifiedBySqlstate) {
  absl::StatusOr<TestDatabase> db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  pqxx::connection conn(db->url());
  ASSERT_TRUE(StatusOfSql(conn, "CREATE TABLE t (x int PRIMARY KEY, y int NOT NULL)").ok());
  ASSERT_TRUE(StatusOfSql(conn, "INSERT INTO t VALUES (1, 1)").ok());
  // Data errors: the record's fault, never retried.
  for (const auto& [sql, state] : std::vector<std::pair<std::string, std::string>>{
           {R"(SELECT '["a\u0000b"]'::jsonb)", "22P05"},
           {"SELECT 1 / 0", "22012"},
           {"SELECT timestamptz '300000-01-01 00:00:00+00'", "22008"},
           {"INSERT INTO t VALUES (2, NULL)", "23502"}}) {
    absl::Status s = StatusOfSql(conn, sql);
    EXPECT_TRUE(IsRecordRejected(s)) << sql << ": " << s;
    EXPECT_NE(s.message().find(state), absl::string_view::npos) << sql << ": " << s;
  }
  // A concurrent writer of the same key: retried.
  EXPECT_EQ(StatusOfSql(conn, "INSERT INTO t VALUES (1, 1)").code(), absl::StatusCode::kAborted);
  // Our defect: neither retried nor set aside.
  absl::Status defect = StatusOfSql(conn, "SELECT * FROM no_such_table");
  EXPECT_EQ(defect.code(), absl::StatusCode::kInternal) << defect;
  EXPECT_FALSE(IsRecordRejected(defect));
  // The server ends the session: transient.
  absl::Status ended = StatusOfSql(conn, "SELECT pg_terminate_backend(pg_backend_pid())");
  EXPECT_EQ(ended.code(), absl::StatusCode::kUnavailable) << ended;
}

TEST(PostgresCoverageStoreTest, APoisonRecordIsRejectedAndTheStoreGoesOn) {
  absl::StatusOr<TestDatabase> db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  PostgresCoverageStore store(db->url());
  // Passes the shared checks; only PostgreSQL refuses it: a name too large for a btree index
  // row (SQLSTATE 54000), and not compressible below the limit.
  std::string huge;
  uint32_t x = 12345;
  for (int i = 0; i < 8000; ++i) {
    x = x * 1103515245 + 12345;
    huge.push_back("abcdefghijklmnopqrstuvwxyz0123456789"[(x >> 16) % 36]);
  }
  WriteBatch poison;
  poison.catalog_services = {Svc("s1", huge, kT0)};
  absl::Status s = store.Apply(poison).status();
  EXPECT_TRUE(IsRecordRejected(s)) << s;
  EXPECT_NE(s.message().find("SQLSTATE 54000"), absl::string_view::npos) << s;
  WriteBatch good;
  good.catalog_services = {Svc("s1", "b", kT0)};
  EXPECT_TRUE(store.Apply(good).ok());
}

TEST(PostgresCoverageStoreTest, MalformedUrlIsInvalidArgumentNotRetried) {
  PostgresCoverageStore store("postgresql://u@h?bogus_option=1");
  EXPECT_EQ(store.Ping().code(), absl::StatusCode::kInvalidArgument) << store.Ping();
  EXPECT_FALSE(IsRecordRejected(store.Ping())) << "a bad URL is not a bad record";
}

TEST(PostgresCoverageStoreTest, ReconnectsAfterTheSessionIsKilled) {
  absl::StatusOr<TestDatabase> db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  PostgresCoverageStore store(db->url());
  ASSERT_TRUE(store.Ping().ok());
  // Kill every other session of the test database: the store's connection breaks.
  db->QueryOne("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" +
               db->name() + "' AND pid <> pg_backend_pid()");
  WriteBatch b;
  b.sync_jobs = {Job("j", "queued", kT0)};
  absl::StatusOr<ApplyResult> first = store.Apply(b);
  if (!first.ok()) {
    EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
    ASSERT_TRUE(store.Apply(b).ok());  // the retry reconnects
  }
  EXPECT_EQ(db->QueryOne("SELECT state FROM sync_jobs WHERE id = 'j'"), "queued");
}

TEST(PostgresCoverageStoreTest, ConcurrentAnalyzersCompleteASnapshotOnce) {
  absl::StatusOr<TestDatabase> db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  {
    PostgresCoverageStore seed(db->url());
    WriteBatch old;
    old.catalog_services = {Svc("s0", "gone", kT0 - kMinute)};
    ASSERT_TRUE(seed.Apply(old).ok());
  }
  // Two stores apply disjoint halves of one snapshot at the same time, the end marker with one.
  constexpr int kHalf = 200;
  WriteBatch left, right;
  for (int i = 0; i < kHalf; ++i) {
    left.catalog_services.push_back(Svc("s1", "l" + std::to_string(i), kT0));
    right.catalog_services.push_back(Svc("s1", "r" + std::to_string(i), kT0));
  }
  right.snapshot_ends.push_back({"s1", 2 * kHalf, kT0});
  PostgresCoverageStore a(db->url()), b(db->url());
  absl::StatusOr<ApplyResult> ra, rb;
  std::thread ta([&] { ra = a.Apply(left); });
  std::thread tb([&] { rb = b.Apply(right); });
  ta.join();
  tb.join();
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(ra->completed_snapshots.size() + rb->completed_snapshots.size(), 1u);
  EXPECT_EQ(db->QueryOne("SELECT count(*) FROM services WHERE removed_at IS NOT NULL"), "1");
  EXPECT_EQ(db->QueryOne("SELECT name FROM services WHERE removed_at IS NOT NULL"), "gone");
}

}  // namespace
}  // namespace apmcov::store::testing
