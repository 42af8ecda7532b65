#include "scorecards.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "apmcov/base/clock.h"
#include "apmcov/store/memory_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace apmcov::analyzer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kNow = int64_t{1'800'000'000} * kSec;

coverage::ServiceCoverage Svc(std::string name, bool instrumented, bool usm_only = false,
                              bool deprecated = false) {
  coverage::ServiceCoverage s;
  s.name = std::move(name);
  s.instrumented = instrumented;
  s.usm_only = usm_only;
  s.deprecated = deprecated;
  return s;
}

coverage::CoverageReport Report() {
  coverage::CoverageReport r;
  r.services = {
      Svc("checkout", true),  Svc("ledger", false, true), Svc("legacy", false, false, true),
      Svc("payments", false), Svc("quiet", false),        Svc("search", true)};
  return r;
}

std::vector<std::string> States(const std::vector<store::ScorecardOutcomeRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.rule + "/" + r.service + "=" + r.state);
  return out;
}

// The rules of design §13 for every catalog service.
TEST(ScorecardOutcomesTest, PassFailSkipPerRule) {
  const std::vector<store::BrokenTraceBlame> blame = {{"payments", 12}, {"search", 1}};
  ScorecardOptions o{.dashboard_url = "https://apm.example.org", .lookback_ns = 24 * 3600 * kSec};
  const auto rows = ScorecardOutcomes(Report(), blame, o);
  EXPECT_THAT(States(rows),
              ElementsAre("APM instrumented/checkout=pass", "APM instrumented/ledger=fail",
                          "APM instrumented/legacy=skip", "APM instrumented/payments=fail",
                          "APM instrumented/quiet=fail", "APM instrumented/search=pass",
                          "Traces unbroken/checkout=pass", "Traces unbroken/ledger=pass",
                          "Traces unbroken/legacy=skip", "Traces unbroken/payments=fail",
                          "Traces unbroken/quiet=skip", "Traces unbroken/search=fail"));
  EXPECT_THAT(rows[1].remarks, HasSubstr("Universal Service Monitoring"));
  EXPECT_THAT(rows[3].remarks, HasSubstr("No APM traces within the last 24 h."));
  EXPECT_THAT(rows[3].remarks, HasSubstr("<a href=\"https://apm.example.org/services/payments\">"));
  EXPECT_THAT(rows[9].remarks, HasSubstr("missing from their path"));
  // No count in the remarks: the same verdict is the same outcome.
  EXPECT_EQ(rows[9].remarks,
            ScorecardOutcomes(Report(), {{"payments", 99}, {"search", 1}}, o)[9].remarks);
}

TEST(ScorecardOutcomesTest, LinksAreEncodedAndOptional) {
  coverage::CoverageReport r;
  r.services = {Svc("a b\"<x>", true)};
  auto rows = ScorecardOutcomes(r, {}, {.dashboard_url = "https://h/x?a=1&b=\"2\""});
  EXPECT_THAT(rows[0].remarks,
              HasSubstr("href=\"https://h/x?a=1&amp;b=&quot;2&quot;/services/a%20b%22%3Cx%3E\""));
  rows = ScorecardOutcomes(r, {}, {});
  EXPECT_THAT(rows[0].remarks, ::testing::Not(HasSubstr("href")));
}

TEST(ScorecardOutcomesTest, OnlyChangedOutcomesAreSent) {
  std::vector<store::ScorecardOutcomeRow> previous = {
      {"R", "a", "pass", "x", 1}, {"R", "b", "fail", "y", 1}, {"R", "c", "skip", "z", 1}};
  std::vector<store::ScorecardOutcomeRow> desired = {{"R", "a", "pass", "x", 0},
                                                     {"R", "b", "pass", "y", 0},
                                                     {"R", "c", "skip", "z2", 0},
                                                     {"R", "d", "fail", "w", 0}};
  EXPECT_THAT(States(ChangedOutcomes(desired, previous)),
              ElementsAre("R/b=pass", "R/c=skip", "R/d=fail"));
  EXPECT_THAT(ChangedOutcomes(previous, previous), IsEmpty());
}

// A ScorecardApi fake that records what it was sent; `deny` answers PermissionDenied.
class FakeScorecardApi : public datadog::ScorecardApi {
 public:
  absl::StatusOr<std::vector<datadog::ScorecardRule>> ListRules() override {
    ++lists;
    if (deny) return absl::PermissionDeniedError("403");
    return rules;
  }
  absl::StatusOr<datadog::ScorecardRule> CreateRule(const datadog::ScorecardRuleSpec& s) override {
    if (deny) return absl::PermissionDeniedError("403");
    rules.push_back({"id-" + std::to_string(rules.size() + 1), s.name, s.scorecard_name});
    ++creates;
    return rules.back();
  }
  absl::Status SendOutcomes(const std::vector<datadog::ScorecardOutcome>& o) override {
    if (deny) return absl::PermissionDeniedError("403");
    if (fail_sends > 0) {
      --fail_sends;
      return absl::UnavailableError("503 after retries");
    }
    batches.push_back(o);
    return absl::OkStatus();
  }
  std::vector<datadog::ScorecardRule> rules;
  std::vector<std::vector<datadog::ScorecardOutcome>> batches;
  int lists = 0, creates = 0, fail_sends = 0;
  bool deny = false;
};

