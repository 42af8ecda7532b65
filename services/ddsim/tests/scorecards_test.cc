#include "ddsim/http/scorecards.h"

#include "apmcov/base/clock.h"
#include "ddsim/http/api.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace apmcov::ddsim {
namespace {

using nlohmann::json;

HttpRequest Req(const std::string& method, const std::string& path, const json& body = nullptr,
                std::vector<std::pair<std::string, std::string>> query = {}) {
  HttpRequest r;
  r.method = method;
  r.path = path;
  r.query = std::move(query);
  if (!body.is_null()) r.body = body.dump();
  return r;
}

json Rule(const std::string& name) {
  return {{"data",
           {{"type", "rule"},
            {"attributes", {{"name", name}, {"scorecard_name", "APM Coverage"}, {"level", 2}}}}}};
}

json Outcomes(json results) {
  return {{"data", {{"type", "batched-outcome"}, {"attributes", {{"results", results}}}}}};
}

class ScorecardEndpointsTest : public ::testing::Test {
 protected:
  HttpResponse Call(const HttpRequest& r) {
    return api_.Handle(ClassifyEndpoint(r.method, r.path), r);
  }
  ManualClock clock_;
  ScorecardEndpoints api_{clock_, true};
};

TEST_F(ScorecardEndpointsTest, RulesAreCreatedOnceAndListedInPages) {
  EXPECT_EQ(ClassifyEndpoint("GET", "/api/v2/scorecard/rules"), Endpoint::kScorecardRulesList);
  EXPECT_EQ(EndpointName(Endpoint::kScorecardRulesList), "scorecard_rules_list");
  EXPECT_EQ(ClassifyEndpoint("DELETE", "/api/v2/scorecard/rules"), Endpoint::kUnknown);
  HttpResponse r = Call(Req("POST", "/api/v2/scorecard/rules", Rule("APM instrumented")));
  ASSERT_EQ(r.status, 200) << r.body;
  const json created = json::parse(r.body);
  EXPECT_EQ(created["data"]["type"], "rule");
  EXPECT_EQ(created["data"]["attributes"]["name"], "APM instrumented");
  const std::string id = created["data"]["id"];
  EXPECT_EQ(Call(Req("POST", "/api/v2/scorecard/rules", Rule("APM instrumented"))).status, 409);
  ASSERT_EQ(Call(Req("POST", "/api/v2/scorecard/rules", Rule("Traces unbroken"))).status, 200);
  r = Call(Req("GET", "/api/v2/scorecard/rules", nullptr, {{"page[size]", "1"}}));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["data"].size(), 1u);
  EXPECT_EQ(json::parse(r.body)["data"][0]["id"], id);
  r = Call(Req("GET", "/api/v2/scorecard/rules", nullptr,
               {{"page[size]", "100"}, {"page[offset]", "1"}}));
  EXPECT_EQ(json::parse(r.body)["data"][0]["attributes"]["name"], "Traces unbroken");
  EXPECT_EQ(Call(Req("POST", "/api/v2/scorecard/rules", json{{"data", 1}})).status, 400);
}

TEST_F(ScorecardEndpointsTest, OutcomesAreRecordedLatestPerRuleAndEntity) {
  const std::string id = json::parse(
      Call(Req("POST", "/api/v2/scorecard/rules", Rule("APM instrumented"))).body)["data"]["id"];
  json a = {{"rule_id", id},
            {"entity_reference", "service:checkout"},
            {"state", "fail"},
            {"remarks", "no traces"}};
  json b = {{"rule_id", id}, {"entity_reference", "service:ledger"}, {"state", "pass"}};
  EXPECT_EQ(Call(Req("POST", "/api/v2/scorecard/outcomes", Outcomes({a, b}))).status, 202);
  a["state"] = "pass";
  EXPECT_EQ(Call(Req("POST", "/api/v2/scorecard/outcomes", Outcomes({a}))).status, 202);
  // A bad result rejects its whole batch.
  json bad = {{"rule_id", id}, {"entity_reference", "checkout"}, {"state", "pass"}};
  EXPECT_EQ(Call(Req("POST", "/api/v2/scorecard/outcomes", Outcomes({b, bad}))).status, 400);
  json unknown = {{"rule_id", "nope"}, {"entity_reference", "service:x"}, {"state", "pass"}};
  EXPECT_EQ(Call(Req("POST", "/api/v2/scorecard/outcomes", Outcomes({unknown}))).status, 404);
  json maybe = {{"rule_id", id}, {"entity_reference", "service:x"}, {"state", "maybe"}};
  EXPECT_EQ(Call(Req("POST", "/api/v2/scorecard/outcomes", Outcomes({maybe}))).status, 400);

  const json got = json::parse(api_.ReceivedJson());
  EXPECT_EQ(got["results_received"], 3);
  EXPECT_EQ(got["outcome_posts"], 5);
  ASSERT_EQ(got["outcomes"].size(), 2u);
  EXPECT_EQ(got["outcomes"][0]["entity_reference"], "service:checkout");
  EXPECT_EQ(got["outcomes"][0]["state"], "pass");
  EXPECT_EQ(got["outcomes"][0]["rule"], "APM instrumented");
  EXPECT_EQ(got["outcomes"][1]["state"], "pass");
}

TEST(ScorecardEndpointsScopeTest, WithoutTheWriteScopeWritesAre403) {
  ManualClock clock;
  ScorecardEndpoints api(clock, false);
  HttpResponse r = api.Handle(Endpoint::kScorecardRulesCreate,
                              Req("POST", "/api/v2/scorecard/rules", Rule("x")));
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.body, ::testing::HasSubstr("apm_service_catalog_write"));
  EXPECT_EQ(api.Handle(Endpoint::kScorecardRulesList, Req("GET", "/api/v2/scorecard/rules")).status,
            200);
}

}  // namespace
}  // namespace apmcov::ddsim
