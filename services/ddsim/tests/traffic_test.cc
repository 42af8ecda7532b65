#include "ddsim/traffic/traffic.h"

#include <cmath>
#include <map>
#include <set>

#include "gtest/gtest.h"

namespace apmcov::ddsim {
namespace {

constexpr int64_t kT0 = 1'795'300'000;  // a bucket index (unix seconds)

class TrafficTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto w = GenerateWorld({11, 400});
    ASSERT_TRUE(w.ok());
    world_ = std::move(*w);
    opts_.seed = 11;
    opts_.spans_per_second = 2000;
  }
  World world_;
  TrafficOptions opts_;
};

bool SameSpan(const Span& a, const Span& b) {
  return a.trace_lo == b.trace_lo && a.trace_hi == b.trace_hi && a.span_id == b.span_id &&
         a.parent_id == b.parent_id && a.start_ns == b.start_ns && a.duration_ns == b.duration_ns &&
         a.service == b.service && a.kind == b.kind && a.target == b.target &&
         a.retained_by == b.retained_by;
}

TEST_F(TrafficTest, BucketIsAPureFunctionOfSeedAndIndex) {
  auto a = GenerateBucket(world_, opts_, kT0 + 5);
  // Generating other buckets first must not change it.
  GenerateBucket(world_, opts_, kT0 + 4);
  GenerateBucket(world_, opts_, kT0 + 100);
  auto b = GenerateBucket(world_, opts_, kT0 + 5);
  ASSERT_EQ(a->spans.size(), b->spans.size());
  for (size_t i = 0; i < a->spans.size(); ++i) ASSERT_TRUE(SameSpan(a->spans[i], b->spans[i])) << i;
  auto c = GenerateBucket(world_, opts_, kT0 + 6);
  EXPECT_NE(a->spans[0].trace_lo, c->spans[0].trace_lo);
  TrafficOptions other = opts_;
  other.seed = 12;
  EXPECT_NE(GenerateBucket(world_, other, kT0 + 5)->spans[0].trace_lo, a->spans[0].trace_lo);
}

TEST_F(TrafficTest, SpanRateAndTimeBounds) {
  for (int64_t b = kT0; b < kT0 + 5; ++b) {
    auto bucket = GenerateBucket(world_, opts_, b);
    EXPECT_GE(bucket->spans.size(), 2000u);
    EXPECT_LT(bucket->spans.size(), 2000u + 40);
    for (const auto& t : bucket->traces) {
      EXPECT_GE(t.start_ns, b * kBucketNanos);
      EXPECT_LT(t.start_ns, (b + 1) * kBucketNanos);
    }
    for (const auto& s : bucket->spans) {
      const auto& t = bucket->traces[s.trace_index];
      EXPECT_GE(s.start_ns, t.start_ns);
      EXPECT_LT(s.start_ns + s.duration_ns - t.start_ns, kMaxTraceNanos);
    }
  }
}

TEST_F(TrafficTest, NoTrafficBeforeTrafficStart) {
  opts_.traffic_start_ns = (kT0 + 10) * kBucketNanos;
  EXPECT_TRUE(GenerateBucket(world_, opts_, kT0 + 9)->spans.empty());
  EXPECT_FALSE(GenerateBucket(world_, opts_, kT0 + 10)->spans.empty());
}

TEST_F(TrafficTest, TraceIdsRoundTripAndCoverTheFullRange) {
  int above_2_63 = 0, with_128 = 0, total = 0;
  std::set<uint64_t> ids;
  for (int64_t b = kT0; b < kT0 + 3; ++b) {
    auto bucket = GenerateBucket(world_, opts_, b);
    for (uint32_t i = 0; i < bucket->traces.size(); ++i) {
      const auto& t = bucket->traces[i];
      auto d = DecodeTraceId(opts_.seed, t.trace_lo);
      ASSERT_TRUE(d.has_value());
      EXPECT_EQ(d->bucket, b);
      EXPECT_EQ(d->index, i);
      above_2_63 += t.trace_lo > (1ULL << 63);
      if (t.trace_hi != 0) {
        ++with_128;
        EXPECT_EQ(t.trace_hi >> 32, static_cast<uint64_t>(b));  // tracer puts unix seconds up top
      }
      ids.insert(t.trace_lo);
      ++total;
    }
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(total));
  EXPECT_GT(above_2_63, total / 3);
  EXPECT_GT(with_128, total / 3);
  EXPECT_LT(with_128, total);
  EXPECT_EQ(EncodeTraceId(opts_.seed, kT0, 7), EncodeTraceId(opts_.seed, kT0, 7));
}

