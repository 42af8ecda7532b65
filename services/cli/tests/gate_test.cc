#include "gate.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace apmcov::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

v1::ServiceSummary Svc(const std::string& name, const std::string& team, bool instrumented,
                       bool usm_only = false, bool customer_facing = false) {
  v1::ServiceSummary s;
  s.set_name(name);
  s.set_team(team);
  s.set_instrumented(instrumented);
  s.set_usm_only(usm_only);
  s.set_customer_facing(customer_facing);
  return s;
}

void AddBucket(google::protobuf::RepeatedPtrField<v1::SampleBucket>* to, const std::string& key,
               uint64_t judged, uint64_t broken) {
  auto* b = to->Add();
  b->set_key(key);
  b->set_judged(judged);
  b->set_broken(broken);
}

v1::CoverageHistoryPoint* Point(v1::CoverageHistoryResponse& h, int64_t seconds) {
  auto* p = h.add_points();
  p->mutable_taken_at()->set_seconds(seconds);
  return p;
}

void AddCoverage(v1::CoverageHistoryPoint* p, const std::string& key, uint64_t total,
                 uint64_t instrumented) {
  auto* b = p->add_buckets();
  b->set_key(key);
  b->set_total(total);
  b->set_instrumented(instrumented);
  b->set_coverage_pct(100.0 * static_cast<double>(instrumented) / static_cast<double>(total));
}

std::vector<std::string> Names(const std::vector<Finding>& findings) {
  std::vector<std::string> out;
  for (const auto& f : findings) out.push_back(f.team + "/" + f.service);
  return out;
}

CheckData PaymentsData() {
  CheckData d;
  d.services = {Svc("checkout", "payments", true), Svc("ledger", "payments", false, true),
                Svc("refunds", "payments", false, false, true), Svc("vault", "payments", true)};
  return d;
}

TEST(GateTest, MinCoverageHoldsAtOrAboveThreshold) {
  CheckOptions o{.team = "payments", .min_coverage_pct = 50};
  const CheckResult r = EvaluateCheck(o, PaymentsData());
  ASSERT_EQ(r.conditions.size(), 1u);
  EXPECT_TRUE(r.passed());
  EXPECT_EQ(r.scope, "team payments");
  EXPECT_DOUBLE_EQ(*r.conditions[0].value, 50.0);
  EXPECT_THAT(r.conditions[0].summary, HasSubstr("coverage 50.0% >= 50.0% (2 of 4 services"));
  EXPECT_THAT(r.conditions[0].findings, IsEmpty());
}

TEST(GateTest, MinCoverageBelowThresholdNamesTheUninstrumentedServices) {
  CheckOptions o{.team = "payments", .min_coverage_pct = 75};
  const CheckResult r = EvaluateCheck(o, PaymentsData());
  EXPECT_FALSE(r.passed());
  const Condition& c = r.conditions[0];
  EXPECT_THAT(c.summary, HasSubstr("coverage 50.0% < 75.0%"));
  EXPECT_THAT(Names(c.findings), ElementsAre("payments/ledger", "payments/refunds"));
  EXPECT_THAT(c.findings[0].detail, HasSubstr("USM"));
  EXPECT_THAT(c.findings[1].detail, HasSubstr("customer-facing"));
}

TEST(GateTest, AnEmptyScopeFailsRatherThanPassingATypo) {
  CheckOptions o{.team = "paymnets", .min_coverage_pct = 10};
  const CheckResult r = EvaluateCheck(o, CheckData{});
  EXPECT_FALSE(r.passed());
  EXPECT_THAT(r.conditions[0].summary, HasSubstr("no catalog service in scope (team paymnets)"));
}

TEST(GateTest, BrokenRateOfATeamCountsTracesRootedInItsServices) {
  CheckData d = PaymentsData();
  d.services.push_back(Svc("web", "frontend", true));
  auto* s = d.stats.mutable_sample();
  s->set_judged_traces(1000);
  s->set_broken_traces(30);
  AddBucket(s->mutable_by_root_service(), "checkout", 100, 20);
  AddBucket(s->mutable_by_root_service(), "vault", 100, 0);
  AddBucket(s->mutable_by_root_service(), "web", 800, 10);
  AddBucket(s->mutable_by_missing_service(), "refunds", 1000, 18);
  AddBucket(s->mutable_by_missing_service(), "search", 1000, 12);
  d.services.erase(d.services.end() - 1);  // the team's scope: payments only
  CheckOptions o{.team = "payments", .max_broken_rate_pct = 5};
  CheckResult r = EvaluateCheck(o, d);
  ASSERT_FALSE(r.passed());
  const Condition& c = r.conditions[0];
  EXPECT_DOUBLE_EQ(*c.value, 10.0);  // 20 of 200
  EXPECT_THAT(c.summary, HasSubstr("broken rate 10.0% > 5.0% (20 of 200 judged traces rooted"));
  EXPECT_THAT(Names(c.findings), ElementsAre("payments/checkout", "payments/refunds"));
  EXPECT_THAT(c.findings[0].detail, HasSubstr("20 of 100 traces rooted here"));
  EXPECT_THAT(c.findings[1].detail, HasSubstr("missing from 18 broken traces"));

  o.max_broken_rate_pct = 10;
  EXPECT_TRUE(EvaluateCheck(o, d).passed());
  // Without a team: the whole sample, 3%.
  CheckOptions all{.max_broken_rate_pct = 2.5};
  r = EvaluateCheck(all, d);
  EXPECT_FALSE(r.passed());
  EXPECT_DOUBLE_EQ(*r.conditions[0].value, 3.0);
  EXPECT_THAT(Names(r.conditions[0].findings),
              ElementsAre("payments/checkout", "/web", "payments/refunds", "/search"));
}

