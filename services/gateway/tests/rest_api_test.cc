// RestApi over the in-memory read model: the answers cached by catalog generation (stats and
// service lists) are reused while the catalog is unchanged and never outlive it.
#include "rest/rest_api.h"

#include <gtest/gtest.h>

#include <chrono>

#include "apmcov/base/clock.h"
#include "apmcov/bus/memory_bus.h"
#include "query/memory_read_model.h"
#include "query/query_service.h"
#include "sync_trigger.h"

namespace apmcov::gateway {
namespace {

class RestApiCacheTest : public ::testing::Test {
 protected:
  RestApiCacheTest()
      : clock_(std::chrono::system_clock::time_point(std::chrono::seconds(1'795'300'000))),
        queries_(store_, clock_, Options()),
        publisher_(broker_.NewPublisher()),
        sync_(*publisher_, clock_, "t."),
        api_(queries_, sync_, {}) {
    AddService("alpha");
  }

  static QueryOptions Options() {
    QueryOptions o;
    o.catalog_ttl = std::chrono::milliseconds(1000);  // reloaded in the request once expired
    return o;
  }

  void AddService(const std::string& name) {
    ServiceRow r;
    r.name = name;
    r.team = "core";
    r.lifecycle = "production";
    store_.PutService(r);
  }

  HttpResponse Get(const std::string& path, std::map<std::string, std::string> query = {}) {
    HttpRequest r;
    r.method = "GET";
    r.path = path;
    r.query = std::move(query);
    return api_.Handle(r);
  }

  MemoryReadModel store_;
  ManualClock clock_;
  QueryService queries_;
  bus::MemoryBroker broker_;
  std::unique_ptr<bus::Publisher> publisher_;
  SyncTrigger sync_;
  RestApi api_;
};

TEST_F(RestApiCacheTest, AnswersFollowTheCatalogNotTheClockAlone) {
  const HttpResponse first = Get("/api/services");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_NE(first.body.find("\"alpha\""), std::string::npos);
  const HttpResponse stats = Get("/api/stats");
  ASSERT_EQ(stats.status, 200) << stats.body;
  EXPECT_NE(stats.body.find("\"total_services\":1"), std::string::npos) << stats.body;

  AddService("beta");  // within catalog_ttl: the catalog (and so every answer) is unchanged
  EXPECT_EQ(Get("/api/services").body, first.body);
  EXPECT_EQ(Get("/api/stats").body, stats.body);

  clock_.Advance(std::chrono::seconds(2));  // the catalog is reloaded: new answers
  const HttpResponse second = Get("/api/services");
  EXPECT_NE(second.body.find("\"beta\""), std::string::npos) << second.body;
  EXPECT_NE(Get("/api/stats").body.find("\"total_services\":2"), std::string::npos);

  // Each query string has its own answer.
  const HttpResponse only_beta = Get("/api/services", {{"q", "bet"}});
  EXPECT_NE(only_beta.body.find("\"beta\""), std::string::npos);
  EXPECT_EQ(only_beta.body.find("\"alpha\""), std::string::npos) << only_beta.body;
  EXPECT_EQ(Get("/api/services").body, second.body);
  // Errors are never cached.
  EXPECT_EQ(Get("/api/services", {{"page_size", "x"}}).status, 400);
  EXPECT_EQ(Get("/api/services", {{"page_size", "x"}}).status, 400);
}

TEST(QueryServiceGenerationTest, ChangesOnlyWhenTheCatalogIsReplaced) {
  MemoryReadModel store;
  ManualClock clock(std::chrono::system_clock::time_point(std::chrono::seconds(1'795'300'000)));
  QueryOptions o;
  o.catalog_ttl = std::chrono::milliseconds(1000);
  QueryService q(store, clock, o);
  const uint64_t g1 = *q.CatalogGeneration();
  EXPECT_EQ(*q.CatalogGeneration(), g1);
  clock.Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(*q.CatalogGeneration(), g1);
  clock.Advance(std::chrono::seconds(1));
  EXPECT_NE(*q.CatalogGeneration(), g1);
  store.SetUnavailable(true);  // no catalog at all: an error, not a stale number
  QueryService cold(store, clock, o);
  EXPECT_FALSE(cold.CatalogGeneration().ok());
}

}  // namespace
}  // namespace apmcov::gateway
