#include "ddsim/intake/received_truth.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace apmcov::ddsim {
namespace {

const std::set<std::string>& DependencyTypes() {
  static const std::set<std::string> kTypes = {"db",        "sql",   "cache", "redis",
                                               "memcached", "queue", "kafka"};
  return kTypes;
}

std::string UrlHost(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  const size_t at = url.find('@', start);
  const size_t slash = url.find_first_of("/?#", start);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) start = at + 1;
  const size_t end = url.find_first_of(":/?#", start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string Target(const ReceivedSpan& s) {
  for (const char* k : {"peer.service", "peer.hostname", "out.host", "net.peer.name",
                        "server.address", "network.destination.name"}) {
    if (const std::string* v = s.Meta(k); v != nullptr && !v->empty()) return *v;
  }
  if (const std::string* v = s.Meta("http.url"); v != nullptr && !v->empty()) {
    std::string host = UrlHost(*v);
    if (!host.empty()) return host;
  }
  for (const char* k : {"rpc.service", "messaging.destination.name"}) {
    if (const std::string* v = s.Meta(k); v != nullptr && !v->empty()) return *v;
  }
  return "";
}

std::string InfraOf(const ReceivedSpan& s) {
  for (const auto& [k, v] : s.meta) {
    if (k.rfind("kube_", 0) == 0) return "kubernetes";
  }
  if (s.Meta("ecs_cluster_name") != nullptr || s.Meta("task_arn") != nullptr) return "ecs";
  if (s.Meta("function_arn") != nullptr || s.Meta("aws_lambda") != nullptr) return "serverless";
  return "host";
}

ReceivedTraceTruth Judge(std::vector<const ReceivedSpan*> spans,
                         const std::function<bool(const std::string&)>& is_catalog,
                         const std::function<bool(const std::string&)>& is_instrumented) {
  ReceivedTraceTruth t;
  std::sort(spans.begin(), spans.end(), [](const ReceivedSpan* a, const ReceivedSpan* b) {
    return a->start_ns != b->start_ns ? a->start_ns < b->start_ns : a->span_id < b->span_id;
  });
  std::unordered_set<uint64_t> ids;
  std::vector<const ReceivedSpan*> unique;
  for (const ReceivedSpan* s : spans) {
    if (ids.insert(s->span_id).second) unique.push_back(s);
  }
  const ReceivedSpan* earliest = unique.front();
  t.trace_lo = earliest->trace_lo;
  t.start_ns = earliest->start_ns;
  t.span_count = unique.size();
  std::set<std::string> services;
  std::unordered_map<uint64_t, std::vector<const ReceivedSpan*>> children;
  const ReceivedSpan* root = nullptr;
  for (const ReceivedSpan* s : unique) {
    services.insert(s->service);
    t.trace_hi = std::max(t.trace_hi, s->trace_hi);
    children[s->parent_id].push_back(s);
    if (s->parent_id == 0 && root == nullptr) root = s;
  }
  t.services.assign(services.begin(), services.end());
  t.root_service = root != nullptr ? root->service : "";
  t.env = (root != nullptr ? root : earliest)->env;

  auto resolve = [&](const std::string& target) -> std::string {
    if (target.empty()) return "";
    if (is_catalog(target)) return target;
    std::string label = target.substr(0, target.find(':'));
    label = label.substr(0, label.find('.'));
    return !label.empty() && is_catalog(label) ? label : "";
  };
  std::set<std::string> missing;
  for (const ReceivedSpan* s : unique) {
    if (s->parent_id != 0 && ids.count(s->parent_id) == 0) {
      t.gaps.push_back({"orphan_span", s->span_id, s->service, "", ""});
    }
    const std::string* kind = s->Meta("span.kind");
    if (kind == nullptr || (*kind != "client" && *kind != "producer")) continue;
    if (s->Meta("db.system") != nullptr || s->Meta("messaging.system") != nullptr ||
        DependencyTypes().count(s->type) > 0) {
      continue;
    }
    const std::string target = Target(*s);
    const std::string to = resolve(target);
    if (to.empty()) continue;
    const auto it = children.find(s->span_id);
    const std::vector<const ReceivedSpan*> none;
    const auto& kids = it == children.end() ? none : it->second;
    if (std::any_of(kids.begin(), kids.end(),
                    [&](const ReceivedSpan* c) { return c->service == to; })) {
      continue;
    }
    if (!kids.empty()) {
      t.gaps.push_back({"uninstrumented_hop", s->span_id, s->service, to, target});
      missing.insert(to);
    } else if (!is_instrumented(to)) {
      t.gaps.push_back({"uninstrumented_callee", s->span_id, s->service, to, target});
      missing.insert(to);
    } else {
      t.gaps.push_back({"propagation_break", s->span_id, s->service, to, target});
    }
  }
  if (root == nullptr)
    t.gaps.push_back({"missing_root", earliest->span_id, earliest->service, "", ""});
  t.missing_services.assign(missing.begin(), missing.end());
  return t;
}

}  // namespace

std::set<std::string> ReceivedServicesBefore(const ReceivedStore& store, int64_t to_ns) {
  std::set<std::string> out;
  for (const auto& se : store.ServiceEnvs()) {
    if (se.first_start_ns < to_ns) out.insert(se.service);
  }
  return out;
}

ReceivedTruth JudgeReceived(const ReceivedStore& store, int64_t from_ns, int64_t to_ns,
                            const std::function<bool(const std::string&)>& is_catalog,
                            const std::function<bool(const std::string&)>& is_instrumented) {
  ReceivedTruth out;
  for (const auto& se : store.ServiceEnvs()) {
    if (se.first_start_ns < to_ns) out.services[se.service].before_to = true;
  }
  if (store.empty() || from_ns >= to_ns) return out;
  const int64_t from_s = from_ns / 1'000'000'000 - (from_ns < 0 ? 1 : 0);
  const int64_t to_s = (to_ns - 1) / 1'000'000'000;
  // Traces with a span in range; each is then taken whole, wherever its other spans lie.
  std::set<uint64_t> candidates;
  std::vector<ReceivedStore::SecondSpans> keep_alive;
  for (const auto& [second, spans] : store.Range(from_s, to_s)) {
    for (const ReceivedSpan& s : *spans) {
      if (s.start_ns < from_ns || s.start_ns >= to_ns) continue;
      candidates.insert(s.trace_lo);
      ReceivedServiceFacts& f = out.services[s.service];
      f.seen_in_range = true;
      f.envs.insert(s.env);
      const std::string infra = InfraOf(s);
      if (f.infra.empty() || f.infra == "host") f.infra = infra;
    }
    keep_alive.push_back(spans);
  }
  for (uint64_t trace : candidates) {
    std::vector<const ReceivedSpan*> spans;
    for (int64_t second : store.SecondsOfTrace(trace)) {
      ReceivedStore::SecondSpans ss = store.Second(second);
      if (ss == nullptr) continue;
      keep_alive.push_back(ss);
      for (const ReceivedSpan& s : *ss) {
        if (s.trace_lo == trace) spans.push_back(&s);
      }
    }
    if (spans.empty()) continue;
    ReceivedTraceTruth t = Judge(std::move(spans), is_catalog, is_instrumented);
    if (t.start_ns >= from_ns && t.start_ns < to_ns) out.traces.push_back(std::move(t));
  }
  std::sort(out.traces.begin(), out.traces.end(), [](const auto& a, const auto& b) {
    return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.trace_lo < b.trace_lo;
  });
  return out;
}

}  // namespace apmcov::ddsim
