#include <optional>

#include "apmcov/base/clock.h"
#include "apmcov/store/postgres_read_model.h"
#include "apmcov/store/postgres_store.h"
#include "apmcov/tracing/memory_exporter.h"
#include "apmcov/tracing/tracer.h"
#include "read_model_contract.h"
#include "test_database.h"

namespace apmcov::store::testing {
namespace {

// `Options` gives the read model's options: the product's defaults, or a variant that takes
// the other of two query plans, so that the contract holds for both.
template <typename Options>
class PostgresHarnessWith {
 public:
  absl::Status SetUp() {
    absl::StatusOr<TestDatabase> db = TestDatabase::Create();
    if (!db.ok()) return db.status();
    db_.emplace(std::move(*db));
    store_ = std::make_unique<PostgresCoverageStore>(db_->url());
    model_ = std::make_unique<PostgresReadModel>(db_->url(), Options::Get());
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

struct DefaultOptions {
  static PostgresReadModelOptions Get() { return {}; }
};
// The few test rows always take the filter-first plan by default: walk them instead.
struct AlwaysWalkOptions {
  static PostgresReadModelOptions Get() {
    PostgresReadModelOptions o;
    o.filter_first_max_rows = 0;
    return o;
  }
};
using PostgresHarness = PostgresHarnessWith<DefaultOptions>;
using PostgresWalkingHarness = PostgresHarnessWith<AlwaysWalkOptions>;

INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, ReadModelContract, PostgresHarness);
INSTANTIATE_TYPED_TEST_SUITE_P(PostgresWalking, ReadModelContract, PostgresWalkingHarness);

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

// Each read transaction is a client span under the request's span (design §12), with the peer
// tags and no value of the query in any tag; a failed read marks its span with the status code
// only.
TEST(PostgresReadModelTest, EachTransactionIsAClientSpanUnderTheActiveSpan) {
  absl::StatusOr<TestDatabase> db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  ManualClock clock{Clock::TimePoint(std::chrono::seconds(1'795'300'000))};
  tracing::InMemoryExporter exporter;
  tracing::TracerOptions options;
  options.service = "apmcov-gateway";
  tracing::Tracer tracer(options, &exporter, clock);
  PostgresReadModel model(db->url(), {.tracer = &tracer});
  const std::string secret = "value-in-a-parameter";
  uint64_t request_id = 0;
  {
    tracing::Span request = tracer.StartSpan(
        "http.request", {.resource = "GET /api/traces", .kind = tracing::kinds::kServer});
    request_id = request.context().span_id;
    tracing::ActiveSpanScope active(request);
    ASSERT_TRUE(model.ListTraces({.service = secret}, std::nullopt, 10).ok());
    ASSERT_TRUE(model.GetService(secret).ok());
  }
  {  // A read that fails: the relation is gone.
    db->QueryOne("DROP TABLE sync_jobs");
    tracing::Span request = tracer.StartSpan("grpc.request", {.kind = tracing::kinds::kServer});
    tracing::ActiveSpanScope active(request);
    EXPECT_FALSE(model.GetSyncJob(secret).ok());
  }
  ASSERT_TRUE(exporter.Flush(std::chrono::seconds(1)).ok());
  std::vector<tracing::SpanData> tx;
  for (const auto& s : exporter.AllSpans()) {
    if (s.name == "postgresql.transaction") tx.push_back(s);
  }
  ASSERT_EQ(tx.size(), 3u);
  EXPECT_EQ(tx[0].resource, "ListTraces");
  EXPECT_EQ(tx[1].resource, "GetService");
  EXPECT_EQ(tx[2].resource, "GetSyncJob");
  for (const auto& s : tx) {
    EXPECT_EQ(s.meta.at("span.kind"), "client");
    EXPECT_EQ(s.type, "sql");
    EXPECT_EQ(s.meta.at("db.system"), "postgresql");
    EXPECT_EQ(s.meta.at("peer.service"), "postgresql");
    EXPECT_FALSE(s.meta.at("out.host").empty());
    for (const auto& [key, value] : s.meta) {
      EXPECT_EQ(value.find(secret), std::string::npos) << key << ": " << value;
    }
  }
  EXPECT_EQ(tx[0].parent_id, request_id);
  EXPECT_EQ(tx[1].parent_id, request_id);
  EXPECT_EQ(tx[0].error, 0);
  EXPECT_EQ(tx[2].error, 1);
  EXPECT_EQ(tx[2].meta.at("error.message"), "INTERNAL");
}

}  // namespace
}  // namespace apmcov::store::testing
