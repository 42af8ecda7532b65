// Datadog Scorecards (design §13; docs/datadog-api.md §13): the port the analyzer pushes rule
// outcomes through, and its HTTP adapter over DatadogHttpClient (so 429s, 5xx, timeouts and
// garbled bodies are retried like every other Datadog call, and keys never leave headers).
//
// Contract: ListRules returns every custom rule (all pages); CreateRule creates one and
// returns it with its id; SendOutcomes sends one batch (asynchronous on Datadog's side: OK
// means accepted). A 401/403 is PermissionDenied (the application key lacks
// apm_service_catalog_write); other failures keep the client's codes. Not thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace apmcov::datadog {

class DatadogHttpClient;

struct ScorecardRule {
  std::string id;
  std::string name;
  std::string scorecard_name;
  bool operator==(const ScorecardRule&) const = default;
};

struct ScorecardRuleSpec {
  std::string name;
  std::string scorecard_name;
  std::string description;
  int level = 2;  // 1..3
};

struct ScorecardOutcome {
  std::string rule_id;
  std::string service;  // sent as entity_reference "service:<name>"
  std::string state;    // pass, fail, skip
  std::string remarks;  // short text, HTML links allowed
  bool operator==(const ScorecardOutcome&) const = default;
};

class ScorecardApi {
 public:
  virtual ~ScorecardApi() = default;
  virtual absl::StatusOr<std::vector<ScorecardRule>> ListRules() = 0;
  virtual absl::StatusOr<ScorecardRule> CreateRule(const ScorecardRuleSpec& spec) = 0;
  virtual absl::Status SendOutcomes(const std::vector<ScorecardOutcome>& outcomes) = 0;
};

// Request bodies and response parsing, pure (unit-tested against the API reference's shapes).
std::string RuleRequestBody(const ScorecardRuleSpec& spec);
std::string OutcomesRequestBody(const std::vector<ScorecardOutcome>& outcomes);
// One `GET /api/v2/scorecard/rules` page, or one created rule (`data` an object).
absl::StatusOr<std::vector<ScorecardRule>> ParseRules(const std::string& body);

class HttpScorecardApi final : public ScorecardApi {
 public:
  explicit HttpScorecardApi(DatadogHttpClient& client) : client_(client) {}
  absl::StatusOr<std::vector<ScorecardRule>> ListRules() override;
  absl::StatusOr<ScorecardRule> CreateRule(const ScorecardRuleSpec& spec) override;
  absl::Status SendOutcomes(const std::vector<ScorecardOutcome>& outcomes) override;

 private:
  DatadogHttpClient& client_;
};

}  // namespace apmcov::datadog
