// Sampling of span reads (design §7.1): which time the collector read whole, when a trace
// counts as complete within it, and how sure an estimate from judged traces is.
//
// Contract:
// - ReadIntervals holds half-open [from, to) ranges (Unix ns) of event time of which every
//   span was read. Add() merges ranges that touch or overlap, so contiguous windows read one
//   after the other form one interval and a trace crossing their boundary is whole.
// - A trace is complete within a read interval when:
//     rooted (a span with parent id 0): the root starts at or after from + clock_skew and
//     ends at or before to - clock_skew (every span of a trace starts within its root's
//     time, so every one was read);
//     rootless: every span starts at or after from + edge and ends at or before to - edge.
//   Anything else is cut at an interval edge: never judged, only counted. The end margin does
//   not apply where reading continues (see CompleteWithin).
// - Pure: no I/O, no clock. Not thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "apmcov/coverage/span.h"

namespace apmcov::coverage {

struct ReadInterval {
  int64_t from_ns = 0;  // inclusive
  int64_t to_ns = 0;    // exclusive
  friend bool operator==(const ReadInterval&, const ReadInterval&) = default;
};

class ReadIntervals {
 public:
  // Adds [from, to), merging with every interval it touches. Empty ranges are ignored.
  void Add(int64_t from_ns, int64_t to_ns);
  // The interval holding `t_ns`, or nullptr.
  const ReadInterval* Find(int64_t t_ns) const;
  // Forgets intervals that end at or before `ns` (their traces were all judged).
  void PruneBefore(int64_t ns);
  const std::vector<ReadInterval>& intervals() const { return intervals_; }
  bool empty() const { return intervals_.empty(); }

 private:
  std::vector<ReadInterval> intervals_;  // sorted, disjoint, not touching
};

struct CompletenessOptions {
  int64_t clock_skew_ns = 1'000'000'000;  // CLOCK_SKEW_SECONDS
  int64_t edge_ns = 30'000'000'000;       // TRACE_EDGE_SECONDS
};

// Whether the trace made of `spans` lies complete within one of `intervals` (see above).
// An interval that reaches `open_end_ns` (the watermark the trace is finalised at: reading
// goes on from there) has no margin at its end: the watermark's grace already guarantees that
// every span of a final trace was read, and the next read continues where it stopped.
bool CompleteWithin(std::span<const SpanRecord> spans, const ReadIntervals& intervals,
                    const CompletenessOptions& options, int64_t open_end_ns = INT64_MAX);

// The 95% Wilson score interval of a proportion: `successes` of `trials`. {0, 1} when
// trials is 0.
struct Proportion {
  double rate = 0;
  double low = 0;
  double high = 1;
};
Proportion WilsonInterval(uint64_t successes, uint64_t trials, double z = 1.959963984540054);

}  // namespace apmcov::coverage
