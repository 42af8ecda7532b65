// Head sampling (design §12): the keep-or-drop decision for a whole trace, taken once where
// the trace starts and propagated to every later process with the sampling priority.
//
// With DD_TRACE_SAMPLE_RATE set, a trace is kept when
//   trace_id.low * 1111111111111111111 (mod 2^64) < rate * 2^64
// the Knuth hash every Datadog tracer uses, so any process that has to decide for the same
// trace decides the same way. That is a user rule: priority 2 (keep) or -1 (drop), the rate in
// the `_dd.rule_psr` metric and decision maker `-3`. Without it every trace is kept with
// priority 1 (as the Agent's default rate of 1 would), decision maker `-0`.
//
// Immutable; thread-safe.
#pragma once

#include <string>

#include "apmcov/tracing/span_data.h"

namespace apmcov::tracing {

struct SamplingDecision {
  int priority = kAutoKeep;
  std::string decision_maker;  // `_dd.p.dm` value when kept, e.g. "-3"
  double rate = 1;             // the rate that decided
  bool by_rule = false;        // true: `_dd.rule_psr`; false: `_dd.agent_psr`

  bool keep() const { return priority > 0; }
};

class Sampler {
 public:
  // `rate` in [0, 1] (clamped); `rule` false means DD_TRACE_SAMPLE_RATE was not set.
  explicit Sampler(double rate = 1, bool rule = false);

  SamplingDecision Decide(const TraceId& trace_id) const;

  double rate() const { return rate_; }
  bool rule() const { return rule_; }

 private:
  double rate_;
  bool rule_;
};

// True when a span of a trace with this priority is sent (priority > 0).
inline bool KeepPriority(int priority) { return priority > 0; }

}  // namespace apmcov::tracing
