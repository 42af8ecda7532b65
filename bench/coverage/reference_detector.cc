#include "reference_detector.h"

#include <algorithm>
#include <map>

namespace apmcov::bench {

void ReferenceDetector::Add(const coverage::SpanFields& f) {
  ReferenceSpan s;
  s.trace_id = f.trace_id_lo;
  s.span_id = f.span_id;
  s.parent_id = f.parent_id;
  s.start_ns = f.start_ns;
  s.duration_ns = f.duration_ns;
  s.service = std::string(f.service);
  s.env = std::string(f.env);
  s.resource = std::string(f.resource);
  s.type = std::string(f.type);
  s.kind = std::string(f.kind);
  s.retained_by = std::string(f.retained_by);
  s.target = std::string(f.target);
  s.db_system = std::string(f.db_system);
  s.messaging_system = std::string(f.messaging_system);
  Trace& t = traces_[s.trace_id];
  t.last_end = std::max(t.last_end, s.start_ns + s.duration_ns);
  t.spans.push_back(std::move(s));
}

void ReferenceDetector::OnWatermark(int64_t watermark_ns) {
  for (auto it = traces_.begin(); it != traces_.end();) {
    if (it->second.last_end + grace_ns_ <= watermark_ns) {
      Judge(it->second);
      it = traces_.erase(it);
    } else {
      ++it;
    }
  }
}

std::string ReferenceDetector::Resolve(const std::string& target) const {
  if (catalog_.count(target)) return target;
  std::string host = target;
  if (auto p = host.find("://"); p != std::string::npos) host = host.substr(p + 3);
  std::string label = host.substr(0, host.find_first_of(".:/"));
  if (catalog_.count(label)) return label;
  return "";
}

void ReferenceDetector::Judge(const Trace& trace) {
  for (const ReferenceSpan& s : trace.spans) {
    if (s.retained_by != "flat_sampled" && s.retained_by != "diversity_sampling") {
      ++skipped;
      return;
    }
  }
  ++judged;
  std::map<uint64_t, const ReferenceSpan*> by_id;
  for (const ReferenceSpan& s : trace.spans) by_id.emplace(s.span_id, &s);
  std::map<uint64_t, std::vector<const ReferenceSpan*>> children;
  bool has_root = false;
  for (const auto& [id, s] : by_id) {
    if (s->parent_id == 0) has_root = true;
    children[s->parent_id].push_back(s);
  }
  std::vector<std::string> kinds;
  for (const auto& [id, s] : by_id) {
    if (s->parent_id != 0 && !by_id.count(s->parent_id)) kinds.emplace_back("orphan_span");
    const bool client = s->kind == "client" || s->kind == "producer";
    const bool store = !s->db_system.empty() || !s->messaging_system.empty() || s->type == "db" ||
                       s->type == "sql" || s->type == "cache" || s->type == "redis" ||
                       s->type == "memcached" || s->type == "queue" || s->type == "kafka";
    if (!client || store || s->target.empty()) continue;
    const std::string t = Resolve(s->target);
    if (t.empty()) continue;
    auto c = children.find(id);
    if (c == children.end() || c->second.empty()) {
      kinds.emplace_back(instrumented_.count(t) ? "propagation_break" : "uninstrumented_callee");
    } else if (std::none_of(c->second.begin(), c->second.end(),
                            [&](const ReferenceSpan* x) { return x->service == t; })) {
      kinds.emplace_back("uninstrumented_hop");
    }
  }
  if (!has_root) kinds.emplace_back("missing_root");
  static const std::map<std::string, int> index = {{"missing_root", 0},
                                                   {"orphan_span", 1},
                                                   {"propagation_break", 2},
                                                   {"uninstrumented_callee", 3},
                                                   {"uninstrumented_hop", 4}};
  for (const std::string& k : kinds) ++gaps[index.at(k)];
  if (!kinds.empty()) ++broken;
}

}  // namespace apmcov::bench
