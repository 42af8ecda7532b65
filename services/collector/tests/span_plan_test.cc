// The slice planner (design §7.1): pure arithmetic over a density, no I/O.
#include "span_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace apmcov::collector {
namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kMin = 60 * kSec;

// `minutes` one-minute buckets from t=0, each with `per_minute(i)` spans.
template <typename F>
std::vector<DensityBucket> Minutes(int minutes, F per_minute) {
  std::vector<DensityBucket> d;
  for (int i = 0; i < minutes; ++i) {
    d.push_back({i * kMin, (i + 1) * kMin, static_cast<double>(per_minute(i))});
  }
  return d;
}

int64_t Pages(double spans) { return static_cast<int64_t>(std::ceil(spans / 1000.0)); }

TEST(SpanPlanTest, ARangeThatFitsTheBudgetIsReadWhole) {
  auto d = Minutes(15, [](int) { return 3000; });  // 45k spans = 45 pages
  SpanReadPlan p = PlanSpanRead({0, 15 * kMin}, d, {.budget_pages = 60});
  EXPECT_TRUE(p.whole);
  EXPECT_EQ(p.expected_pages, 45);
  EXPECT_EQ(p.sampled_ns(), 15 * kMin);
  // Exactly at the budget still fits.
  p = PlanSpanRead({0, 15 * kMin}, d, {.budget_pages = 45});
  EXPECT_TRUE(p.whole);
}

TEST(SpanPlanTest, SlicesStayWithinTheBudgetWithHeadroom) {
  // 20x the budget's volume: 60 pages a sync, 1.2M spans in 15 minutes.
  auto d = Minutes(15, [](int) { return 80'000; });
  for (double phase : {0.0, 0.37, 0.999}) {
    SpanReadPlan p = PlanSpanRead({0, 15 * kMin}, d, {.budget_pages = 60, .phase = phase});
    ASSERT_FALSE(p.whole);
    ASSERT_FALSE(p.slices.empty());
    int64_t pages = 0;
    for (const TimeRange& s : p.slices) {
      EXPECT_GE(s.from_ns, 0);
      EXPECT_LE(s.to_ns, 15 * kMin);
      EXPECT_LE(s.length(), 15 * kMin / static_cast<int64_t>(p.slices.size()));
      pages += Pages(ExpectedSpans(d, s.from_ns, s.to_ns));
    }
    EXPECT_LE(pages, 54) << "within 90% of 60 pages at phase " << phase;
    EXPECT_GE(pages, 50) << "and not far below it";
    for (size_t i = 1; i < p.slices.size(); ++i) {
      EXPECT_LE(p.slices[i - 1].to_ns, p.slices[i].from_ns) << "disjoint, sorted";
    }
  }
}

TEST(SpanPlanTest, SlicesAreAtLeastTheMinimumLongAndSpreadEvenly) {
  auto d = Minutes(15, [](int) { return 80'000; });  // 1333 spans/s
  SpanReadPlan p = PlanSpanRead({0, 15 * kMin}, d,
                                {.budget_pages = 60, .min_slice_ns = 10 * kSec, .phase = 0.5});
  // 54 pages = 40.5 s of traffic: four slices of about 10 s, one per quarter of the range.
  ASSERT_EQ(p.slices.size(), 4u);
  for (size_t i = 0; i < p.slices.size(); ++i) {
    EXPECT_GE(p.slices[i].length(), 9 * kSec);
    const int64_t quarter = 15 * kMin / 4;
    EXPECT_GE(p.slices[i].from_ns, static_cast<int64_t>(i) * quarter);
    EXPECT_LE(p.slices[i].to_ns, static_cast<int64_t>(i + 1) * quarter);
  }
}

TEST(SpanPlanTest, ThePhaseMovesTheSlicesAcrossTheirStride) {
  auto d = Minutes(1, [](int) { return 180'000; });  // 3000 spans/s, budget 5
  SpanReadPlan early = PlanSpanRead({0, kMin}, d, {.budget_pages = 5, .phase = 0});
  SpanReadPlan late = PlanSpanRead({0, kMin}, d, {.budget_pages = 5, .phase = 0.99});
  ASSERT_EQ(early.slices.size(), 1u);
  ASSERT_EQ(late.slices.size(), 1u);
  EXPECT_EQ(early.slices[0].from_ns, 0);
  EXPECT_GT(late.slices[0].from_ns, 55 * kSec);
  EXPECT_LE(late.slices[0].to_ns, kMin);
  // 4 usable pages of 5 = ~4000 spans = ~1.3 s at 3000/s.
  EXPECT_NEAR(static_cast<double>(early.slices[0].length()) / kSec, 1.31, 0.02);
  EXPECT_EQ(early.sampled_ns(), early.slices[0].length());
}

TEST(SpanPlanTest, SliceLengthFollowsTheLocalDensity) {
  // A quiet first half and a busy second half: slices in the busy half are shorter.
  auto d = Minutes(10, [](int i) { return i < 5 ? 20'000 : 200'000; });
  SpanReadPlan p = PlanSpanRead({0, 10 * kMin}, d, {.budget_pages = 20, .min_slice_ns = kSec});
  ASSERT_FALSE(p.whole);
  ASSERT_GE(p.slices.size(), 2u);
  EXPECT_GT(p.slices.front().length(), 4 * p.slices.back().length());
  for (const TimeRange& s : p.slices) {
    EXPECT_LE(ExpectedSpans(d, s.from_ns, s.to_ns),
              static_cast<double>(p.pages_per_slice) * 1000.0);
  }
}

TEST(SpanPlanTest, EmptyOrUnknownDensityReadsWhole) {
  SpanReadPlan p = PlanSpanRead({0, kMin}, {}, {.budget_pages = 1});
  EXPECT_TRUE(p.whole);
  EXPECT_EQ(p.expected_pages, 0);
  p = PlanSpanRead({kMin, kMin}, {}, {.budget_pages = 1});
  EXPECT_TRUE(p.whole);
  EXPECT_EQ(p.sampled_ns(), 0);
}

}  // namespace
}  // namespace apmcov::collector
