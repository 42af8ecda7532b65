#include "apmcov/datadog/scorecards.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace apmcov::datadog {
namespace {

using nlohmann::json;

// The shapes of docs/datadog-api.md §13 (POST /api/v2/scorecard/rules and outcomes).
TEST(ScorecardsTest, RuleBodyIsAJsonApiRule) {
  const json j = json::parse(RuleRequestBody({"APM instrumented", "APM Coverage", "d", 2}));
  EXPECT_EQ(j["data"]["type"], "rule");
  EXPECT_EQ(j["data"]["attributes"]["name"], "APM instrumented");
  EXPECT_EQ(j["data"]["attributes"]["scorecard_name"], "APM Coverage");
  EXPECT_EQ(j["data"]["attributes"]["enabled"], true);
  EXPECT_EQ(j["data"]["attributes"]["level"], 2);
}

TEST(ScorecardsTest, OutcomesBodyIsABatchedOutcomeWithEntityReferences) {
  const json j = json::parse(
      OutcomesRequestBody({{"r1", "checkout", "pass", "ok"}, {"r2", "ledger", "skip", ""}}));
  EXPECT_EQ(j["data"]["type"], "batched-outcome");
  const json& results = j["data"]["attributes"]["results"];
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0], json({{"rule_id", "r1"},
                              {"entity_reference", "service:checkout"},
                              {"state", "pass"},
                              {"remarks", "ok"}}));
  EXPECT_EQ(results[1]["entity_reference"], "service:ledger");
}

TEST(ScorecardsTest, ParsesAListPageAndACreatedRule) {
  auto page = ParseRules(R"({"data":[{"id":"abc","type":"rule","attributes":{
      "name":"APM instrumented","scorecard_name":"APM Coverage","enabled":true}},
      {"id":"def","type":"rule","attributes":{"name":"Other","scorecard_name":"Ops"}}],
      "links":{"next":null}})");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(*page, (std::vector<ScorecardRule>{{"abc", "APM instrumented", "APM Coverage"},
                                               {"def", "Other", "Ops"}}));
  auto one = ParseRules(R"({"data":{"id":"x1","type":"rule","attributes":{"name":"n"}}})");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->front().id, "x1");
  for (const char* bad : {"", "[]", "{\"data\":3}", "{\"data\":[{\"type\":\"rule\"}]}", "{\"x\""}) {
    EXPECT_FALSE(ParseRules(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace apmcov::datadog
