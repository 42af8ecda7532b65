#include "apmcov/coverage/coverage_report.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace apmcov::coverage {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::kSec;

constexpr int64_t kNow = 1'800'000'000 * kSec;
constexpr int64_t kHour = 3600 * kSec;

CatalogServiceInfo Svc(std::string name, std::string team = "",
                       std::vector<std::string> envs = {}) {
  CatalogServiceInfo c;
  c.name = std::move(name);
  c.team = std::move(team);
  c.envs = std::move(envs);
  return c;
}

ApmSeen Seen(std::string service, std::string env, bool traced, uint64_t spans = 0,
             int64_t age = kHour) {
  ApmSeen a;
  a.service = std::move(service);
  a.env = std::move(env);
  a.traced = traced;
  a.span_count = spans;
  a.last_seen_ns = kNow - age;
  return a;
}

ApmSeen Usm(std::string service, std::string env = "*") {
  ApmSeen a = Seen(std::move(service), std::move(env), false);
  a.usm = true;
  return a;
}

// "key total/instrumented" for each row of a dimension.
std::vector<std::string> Rows(const CoverageReport& r, std::string_view dim) {
  std::vector<std::string> out;
  for (const CoverageRow& row : r.Dimension(dim)) {
    out.push_back(row.key + " " + std::to_string(row.total) + "/" +
                  std::to_string(row.instrumented));
  }
  return out;
}

CoverageReport Compute(const std::vector<CatalogServiceInfo>& catalog,
                       const std::vector<ApmSeen>& seen) {
  auto r = ComputeCoverage(catalog, seen, {.now_ns = kNow, .lookback_ns = 24 * kHour});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : CoverageReport{};
}

const ServiceCoverage& Find(const CoverageReport& r, std::string_view name) {
  for (const ServiceCoverage& s : r.services) {
    if (s.name == name) return s;
  }
  static const ServiceCoverage none;
  ADD_FAILURE() << "no service " << name;
  return none;
}

TEST(CoverageTest, InstrumentedByTheServiceListOrBySpans) {
  const auto r = Compute({Svc("a"), Svc("b"), Svc("c"), Svc("d")},
                         {Seen("a", "*", true), Seen("b", "prod", false, 12), Seen("c", "*", false),
                          Seen("a", "prod", false, 0)});
  EXPECT_EQ(r.total_services, 4);
  EXPECT_EQ(r.instrumented_services, 2);
  EXPECT_THAT(Rows(r, "overall"), ElementsAre("all 4/2"));
  EXPECT_TRUE(Find(r, "a").instrumented);
  EXPECT_TRUE(Find(r, "b").instrumented);
  EXPECT_FALSE(Find(r, "c").instrumented);  // listed, but neither traced nor any span
  EXPECT_FALSE(Find(r, "d").instrumented);
  EXPECT_EQ(Find(r, "b").span_count, 12u);
  EXPECT_DOUBLE_EQ(r.rows[0].pct(), 50.0);
}

TEST(CoverageTest, ObservationsOutsideTheLookbackAreIgnored) {
  const auto r = Compute({Svc("a"), Svc("b")}, {Seen("a", "prod", true, 5, 25 * kHour),
                                                Seen("b", "prod", true, 5, kHour)});
  EXPECT_FALSE(Find(r, "a").instrumented);
  EXPECT_TRUE(Find(r, "b").instrumented);
  EXPECT_EQ(Find(r, "a").last_seen_ns, 0);
  EXPECT_EQ(Find(r, "b").last_seen_ns, kNow - kHour);
  // The env seen only outside the lookback is not one of a's envs either.
  EXPECT_THAT(Find(r, "a").envs, IsEmpty());
}

