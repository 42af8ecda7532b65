#include "apmcov/tracing/batch_parent.h"

#include <set>
#include <utility>

namespace apmcov::tracing {

BatchParent ChooseBatchParent(const std::vector<std::optional<SpanContext>>& senders,
                              size_t max_links) {
  std::vector<const SpanContext*> distinct;
  std::set<std::pair<std::pair<uint64_t, uint64_t>, uint64_t>> seen;
  std::set<std::pair<uint64_t, uint64_t>> traces;
  for (const std::optional<SpanContext>& c : senders) {
    if (!c || !c->valid()) continue;
    traces.insert({c->trace_id.high, c->trace_id.low});
    if (seen.insert({{c->trace_id.high, c->trace_id.low}, c->span_id}).second) {
      distinct.push_back(&*c);
    }
  }
  BatchParent out;
  if (distinct.empty()) return out;
  size_t first_link = 0;
  if (traces.size() == 1) {
    out.parent = *distinct.front();
    first_link = 1;
  }
  for (size_t i = first_link; i < distinct.size(); ++i) {
    if (out.links.size() < max_links) {
      out.links.push_back(*distinct[i]);
    } else {
      ++out.links_dropped;
    }
  }
  return out;
}

}  // namespace apmcov::tracing
