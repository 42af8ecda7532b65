#include "render.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace apmcov::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

CheckResult Failed() {
  CheckResult r;
  r.scope = "team payments";
  Condition ok{.name = "max_broken_rate",
               .passed = true,
               .summary = "broken rate 1.0% <= 5.0%",
               .value = 1.0,
               .threshold = 5};
  Condition bad{.name = "min_coverage",
                .passed = false,
                .summary = "coverage 50.0% < 80.0% (2 of 4 services instrumented)",
                .value = 50.0,
                .threshold = 80};
  bad.findings = {{"payments", "ledger", "no APM traces | seen only through USM"},
                  {"payments", "refunds", "no APM traces in the lookback"}};
  r.conditions = {ok, bad};
  return r;
}

TEST(RenderTest, CheckAsText) {
  const std::string out = RenderCheck(Failed(), Format::kText);
  EXPECT_THAT(out, HasSubstr("apmcov check: team payments\n"));
  EXPECT_THAT(out, HasSubstr("  PASS  max_broken_rate: broken rate 1.0% <= 5.0%\n"));
  EXPECT_THAT(out, HasSubstr("  FAIL  min_coverage: coverage 50.0% < 80.0%"));
  EXPECT_THAT(out, HasSubstr("        payments / ledger: no APM traces"));
  EXPECT_THAT(out, HasSubstr("result: FAIL (1 of 2 conditions failed)\n"));
}

TEST(RenderTest, CheckAsJsonIsMachineReadable) {
  const auto j = nlohmann::json::parse(RenderCheck(Failed(), Format::kJson));
  EXPECT_EQ(j["passed"], false);
  EXPECT_EQ(j["scope"], "team payments");
  ASSERT_EQ(j["conditions"].size(), 2u);
  EXPECT_EQ(j["conditions"][1]["name"], "min_coverage");
  EXPECT_EQ(j["conditions"][1]["value"], 50.0);
  EXPECT_EQ(j["conditions"][1]["threshold"], 80.0);
  EXPECT_EQ(j["conditions"][1]["findings"][0]["service"], "ledger");
  EXPECT_EQ(j["conditions"][1]["findings"][0]["team"], "payments");
}

TEST(RenderTest, CheckAsMarkdownFitsAPullRequestComment) {
  const std::string out = RenderCheck(Failed(), Format::kMarkdown);
  EXPECT_THAT(out, HasSubstr("### APM coverage gate: FAILED (team payments)\n"));
  EXPECT_THAT(out, HasSubstr("| result | condition | details |\n|---|---|---|\n"));
  EXPECT_THAT(out, HasSubstr("| **FAIL** | min_coverage |"));
  EXPECT_THAT(out, HasSubstr("<details><summary>min_coverage: 2 findings</summary>"));
  // A '|' inside a cell cannot break the table.
  EXPECT_THAT(out, HasSubstr("| payments | ledger | no APM traces \\| seen only through USM |"));
  EXPECT_THAT(out, HasSubstr("</details>"));
}

TEST(RenderTest, MarkdownCellEscapesPipesNewlinesAndTags) {
  EXPECT_EQ(MarkdownCell("a|b\nc<script>"), "a\\|b c&lt;script>");
}

TEST(RenderTest, ReportListsTeamsLowestFirstAndServicesWithoutApm) {
  v1::Stats s;
  s.set_total_services(3);
  s.set_instrumented_services(2);
  auto* a = s.add_by_team();
  a->set_key("ads");
  a->set_total(2);
  a->set_instrumented(2);
  a->set_coverage_pct(100);
  auto* p = s.add_by_team();
  p->set_key("payments");
  p->set_total(1);
  p->set_instrumented(0);
  p->set_coverage_pct(0);
  std::vector<v1::ServiceSummary> services(3);
  services[0].set_name("ad-server");
  services[0].set_team("ads");
  services[0].set_instrumented(true);
  services[1].set_name("bidder");
  services[1].set_team("ads");
  services[1].set_instrumented(true);
  services[2].set_name("ledger");
  services[2].set_team("payments");
  services[2].set_usm_only(true);
  const std::string text = RenderReport(s, services, "all services", false, Format::kText);
  EXPECT_THAT(text, HasSubstr("all services: 2 of 3 services instrumented (66.7%)"));
  EXPECT_LT(text.find("payments"), text.find("ads "));
  EXPECT_THAT(text, HasSubstr("without APM (1):"));
  EXPECT_THAT(text, HasSubstr("ledger"));
  EXPECT_THAT(text, HasSubstr("no sync finished yet"));
  const std::string md = RenderReport(s, services, "all services", false, Format::kMarkdown);
  EXPECT_THAT(md, HasSubstr("#### By team\n\n| team | instrumented | coverage |"));
  const auto j = nlohmann::json::parse(RenderReport(s, services, "x", false, Format::kJson));
  EXPECT_EQ(j["without_apm"][0]["name"], "ledger");
  EXPECT_EQ(j["instrumented_services"], 2);
  const std::string scoped = RenderReport(s, {services[2]}, "team payments", true, Format::kText);
  EXPECT_THAT(scoped, HasSubstr("team payments: 0 of 1 services instrumented"));
  EXPECT_THAT(scoped, Not(HasSubstr("by team")));
}

TEST(RenderTest, ServicesTable) {
  std::vector<v1::ServiceSummary> services(1);
  services[0].set_name("ledger");
  services[0].set_team("payments");
  services[0].set_usm_only(true);
  services[0].add_envs("prod");
  services[0].add_envs("qa");
  const std::string text = RenderServices(services, Format::kText);
  EXPECT_THAT(text, HasSubstr("ledger"));
  EXPECT_THAT(text, HasSubstr("no (USM only)"));
  EXPECT_THAT(text, HasSubstr("prod,qa"));
  EXPECT_THAT(text, HasSubstr("1 services\n"));
  const auto j = nlohmann::json::parse(RenderServices(services, Format::kJson));
  EXPECT_EQ(j["services"][0]["envs"], nlohmann::json({"prod", "qa"}));
  EXPECT_EQ(j["services"][0]["last_seen"], nullptr);
}

TEST(RenderTest, SyncJob) {
  v1::SyncJobView j;
  j.set_id("job-1");
  j.set_state("failed");
  j.set_error("403 from Datadog");
  EXPECT_EQ(RenderSyncJob(j, Format::kText), "sync job job-1: failed: 403 from Datadog\n");
  EXPECT_EQ(nlohmann::json::parse(RenderSyncJob(j, Format::kJson))["state"], "failed");
}

}  // namespace
}  // namespace apmcov::cli
