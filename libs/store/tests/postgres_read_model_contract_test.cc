#include <optional>

#include "apmcov/store/postgres_read_model.h"
#include "apmcov/store/postgres_store.h"
#include "read_model_contract.h"
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
    model_ = std::make_unique<PostgresReadModel>(db_->url());
    return model_->Ping();
  }
  CoverageStore& store() { return *store_; }
  ReadModel& read_model() { return *model_; }

 private:
  std::optional<TestDatabase> db_;
  // Destroyed (disconnected) before db_.
  std::unique_ptr<PostgresCoverageStore> store_;
  std::unique_ptr<PostgresReadModel> model_;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, ReadModelContract, PostgresHarness);

TEST(PostgresReadModelTest, UnreachableServerIsUnavailableWithoutThePassword) {
  PostgresReadModel model(
      "postgresql://apmcov:s3cret@127.0.0.1:1/nope?sslmode=disable&connect_timeout=2");
  absl::Status s = model.Ping();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(std::string(s.message()).find("s3cret"), std::string::npos) << s;
  EXPECT_EQ(model.ListDependencies("", std::nullopt, 10).status().code(),
            absl::StatusCode::kUnavailable);
}

// What would be the caller's fault in a write (InvalidArgument) is the server's in a read: a
// gateway answers it as a server fault, never as a client's bad request.
TEST(PostgresReadModelTest, AMalformedUrlIsInternalNotInvalidArgument) {
  PostgresReadModel model("postgresql://apmcov@127.0.0.1:1/nope?no_such_option=1");
  absl::Status s = model.Ping();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
}

}  // namespace
}  // namespace apmcov::store::testing
