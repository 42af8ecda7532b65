// Renders generated spans as Datadog JSON: Spans API events (decimal-string ids, `custom`
// nested on dots, nanosecond custom.duration, millisecond ISO timestamps) and trace-API
// spans (numeric ids, flat meta). Per-service fragments are precomputed once, so rendering
// a span is a handful of appends. Immutable after construction; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "ddsim/traffic/traffic.h"

namespace apmcov::ddsim {

class SpanRenderer {
 public:
  explicit SpanRenderer(const World& world);

  // One element of a spans list/search `data` array.
  void AppendSpanEvent(std::string& out, const Span& span) const;
  // One element of the trace API's `spans` array.
  void AppendTraceSpan(std::string& out, const Span& span) const;

  const World& world() const { return world_; }

 private:
  const World& world_;
  std::vector<std::string> name_json_;    // per service: "\"name\""
  std::vector<std::string> tags_json_;    // per service*envs: the whole tags array
  std::vector<std::string> custom_base_;  // per service*envs: ,"env":..,"language":..,"version":..
};

}  // namespace apmcov::ddsim