TEST(CoverageTest, UsmOnlyIsNotInstrumentedAndIsFlagged) {
  CatalogServiceInfo shop = Svc("shop");
  shop.customer_facing = true;
  CatalogServiceInfo cart = Svc("cart");
  cart.customer_facing = true;
  const auto r = Compute({shop, cart, Svc("both")}, {Usm("shop"), Seen("cart", "prod", true),
                                                     Usm("both"), Seen("both", "*", true)});
  EXPECT_FALSE(Find(r, "shop").instrumented);
  EXPECT_TRUE(Find(r, "shop").usm_only);
  EXPECT_TRUE(Find(r, "both").instrumented);
  EXPECT_FALSE(Find(r, "both").usm_only);
  EXPECT_THAT(r.usm_only, ElementsAre("shop"));
  EXPECT_THAT(r.customer_facing_without_apm, ElementsAre("shop"));
  EXPECT_EQ(r.instrumented_services, 2);
}

TEST(CoverageTest, DeprecatedServicesAreLeftOutOfEverything) {
  CatalogServiceInfo old = Svc("old", "core", {"prod"});
  old.lifecycle = "Deprecated";
  old.customer_facing = true;
  old.languages = {"java"};
  CatalogServiceInfo old_usm = Svc("old-usm", "core");
  old_usm.lifecycle = "deprecated";
  const auto r = Compute({old, old_usm, Svc("live", "core", {"prod"})},
                         {Usm("old-usm"), Seen("live", "prod", true)});
  EXPECT_EQ(r.total_services, 1);
  EXPECT_EQ(r.instrumented_services, 1);
  EXPECT_THAT(Rows(r, "team"), ElementsAre("core 1/1"));
  EXPECT_THAT(Rows(r, "env"), ElementsAre("prod 1/1"));
  EXPECT_THAT(Rows(r, "language"), ElementsAre("unknown 1/1"));
  EXPECT_THAT(Rows(r, "lifecycle"), ElementsAre("unknown 1/1"));
  EXPECT_THAT(r.customer_facing_without_apm, IsEmpty());
  EXPECT_THAT(r.usm_only, IsEmpty());
  // Still listed (flagged) for include_deprecated=true, and still known to detection.
  EXPECT_TRUE(Find(r, "old").deprecated);
  EXPECT_TRUE(Find(r, "old-usm").usm_only);
  EXPECT_TRUE(r.Directory().catalog.contains("old"));
}

TEST(CoverageTest, TeamTierLifecycleWithUnknownForMissingValues) {
  CatalogServiceInfo a = Svc("a", "payments");
  a.tier = "1";
  a.lifecycle = "production";
  CatalogServiceInfo b = Svc("b", "payments");
  b.tier = "2";
  b.lifecycle = "production";
  const auto r = Compute({a, b, Svc("c")}, {Seen("a", "*", true), Seen("c", "*", true)});
  EXPECT_THAT(Rows(r, "team"), ElementsAre("payments 2/1", "unknown 1/1"));
  EXPECT_THAT(Rows(r, "tier"), ElementsAre("1 1/1", "2 1/0", "unknown 1/1"));
  EXPECT_THAT(Rows(r, "lifecycle"), ElementsAre("production 2/1", "unknown 1/1"));
}

TEST(CoverageTest, EnvCountsCatalogAndSeenEnvsInstrumentedWhereDataWasSeen) {
  const auto r = Compute({Svc("a", "", {"prod", "staging"}), Svc("b", "", {"prod"}), Svc("c"),
                          Svc("d"), Svc("e", "", {"prod"})},
                         {
                             Seen("a", "prod", false, 40),  // spans in prod only
                             Seen("a", "*", true),  // the list says traced: env-specific data wins
                             Seen("b", "qa", true, 3),  // b seen in qa too (not a catalog env)
                             Usm("b", "prod"),          // USM in prod: an env, not instrumentation
                             Seen("c", "*", true),      // no env anywhere: unknown
                             Seen("e", "*", true),      // only the env-less list: all its envs
                         });
  EXPECT_THAT(Rows(r, "env"), ElementsAre("prod 3/2", "qa 1/1", "staging 1/0", "unknown 2/1"));
  EXPECT_THAT(Find(r, "a").envs, ElementsAre("prod", "staging"));
  EXPECT_THAT(Find(r, "a").instrumented_envs, ElementsAre("prod"));
  EXPECT_THAT(Find(r, "b").envs, ElementsAre("prod", "qa"));
  EXPECT_THAT(Find(r, "b").instrumented_envs, ElementsAre("qa"));
  EXPECT_THAT(Find(r, "e").instrumented_envs, ElementsAre("prod"));
  EXPECT_TRUE(Find(r, "b").instrumented);
  EXPECT_FALSE(Find(r, "b").usm_only);
}

