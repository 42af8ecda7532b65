#include "apmcov/coverage/store_rows.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace apmcov::coverage {
namespace {

using ::testing::ElementsAre;

constexpr int64_t kHour = int64_t{3600} * 1'000'000'000;
constexpr int64_t kNow = 1'700'000'000 * int64_t{1'000'000'000};

store::ServiceRow Service(const std::string& name) {
  store::ServiceRow r;
  r.catalog.name = name;
  r.catalog.team = "core";
  r.catalog.lifecycle = "production";
  r.catalog.envs = {"prod"};
  return r;
}

store::ApmServiceRow Apm(const std::string& service, std::optional<int64_t> last_traced,
                         int64_t last_seen, bool usm_seen, uint64_t spans = 0) {
  store::ApmServiceRow a;
  a.service = service;
  a.env = "prod";
  a.first_seen_ns = std::min(last_seen, last_traced.value_or(last_seen));
  a.last_seen_ns = last_seen;
  a.span_count = spans;
  a.traced = last_traced.has_value();
  a.last_traced_ns = last_traced;
  a.usm_seen = usm_seen;
  a.usm_only = usm_seen && !a.traced;
  return a;
}

CoverageReport Report(const std::vector<store::ServiceRow>& services,
                      const std::vector<store::ApmServiceRow>& apm) {
  absl::StatusOr<CoverageReport> r = ComputeCoverageFromRows(services, apm, {kNow, 24 * kHour});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : CoverageReport{};
}

TEST(StoreRowsTest, TracedOutsideTheLookbackButSeenByUsmIsUsmOnly) {
  // traced=true and a last_seen within the lookback, yet the last trace is three days old.
  const CoverageReport r = Report({Service("stopped"), Service("traced")},
                                  {Apm("stopped", kNow - 72 * kHour, kNow - kHour, true),
                                   Apm("traced", kNow - kHour, kNow - kHour, false)});
  EXPECT_EQ(r.total_services, 2);
  EXPECT_EQ(r.instrumented_services, 1);
  ASSERT_EQ(r.services.size(), 2u);
  EXPECT_FALSE(r.services[0].instrumented);
  EXPECT_TRUE(r.services[0].usm_only);
  EXPECT_TRUE(r.services[1].instrumented);
  EXPECT_THAT(r.usm_only, ElementsAre("stopped"));
}

TEST(StoreRowsTest, TracedWithinTheLookbackWinsOverUsm) {
  const CoverageReport r =
      Report({Service("both")}, {Apm("both", kNow - 2 * kHour, kNow - kHour, true, 40)});
  EXPECT_EQ(r.instrumented_services, 1);
  EXPECT_TRUE(r.usm_only.empty());
  EXPECT_EQ(r.services[0].span_count, 40u);
  EXPECT_EQ(r.services[0].last_seen_ns, kNow - 2 * kHour);  // the traced sighting
}

TEST(StoreRowsTest, SpansWithoutATracedFlagCountByTheirLastSighting) {
  const CoverageReport r = Report({Service("recent"), Service("old")},
                                  {Apm("recent", std::nullopt, kNow - kHour, false, 7),
                                   Apm("old", std::nullopt, kNow - 30 * kHour, false, 7)});
  EXPECT_EQ(r.instrumented_services, 1);
  EXPECT_TRUE(r.services[1].instrumented);  // "recent"
  EXPECT_FALSE(r.services[0].instrumented);
}

TEST(StoreRowsTest, ObservationsOfOneRow) {
  std::vector<ApmSeen> seen;
  AppendApmSeenFromRow(Apm("a", kNow - 3 * kHour, kNow - kHour, true, 9), seen);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[0].traced);
  EXPECT_EQ(seen[0].span_count, 9u);
  EXPECT_EQ(seen[0].last_seen_ns, kNow - 3 * kHour);
  EXPECT_FALSE(seen[1].traced);
  EXPECT_TRUE(seen[1].usm);
  EXPECT_EQ(seen[1].span_count, 0u);  // the spans belong to the traced sighting
  EXPECT_EQ(seen[1].last_seen_ns, kNow - kHour);
  seen.clear();
  AppendApmSeenFromRow(Apm("b", kNow - kHour, kNow - kHour, false, 9), seen);
  ASSERT_EQ(seen.size(), 1u);  // traced only
  EXPECT_TRUE(seen[0].traced);
}

TEST(StoreRowsTest, CatalogRowKeepsItsFieldsAndLowercasesInfra) {
  store::ServiceRow row = Service("api");
  row.catalog.tier = "1";
  row.catalog.infra = "Kubernetes";
  row.catalog.languages = {"go"};
  row.catalog.customer_facing = true;
  const CatalogServiceInfo c = CatalogFromRow(row);
  EXPECT_EQ(c.name, "api");
  EXPECT_EQ(c.team, "core");
  EXPECT_EQ(c.tier, "1");
  EXPECT_EQ(c.lifecycle, "production");
  EXPECT_EQ(c.infra, "kubernetes");
  EXPECT_THAT(c.languages, ElementsAre("go"));
  EXPECT_THAT(c.envs, ElementsAre("prod"));
  EXPECT_TRUE(c.customer_facing);
}

}  // namespace
}  // namespace apmcov::coverage
