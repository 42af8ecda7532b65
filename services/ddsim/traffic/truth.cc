#include "ddsim/traffic/truth.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "apmcov/base/time.h"
#include "ddsim/intake/received_truth.h"
#include "ddsim/world/cat.h"
#include "nlohmann/json.hpp"

namespace apmcov::ddsim {
namespace {

using nlohmann::json;

struct Tally {
  int64_t total = 0;
  int64_t instrumented = 0;
};

double Pct(int64_t num, int64_t den) {
  return den == 0
             ? 0.0
             : std::round(10000.0 * static_cast<double>(num) / static_cast<double>(den)) / 100.0;
}

json Breakdown(const std::map<std::string, Tally>& m) {
  json out = json::array();
  for (const auto& [key, t] : m) {
    out.push_back({{"key", key},
                   {"total", t.total},
                   {"instrumented", t.instrumented},
                   {"coverage_pct", Pct(t.instrumented, t.total)}});
  }
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Design §5's default INFRA_ALIASES, written here from the design (never taken from the
// product's libs/coverage) so that one bug cannot hide in both: spellings of one platform
// count as that platform.
std::string CanonicalInfra(std::string infra) {
  static const std::map<std::string, std::string> kAliases = {{"k8s", "kubernetes"},
                                                              {"eks", "kubernetes"},
                                                              {"gke", "kubernetes"},
                                                              {"aks", "kubernetes"},
                                                              {"lambda", "serverless"}};
  auto it = kAliases.find(infra);
  return it == kAliases.end() ? infra : it->second;
}

json Names(const World& w, std::vector<uint32_t> ids, std::vector<std::string> extra = {}) {
  std::vector<std::string> names = std::move(extra);
  for (uint32_t i : ids) names.push_back(w.services[i].name);
  std::sort(names.begin(), names.end());
  return names;
}

json ReceivedTraceJson(const ReceivedTraceTruth& t) {
  json jt;
  jt["trace_id"] = std::to_string(t.trace_lo);
  if (t.trace_hi != 0) jt["trace_id_128"] = absl::StrFormat("%016x%016x", t.trace_hi, t.trace_lo);
  jt["env"] = t.env;
  jt["root_service"] = t.root_service.empty() ? json(nullptr) : json(t.root_service);
  jt["started_at"] = FormatRfc3339(t.start_ns);
  jt["start_ns"] = t.start_ns;
  jt["span_count"] = t.span_count;
  jt["judged"] = true;
  jt["broken"] = !t.gaps.empty();
  jt["received"] = true;
  jt["services"] = t.services;
  jt["missing_services"] = t.missing_services;
  std::set<std::string> kinds;
  json gaps = json::array();
  for (const ReceivedGap& g : t.gaps) {
    kinds.insert(g.kind);
    gaps.push_back({{"kind", g.kind},
                    {"span_id", std::to_string(g.span_id)},
                    {"from_service", g.from_service},
                    {"to_service", g.to_service.empty() ? json(nullptr) : json(g.to_service)},
                    {"peer", g.peer.empty() ? json(nullptr) : json(g.peer)}});
  }
  jt["gap_kinds"] = kinds;
  jt["gaps"] = gaps;
  return jt;
}

}  // namespace

std::string GroundTruthJson(const World& w, const TrafficOptions& traffic,
                            const BucketSource& buckets, const TruthRequest& req,
                            const ReceivedStore* received) {
  const int64_t from_s = req.from_ns >= 0 ? req.from_ns / kBucketNanos
                                          : -((-req.from_ns + kBucketNanos - 1) / kBucketNanos);
  const int64_t to_s = (req.to_ns + kBucketNanos - 1) / kBucketNanos;
  const int64_t from_ns = from_s * kBucketNanos, to_ns = to_s * kBucketNanos;

  // Traces that start in [from, to): from the buckets that can hold them.
  std::set<std::pair<uint32_t, uint8_t>> seen_env;   // (service, env) with spans in range
  std::vector<bool> seen(w.services.size(), false);  // whole-trace spans in range
  json traces = json::array();
  int64_t total = 0, judged = 0, broken = 0, excluded = 0, spans = 0;
  std::map<std::string, int64_t> gaps_by_kind, broken_by_kind;
  for (int k = 0; k < kNumGapKinds; ++k) {
    gaps_by_kind[std::string(GapKindName(static_cast<GapKind>(k)))] = 0;
    broken_by_kind[std::string(GapKindName(static_cast<GapKind>(k)))] = 0;
  }
  for (int64_t b = from_s - 1; b < to_s; ++b) {
    auto bucket = buckets(b);
    for (const TraceTruth& t : bucket->traces) {
      if (t.start_ns < from_ns || t.start_ns >= to_ns) continue;
      ++total;
      spans += t.span_count;
      for (uint32_t s : t.services) seen_env.insert({s, t.env});
      if (!t.judged) {
        ++excluded;
      } else {
        ++judged;
        for (uint32_t s : t.services) seen[s] = true;
        if (t.broken()) ++broken;
        std::set<std::string> kinds;
        for (const Gap& g : t.gaps) {
          ++gaps_by_kind[std::string(GapKindName(g.kind))];
          kinds.insert(std::string(GapKindName(g.kind)));
        }
        for (const auto& k : kinds) ++broken_by_kind[k];
      }
      if (req.traces == TruthRequest::Traces::kNone) continue;
      if (req.traces == TruthRequest::Traces::kBroken && !(t.judged && t.broken())) continue;
      json jt;
      jt["trace_id"] = std::to_string(t.trace_lo);
      if (t.trace_hi != 0)
        jt["trace_id_128"] = absl::StrFormat("%016x%016x", t.trace_hi, t.trace_lo);
      jt["env"] = w.envs[t.env];
      jt["root_service"] =
          t.root_service == kNoService ? json(nullptr) : json(w.services[t.root_service].name);
      jt["started_at"] = FormatRfc3339(t.start_ns);
      jt["start_ns"] = t.start_ns;
      jt["span_count"] = t.span_count;
      jt["judged"] = t.judged;
      jt["broken"] = t.judged && t.broken();
      jt["services"] = Names(w, t.services);
      json missing = json::array();
      for (uint32_t m : t.missing_services) missing.push_back(w.services[m].name);
      jt["missing_services"] = missing;
      std::set<std::string> kinds;
      json gaps = json::array();
      for (const Gap& g : t.gaps) {
        kinds.insert(std::string(GapKindName(g.kind)));
        gaps.push_back(
            {{"kind", GapKindName(g.kind)},
             {"span_id", std::to_string(g.span_id)},
             {"from_service", w.services[g.from_service].name},
             {"to_service",
              g.to_service == kNoService ? json(nullptr) : json(w.services[g.to_service].name)},
             {"peer", g.peer.empty() ? json(nullptr) : json(g.peer)}});
      }
      jt["gap_kinds"] = kinds;
      jt["gaps"] = gaps;
      traces.push_back(std::move(jt));
    }
  }

  // What the Agent intake received: judged by ddsim's own reading of design §6.
  const std::set<std::string> received_before =
      received != nullptr ? ReceivedServicesBefore(*received, to_ns) : std::set<std::string>{};
  ReceivedTruth rt;
  if (received != nullptr) {
    auto is_catalog = [&w](const std::string& name) {
      const Service* s = w.Find(name);
      return (s != nullptr && s->catalogued()) || w.FindSelf(name) != nullptr;
    };
    auto is_instrumented = [&](const std::string& name) {
      if (const Service* s = w.Find(name)) return s->state == Instrumentation::kInstrumented;
      return w.FindSelf(name) != nullptr && received_before.count(name) > 0;
    };
    rt = JudgeReceived(*received, from_ns, to_ns, is_catalog, is_instrumented);
  }
  for (const ReceivedTraceTruth& t : rt.traces) {
    ++total;
    ++judged;
    spans += static_cast<int64_t>(t.span_count);
    std::set<std::string> kinds;
    for (const ReceivedGap& g : t.gaps) {
      ++gaps_by_kind[g.kind];
      kinds.insert(g.kind);
    }
    for (const auto& k : kinds) ++broken_by_kind[k];
    if (!t.gaps.empty()) ++broken;
    if (req.traces == TruthRequest::Traces::kNone) continue;
    if (req.traces == TruthRequest::Traces::kBroken && t.gaps.empty()) continue;
    traces.push_back(ReceivedTraceJson(t));
  }

  // Coverage (design §5), deprecated services left out.
  std::map<std::string, Tally> by_team, by_env, by_infra, by_language, by_tier, by_lifecycle;
  int64_t cov_total = 0, cov_instr = 0;
  std::vector<uint32_t> cf_without_apm, usm_only, catalog, deprecated, instrumented, not_instr,
      usm_all, propagates, shadow;
  for (uint32_t i = 0; i < w.services.size(); ++i) {
    const Service& s = w.services[i];
    switch (s.state) {
      case Instrumentation::kInstrumented:
        instrumented.push_back(i);
        break;
      case Instrumentation::kNotInstrumented:
        not_instr.push_back(i);
        break;
      case Instrumentation::kUsmOnly:
        usm_all.push_back(i);
        break;
      case Instrumentation::kPropagatesOnly:
        propagates.push_back(i);
        break;
      case Instrumentation::kShadow:
        shadow.push_back(i);
        continue;
    }
    catalog.push_back(i);
    if (s.deprecated()) {
      deprecated.push_back(i);
      continue;
    }
    const bool instr = s.state == Instrumentation::kInstrumented;
    ++cov_total;
    cov_instr += instr;
    auto add = [&](std::map<std::string, Tally>& m, const std::string& key, bool in) {
      Tally& t = m[key.empty() ? "unknown" : key];
      ++t.total;
      t.instrumented += in;
    };
    add(by_team, s.team, instr);
    add(by_tier, s.tier, instr);
    add(by_lifecycle, s.lifecycle, instr);
    std::set<uint8_t> envs;
    if (s.env_tagged) envs.insert(s.envs.begin(), s.envs.end());
    for (uint8_t e = 0; e < w.envs.size(); ++e) {
      if (seen_env.count({i, e})) envs.insert(e);
    }
    if (envs.empty()) add(by_env, "", false);
    for (uint8_t e : envs) add(by_env, w.envs[e], instr && seen_env.count({i, e}) > 0);
    std::string infra;
    if (!s.infra_tag.empty()) {
      infra = CanonicalInfra(Lower(s.infra_tag.substr(s.infra_tag.find(':') + 1)));
    } else if (seen[i]) {
      infra = std::string(InfraName(s.infra));
    }
    add(by_infra, infra, instr);
    if (!s.languages.empty()) {
      for (const auto& l : s.languages) add(by_language, l, instr);
    } else {
      add(by_language, seen[i] ? std::string(kSpanLanguages[s.language]) : "", instr);
    }
    if (s.customer_facing() && !instr) cf_without_apm.push_back(i);
    if (s.state == Instrumentation::kUsmOnly) usm_only.push_back(i);
  }

  // The tracker's own catalog entries: instrumented once the intake received their spans.
  std::vector<std::string> self_catalog, self_instrumented, self_not_instrumented;
  for (const Service& s : w.self_services) {
    const bool instr = received_before.count(s.name) > 0;
    self_catalog.push_back(s.name);
    (instr ? self_instrumented : self_not_instrumented).push_back(s.name);
    ++cov_total;
    cov_instr += instr;
    auto add = [&](std::map<std::string, Tally>& m, const std::string& key, bool in) {
      Tally& t = m[key.empty() ? "unknown" : key];
      ++t.total;
      t.instrumented += in;
    };
    add(by_team, s.team, instr);
    add(by_tier, s.tier, instr);
    add(by_lifecycle, s.lifecycle, instr);
    auto facts = rt.services.find(s.name);
    const bool seen_in_range = facts != rt.services.end() && facts->second.seen_in_range;
    if (!seen_in_range) add(by_env, "", false);
    if (seen_in_range) {
      for (const std::string& e : facts->second.envs) add(by_env, e, instr);
    }
    add(by_infra, seen_in_range ? facts->second.infra : "", instr);
    for (const auto& l : s.languages) add(by_language, l, instr);
  }
  // Received services in no catalog are shadow services.
  std::vector<std::string> received_shadow;
  for (const std::string& name : received_before) {
    if (w.Find(name) == nullptr && w.FindSelf(name) == nullptr) received_shadow.push_back(name);
  }

  json out;
  out["seed"] = w.options.seed;
  out["services"] = w.options.services;
  out["from"] = FormatRfc3339(from_ns);
  out["to"] = FormatRfc3339(to_ns);
  out["spans_per_second"] = traffic.spans_per_second;
  out["catalog"] = {{"services", Names(w, catalog, self_catalog)},
                    {"deprecated", Names(w, deprecated)},
                    {"instrumented", Names(w, instrumented, self_instrumented)},
                    {"not_instrumented", Names(w, not_instr, self_not_instrumented)},
                    {"usm_only", Names(w, usm_all)},
                    {"propagates_only", Names(w, propagates)}};
  out["shadow_services"] = Names(w, shadow, received_shadow);
  out["coverage"] = {
      {"total_services", cov_total},
      {"instrumented_services", cov_instr},
      {"coverage_pct", Pct(cov_instr, cov_total)},
      {"by_team", Breakdown(by_team)},
      {"by_env", Breakdown(by_env)},
      {"by_infra", Breakdown(by_infra)},
      {"by_language", Breakdown(by_language)},
      {"by_tier", Breakdown(by_tier)},
      {"by_lifecycle", Breakdown(by_lifecycle)},
      {"customer_facing_without_apm", Names(w, cf_without_apm)},
      {"usm_only", Names(w, usm_only)},
      {"shadow_services", static_cast<int64_t>(shadow.size() + received_shadow.size())}};
  out["trace_summary"] = {{"total", total},
                          {"judged", judged},
                          {"broken", broken},
                          {"excluded_single_span", excluded},
                          {"spans", spans},
                          {"gaps_by_kind", gaps_by_kind},
                          {"broken_by_kind", broken_by_kind}};
  if (req.traces != TruthRequest::Traces::kNone) out["traces"] = std::move(traces);
  return out.dump();
}

}  // namespace apmcov::ddsim
