// Every request ddsim answers, named once: which endpoint a method and path are, which family
// of endpoints handles it, its name in stats, metrics and fault plans, and the rate-limit
// bucket it draws from. DdsimApi dispatches on these enums, never on strings.
//
// Adding an endpoint: a value in Endpoint, a row in kEndpoints and kRoutes (endpoint.cc), and
// a case in its family's handler. Adding a family (say, Scorecards under /api/v2/scorecard/):
// a value in Family, a handler DdsimApi::<Family>Endpoint in a file of its own
// (http/api_<family>.cc), and a case in DdsimApi::Route.
#pragma once

#include <string_view>

namespace apmcov::ddsim {

enum class Family {
  kNone,        // no such endpoint: 404
  kControl,     // ddsim's own /_ddsim/* surface: no keys, limits or faults
  kAgent,       // the Datadog Agent intake: no keys, limits or faults
  kKeys,        // /api/v1/validate
  kCatalog,     // service definitions, catalog entities, the APM service list
  kSpans,       // spans list, search and aggregate
  kTrace,       // a trace by id
  kScorecards,  // Scorecards rules and outcomes (scorecards.h)
};

enum class Endpoint {
  kUnknown,
  // kControl
  kGroundTruth,
  kFaults,
  kStats,
  kScorecardsReceived,  // what the Scorecards endpoints received
  kControlUnknown,      // any other /_ddsim/ or /__ path: 404
  // kAgent
  kAgentTraces,
  kAgentInfo,
  // kKeys
  kValidate,
  // kCatalog
  kServiceDefinitions,
  kServiceDefinition,
  kCatalogEntity,
  kApmServices,
  // kSpans
  kSpansList,
  kSpansSearch,
  kSpansAggregate,
  // kTrace
  kTrace,
  // kScorecards
  kScorecardRulesList,
  kScorecardRulesCreate,
  kScorecardOutcomes,
};

// The endpoint a request is: the Agent intake whatever the method (a wrong one answers 405),
// the API by method and path, the control surface by path.
Endpoint ClassifyEndpoint(std::string_view method, std::string_view path);

Family FamilyOf(Endpoint endpoint);

// The endpoint's name in stats, metrics and fault plans ("spans_list", ...); "unknown" for
// kUnknown and "_ddsim" for every control endpoint.
std::string_view EndpointName(Endpoint endpoint);

// The rate-limit bucket the endpoint draws from; a fault plan naming the bucket also targets
// the endpoint (one service definition counts as "service_definitions").
std::string_view RateBucket(Endpoint endpoint);

// What follows the endpoint's path prefix ("{name}" of /api/v2/services/definitions/{name},
// "{id}" of /api/v2/trace/{id}); the whole path for an endpoint without one.
std::string_view PathParameter(Endpoint endpoint, std::string_view path);

}  // namespace apmcov::ddsim
