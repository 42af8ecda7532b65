#include "ddsim/http/endpoint.h"

namespace apmcov::ddsim {
namespace {

struct EndpointInfo {
  Endpoint endpoint;
  Family family;
  std::string_view name;
  std::string_view bucket;  // rate limits
};

constexpr EndpointInfo kEndpoints[] = {
    {Endpoint::kUnknown, Family::kNone, "unknown", ""},
    {Endpoint::kGroundTruth, Family::kControl, "_ddsim", ""},
    {Endpoint::kFaults, Family::kControl, "_ddsim", ""},
    {Endpoint::kStats, Family::kControl, "_ddsim", ""},
    {Endpoint::kScorecardsReceived, Family::kControl, "_ddsim", ""},
    {Endpoint::kControlUnknown, Family::kControl, "_ddsim", ""},
    {Endpoint::kAgentTraces, Family::kAgent, "agent_traces", ""},
    {Endpoint::kAgentInfo, Family::kAgent, "agent_info", ""},
    {Endpoint::kValidate, Family::kKeys, "validate", "validate"},
    {Endpoint::kServiceDefinitions, Family::kCatalog, "service_definitions", "service_definitions"},
    {Endpoint::kServiceDefinition, Family::kCatalog, "service_definition", "service_definitions"},
    {Endpoint::kCatalogEntity, Family::kCatalog, "catalog_entity", "catalog_entity"},
    {Endpoint::kApmServices, Family::kCatalog, "apm_services", "apm_services"},
    {Endpoint::kSpansList, Family::kSpans, "spans_list", "spans_list"},
    {Endpoint::kSpansSearch, Family::kSpans, "spans_search", "spans_search"},
    {Endpoint::kSpansAggregate, Family::kSpans, "spans_aggregate", "spans_aggregate"},
    {Endpoint::kTrace, Family::kTrace, "trace", "trace"},
    {Endpoint::kScorecardRulesList, Family::kScorecards, "scorecard_rules_list",
     "scorecard_rules_list"},
    {Endpoint::kScorecardRulesCreate, Family::kScorecards, "scorecard_rules_create",
     "scorecard_rules_create"},
    {Endpoint::kScorecardOutcomes, Family::kScorecards, "scorecard_outcomes", "scorecard_outcomes"},
};

const EndpointInfo& Info(Endpoint e) {
  for (const EndpointInfo& info : kEndpoints) {
    if (info.endpoint == e) return info;
  }
  return kEndpoints[0];
}

struct Route {
  std::string_view method;  // "" = any method
  std::string_view path;
  bool prefix;  // path is a prefix followed by a parameter
  Endpoint endpoint;
};

// First match wins.
constexpr Route kRoutes[] = {
    {"", "/v0.4/traces", false, Endpoint::kAgentTraces},
    {"", "/info", false, Endpoint::kAgentInfo},
    {"GET", "/api/v1/validate", false, Endpoint::kValidate},
    {"GET", "/api/v2/services/definitions", false, Endpoint::kServiceDefinitions},
    {"GET", "/api/v2/services/definitions/", true, Endpoint::kServiceDefinition},
    {"GET", "/api/v2/catalog/entity", false, Endpoint::kCatalogEntity},
    {"GET", "/api/v2/apm/services", false, Endpoint::kApmServices},
    {"GET", "/api/v2/spans/events", false, Endpoint::kSpansList},
    {"GET", "/api/v2/trace/", true, Endpoint::kTrace},
    {"POST", "/api/v2/spans/events/search", false, Endpoint::kSpansSearch},
    {"POST", "/api/v2/spans/analytics/aggregate", false, Endpoint::kSpansAggregate},
    {"GET", "/api/v2/scorecard/rules", false, Endpoint::kScorecardRulesList},
    {"POST", "/api/v2/scorecard/rules", false, Endpoint::kScorecardRulesCreate},
    {"POST", "/api/v2/scorecard/outcomes", false, Endpoint::kScorecardOutcomes},
};

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

Endpoint ClassifyEndpoint(std::string_view method, std::string_view path) {
  if (StartsWith(path, "/_ddsim/") || StartsWith(path, "/__")) {
    if (path == "/_ddsim/ground-truth" || path == "/__truth") return Endpoint::kGroundTruth;
    if (path == "/_ddsim/faults") return Endpoint::kFaults;
    if (path == "/_ddsim/stats" || path == "/__stats") return Endpoint::kStats;
    if (path == "/_ddsim/scorecards") return Endpoint::kScorecardsReceived;
    return Endpoint::kControlUnknown;
  }
  for (const Route& r : kRoutes) {
    if (!r.method.empty() && r.method != method) continue;
    if (r.prefix ? StartsWith(path, r.path) : path == r.path) return r.endpoint;
  }
  return Endpoint::kUnknown;
}

Family FamilyOf(Endpoint endpoint) { return Info(endpoint).family; }

std::string_view EndpointName(Endpoint endpoint) { return Info(endpoint).name; }

std::string_view RateBucket(Endpoint endpoint) { return Info(endpoint).bucket; }

std::string_view PathParameter(Endpoint endpoint, std::string_view path) {
  for (const Route& r : kRoutes) {
    if (r.endpoint == endpoint && r.prefix && StartsWith(path, r.path)) {
      return path.substr(r.path.size());
    }
  }
  return path;
}

}  // namespace apmcov::ddsim
