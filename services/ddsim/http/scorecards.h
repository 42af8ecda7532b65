// Datadog Scorecards as ddsim serves them (design §13): custom rules (GET and POST
// /api/v2/scorecard/rules) and outcomes (POST /api/v2/scorecard/outcomes, the batched-outcome
// body), in the request and response shapes of the Datadog API reference. What was received is
// kept so that tests can compare it with the ground truth: GET /_ddsim/scorecards answers the
// rules, the latest outcome per (rule, entity), and how many requests and results arrived.
// Keys, rate limits and faults are DdsimApi's; this class only sees accepted requests.
// `write_scope` false models an application key without apm_service_catalog_write: every
// write answers 403. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "apmcov/base/clock.h"
#include "ddsim/http/endpoint.h"

namespace apmcov::ddsim {

struct HttpRequest;
struct HttpResponse;

class ScorecardEndpoints {
 public:
  ScorecardEndpoints(Clock& clock, bool write_scope) : clock_(clock), write_scope_(write_scope) {}

  // One of the Family::kScorecards endpoints (endpoint.h).
  HttpResponse Handle(Endpoint endpoint, const HttpRequest& r);
  // GET /_ddsim/scorecards.
  std::string ReceivedJson();

 private:
  struct Rule {
    std::string id, name, scorecard_name, description, owner;
    bool enabled = true;
    int level = 2;
    int64_t created_ns = 0;
  };
  struct Outcome {
    std::string state, remarks;
    int64_t received_ns = 0;
  };
  HttpResponse ListRules(const HttpRequest& r);
  HttpResponse CreateRule(const HttpRequest& r);
  HttpResponse PostOutcomes(const HttpRequest& r);
  std::string RuleJson(const Rule& rule) const;

  Clock& clock_;
  const bool write_scope_;
  std::mutex mu_;
  std::vector<Rule> rules_;                                          // creation order
  std::map<std::pair<std::string, std::string>, Outcome> outcomes_;  // (rule id, entity) →
  int64_t rule_posts_ = 0, outcome_posts_ = 0, results_received_ = 0;
};

}  // namespace apmcov::ddsim
