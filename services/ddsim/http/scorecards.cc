#include "ddsim/http/scorecards.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "apmcov/base/time.h"
#include "ddsim/http/api.h"
#include "nlohmann/json.hpp"

namespace apmcov::ddsim {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr const char* kJson = "application/json";

// Datadog's JSON:API error body ({"errors":[{"status","title","detail"}]}).
HttpResponse Error(int status, const std::string& title, const std::string& detail) {
  HttpResponse r;
  r.status = status;
  r.content_type = kJson;
  r.body = ojson{{"errors",
                  {{{"status", std::to_string(status)}, {"title", title}, {"detail", detail}}}}}
               .dump();
  return r;
}

HttpResponse Forbidden() {
  return Error(403, "Forbidden",
               "Forbidden: the application key lacks the apm_service_catalog_write permission");
}

}  // namespace

HttpResponse ScorecardEndpoints::Handle(Endpoint endpoint, const HttpRequest& r) {
  switch (endpoint) {
    case Endpoint::kScorecardRulesList:
      return ListRules(r);
    case Endpoint::kScorecardRulesCreate:
      return CreateRule(r);
    case Endpoint::kScorecardOutcomes:
      return PostOutcomes(r);
    default:
      return Error(404, "Not Found", "no such scorecard endpoint");
  }
}

std::string ScorecardEndpoints::RuleJson(const Rule& rule) const {
  const std::string created = FormatRfc3339(rule.created_ns);
  return ojson{
      {"id", rule.id},
      {"type", "rule"},
      {"attributes",
       {{"category", rule.scorecard_name},
        {"created_at", created},
        {"custom", true},
        {"description", rule.description},
        {"enabled", rule.enabled},
        {"level", rule.level},
        {"modified_at", created},
        {"name", rule.name},
        {"owner", rule.owner},
        {"scorecard_name", rule.scorecard_name}}},
      {"relationships",
       {{"scorecard", {{"data", {{"id", "sc-" + rule.scorecard_name}, {"type", "scorecard"}}}}}}}}
      .dump();
}

HttpResponse ScorecardEndpoints::ListRules(const HttpRequest& r) {
  int64_t size = 10, offset = 0;
  if (const std::string* s = r.Query("page[size]")) {
    if (!absl::SimpleAtoi(*s, &size) || size < 1 || size > 100) {
      return Error(400, "Bad Request", "page[size] must be between 1 and 100");
    }
  }
  if (const std::string* o = r.Query("page[offset]")) {
    if (!absl::SimpleAtoi(*o, &offset) || offset < 0) {
      return Error(400, "Bad Request", "page[offset] must be >= 0");
    }
  }
  std::lock_guard lock(mu_);
  std::string data = "[";
  for (int64_t i = offset; i < offset + size && i < static_cast<int64_t>(rules_.size()); ++i) {
    if (data.size() > 1) data += ",";
    data += RuleJson(rules_[static_cast<size_t>(i)]);
  }
  data += "]";
  HttpResponse resp;
  resp.content_type = kJson;
  resp.body = "{\"data\":" + data + "}";
  return resp;
}

HttpResponse ScorecardEndpoints::CreateRule(const HttpRequest& r) {
  if (!write_scope_) return Forbidden();
  json body = json::parse(r.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("data") ||
      !body["data"].is_object()) {
    return Error(400, "Bad Request",
                 "body must be {\"data\":{\"type\":\"rule\",\"attributes\":{...}}}");
  }
  const json& data = body["data"];
  if (data.value("type", "") != "rule" || !data.contains("attributes") ||
      !data["attributes"].is_object()) {
    return Error(400, "Bad Request", "data.type must be \"rule\", with attributes");
  }
  const json& a = data["attributes"];
  Rule rule;
  if (!a.contains("name") || !a["name"].is_string() || a["name"].get<std::string>().empty()) {
    return Error(400, "Bad Request", "attributes.name is required");
  }
  rule.name = a["name"].get<std::string>();
  rule.scorecard_name = a.value("scorecard_name", "Custom Rules");
  rule.description = a.value("description", "");
  rule.owner = a.value("owner", "");
  rule.enabled = a.value("enabled", true);
  rule.level = a.value("level", 2);
  if (rule.level < 1 || rule.level > 3) {
    return Error(400, "Bad Request", "attributes.level must be 1, 2 or 3");
  }
  rule.created_ns = clock_.NowUnixNanos();
  std::lock_guard lock(mu_);
  ++rule_posts_;
  for (const Rule& existing : rules_) {
    if (existing.name == rule.name && existing.scorecard_name == rule.scorecard_name) {
      return Error(409, "Conflict", "a rule with this name already exists in the scorecard");
    }
  }
  char id[40];
  std::snprintf(id, sizeof id, "rule-%06zu", rules_.size() + 1);
  rule.id = id;
  rules_.push_back(rule);
  HttpResponse resp;
  resp.content_type = kJson;
  resp.body = "{\"data\":" + RuleJson(rule) + "}";
  return resp;
}

