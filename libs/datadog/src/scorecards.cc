#include "apmcov/datadog/scorecards.h"

#include "absl/strings/str_cat.h"
#include "apmcov/datadog/http_client.h"
#include "nlohmann/json.hpp"

namespace apmcov::datadog {
namespace {

using nlohmann::json;

constexpr int kRulesPageSize = 100;
constexpr char kScope[] = "apm_service_catalog_write";

absl::Status Garbled(std::string_view what) {
  return absl::DataLossError(absl::StrCat("scorecard rules: ", std::string(what)));
}

absl::StatusOr<ScorecardRule> RuleFrom(const json& item) {
  if (!item.is_object() || !item.contains("id") || !item["id"].is_string()) {
    return Garbled("a rule without a string id");
  }
  ScorecardRule r;
  r.id = item["id"].get<std::string>();
  if (item.contains("attributes") && item["attributes"].is_object()) {
    const json& a = item["attributes"];
    if (a.contains("name") && a["name"].is_string()) r.name = a["name"].get<std::string>();
    if (a.contains("scorecard_name") && a["scorecard_name"].is_string()) {
      r.scorecard_name = a["scorecard_name"].get<std::string>();
    }
  }
  return r;
}

}  // namespace

std::string RuleRequestBody(const ScorecardRuleSpec& spec) {
  return json{{"data",
               {{"type", "rule"},
                {"attributes",
                 {{"name", spec.name},
                  {"scorecard_name", spec.scorecard_name},
                  {"description", spec.description},
                  {"enabled", true},
                  {"level", spec.level}}}}}}
      .dump();
}

std::string OutcomesRequestBody(const std::vector<ScorecardOutcome>& outcomes) {
  json results = json::array();
  for (const auto& o : outcomes) {
    results.push_back({{"rule_id", o.rule_id},
                       {"entity_reference", absl::StrCat("service:", o.service)},
                       {"state", o.state},
                       {"remarks", o.remarks}});
  }
  return json{{"data", {{"type", "batched-outcome"}, {"attributes", {{"results", results}}}}}}
      .dump();
}

absl::StatusOr<std::vector<ScorecardRule>> ParseRules(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("data")) {
    return Garbled("the body is not a JSON object with data");
  }
  std::vector<ScorecardRule> out;
  const json& data = j["data"];
  if (data.is_object()) {
    auto r = RuleFrom(data);
    if (!r.ok()) return r.status();
    out.push_back(*std::move(r));
    return out;
  }
  if (!data.is_array()) return Garbled("data is neither a list nor an object");
  for (const json& item : data) {
    auto r = RuleFrom(item);
    if (!r.ok()) return r.status();
    out.push_back(*std::move(r));
  }
  return out;
}

absl::StatusOr<std::vector<ScorecardRule>> HttpScorecardApi::ListRules() {
  std::vector<ScorecardRule> all;
  for (int offset = 0; offset < 100'000; offset += kRulesPageSize) {
    std::vector<ScorecardRule> page;
    ApiCall call{.endpoint = "scorecard_rules_list",
                 .path = "/api/v2/scorecard/rules",
                 .query = {{"page[size]", std::to_string(kRulesPageSize)},
                           {"page[offset]", std::to_string(offset)}},
                 .scope = "apm_service_catalog_read",
                 .read_body = [&page](const HttpResponse& r) -> absl::Status {
                   auto parsed = ParseRules(r.body);
                   if (!parsed.ok()) return parsed.status();
                   page = *std::move(parsed);
                   return absl::OkStatus();
                 }};
    auto resp = client_.Call(call);
    if (!resp.ok()) return resp.status();
    const size_t n = page.size();
    for (auto& r : page) all.push_back(std::move(r));
    if (n < static_cast<size_t>(kRulesPageSize)) return all;
  }
  return all;
}

absl::StatusOr<ScorecardRule> HttpScorecardApi::CreateRule(const ScorecardRuleSpec& spec) {
  std::vector<ScorecardRule> created;
  ApiCall call{.endpoint = "scorecard_rules_create",
               .method = "POST",
               .path = "/api/v2/scorecard/rules",
               .body = RuleRequestBody(spec),
               .scope = kScope,
               .read_body = [&created](const HttpResponse& r) -> absl::Status {
                 auto parsed = ParseRules(r.body);
                 if (!parsed.ok()) return parsed.status();
                 if (parsed->size() != 1) return Garbled("a create answered no single rule");
                 created = *std::move(parsed);
                 return absl::OkStatus();
               }};
  auto resp = client_.Call(call);
  if (!resp.ok()) return resp.status();
  return created.front();
}

absl::Status HttpScorecardApi::SendOutcomes(const std::vector<ScorecardOutcome>& outcomes) {
  if (outcomes.empty()) return absl::OkStatus();
  ApiCall call{.endpoint = "scorecard_outcomes",
               .method = "POST",
               .path = "/api/v2/scorecard/outcomes",
               .body = OutcomesRequestBody(outcomes),
               .scope = kScope};
  auto resp = client_.Call(call);
  return resp.ok() ? absl::OkStatus() : resp.status();
}

}  // namespace apmcov::datadog
