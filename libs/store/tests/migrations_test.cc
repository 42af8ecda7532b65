#include <gtest/gtest.h>

#include <thread>

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

}  // namespace
}  // namespace apmcov::store::testing
