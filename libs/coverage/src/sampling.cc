#include "apmcov/coverage/sampling.h"

#include <algorithm>
#include <cmath>

namespace apmcov::coverage {

void ReadIntervals::Add(int64_t from_ns, int64_t to_ns) {
  if (to_ns <= from_ns) return;
  // First interval that ends at or after `from` (may touch it).
  auto first = std::lower_bound(intervals_.begin(), intervals_.end(), from_ns,
                                [](const ReadInterval& r, int64_t v) { return r.to_ns < v; });
  auto last = first;
  ReadInterval merged{from_ns, to_ns};
  while (last != intervals_.end() && last->from_ns <= to_ns) {
    merged.from_ns = std::min(merged.from_ns, last->from_ns);
    merged.to_ns = std::max(merged.to_ns, last->to_ns);
    ++last;
  }
  first = intervals_.erase(first, last);
  intervals_.insert(first, merged);
}

const ReadInterval* ReadIntervals::Find(int64_t t_ns) const {
  auto it = std::upper_bound(intervals_.begin(), intervals_.end(), t_ns,
                             [](int64_t v, const ReadInterval& r) { return v < r.from_ns; });
  if (it == intervals_.begin()) return nullptr;
  --it;
  return t_ns < it->to_ns ? &*it : nullptr;
}

void ReadIntervals::PruneBefore(int64_t ns) {
  auto it = std::find_if(intervals_.begin(), intervals_.end(),
                         [ns](const ReadInterval& r) { return r.to_ns > ns; });
  intervals_.erase(intervals_.begin(), it);
}

bool CompleteWithin(std::span<const SpanRecord> spans, const ReadIntervals& intervals,
                    const CompletenessOptions& options, int64_t open_end_ns) {
  if (spans.empty()) return false;
  const SpanRecord* root = nullptr;
  int64_t first = INT64_MAX;
  int64_t last = INT64_MIN;
  for (const SpanRecord& s : spans) {
    if (s.parent_id == 0 && (root == nullptr || s.start_ns < root->start_ns)) root = &s;
    first = std::min(first, s.start_ns);
    last = std::max(last, s.end_ns());
  }
  int64_t margin = options.edge_ns;
  if (root != nullptr) {
    first = root->start_ns;
    last = root->end_ns();
    margin = options.clock_skew_ns;
  }
  const ReadInterval* in = intervals.Find(first);
  if (in == nullptr) return false;
  if (first < in->from_ns + margin) return false;
  return in->to_ns >= open_end_ns || last <= in->to_ns - margin;
}

Proportion WilsonInterval(uint64_t successes, uint64_t trials, double z) {
  if (trials == 0) return {};
  const double n = static_cast<double>(trials);
  const double p = static_cast<double>(std::min(successes, trials)) / n;
  const double z2 = z * z;
  const double denom = 1 + z2 / n;
  const double centre = (p + z2 / (2 * n)) / denom;
  const double half = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom;
  return {p, std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

}  // namespace apmcov::coverage