TEST(CoverageTest, InfraFromTagElseSpanHintsElseUnknown) {
  CatalogServiceInfo tagged = Svc("tagged");
  tagged.infra = "vm";
  ApmSeen k8s = Seen("k8s", "prod", false, 10);
  k8s.infra_hints = {"host", "kubernetes"};
  ApmSeen hostonly = Seen("hostonly", "prod", false, 10);
  hostonly.infra_hints = {""};
  ApmSeen lambda = Seen("lambda", "prod", false, 10);
  lambda.infra_hints = {"serverless"};
  ApmSeen tagged_seen = Seen("tagged", "prod", false, 10);
  tagged_seen.infra_hints = {"kubernetes"};
  ApmSeen ecs = Seen("ecs", "prod", false, 2);
  ecs.infra_hints = {"ecs", "serverless"};
  const auto r = Compute({tagged, Svc("k8s"), Svc("hostonly"), Svc("lambda"), Svc("ecs"),
                          Svc("listonly"), Svc("nothing")},
                         {k8s, hostonly, lambda, tagged_seen, ecs, Seen("listonly", "*", true)});
  EXPECT_EQ(Find(r, "tagged").infra, "vm");
  EXPECT_EQ(Find(r, "k8s").infra, "kubernetes");
  EXPECT_EQ(Find(r, "hostonly").infra, "host");
  EXPECT_EQ(Find(r, "lambda").infra, "serverless");
  EXPECT_EQ(Find(r, "ecs").infra, "ecs");
  EXPECT_EQ(Find(r, "listonly").infra, "unknown");
  EXPECT_EQ(Find(r, "nothing").infra, "unknown");
  EXPECT_THAT(Rows(r, "infra"), ElementsAre("ecs 1/1", "host 1/1", "kubernetes 1/1",
                                            "serverless 1/1", "unknown 2/1", "vm 1/1"));
}

// One platform, one bar: catalog spellings k8s, EKS and lambda join kubernetes and serverless
// under the default aliases; an override moves vm under host.
TEST(CoverageTest, InfraAliasesMergeSpellingsOfOnePlatform) {
  CatalogServiceInfo k8s = Svc("k8s"), eks = Svc("eks"), kube = Svc("kube"), fn = Svc("fn"),
                     vm = Svc("vm");
  k8s.infra = "k8s";
  eks.infra = "EKS";
  kube.infra = "kubernetes";
  fn.infra = "lambda";
  vm.infra = "vm";
  ApmSeen hinted = Seen("hinted", "prod", false, 3);
  hinted.infra_hints = {"kubernetes"};
  const std::vector<CatalogServiceInfo> catalog = {k8s, eks, kube, fn, vm, Svc("hinted")};
  auto r = ComputeCoverage(catalog, std::vector<ApmSeen>{hinted},
                           {.now_ns = kNow, .lookback_ns = 24 * kHour});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Find(*r, "eks").infra, "kubernetes");
  EXPECT_EQ(Find(*r, "fn").infra, "serverless");
  EXPECT_THAT(Rows(*r, "infra"), ElementsAre("kubernetes 4/1", "serverless 1/0", "vm 1/0"));

  auto aliases = ParseInfraAliases("vm=host,lambda=lambda");
  ASSERT_TRUE(aliases.ok()) << aliases.status();
  r = ComputeCoverage(catalog, std::vector<ApmSeen>{hinted},
                      {.now_ns = kNow, .lookback_ns = 24 * kHour, .infra_aliases = *aliases});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Rows(*r, "infra"), ElementsAre("host 1/0", "kubernetes 4/1", "lambda 1/0"));
}