TEST_F(TrafficTest, GapKindsAppearAtTheConfiguredRates) {
  opts_.gap_rates[0] = 0.10;  // uninstrumented_hop
  opts_.gap_rates[1] = 0.05;  // uninstrumented_callee
  opts_.gap_rates[2] = 0.05;  // propagation_break
  opts_.gap_rates[3] = 0.05;  // missing_root
  opts_.gap_rates[4] = 0.05;  // orphan_span (injected)
  std::map<GapKind, int> traces_with;
  int judged = 0, single = 0, broken = 0;
  for (int64_t b = kT0; b < kT0 + 20; ++b) {
    auto bucket = GenerateBucket(world_, opts_, b);
    for (const auto& t : bucket->traces) {
      if (!t.judged) {
        ++single;
        EXPECT_EQ(t.span_count, 1u);
        EXPECT_EQ(bucket->spans[t.first_span].retained_by, Retention::kRetentionFilter);
        continue;
      }
      ++judged;
      broken += t.broken();
      std::set<GapKind> kinds;
      for (const auto& g : t.gaps) kinds.insert(g.kind);
      for (auto k : kinds) ++traces_with[k];
      for (uint32_t i = t.first_span; i < t.first_span + t.span_count; ++i) {
        EXPECT_NE(bucket->spans[i].retained_by, Retention::kRetentionFilter);
      }
    }
  }
  ASSERT_GT(judged, 2000);
  auto rate = [&](GapKind k) { return static_cast<double>(traces_with[k]) / judged; };
  EXPECT_NEAR(rate(GapKind::kUninstrumentedHop), 0.10, 0.03);
  EXPECT_NEAR(rate(GapKind::kUninstrumentedCallee), 0.05, 0.02);
  EXPECT_NEAR(rate(GapKind::kPropagationBreak), 0.05, 0.02);
  EXPECT_NEAR(rate(GapKind::kMissingRoot), 0.05, 0.02);
  // Orphans come from their own scenario and from every missing root.
  EXPECT_GE(rate(GapKind::kOrphanSpan), 0.05);
  EXPECT_NEAR(static_cast<double>(broken) / judged, 0.30, 0.05);
  EXPECT_NEAR(static_cast<double>(single) / (judged + single), 0.03, 0.015);
}

TEST_F(TrafficTest, GapsPointAtRealSpansAndMissingServicesAreCatalogued) {
  for (int64_t b = kT0; b < kT0 + 5; ++b) {
    auto bucket = GenerateBucket(world_, opts_, b);
    for (const auto& t : bucket->traces) {
      std::set<uint64_t> span_ids;
      for (uint32_t i = t.first_span; i < t.first_span + t.span_count; ++i) {
        span_ids.insert(bucket->spans[i].span_id);
        EXPECT_EQ(bucket->spans[i].trace_lo, t.trace_lo);
      }
      for (const auto& g : t.gaps) {
        EXPECT_TRUE(span_ids.count(g.span_id)) << GapKindName(g.kind);
        if (g.to_service != kNoService) {
          EXPECT_TRUE(world_.services[g.to_service].catalogued());
          EXPECT_FALSE(g.peer.empty());
        }
      }
      for (uint32_t m : t.missing_services) {
        EXPECT_FALSE(world_.services[m].reports_spans()) << world_.services[m].name;
      }
    }
  }
}

TEST_F(TrafficTest, EveryGapKindAndDependencyKindOccurs) {
  std::set<GapKind> kinds;
  std::set<DepKind> deps;
  std::set<TargetForm> forms;
  std::set<Retention> retention;
  for (int64_t b = kT0; b < kT0 + 10; ++b) {
    auto bucket = GenerateBucket(world_, opts_, b);
    for (const auto& t : bucket->traces) {
      for (const auto& g : t.gaps) kinds.insert(g.kind);
    }
    for (const auto& s : bucket->spans) {
      retention.insert(s.retained_by);
      if (s.kind == SpanKind::kClient || s.kind == SpanKind::kProducer) {
        deps.insert(s.target_kind);
        if (s.target_kind == DepKind::kService) forms.insert(s.target_form);
      }
    }
  }
  EXPECT_EQ(kinds.size(), 5u);
  EXPECT_EQ(deps.size(), 4u);
  EXPECT_EQ(forms.size(), 5u);
  EXPECT_EQ(retention.size(), 3u);
}

}  // namespace
}  // namespace apmcov::ddsim