class ScorecardPusherTest : public ::testing::Test {
 protected:
  size_t Sent() const {
    size_t n = 0;
    for (const auto& b : api_.batches) n += b.size();
    return n;
  }
  std::string Metrics() { return prometheus::TextSerializer().Serialize(registry_.Collect()); }
  ManualClock clock_{Clock::TimePoint(std::chrono::seconds(1'800'000'000))};
  store::MemoryCoverageStore store_;
  FakeScorecardApi api_;
  prometheus::Registry registry_;
  ScorecardPusher pusher_{{.batch_size = 5}, store_, api_, clock_, registry_};
};

TEST_F(ScorecardPusherTest, CreatesRulesOnceSendsInBatchesThenOnlyChanges) {
  ASSERT_TRUE(pusher_.PushNow(Report()).ok());
  EXPECT_EQ(api_.creates, 2);
  EXPECT_EQ(Sent(), 12u);
  EXPECT_THAT(api_.batches, SizeIs(3));  // 5 + 5 + 2
  EXPECT_EQ(api_.batches[0][0].rule_id, "id-1");
  EXPECT_EQ(api_.batches[0][0].service, "checkout");
  EXPECT_THAT(*store_.LoadScorecardOutcomes(), SizeIs(12));
  EXPECT_THAT(Metrics(), HasSubstr("apmcov_analyzer_scorecard_outcomes_total{result=\"sent\"} 12"));

  // The same snapshot again: nothing new is sent, no rule created.
  ASSERT_TRUE(pusher_.PushNow(Report()).ok());
  EXPECT_EQ(Sent(), 12u);
  EXPECT_EQ(api_.creates, 2);

  // A new pusher (a restart) finds the rules by name and remembers from the store.
  prometheus::Registry other;
  ScorecardPusher restarted({.batch_size = 5}, store_, api_, clock_, other);
  coverage::CoverageReport changed = Report();
  changed.services[3].instrumented = true;  // payments got traced
  ASSERT_TRUE(restarted.PushNow(changed).ok());
  EXPECT_EQ(api_.creates, 2);
  ASSERT_EQ(Sent(), 14u);  // both rules of payments changed (fail → pass, skip → pass)
  EXPECT_EQ(api_.batches.back()[0].service, "payments");
  EXPECT_EQ(api_.batches.back()[0].state, "pass");
}

TEST_F(ScorecardPusherTest, AFailedBatchIsSentAgainAtTheNextSnapshot) {
  api_.fail_sends = 1;
  EXPECT_EQ(pusher_.PushNow(Report()).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Sent(), 0u);
  EXPECT_THAT(*store_.LoadScorecardOutcomes(), IsEmpty());
  EXPECT_THAT(Metrics(),
              HasSubstr("apmcov_analyzer_scorecard_outcomes_total{result=\"failed\"} 12"));
  ASSERT_TRUE(pusher_.PushNow(Report()).ok());
  EXPECT_EQ(Sent(), 12u);
}

TEST_F(ScorecardPusherTest, PermissionDeniedDisablesThePushOnce) {
  api_.deny = true;
  EXPECT_TRUE(pusher_.PushNow(Report()).ok());  // never an error for the caller
  EXPECT_TRUE(pusher_.disabled());
  EXPECT_THAT(Metrics(), HasSubstr("apmcov_analyzer_scorecard_push_disabled 1"));
  const int lists = api_.lists;
  api_.deny = false;
  EXPECT_TRUE(pusher_.PushNow(Report()).ok());
  EXPECT_EQ(api_.lists, lists);  // not asked again
  EXPECT_EQ(Sent(), 0u);
}

TEST_F(ScorecardPusherTest, BlameComesFromTheStoredBrokenTraces) {
  store::WriteBatch b;
  store::BrokenTraceRecord t;
  t.trace_id = 1;
  t.started_at_ns = kNow - 3600 * kSec;
  t.missing_services = {"payments"};
  t.gap_kinds = {"uninstrumented_callee"};
  t.gaps = {{2, "uninstrumented_callee", "checkout", "payments", "payments", ""},
            {3, "propagation_break", "checkout", "search", "search", ""}};
  t.services = {"checkout"};
  t.root_service = "checkout";
  b.broken_traces = {t};
  ASSERT_TRUE(store_.Apply(b).ok());
  ASSERT_TRUE(pusher_.PushNow(Report()).ok());
  std::map<std::string, std::string> unbroken;
  const auto stored = store_.LoadScorecardOutcomes();
  ASSERT_TRUE(stored.ok());
  for (const auto& row : *stored) {
    if (row.rule == kRuleUnbroken) unbroken[row.service] = row.state;
  }
  EXPECT_EQ(unbroken["payments"], "fail");
  EXPECT_EQ(unbroken["search"], "fail");
  EXPECT_EQ(unbroken["checkout"], "pass");
}

TEST_F(ScorecardPusherTest, WorkerPushesTheLatestSubmittedReport) {
  pusher_.Start();
  pusher_.Submit(Report());
  pusher_.Stop();  // drains what was submitted
  EXPECT_EQ(Sent(), 12u);
}

}  // namespace
}  // namespace apmcov::analyzer