HttpResponse ScorecardEndpoints::PostOutcomes(const HttpRequest& r) {
  if (!write_scope_) return Forbidden();
  json body = json::parse(r.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("data") ||
      !body["data"].is_object() || body["data"].value("type", "") != "batched-outcome" ||
      !body["data"].contains("attributes") || !body["data"]["attributes"].is_object() ||
      !body["data"]["attributes"].contains("results") ||
      !body["data"]["attributes"]["results"].is_array()) {
    return Error(400, "Bad Request",
                 "body must be {\"data\":{\"type\":\"batched-outcome\",\"attributes\":"
                 "{\"results\":[...]}}}");
  }
  const json& results = body["data"]["attributes"]["results"];
  std::lock_guard lock(mu_);
  ++outcome_posts_;
  // Validate every result first: a bad one rejects the batch.
  for (size_t i = 0; i < results.size(); ++i) {
    const json& o = results[i];
    const std::string at = "results[" + std::to_string(i) + "]";
    if (!o.is_object()) return Error(400, "Bad Request", at + " must be an object");
    const std::string rule_id = o.value("rule_id", "");
    const std::string entity = o.value("entity_reference", "");
    const std::string state = o.value("state", "");
    bool known = false;
    for (const Rule& rule : rules_) known |= rule.id == rule_id;
    if (!known) return Error(404, "Not Found", at + ".rule_id: no such rule");
    if (!absl::StartsWith(entity, "service:") || entity.size() == 8) {
      return Error(400, "Bad Request", at + ".entity_reference must be service:<name>");
    }
    if (state != "pass" && state != "fail" && state != "skip") {
      return Error(400, "Bad Request", at + ".state must be pass, fail or skip");
    }
  }
  const int64_t now = clock_.NowUnixNanos();
  for (const json& o : results) {
    outcomes_[{o["rule_id"].get<std::string>(), o["entity_reference"].get<std::string>()}] = {
        o["state"].get<std::string>(), o.value("remarks", ""), now};
    ++results_received_;
  }
  HttpResponse resp;
  resp.status = 202;
  resp.content_type = kJson;
  resp.body = "";
  return resp;
}

std::string ScorecardEndpoints::ReceivedJson() {
  std::lock_guard lock(mu_);
  std::map<std::string, std::string> rule_name;
  ojson rules = ojson::array();
  for (const Rule& r : rules_) {
    rule_name[r.id] = r.name;
    rules.push_back({{"id", r.id}, {"name", r.name}, {"scorecard_name", r.scorecard_name}});
  }
  ojson outcomes = ojson::array();
  for (const auto& [key, o] : outcomes_) {
    outcomes.push_back({{"rule_id", key.first},
                        {"rule", rule_name[key.first]},
                        {"entity_reference", key.second},
                        {"state", o.state},
                        {"remarks", o.remarks},
                        {"received_at", FormatRfc3339(o.received_ns)}});
  }
  return ojson{{"rules", rules},
               {"outcomes", outcomes},
               {"rule_posts", rule_posts_},
               {"outcome_posts", outcome_posts_},
               {"results_received", results_received_}}
      .dump();
}

}  // namespace apmcov::ddsim
