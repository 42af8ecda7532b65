#include "gate.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "apmcov/base/time.h"

namespace apmcov::cli {
namespace {

constexpr double kEpsilon = 1e-9;

std::string Pct(double v) { return absl::StrFormat("%.1f%%", v); }

std::string TeamOf(const v1::ServiceSummary& s) { return s.team().empty() ? "unknown" : s.team(); }

std::string WhyUninstrumented(const v1::ServiceSummary& s) {
  std::string why = s.usm_only() ? "no APM traces: seen only through USM (runs, not traced)"
                                 : "no APM traces in the lookback";
  if (s.customer_facing()) absl::StrAppend(&why, "; customer-facing");
  return why;
}

Condition MinCoverage(const CheckOptions& o, const CheckData& d, const std::string& scope) {
  Condition c;
  c.name = "min_coverage";
  c.threshold = *o.min_coverage_pct;
  const size_t total = d.services.size();
  size_t instrumented = 0;
  for (const auto& s : d.services) instrumented += s.instrumented() ? 1 : 0;
  if (total == 0) {
    c.passed = false;
    c.summary = absl::StrCat("no catalog service in scope (", scope, "): nothing is covered");
    return c;
  }
  const double pct = 100.0 * static_cast<double>(instrumented) / static_cast<double>(total);
  c.value = pct;
  c.passed = pct + kEpsilon >= c.threshold;
  c.summary = absl::StrCat("coverage ", Pct(pct), c.passed ? " >= " : " < ", Pct(c.threshold), " (",
                           instrumented, " of ", total, " services instrumented)");
  if (!c.passed) {
    for (const auto& s : d.services) {
      if (!s.instrumented()) c.findings.push_back({TeamOf(s), s.name(), WhyUninstrumented(s)});
    }
  }
  return c;
}

Condition MaxBrokenRate(const CheckOptions& o, const CheckData& d) {
  Condition c;
  c.name = "max_broken_rate";
  c.threshold = *o.max_broken_rate_pct;
  const v1::SampleEstimate& sample = d.stats.sample();
  std::map<std::string, std::string> team_of;  // the scope's services
  for (const auto& s : d.services) team_of[s.name()] = TeamOf(s);
  const bool scoped = !o.team.empty();
  uint64_t judged = 0, broken = 0;
  if (scoped) {
    for (const auto& b : sample.by_root_service()) {
      if (!team_of.contains(b.key())) continue;
      judged += b.judged();
      broken += b.broken();
    }
  } else {
    judged = sample.judged_traces();
    broken = sample.broken_traces();
  }
  if (judged == 0) {
    c.summary = "no judged trace in the lookback: nothing to rate";
    return c;
  }
  const double pct = 100.0 * static_cast<double>(broken) / static_cast<double>(judged);
  c.value = pct;
  c.passed = pct <= c.threshold + kEpsilon;
  c.summary = absl::StrCat("broken rate ", Pct(pct), c.passed ? " <= " : " > ", Pct(c.threshold),
                           " (", broken, " of ", judged, " judged traces",
                           scoped ? " rooted in the team" : "", ")");
  if (c.passed) return c;
  auto in_scope = [&](const std::string& name) { return !scoped || team_of.contains(name); };
  auto team = [&](const std::string& name) {
    auto it = team_of.find(name);
    return it == team_of.end() ? std::string() : it->second;
  };
  std::vector<v1::SampleBucket> roots(sample.by_root_service().begin(),
                                      sample.by_root_service().end());
  std::stable_sort(roots.begin(), roots.end(),
                   [](const auto& a, const auto& b) { return a.broken() > b.broken(); });
  for (const auto& b : roots) {
    if (b.broken() == 0 || !in_scope(b.key())) continue;
    c.findings.push_back(
        {team(b.key()), b.key().empty() ? "(no root span)" : b.key(),
         absl::StrCat(b.broken(), " of ", b.judged(), " traces rooted here are broken")});
  }
  std::vector<v1::SampleBucket> missing(sample.by_missing_service().begin(),
                                        sample.by_missing_service().end());
  std::stable_sort(missing.begin(), missing.end(),
                   [](const auto& a, const auto& b) { return a.broken() > b.broken(); });
  for (const auto& b : missing) {
    if (b.broken() == 0 || !in_scope(b.key())) continue;
    c.findings.push_back({team(b.key()), b.key(),
                          absl::StrCat("missing from ", b.broken(),
                                       " broken traces (not instrumented on their path)")});
  }
  return c;
}

Condition NoRegression(const CheckOptions& o, const CheckData& d) {
  Condition c;
  c.name = "no_regression";
  const std::string since = FormatRfc3339(*o.no_regression_since_ns);
  if (!d.history || d.history->points().empty()) {
    c.summary = absl::StrCat("no coverage snapshot since ", since, ": nothing to compare");
    return c;
  }
  const auto& points = d.history->points();
  const v1::CoverageHistoryPoint& first = points[0];
  const v1::CoverageHistoryPoint& last = points[points.size() - 1];
  std::string key;  // "" = every key
  if (!o.team.empty()) {
    key = o.team;
  } else if (!o.env.empty()) {
    key = o.env;
  }
  std::map<std::string, const v1::CoverageBucket*> before, now;
  for (const auto& b : first.buckets()) before[b.key()] = &b;
  for (const auto& b : last.buckets()) now[b.key()] = &b;
  const std::string dim = RegressionDimension(o);
  const std::string first_at = FormatRfc3339(first.taken_at().seconds() * 1'000'000'000LL);
  size_t compared = 0;
  double worst = 0;
  std::set<std::string> fell;
  for (const auto& [k, b] : before) {
    if (!key.empty() && k != key) continue;
    auto it = now.find(k);
    if (it == now.end()) continue;
    ++compared;
    const double delta = it->second->coverage_pct() - b->coverage_pct();
    worst = std::min(worst, delta);
    if (delta < -kEpsilon) {
      fell.insert(k);
      c.findings.push_back(
          {dim == "team" ? k : "", "",
           absl::StrCat(dim, " ", k, ": coverage ", Pct(b->coverage_pct()), " (", b->instrumented(),
                        "/", b->total(), ") at ", first_at, " -> ", Pct(it->second->coverage_pct()),
                        " (", it->second->instrumented(), "/", it->second->total(), ") now")});
    }
  }
  c.value = worst;
  c.passed = fell.empty();
  if (compared == 0) {
    c.summary = absl::StrCat("no ", dim, key.empty() ? "" : absl::StrCat(" ", key),
                             " in the snapshots since ", since, ": nothing to compare");
    return c;
  }
  c.summary = c.passed ? absl::StrCat("no coverage regression since ", first_at, " (", compared,
                                      " ", dim, compared == 1 ? "" : "s", " compared)")
                       : absl::StrCat("coverage fell since ", first_at, " for ", fell.size(),
                                      " of ", compared, " ", dim, compared == 1 ? "" : "s");
  if (!c.passed) {
    for (const auto& s : d.services) {
      const bool of_fallen = dim == "team" ? fell.contains(TeamOf(s)) : true;
      if (!s.instrumented() && of_fallen) {
        c.findings.push_back({TeamOf(s), s.name(), WhyUninstrumented(s)});
      }
    }
  }
  return c;
}

}  // namespace

bool CheckResult::passed() const {
  return std::all_of(conditions.begin(), conditions.end(),
                     [](const Condition& c) { return c.passed; });
}

std::string RegressionDimension(const CheckOptions& o) {
  return o.team.empty() && !o.env.empty() ? "env" : "team";
}

CheckResult EvaluateCheck(const CheckOptions& o, const CheckData& d) {
  CheckResult r;
  if (!o.team.empty()) r.scope = absl::StrCat("team ", o.team);
  if (!o.env.empty()) absl::StrAppend(&r.scope, r.scope.empty() ? "" : ", ", "env ", o.env);
  if (r.scope.empty()) r.scope = "all services";
  if (o.min_coverage_pct) r.conditions.push_back(MinCoverage(o, d, r.scope));
  if (o.max_broken_rate_pct) r.conditions.push_back(MaxBrokenRate(o, d));
  if (o.no_regression_since_ns) r.conditions.push_back(NoRegression(o, d));
  return r;
}

}  // namespace apmcov::cli
