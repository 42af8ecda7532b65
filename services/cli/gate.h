// The CI gate of `apmcov check` (design §8): conditions on coverage, the broken-trace rate and
// coverage history, evaluated over answers the gateway already gave. Pure: no I/O, no clock
// (the caller passes what it fetched and the time the regression window starts).
//
// Scope: the catalog services of --team and/or --env (deprecated ones left out, as in every
// coverage figure). With --env a service is one that runs in that env, and it counts as
// instrumented when it is traced in any env (the services list carries no per-env flag).
// - min coverage: instrumented / services of the scope >= PCT. An empty scope fails (a typo in
//   --team must not pass a gate). Findings: each uninstrumented service of the scope.
// - max broken rate: broken / judged traces of the lookback's sample (design §7.1) <= PCT;
//   with --team over the traces rooted in the team's services. No judged trace: passes, said.
//   Findings: the scope's root services with broken traces and the services missing from them.
// - no regression since T: per key (the team; else the env; else every team), coverage of the
//   latest snapshot >= coverage of the first snapshot at or after T. No snapshot since T:
//   passes, said. Findings: each key that fell, then the scope's uninstrumented services of it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "apmcov/v1/coverage_service.pb.h"

namespace apmcov::cli {

struct CheckOptions {
  std::string team;
  std::string env;
  std::optional<double> min_coverage_pct;     // 0..100
  std::optional<double> max_broken_rate_pct;  // 0..100
  std::optional<int64_t> no_regression_since_ns;
};

// What the gateway answered, fetched by the caller for these options.
struct CheckData {
  v1::Stats stats;
  std::vector<v1::ServiceSummary> services;  // ListServices(team, env), every page
  // GetCoverageHistory(by = RegressionDimension(options), since), when asked for.
  std::optional<v1::CoverageHistoryResponse> history;
};

struct Finding {
  std::string team;     // "" when the finding is about a whole env or the org
  std::string service;  // "" when the finding is about a whole team
  std::string detail;
};

struct Condition {
  std::string name;  // min_coverage, max_broken_rate, no_regression
  bool passed = true;
  std::string summary;  // one line, e.g. "coverage 72.0% < 80.0% (18 of 25 services)"
  std::optional<double> value;
  double threshold = 0;
  std::vector<Finding> findings;
};

struct CheckResult {
  std::string scope;  // "team payments, env prod", "all services"
  std::vector<Condition> conditions;
  bool passed() const;
};

// The dimension the regression condition reads history by: team, env, or team for every team.
std::string RegressionDimension(const CheckOptions& options);

CheckResult EvaluateCheck(const CheckOptions& options, const CheckData& data);

}  // namespace apmcov::cli