TEST(CoverageTest, LanguagesFromCatalogElseSpansEachCounted) {
  CatalogServiceInfo poly = Svc("poly");
  poly.languages = {"go", "python"};
  ApmSeen poly_seen = Seen("poly", "prod", true);
  poly_seen.languages = {"java"};  // the catalog wins
  ApmSeen js = Seen("js", "prod", false, 3);
  js.languages = {"nodejs", "python"};
  const auto r = Compute({poly, Svc("js"), Svc("none")}, {poly_seen, js});
  EXPECT_THAT(Find(r, "poly").languages, ElementsAre("go", "python"));
  EXPECT_THAT(Find(r, "js").languages, ElementsAre("nodejs", "python"));
  EXPECT_THAT(Rows(r, "language"),
              ElementsAre("go 1/1", "nodejs 1/1", "python 2/2", "unknown 1/0"));
}

TEST(CoverageTest, ShadowServicesAreApmNamesAbsentFromTheCatalog) {
  const auto r = Compute({Svc("a")}, {Seen("a", "prod", true), Seen("ghost", "prod", false, 7),
                                      Seen("ghost", "staging", true, 3), Usm("usm-thing"),
                                      Seen("stale", "prod", true, 1, 48 * kHour)});
  ASSERT_EQ(r.shadow_services.size(), 1u);
  EXPECT_EQ(r.shadow_services[0].name, "ghost");
  EXPECT_THAT(r.shadow_services[0].envs, ElementsAre("prod", "staging"));
  EXPECT_EQ(r.shadow_services[0].span_count, 10u);
  const ServiceDirectory d = r.Directory();
  EXPECT_TRUE(d.apm_names.contains("ghost"));
  EXPECT_TRUE(d.catalog.contains("a"));
  EXPECT_TRUE(d.instrumented.contains("a"));
  EXPECT_FALSE(d.catalog.contains("ghost"));
}

TEST(CoverageTest, RowsAreOrderedByDimensionThenKey) {
  const auto r = Compute({Svc("a", "z"), Svc("b", "y")}, {});
  std::vector<std::string> dims;
  for (const CoverageRow& row : r.rows) dims.push_back(row.dimension + ":" + row.key);
  EXPECT_THAT(dims, ElementsAre("overall:all", "team:y", "team:z", "env:unknown", "infra:unknown",
                                "language:unknown", "tier:unknown", "lifecycle:unknown"));
}

TEST(CoverageTest, EmptyCatalogHasAnOverallRow) {
  const auto r = Compute({}, {Seen("ghost", "prod", true)});
  EXPECT_THAT(Rows(r, "overall"), ElementsAre("all 0/0"));
  EXPECT_DOUBLE_EQ(r.rows[0].pct(), 0.0);
  EXPECT_EQ(r.shadow_services.size(), 1u);
}

TEST(CoverageTest, RejectsBadInput) {
  const CoverageOptions opts{.now_ns = kNow};
  auto r = ComputeCoverage(std::vector<CatalogServiceInfo>{Svc("")}, {}, opts);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("empty name"));
  r = ComputeCoverage(std::vector<CatalogServiceInfo>{Svc("a"), Svc("a")}, {}, opts);
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("'a' appears twice"));
  r = ComputeCoverage({}, std::vector<ApmSeen>{Seen("", "prod", true)}, opts);
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("empty service"));
  r = ComputeCoverage({}, {}, {.now_ns = kNow, .lookback_ns = 0});
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("APM_LOOKBACK_HOURS"));
}

}  // namespace
}  // namespace apmcov::coverage

namespace apmcov::coverage {
namespace {}  // namespace
}  // namespace apmcov::coverage
