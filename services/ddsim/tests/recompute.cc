#include "recompute.h"

#include <algorithm>

namespace apmcov::ddsim::testing {
namespace {

void Flatten(const nlohmann::json& j, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object()) {
      Flatten(*it, key, out);
    } else if (it->is_string()) {
      out[key] = it->get<std::string>();
    } else {
      out[key] = it->dump();
    }
  }
}

std::string UrlHost(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t end = url.find_first_of(":/?", start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace

ServedSpan FromSpanEvent(const nlohmann::json& item) {
  const auto& a = item.at("attributes");
  ServedSpan s;
  s.trace_id = std::stoull(a.at("trace_id").get<std::string>());
  s.span_id = std::stoull(a.at("span_id").get<std::string>());
  s.parent_id = std::stoull(a.at("parent_id").get<std::string>());
  s.service = a.at("service").get<std::string>();
  s.type = a.at("type").get<std::string>();
  s.retained_by = a.at("retained_by").get<std::string>();
  Flatten(a.at("custom"), "", s.tags);
  // start_timestamp has ms precision; ordering inside a trace uses the nanosecond
  // duration-free start: take ms, then break ties by the order of appearance.
  const std::string ts = a.at("start_timestamp").get<std::string>();
  struct tm tm {};
  strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  s.start_ns = static_cast<int64_t>(timegm(&tm)) * 1'000'000'000LL +
               std::stoll(ts.substr(20, 3)) * 1'000'000LL;
  return s;
}

std::map<uint64_t, RecomputedTrace> Recompute(const std::vector<ServedSpan>& all,
                                              const std::set<std::string>& catalog,
                                              const std::set<std::string>& instrumented) {
  std::map<uint64_t, std::vector<const ServedSpan*>> traces;
  std::set<std::pair<uint64_t, uint64_t>> seen;
  for (const auto& s : all) {
    if (seen.insert({s.trace_id, s.span_id}).second) traces[s.trace_id].push_back(&s);
  }
  auto resolve = [&](const std::string& target) -> std::string {
    if (catalog.count(target)) return target;
    std::string label = target.substr(0, target.find(':'));
    label = label.substr(0, label.find('.'));
    return catalog.count(label) ? label : "";
  };
  std::map<uint64_t, RecomputedTrace> out;
  for (auto& [tid, spans] : traces) {
    RecomputedTrace& r = out[tid];
    r.span_count = spans.size();
    for (const auto* s : spans) {
      if (s->retained_by != "flat_sampled" && s->retained_by != "diversity_sampling")
        r.judged = false;
    }
    if (!r.judged) continue;
    std::map<uint64_t, const ServedSpan*> by_id;
    std::map<uint64_t, std::vector<const ServedSpan*>> children;
    for (const auto* s : spans) by_id[s->span_id] = s;
    for (const auto* s : spans) children[s->parent_id].push_back(s);
    std::set<std::string> missing;
    bool has_root = false;
    for (const auto* s : spans) {
      if (s->parent_id == 0) {
        has_root = true;
        r.root_service = s->service;
      } else if (!by_id.count(s->parent_id)) {
        r.gaps.insert({"orphan_span", s->span_id, ""});
      }
      auto tag = [&](const char* k) -> std::string {
        auto it = s->tags.find(k);
        return it == s->tags.end() ? "" : it->second;
      };
      const std::string kind = tag("span.kind");
      if (kind != "client" && kind != "producer") continue;
      if (!tag("db.system").empty() || !tag("messaging.system").empty()) continue;
      static const std::set<std::string> kDepTypes = {"db",        "sql",   "cache", "redis",
                                                      "memcached", "queue", "kafka"};
      if (kDepTypes.count(s->type)) continue;
      std::string target;
      for (const char* k : {"peer.service", "peer.hostname", "out.host", "net.peer.name",
                            "server.address", "network.destination.name"}) {
        if (target.empty()) target = tag(k);
      }
      if (target.empty() && !tag("http.url").empty()) target = UrlHost(tag("http.url"));
      if (target.empty()) target = tag("rpc.service");
      if (target.empty()) target = tag("messaging.destination.name");
      const std::string t = resolve(target);
      if (t.empty()) continue;
      const auto& kids = children[s->span_id];
      if (std::any_of(kids.begin(), kids.end(),
                      [&](const ServedSpan* c) { return c->service == t; }))
        continue;
      if (!kids.empty()) {
        r.gaps.insert({"uninstrumented_hop", s->span_id, t});
        missing.insert(t);
      } else if (!instrumented.count(t)) {
        r.gaps.insert({"uninstrumented_callee", s->span_id, t});
        missing.insert(t);
      } else {
        r.gaps.insert({"propagation_break", s->span_id, t});
      }
    }
    if (!has_root && !spans.empty()) {
      const ServedSpan* earliest = *std::min_element(
          spans.begin(), spans.end(), [](auto* a, auto* b) { return a->start_ns < b->start_ns; });
      r.gaps.insert({"missing_root", earliest->span_id, ""});
    }
    r.missing_services.assign(missing.begin(), missing.end());
  }
  return out;
}

}  // namespace apmcov::ddsim::testing
