// An independent recomputation of design §6 from spans as the API serves them (parsed JSON),
// used by tests to check ddsim's recorded ground truth. Written from the design text alone,
// sharing no code with the generator.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "nlohmann/json.hpp"

namespace apmcov::ddsim::testing {

struct ServedSpan {
  uint64_t trace_id = 0, span_id = 0, parent_id = 0;
  int64_t start_ns = 0;
  std::string service, type, retained_by;
  std::map<std::string, std::string> tags;  // custom flattened on dots ("span.kind")
};

// One element of a spans list/search `data` array.
ServedSpan FromSpanEvent(const nlohmann::json& item);

struct RecomputedTrace {
  bool judged = true;
  std::string root_service;                                       // "" when rootless
  std::set<std::tuple<std::string, uint64_t, std::string>> gaps;  // (kind, span id, to_service)
  std::vector<std::string> missing_services;
  size_t span_count = 0;
};

std::map<uint64_t, RecomputedTrace> Recompute(const std::vector<ServedSpan>& spans,
                                              const std::set<std::string>& catalog,
                                              const std::set<std::string>& instrumented);

}  // namespace apmcov::ddsim::testing
