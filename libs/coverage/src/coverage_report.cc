#include "apmcov/coverage/coverage_report.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"

namespace apmcov::coverage {
namespace {

constexpr std::array<std::string_view, 7> kDimensions = {"overall",  "team", "env",      "infra",
                                                         "language", "tier", "lifecycle"};

size_t DimensionRank(std::string_view d) {
  return static_cast<size_t>(std::find(kDimensions.begin(), kDimensions.end(), d) -
                             kDimensions.begin());
}

bool HasApmData(const ApmSeen& o) { return o.traced || o.span_count > 0; }

std::string KeyOr(const std::string& value) {
  return value.empty() ? std::string(kUnknownKey) : value;
}

// What the observations within the lookback say about one service.
struct Observed {
  bool apm_any = false;           // APM data in some env, "*" included
  bool apm_env_specific = false;  // APM data in some env != "*"
  bool usm = false;
  std::set<std::string> envs_seen;  // env != "*", any observation
  std::set<std::string> apm_envs;   // env != "*", with APM data
  std::set<std::string> languages;
  std::set<std::string> infra_hints;
  uint64_t span_count_env = 0;
  uint64_t span_count_star = 0;
  int64_t last_seen_ns = 0;
};

std::string InferInfra(const std::set<std::string>& hints) {
  for (std::string_view h : {"kubernetes", "ecs", "serverless"}) {
    if (hints.contains(std::string(h))) return std::string(h);
  }
  if (!hints.empty()) return "host";  // "host", "" or anything else: no platform tag seen
  return std::string(kUnknownKey);
}

}  // namespace

std::vector<CoverageRow> CoverageReport::Dimension(std::string_view dimension) const {
  std::vector<CoverageRow> out;
  for (const CoverageRow& r : rows) {
    if (r.dimension == dimension) out.push_back(r);
  }
  return out;
}

ServiceDirectory CoverageReport::Directory() const {
  ServiceDirectory d;
  for (const ServiceCoverage& s : services) {
    d.catalog.insert(s.name);
    if (s.instrumented) d.instrumented.insert(s.name);
  }
  for (const ShadowService& s : shadow_services) d.apm_names.insert(s.name);
  return d;
}

absl::StatusOr<CoverageReport> ComputeCoverage(std::span<const CatalogServiceInfo> catalog,
                                               std::span<const ApmSeen> observations,
                                               const CoverageOptions& options) {
  if (options.lookback_ns <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("APM_LOOKBACK_HOURS must be positive, got ", options.lookback_ns, " ns"));
  }
  absl::flat_hash_set<std::string> names;
  for (size_t i = 0; i < catalog.size(); ++i) {
    if (catalog[i].name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("catalog service #", i, " has an empty name (dd-service)"));
    }
    if (!names.insert(catalog[i].name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("catalog service '", catalog[i].name, "' appears twice"));
    }
  }
  const int64_t since = options.now_ns - options.lookback_ns;
  absl::flat_hash_map<std::string, Observed> observed;
  for (size_t i = 0; i < observations.size(); ++i) {
    const ApmSeen& o = observations[i];
    if (o.service.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("APM observation #", i, " (env '", o.env, "') has an empty service"));
    }
    if (o.last_seen_ns < since) continue;  // outside APM_LOOKBACK_HOURS
    Observed& ob = observed[o.service];
    const bool star = o.env.empty() || o.env == "*";
    if (!star) ob.envs_seen.insert(o.env);
    if (HasApmData(o)) {
      ob.apm_any = true;
      ob.last_seen_ns = std::max(ob.last_seen_ns, o.last_seen_ns);
      if (!star) {
        ob.apm_env_specific = true;
        ob.apm_envs.insert(o.env);
      }
      for (const std::string& l : o.languages) {
        if (!l.empty()) ob.languages.insert(l);
      }
      for (const std::string& h : o.infra_hints) ob.infra_hints.insert(h.empty() ? "host" : h);
    }
    if (o.usm) ob.usm = true;
    (star ? ob.span_count_star : ob.span_count_env) += o.span_count;
  }

  CoverageReport report;
  // (dimension, key) → (total, instrumented)
  std::map<std::pair<size_t, std::string>, std::pair<int64_t, int64_t>> tally;
  auto count = [&](std::string_view dim, const std::string& key, bool instrumented) {
    auto& [total, inst] = tally[{DimensionRank(dim), key}];
    ++total;
    if (instrumented) ++inst;
  };
  tally[{0, std::string(kOverallKey)}];  // the overall row exists even for an empty catalog

  for (const CatalogServiceInfo& c : catalog) {
    ServiceCoverage s;
    s.name = c.name;
    s.team = c.team;
    s.tier = c.tier;
    s.lifecycle = c.lifecycle;
    s.deprecated = absl::AsciiStrToLower(c.lifecycle) == "deprecated";
    s.customer_facing = c.customer_facing;
    const Observed empty;
    auto it = observed.find(c.name);
    const Observed& ob = it == observed.end() ? empty : it->second;
    s.instrumented = ob.apm_any;
    s.usm_only = !s.instrumented && ob.usm;
    s.span_count = ob.span_count_env > 0 ? ob.span_count_env : ob.span_count_star;
    s.last_seen_ns = ob.last_seen_ns;

    std::set<std::string> envs(ob.envs_seen.begin(), ob.envs_seen.end());
    for (const std::string& e : c.envs) {
      if (!e.empty()) envs.insert(e);
    }
    s.envs.assign(envs.begin(), envs.end());
    for (const std::string& e : s.envs) {
      if (ob.apm_envs.contains(e) || (!ob.apm_env_specific && ob.apm_any)) {
        s.instrumented_envs.push_back(e);
      }
    }
    s.infra = CanonicalInfra(options.infra_aliases,
                             !c.infra.empty() ? c.infra : InferInfra(ob.infra_hints));
    std::set<std::string> langs;
    for (const std::string& l : c.languages) {
      if (!l.empty()) langs.insert(l);
    }
    if (langs.empty()) langs = ob.languages;
    s.languages.assign(langs.begin(), langs.end());

    if (!s.deprecated) {
      ++report.total_services;
      if (s.instrumented) ++report.instrumented_services;
      count("overall", std::string(kOverallKey), s.instrumented);
      count("team", KeyOr(s.team), s.instrumented);
      count("tier", KeyOr(s.tier), s.instrumented);
      count("lifecycle", KeyOr(s.lifecycle), s.instrumented);
      count("infra", s.infra, s.instrumented);
      if (s.envs.empty()) {
        count("env", std::string(kUnknownKey), s.instrumented);
      } else {
        for (const std::string& e : s.envs) {
          count("env", e,
                std::find(s.instrumented_envs.begin(), s.instrumented_envs.end(), e) !=
                    s.instrumented_envs.end());
        }
      }
      if (s.languages.empty()) {
        count("language", std::string(kUnknownKey), s.instrumented);
      } else {
        for (const std::string& l : s.languages) count("language", l, s.instrumented);
      }
      if (s.customer_facing && !s.instrumented)
        report.customer_facing_without_apm.push_back(s.name);
      if (s.usm_only) report.usm_only.push_back(s.name);
    }
    report.services.push_back(std::move(s));
  }

  for (const auto& [key, value] : tally) {
    report.rows.push_back(
        {std::string(kDimensions[key.first]), key.second, value.first, value.second});
  }
  std::sort(report.services.begin(), report.services.end(),
            [](const ServiceCoverage& a, const ServiceCoverage& b) { return a.name < b.name; });
  std::sort(report.customer_facing_without_apm.begin(), report.customer_facing_without_apm.end());
  std::sort(report.usm_only.begin(), report.usm_only.end());

  for (const auto& [name, ob] : observed) {
    if (!ob.apm_any || names.contains(name)) continue;
    ShadowService sh;
    sh.name = name;
    sh.envs.assign(ob.envs_seen.begin(), ob.envs_seen.end());
    sh.span_count = ob.span_count_env > 0 ? ob.span_count_env : ob.span_count_star;
    sh.last_seen_ns = ob.last_seen_ns;
    report.shadow_services.push_back(std::move(sh));
  }
  std::sort(report.shadow_services.begin(), report.shadow_services.end(),
            [](const ShadowService& a, const ShadowService& b) { return a.name < b.name; });
  return report;
}

}  // namespace apmcov::coverage
