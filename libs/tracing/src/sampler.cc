#include "apmcov/tracing/sampler.h"

#include <cmath>

namespace apmcov::tracing {

Sampler::Sampler(double rate, bool rule)
    : rate_(std::isfinite(rate) ? std::min(1.0, std::max(0.0, rate)) : 1.0), rule_(rule) {}

SamplingDecision Sampler::Decide(const TraceId& trace_id) const {
  SamplingDecision d;
  d.rate = rate_;
  d.by_rule = rule_;
  if (!rule_) {
    d.priority = kAutoKeep;
    d.decision_maker = "-0";
    return d;
  }
  // Knuth's multiplicative hash of the low 64 bits, compared against rate * 2^64.
  constexpr uint64_t kKnuthFactor = 1111111111111111111ULL;
  bool keep;
  if (rate_ >= 1) {
    keep = true;
  } else if (rate_ <= 0) {
    keep = false;
  } else {
    const uint64_t hashed = trace_id.low * kKnuthFactor;
    keep = static_cast<long double>(hashed) <
           static_cast<long double>(rate_) * 18446744073709551616.0L;
  }
  d.priority = keep ? kUserKeep : kUserReject;
  d.decision_maker = "-3";
  return d;
}

}  // namespace apmcov::tracing