TEST(GateTest, BrokenRateWithoutJudgedTracesPassesAndSaysSo) {
  CheckOptions o{.max_broken_rate_pct = 0};
  const CheckResult r = EvaluateCheck(o, PaymentsData());
  EXPECT_TRUE(r.passed());
  EXPECT_FALSE(r.conditions[0].value.has_value());
  EXPECT_THAT(r.conditions[0].summary, HasSubstr("no judged trace"));
}

TEST(GateTest, RegressionComparesTheFirstSnapshotSinceWithTheLatest) {
  CheckData d = PaymentsData();
  d.services.push_back(Svc("web", "frontend", false));
  v1::CoverageHistoryResponse h;
  auto* before = Point(h, 1'800'000'000);
  AddCoverage(before, "payments", 4, 3);
  AddCoverage(before, "frontend", 1, 1);
  AddCoverage(before, "search", 2, 1);
  auto* middle = Point(h, 1'800'003'600);
  AddCoverage(middle, "payments", 4, 1);
  auto* now = Point(h, 1'800'007'200);
  AddCoverage(now, "payments", 4, 2);
  AddCoverage(now, "frontend", 1, 0);
  AddCoverage(now, "search", 2, 2);
  d.history = h;
  CheckOptions o{.no_regression_since_ns = int64_t{1'799'999'000} * 1'000'000'000};
  CheckResult r = EvaluateCheck(o, d);
  ASSERT_FALSE(r.passed());
  const Condition& c = r.conditions[0];
  EXPECT_THAT(c.summary, HasSubstr("coverage fell since 2027-01-15T08:00:00Z for 2 of 3 teams"));
  EXPECT_DOUBLE_EQ(*c.value, -100.0);
  // The teams that fell, then their uninstrumented services.
  EXPECT_THAT(Names(c.findings), ElementsAre("frontend/", "payments/", "payments/ledger",
                                             "payments/refunds", "frontend/web"));
  EXPECT_THAT(c.findings[1].detail, HasSubstr("team payments: coverage 75.0% (3/4)"));
  EXPECT_THAT(c.findings[1].detail, HasSubstr("-> 50.0% (2/4) now"));

  // One team that improved passes.
  o.team = "search";
  d.services = {Svc("s1", "search", true), Svc("s2", "search", true)};
  r = EvaluateCheck(o, d);
  EXPECT_TRUE(r.passed()) << r.conditions[0].summary;
  EXPECT_THAT(r.conditions[0].summary, HasSubstr("1 team compared"));
}

TEST(GateTest, RegressionWithoutSnapshotsPassesAndSaysSo) {
  CheckOptions o{.team = "payments", .no_regression_since_ns = 0};
  CheckData d = PaymentsData();
  d.history = v1::CoverageHistoryResponse();
  const CheckResult r = EvaluateCheck(o, d);
  EXPECT_TRUE(r.passed());
  EXPECT_THAT(r.conditions[0].summary, HasSubstr("no coverage snapshot since 1970-01-01"));
}

TEST(GateTest, RegressionReadsHistoryByEnvOnlyForAnEnvAlone) {
  EXPECT_EQ(RegressionDimension({.env = "prod"}), "env");
  EXPECT_EQ(RegressionDimension({.team = "a", .env = "prod"}), "team");
  EXPECT_EQ(RegressionDimension({}), "team");
}

TEST(GateTest, EveryConditionIsEvaluatedAndOneFailureFailsTheGate) {
  CheckOptions o{.team = "payments", .min_coverage_pct = 10, .max_broken_rate_pct = 1};
  CheckData d = PaymentsData();
  AddBucket(d.stats.mutable_sample()->mutable_by_root_service(), "checkout", 10, 5);
  const CheckResult r = EvaluateCheck(o, d);
  ASSERT_EQ(r.conditions.size(), 2u);
  EXPECT_TRUE(r.conditions[0].passed);
  EXPECT_FALSE(r.conditions[1].passed);
  EXPECT_FALSE(r.passed());
}

}  // namespace
}  // namespace apmcov::cli
