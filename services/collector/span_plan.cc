#include "span_plan.h"

#include <algorithm>
#include <cmath>

namespace apmcov::collector {
namespace {

// The time at which the spans counted from `from` reach `target`, or `limit` if they never
// do before it. Uniform within a bucket; time without a bucket holds no spans.
int64_t Advance(std::span<const DensityBucket> density, int64_t from, double target,
                int64_t limit) {
  double acc = 0;
  for (const DensityBucket& b : density) {
    if (b.to_ns <= from || b.to_ns <= b.from_ns) continue;
    if (b.from_ns >= limit) break;
    const int64_t lo = std::max(b.from_ns, from);
    const int64_t hi = std::min(b.to_ns, limit);
    if (hi <= lo) continue;
    const double rate = b.count / static_cast<double>(b.to_ns - b.from_ns);
    const double here = rate * static_cast<double>(hi - lo);
    if (rate > 0 && acc + here >= target) {
      return lo + static_cast<int64_t>((target - acc) / rate);
    }
    acc += here;
  }
  return limit;
}

}  // namespace

int64_t SpanReadPlan::sampled_ns() const {
  if (whole) return range.length();
  int64_t n = 0;
  for (const TimeRange& s : slices) n += s.length();
  return n;
}

double ExpectedSpans(std::span<const DensityBucket> density, int64_t from_ns, int64_t to_ns) {
  double n = 0;
  for (const DensityBucket& b : density) {
    const int64_t lo = std::max(b.from_ns, from_ns);
    const int64_t hi = std::min(b.to_ns, to_ns);
    if (hi <= lo || b.to_ns <= b.from_ns) continue;
    n += b.count * static_cast<double>(hi - lo) / static_cast<double>(b.to_ns - b.from_ns);
  }
  return n;
}

SpanReadPlan PlanSpanRead(TimeRange range, std::span<const DensityBucket> density,
                          const SliceOptions& options) {
  SpanReadPlan plan;
  plan.range = range;
  if (range.length() <= 0) return plan;
  const double page_size = static_cast<double>(std::max<int64_t>(1, options.page_size));
  plan.expected_spans = ExpectedSpans(density, range.from_ns, range.to_ns);
  plan.expected_pages = static_cast<int64_t>(std::ceil(plan.expected_spans / page_size));
  if (plan.expected_pages <= options.budget_pages) return plan;

  plan.whole = false;
  const int64_t usable = std::max<int64_t>(
      1, static_cast<int64_t>(
             std::floor(static_cast<double>(options.budget_pages) * (1.0 - options.headroom))));
  // Time the usable pages cover at the range's mean density; as few slices as keeps each at
  // least min_slice long, at most one per page.
  const double per_ns = plan.expected_spans / static_cast<double>(range.length());
  const double read_ns = static_cast<double>(usable) * page_size / per_ns;
  const int64_t k = std::clamp<int64_t>(
      static_cast<int64_t>(read_ns /
                           static_cast<double>(std::max<int64_t>(1, options.min_slice_ns))),
      1, usable);
  plan.pages_per_slice = usable / k;
  // A little under whole pages: a page that comes back exactly full costs one more call to
  // learn that the slice ended.
  const double per_slice = static_cast<double>(plan.pages_per_slice) * page_size * 0.98;
  const int64_t stride = range.length() / k;
  const double phase = std::clamp(options.phase, 0.0, 1.0);
  for (int64_t i = 0; i < k; ++i) {
    const int64_t lo = range.from_ns + i * stride;
    const int64_t hi = i + 1 == k ? range.to_ns : lo + stride;
    const int64_t len = Advance(density, lo, per_slice, hi) - lo;
    const int64_t from = lo + static_cast<int64_t>(phase * static_cast<double>(hi - lo - len));
    const int64_t to = Advance(density, from, per_slice, hi);
    if (to > from) plan.slices.push_back({from, to});
  }
  return plan;
}

}  // namespace apmcov::collector
