#include "apmcov/coverage/sampling.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

namespace apmcov::coverage {
namespace {

using ::testing::ElementsAre;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kMs = 1'000'000;

SpanRecord At(uint64_t id, uint64_t parent, int64_t start_ns, int64_t duration_ns) {
  SpanRecord s;
  s.trace_id_lo = 1;
  s.span_id = id;
  s.parent_id = parent;
  s.start_ns = start_ns;
  s.duration_ns = duration_ns;
  return s;
}

TEST(ReadIntervalsTest, ContiguousWindowsMergeIntoOne) {
  ReadIntervals r;
  r.Add(10 * kSec, 20 * kSec);
  r.Add(20 * kSec, 30 * kSec);
  r.Add(40 * kSec, 50 * kSec);
  EXPECT_THAT(r.intervals(),
              ElementsAre(ReadInterval{10 * kSec, 30 * kSec}, ReadInterval{40 * kSec, 50 * kSec}));
  r.Add(25 * kSec, 45 * kSec);  // bridges both
  EXPECT_THAT(r.intervals(), ElementsAre(ReadInterval{10 * kSec, 50 * kSec}));
  r.Add(5 * kSec, 5 * kSec);  // empty: ignored
  EXPECT_EQ(r.intervals().size(), 1u);
}

TEST(ReadIntervalsTest, FindIsHalfOpenAndPruneForgetsEndedIntervals) {
  ReadIntervals r;
  r.Add(10 * kSec, 20 * kSec);
  r.Add(30 * kSec, 40 * kSec);
  ASSERT_NE(r.Find(10 * kSec), nullptr);
  EXPECT_EQ(r.Find(20 * kSec), nullptr);
  EXPECT_EQ(r.Find(25 * kSec), nullptr);
  EXPECT_EQ(r.Find(5 * kSec), nullptr);
  ASSERT_NE(r.Find(39 * kSec), nullptr);
  EXPECT_EQ(r.Find(39 * kSec)->from_ns, 30 * kSec);
  r.PruneBefore(20 * kSec);
  EXPECT_THAT(r.intervals(), ElementsAre(ReadInterval{30 * kSec, 40 * kSec}));
}

class CompletenessTest : public ::testing::Test {
 protected:
  CompletenessTest() { intervals.Add(100 * kSec, 110 * kSec); }
  ReadIntervals intervals;
  CompletenessOptions options{.clock_skew_ns = 1 * kSec, .edge_ns = 3 * kSec};
};

TEST_F(CompletenessTest, RootedTraceInsideTheSkewMarginsIsComplete) {
  std::vector<SpanRecord> t = {At(1, 0, 101 * kSec, 500 * kMs), At(2, 1, 101 * kSec + kMs, kMs)};
  EXPECT_TRUE(CompleteWithin(t, intervals, options));
  // The root ends exactly at to - skew: still complete.
  t = {At(1, 0, 108 * kSec, 1 * kSec)};
  EXPECT_TRUE(CompleteWithin(t, intervals, options));
}

TEST_F(CompletenessTest, RootedTraceWithinSkewOfAnEdgeIsCut) {
  // Starts less than the skew after `from`: a span may have started before it, unread.
  EXPECT_FALSE(
      CompleteWithin(std::vector{At(1, 0, 100 * kSec + 999 * kMs, kMs)}, intervals, options));
  // Ends after to - skew.
  EXPECT_FALSE(CompleteWithin(std::vector{At(1, 0, 108 * kSec, 1 * kSec + 1)}, intervals, options));
  // Outside every interval.
  EXPECT_FALSE(CompleteWithin(std::vector{At(1, 0, 120 * kSec, kMs)}, intervals, options));
}

TEST_F(CompletenessTest, RootDecidesEvenWhenAChildSpillsOver) {
  // A child spilling past the root's end does not matter: the root bounds the trace.
  std::vector<SpanRecord> t = {At(1, 0, 102 * kSec, kSec), At(2, 1, 102 * kSec, 20 * kSec)};
  EXPECT_TRUE(CompleteWithin(t, intervals, options));
}

TEST_F(CompletenessTest, RootlessTraceNeedsTheEdgeMarginForEverySpan) {
  std::vector<SpanRecord> t = {At(2, 7, 103 * kSec, kSec), At(3, 7, 105 * kSec, 2 * kSec)};
  EXPECT_TRUE(CompleteWithin(t, intervals, options));  // 103 >= 100+3, 107 <= 110-3
  t.push_back(At(4, 7, 106 * kSec, 2 * kSec));         // ends at 108 > 107
  EXPECT_FALSE(CompleteWithin(t, intervals, options));
  t = {At(2, 7, 102 * kSec, kSec)};  // starts inside the edge margin
  EXPECT_FALSE(CompleteWithin(t, intervals, options));
}

TEST_F(CompletenessTest, NoEndMarginWhereReadingContinues) {
  // A rootless trace 2 s before the end of an interval that reaches the watermark it is
  // finalised at: the next window continues there, so only the start margin applies.
  std::vector<SpanRecord> t = {At(2, 7, 107 * kSec, kSec)};
  EXPECT_FALSE(CompleteWithin(t, intervals, options));
  EXPECT_TRUE(CompleteWithin(t, intervals, options, /*open_end_ns=*/110 * kSec));
  EXPECT_FALSE(CompleteWithin(t, intervals, options, /*open_end_ns=*/111 * kSec))
      << "a slice that ends before the watermark is closed";
  // The start margin still applies.
  t = {At(2, 7, 101 * kSec, kSec)};
  EXPECT_FALSE(CompleteWithin(t, intervals, options, 110 * kSec));
}

TEST_F(CompletenessTest, TraceAcrossTwoContiguousWindowsIsWhole) {
  intervals.Add(110 * kSec, 120 * kSec);
  EXPECT_TRUE(
      CompleteWithin(std::vector{At(1, 0, 109 * kSec + 500 * kMs, kSec)}, intervals, options));
}

TEST(WilsonIntervalTest, KnownValues) {
  // 13 of 100: 0.13, Wilson 95% [0.0777, 0.2094] (textbook value).
  Proportion p = WilsonInterval(13, 100);
  EXPECT_DOUBLE_EQ(p.rate, 0.13);
  EXPECT_NEAR(p.low, 0.0777, 5e-4);
  EXPECT_NEAR(p.high, 0.2098, 5e-4);
  // Zero successes: the lower bound is 0, the upper bound is not.
  p = WilsonInterval(0, 50);
  EXPECT_NEAR(p.low, 0, 1e-12);
  EXPECT_NEAR(p.high, 0.0713, 5e-4);
  // All successes.
  p = WilsonInterval(50, 50);
  EXPECT_NEAR(p.high, 1, 1e-12);
  EXPECT_NEAR(p.low, 0.9287, 5e-4);
  // No trials: nothing is known.
  p = WilsonInterval(0, 0);
  EXPECT_EQ(p.low, 0);
  EXPECT_EQ(p.high, 1);
}

TEST(WilsonIntervalTest, NarrowsWithMoreTrials) {
  Proportion small = WilsonInterval(10, 100);
  Proportion large = WilsonInterval(1000, 10000);
  EXPECT_LT(large.high - large.low, (small.high - small.low) / 3);
  EXPECT_LT(large.low, 0.1);
  EXPECT_GT(large.high, 0.1);
}

}  // namespace
}  // namespace apmcov::coverage
