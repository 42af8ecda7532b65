// SpanReadPlan: how one sync reads the spans of its range within SPAN_PAGE_BUDGET (design
// §7.1). Pure: it sees the density (span counts per time bucket, from one timeseries
// aggregate) and decides, it reads nothing.
//
// - The range fits the budget when the pages its spans need (count / page size, rounded up)
//   are at most the budget: read it whole, oldest first.
// - Otherwise: `slices`, short sub-ranges each meant to be read completely, evenly spaced
//   across the range with the given phase (0 <= phase < 1; random per sync, so that no part
//   of the hour is favoured), each holding about pages_per_slice pages of spans by the
//   density, so that all of them together stay within (1 - headroom) of the budget. Fewer,
//   longer slices are preferred down to min_slice: a slice shorter than a trace plus twice
//   the clock-skew margin judges nothing.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace apmcov::collector {

struct DensityBucket {
  int64_t from_ns = 0;  // inclusive
  int64_t to_ns = 0;    // exclusive
  double count = 0;     // spans in [from, to)
};

struct SliceOptions {
  int64_t budget_pages = 60;              // SPAN_PAGE_BUDGET
  int64_t page_size = 1000;               // spans per page
  double headroom = 0.1;                  // share of the budget kept for a misjudged density
  int64_t min_slice_ns = 30'000'000'000;  // SPAN_SLICE_MIN_SECONDS
  double phase = 0;                       // in [0, 1)
};

struct TimeRange {
  int64_t from_ns = 0;
  int64_t to_ns = 0;
  int64_t length() const { return to_ns - from_ns; }
  friend bool operator==(const TimeRange&, const TimeRange&) = default;
};

struct SpanReadPlan {
  bool whole = true;              // read [from, to) in full
  double expected_spans = 0;      // in the whole range, by the density
  int64_t expected_pages = 0;     // to read the whole range
  std::vector<TimeRange> slices;  // when !whole: sorted, disjoint
  int64_t pages_per_slice = 0;    // when !whole
  int64_t sampled_ns() const;     // total length of the slices (the range when whole)
  TimeRange range;
};

SpanReadPlan PlanSpanRead(TimeRange range, std::span<const DensityBucket> density,
                          const SliceOptions& options);

// The spans expected in [from, to) by the density (uniform within a bucket).
double ExpectedSpans(std::span<const DensityBucket> density, int64_t from_ns, int64_t to_ns);

}  // namespace apmcov::collector
