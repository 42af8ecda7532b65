#include "apmcov/coverage/trace_assembler.h"

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace apmcov::coverage {
namespace {

using ::testing::ElementsAre;
using testing::Fields;
using testing::kSec;

// A finalised trace, copied out of the sink.
struct Finalised {
  uint64_t lo;
  uint64_t hi;
  int32_t partition;
  bool forced;
  std::vector<uint64_t> span_ids;
};

class AssemblerTest : public ::testing::Test {
 protected:
  explicit AssemblerTest(AssemblerOptions options = {}) : assembler_(options) {}

  auto Sink() {
    return [this](const AssembledTrace& t) {
      Finalised f{t.trace_id_lo, t.trace_id_hi, t.partition, t.forced, {}};
      for (const SpanRecord& s : t.spans) f.span_ids.push_back(s.span_id);
      out_.push_back(f);
    };
  }
  void Add(const SpanFields& f, int32_t partition = 0, int64_t offset = 0) {
    assembler_.Add(interner_.Intern(f), partition, offset, Sink());
  }
  void Watermark(int64_t seconds, int32_t partition = 0) {
    assembler_.OnWatermark(partition, seconds * kSec, Sink());
  }

  StringPool pool_;
  SpanInterner interner_{pool_};
  TraceAssembler assembler_;
  std::vector<Finalised> out_;
};

// Spans end at start + 1 s; grace defaults to 120 s.
TEST_F(AssemblerTest, FinalOnlyOnceTheWatermarkPassesLastEndPlusGrace) {
  Add(Fields(1, 10, 0, "a", 1000));  // ends 1001 s
  Watermark(1120);                   // 1001 + 120 = 1121 > 1120
  EXPECT_TRUE(out_.empty());
  EXPECT_EQ(assembler_.traces_in_flight(), 1u);
  Watermark(1121);  // exactly last end + grace: final
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].lo, 1u);
  EXPECT_THAT(out_[0].span_ids, ElementsAre(10u));
  EXPECT_FALSE(out_[0].forced);
  EXPECT_EQ(assembler_.traces_in_flight(), 0u);
  EXPECT_EQ(assembler_.spans_in_flight(), 0u);
  EXPECT_EQ(assembler_.counters().traces_finalised, 1u);
}

TEST_F(AssemblerTest, TraceSplitAcrossWindowsIsJudgedWhole) {
  // Window 1 publishes the root, its watermark arrives before the grace has passed.
  Add(Fields(5, 1, 0, "a", 1000));
  Watermark(1060);
  EXPECT_TRUE(out_.empty());
  // Window 2 brings the child that ended later.
  SpanFields child = Fields(5, 2, 1, "b", 1050);
  child.duration_ns = 30 * kSec;  // ends 1080
  Add(child);
  Watermark(1150);  // root alone would be final (1001 + 120), the trace is not (1080 + 120)
  EXPECT_TRUE(out_.empty());
  Watermark(1200);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_THAT(out_[0].span_ids, ElementsAre(1u, 2u));
}

TEST_F(AssemblerTest, DeduplicatesSpansBySpanIdAndSortsThem) {
  Add(Fields(9, 30, 10, "a"));
  Add(Fields(9, 10, 0, "a"));
  Add(Fields(9, 30, 10, "a"));  // replayed duplicate
  Add(Fields(9, 20, 10, "b"));
  Add(Fields(9, 10, 0, "a"));
  EXPECT_EQ(assembler_.spans_in_flight(), 5u);
  Watermark(5000);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_THAT(out_[0].span_ids, ElementsAre(10u, 20u, 30u));
  EXPECT_EQ(assembler_.counters().duplicate_spans, 2u);
  EXPECT_EQ(assembler_.counters().spans_added, 5u);
}

TEST_F(AssemblerTest, KeepsIdsAbove2To63AndTheUpperHalfFromAnySpan) {
  const uint64_t lo = 0xFFFFFFFFFFFFFFF0ull;
  SpanFields a = Fields(lo, 0x8000000000000001ull, 0, "a");
  SpanFields b = Fields(lo, 0xFFFFFFFFFFFFFFFEull, 0x8000000000000001ull, "b");
  b.trace_id_hi = 0x6553F0A200000000ull;  // _dd.p.tid only on this chunk's first span
  Add(a);
  Add(b);
  Watermark(5000);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].lo, lo);
  EXPECT_EQ(out_[0].hi, 0x6553F0A200000000ull);
  EXPECT_THAT(out_[0].span_ids, ElementsAre(0x8000000000000001ull, 0xFFFFFFFFFFFFFFFEull));
}

TEST_F(AssemblerTest, WatermarksArePerPartition) {
  Add(Fields(1, 1, 0, "a", 1000), /*partition=*/0, 0);
  Add(Fields(2, 1, 0, "a", 1000), /*partition=*/1, 0);
  Watermark(5000, /*partition=*/1);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].lo, 2u);
  EXPECT_EQ(out_[0].partition, 1);
  Watermark(4000, /*partition=*/0);
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_EQ(out_[1].lo, 1u);
  // A lower watermark is ignored.
  Watermark(3000, 0);
  EXPECT_EQ(assembler_.LatestWatermark(0), 4000 * kSec);
  EXPECT_EQ(assembler_.LatestWatermark(7), INT64_MIN);
}

TEST_F(AssemblerTest, FinalisesOldestFirstWithinAWatermark) {
  Add(Fields(3, 1, 0, "a", 1000));
  Add(Fields(1, 1, 0, "a", 1000));
  Add(Fields(2, 1, 0, "a", 1000));
  Watermark(5000);
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_EQ(out_[0].lo, 3u);
  EXPECT_EQ(out_[1].lo, 1u);
  EXPECT_EQ(out_[2].lo, 2u);
}

TEST_F(AssemblerTest, SafeCommitOffsetNeverPassesAnUnfinalisedTrace) {
  EXPECT_EQ(assembler_.SafeCommitOffset(0, 10), 10);  // nothing in flight
  Add(Fields(1, 1, 0, "a", 1000), 0, 10);             // trace 1 ends 1001
  SpanFields late = Fields(2, 1, 0, "a", 1000);
  late.duration_ns = 500 * kSec;  // trace 2 ends 1500
  Add(late, 0, 11);
  Add(Fields(1, 2, 1, "b", 1000), 0, 12);
  Add(Fields(3, 1, 0, "a", 1000), 1, 40);  // another partition
  EXPECT_EQ(assembler_.SafeCommitOffset(0, 13), 10);
  EXPECT_EQ(assembler_.SafeCommitOffset(1, 41), 40);
  Watermark(1200, 0);  // finalises trace 1 only
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(assembler_.SafeCommitOffset(0, 13), 11);
  Watermark(2000, 0);
  EXPECT_EQ(assembler_.SafeCommitOffset(0, 13), 13);
  EXPECT_EQ(assembler_.SafeCommitOffset(1, 41), 40);
  EXPECT_EQ(assembler_.SafeCommitOffset(2, 99), 99);  // unknown partition
}

TEST_F(AssemblerTest, DropsAndCountsSpansThatViolateTheWatermark) {
  Watermark(2000);
  Add(Fields(1, 1, 0, "a", 1000));  // ended 1001, 1121 <= 2000: its trace was judged already
  EXPECT_EQ(assembler_.traces_in_flight(), 0u);
  EXPECT_EQ(assembler_.counters().late_spans_dropped, 1u);
  Add(Fields(2, 1, 0, "a", 1950));  // 1951 + 120 > 2000: accepted
  EXPECT_EQ(assembler_.traces_in_flight(), 1u);
  // An early span joins a trace still in flight.
  Add(Fields(2, 2, 1, "b", 100));
  EXPECT_EQ(assembler_.spans_in_flight(), 2u);
  EXPECT_EQ(assembler_.counters().late_spans_dropped, 1u);
}

// The assembler remembers the trace of the last span (a batch is one trace's spans): that
// memory must end with the trace. Here the next span of the same trace comes after the trace
// was judged and its slot went to another trace: it is late, not added to the new one.
TEST_F(AssemblerTest, ASpanOfAJudgedTraceIsLateEvenRightAfterItsSiblings) {
  Add(Fields(1, 1, 0, "a", 1000));
  Add(Fields(1, 2, 1, "b", 1000));  // same trace, straight after: one trace, two spans
  EXPECT_EQ(assembler_.traces_in_flight(), 1u);
  Watermark(2000);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_THAT(out_[0].span_ids, ElementsAre(1u, 2u));
  Add(Fields(1, 3, 1, "c", 1000));  // trace 1 again, its slot free: late
  EXPECT_EQ(assembler_.counters().late_spans_dropped, 1u);
  EXPECT_EQ(assembler_.traces_in_flight(), 0u);
  Add(Fields(2, 1, 0, "a", 1950));  // trace 2 takes the freed slot
  Add(Fields(1, 4, 1, "d", 1000));  // trace 1 once more: still late, not trace 2's
  EXPECT_EQ(assembler_.counters().late_spans_dropped, 2u);
  EXPECT_EQ(assembler_.spans_in_flight(), 1u);
  Add(Fields(2, 2, 1, "b", 1950));
  Watermark(3000);
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_EQ(out_[1].lo, 2u);
  EXPECT_THAT(out_[1].span_ids, ElementsAre(1u, 2u));
}

TEST_F(AssemblerTest, ReplayedWatermarksDoNotJudgeTracesAgain) {
  assembler_.SetAppliedWatermark(0, 3000 * kSec);
  EXPECT_EQ(assembler_.LatestWatermark(0), 3000 * kSec);  // persisting it loses nothing
  Add(Fields(1, 2, 1, "b", 1000), 0, 20);  // a replayed tail of an already judged trace
  Watermark(3000);
  EXPECT_TRUE(out_.empty());
  EXPECT_EQ(assembler_.counters().traces_replayed, 1u);
  EXPECT_EQ(assembler_.traces_in_flight(), 0u);
  Add(Fields(2, 1, 0, "a", 3500), 0, 30);
  Watermark(4000);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].lo, 2u);
  EXPECT_EQ(assembler_.LatestWatermark(0), 4000 * kSec);
  // Other partitions are unaffected by partition 0's applied watermark.
  Add(Fields(3, 1, 0, "a", 1000), 1, 5);
  Watermark(3000, 1);
  ASSERT_EQ(out_.size(), 2u);
}

// A crash after the DB transaction of the first watermark: the restart replays from the safe
// offset and must neither judge trace 1 again from its tail nor lose trace 2.
TEST_F(AssemblerTest, RestartFromTheSafeOffsetJudgesEveryTraceOnceAndWhole) {
  struct Message {
    int64_t offset;
    SpanFields span;
    int64_t watermark_s;  // > 0: a watermark message
  };
  SpanFields t2 = Fields(2, 1, 0, "a", 1000);
  t2.duration_ns = 300 * kSec;  // ends 1300: not final at 1200
  const std::vector<Message> log = {{5, Fields(1, 1, 0, "a", 1000), 0},  {10, t2, 0},
                                    {20, Fields(1, 2, 1, "b", 1001), 0}, {30, {}, 1200},
                                    {40, Fields(2, 2, 1, "b", 1002), 0}, {50, {}, 1500}};
  auto consume = [](TraceAssembler& a, SpanInterner& in, const Message& m, auto sink) {
    if (m.watermark_s > 0) {
      a.OnWatermark(0, m.watermark_s * kSec, sink);
    } else {
      a.Add(in.Intern(m.span), 0, m.offset, sink);
    }
  };
  // First run: up to the watermark at offset 30, then the DB commit, then the crash.
  for (size_t i = 0; i < 4; ++i) consume(assembler_, interner_, log[i], Sink());
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_THAT(out_[0].span_ids, ElementsAre(1u, 2u));
  const int64_t committed = assembler_.SafeCommitOffset(0, 31);
  const int64_t persisted_watermark = assembler_.LatestWatermark(0);
  EXPECT_EQ(committed, 10);
  // Restart: a new assembler, the persisted watermark restored, replay from the committed offset.
  TraceAssembler restarted;
  restarted.SetAppliedWatermark(0, persisted_watermark);
  std::vector<Finalised> replayed;
  auto sink = [&](const AssembledTrace& t) {
    Finalised f{t.trace_id_lo, t.trace_id_hi, t.partition, t.forced, {}};
    for (const SpanRecord& s : t.spans) f.span_ids.push_back(s.span_id);
    replayed.push_back(f);
  };
  for (const Message& m : log) {
    if (m.offset >= committed) consume(restarted, interner_, m, sink);
  }
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_EQ(replayed[0].lo, 2u);
  EXPECT_THAT(replayed[0].span_ids, ElementsAre(1u, 2u));
  EXPECT_EQ(restarted.counters().traces_replayed, 1u);  // trace 1's tail
}

TEST_F(AssemblerTest, RevokePartitionForgetsItsTraces) {
  Add(Fields(1, 1, 0, "a"), 0, 1);
  Add(Fields(2, 1, 0, "a"), 0, 2);
  Add(Fields(3, 1, 0, "a"), 1, 3);
  EXPECT_EQ(assembler_.RevokePartition(0), 2u);
  EXPECT_EQ(assembler_.RevokePartition(5), 0u);
  EXPECT_EQ(assembler_.traces_in_flight(), 1u);
  EXPECT_EQ(assembler_.spans_in_flight(), 1u);
  EXPECT_EQ(assembler_.counters().traces_revoked, 2u);
  EXPECT_EQ(assembler_.SafeCommitOffset(0, 9), 9);
  Watermark(9000, 1);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].lo, 3u);
}

TEST_F(AssemblerTest, ReusesSlotsAfterFinalisation) {
  for (int round = 0; round < 3; ++round) {
    for (uint64_t t = 1; t <= 100; ++t) {
      for (uint64_t s = 1; s <= 5; ++s) Add(Fields(t, s, s - 1, "a", 1000 + round * 1000));
    }
    Watermark(1000 + round * 1000 + 500);
  }
  EXPECT_EQ(out_.size(), 300u);
  const size_t bytes = assembler_.MemoryBytes();
  for (uint64_t t = 1; t <= 100; ++t) {
    for (uint64_t s = 1; s <= 5; ++s) Add(Fields(t, s, s - 1, "a", 9000));
  }
  Watermark(9500);
  EXPECT_EQ(assembler_.MemoryBytes(), bytes);  // no growth at steady state
}

// Traces whose spans keep arriving while watermarks pass, on three partitions, against a
// plain model of the contract: a watermark finalises exactly the traces of its partition whose
// last end + grace it reached, oldest first, and each trace whole. One span in fifty has a
// hostile timestamp (near either end of int64): ends and deadlines saturate, and a new trace
// already behind its partition's watermark is dropped as late.
TEST_F(AssemblerTest, WatermarksFinaliseExactlyTheTracesTheyReachInArrivalOrder) {
  auto saturating_add = [](int64_t a, int64_t b) {  // b >= 0
    return a > INT64_MAX - b ? INT64_MAX : a + b;
  };
  struct ModelTrace {
    int32_t partition;
    int64_t last_end_ns;
    uint64_t arrival;
    std::vector<uint64_t> span_ids;
  };
  std::map<uint64_t, ModelTrace> live;  // by trace id
  std::map<int32_t, int64_t> watermarks;
  std::vector<Finalised> expected;
  auto expect_watermark = [&](int32_t partition, int64_t w) {
    if (watermarks.contains(partition) && w <= watermarks[partition]) return;
    watermarks[partition] = w;
    std::vector<std::pair<uint64_t, uint64_t>> due;  // (arrival, trace id)
    for (const auto& [id, t] : live) {
      if (t.partition == partition && saturating_add(t.last_end_ns, 120 * kSec) <= w)
        due.emplace_back(t.arrival, id);
    }
    std::sort(due.begin(), due.end());
    for (const auto& [arrival, id] : due) {
      std::vector<uint64_t> ids = live[id].span_ids;
      std::sort(ids.begin(), ids.end());
      expected.push_back({id, 0, partition, false, ids});
      live.erase(id);
    }
  };
  std::mt19937_64 rng(7);
  auto uniform = [&rng](int64_t n) {
    return static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
  };
  uint64_t next_trace = 1, next_span = 1, arrivals = 0, late = 0;
  int64_t now_s = 10'000;
  for (int step = 0; step < 20'000; ++step) {
    now_s += uniform(2);
    if (uniform(50) == 0) {  // a watermark, sometimes behind the partition's last one
      const auto partition = static_cast<int32_t>(uniform(3));
      const int64_t w = (now_s - uniform(90)) * kSec + uniform(kSec);
      assembler_.OnWatermark(partition, w, Sink());
      expect_watermark(partition, w);
      continue;
    }
    SpanFields f = Fields(0, next_span++, 0, "a", now_s - uniform(20));
    f.duration_ns = uniform(40) * kSec + uniform(kSec);
    if (uniform(50) == 0) {
      f.start_ns =
          uniform(2) == 0 ? INT64_MAX - uniform(1000) * kSec : INT64_MIN + uniform(1000) * kSec;
    }
    const int64_t end = saturating_add(f.start_ns, f.duration_ns);
    int32_t partition = 0;
    if (!live.empty() && uniform(3) != 0) {  // a later span of a trace in flight
      auto it = live.begin();
      std::advance(it, uniform(static_cast<int64_t>(live.size())));
      f.trace_id_lo = it->first;
      partition = it->second.partition;
    } else {
      f.trace_id_lo = next_trace++ * 0x9E3779B97F4A7C15ull;  // distinct, spread like real ids
      partition = static_cast<int32_t>(uniform(3));
      if (watermarks.contains(partition) &&
          saturating_add(end, 120 * kSec) <= watermarks[partition]) {
        ++late;  // opens a trace its partition's watermark already passed
        Add(f, partition, step);
        continue;
      }
      live[f.trace_id_lo] = {partition, INT64_MIN, arrivals++, {}};
    }
    ModelTrace& t = live[f.trace_id_lo];
    t.last_end_ns = std::max(t.last_end_ns, end);
    t.span_ids.push_back(f.span_id);
    Add(f, partition, step);
  }
  for (int32_t partition = 0; partition < 3; ++partition) {
    assembler_.OnWatermark(partition, INT64_MAX, Sink());
    expect_watermark(partition, INT64_MAX);
  }
  ASSERT_EQ(out_.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(out_[i].lo, expected[i].lo);
    EXPECT_EQ(out_[i].partition, expected[i].partition);
    EXPECT_EQ(out_[i].span_ids, expected[i].span_ids);
  }
  EXPECT_EQ(assembler_.traces_in_flight(), 0u);
  EXPECT_GT(late, 0u);
  EXPECT_EQ(assembler_.counters().late_spans_dropped, late);
}

// Timestamps at the ends of int64 (hostile or broken input): deadlines saturate, the buckets
// they are filed in lie far apart, and each trace is still final exactly when its deadline is
// reached, never lost and never early.
TEST_F(AssemblerTest, ExtremeTimestampsAreFinalisedByTheirOwnDeadline) {
  SpanFields far_future = Fields(1, 1, 0, "a");
  far_future.start_ns = INT64_MAX - 5;
  far_future.duration_ns = 1'000;  // ends past INT64_MAX: saturates, final only at INT64_MAX
  Add(far_future);
  SpanFields before_epoch = Fields(2, 2, 0, "a");
  before_epoch.start_ns = INT64_MIN + 10;  // deadline = start + 1 s + 120 s, far below 0
  Add(before_epoch);
  SpanFields negative = Fields(3, 3, 0, "a", 1000);
  negative.duration_ns = -5 * kSec;  // ends before it starts: 995 s, final at 1115 s
  Add(negative);
  Add(Fields(4, 4, 0, "a", 2000));  // an ordinary trace, final at 2121 s
  Watermark(-1);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].lo, 2u);
  Watermark(1114);
  EXPECT_EQ(out_.size(), 1u);
  Watermark(1115);
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_EQ(out_[1].lo, 3u);
  assembler_.OnWatermark(0, INT64_MAX - 1, Sink());
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_EQ(out_[2].lo, 4u);
  assembler_.OnWatermark(0, INT64_MAX, Sink());
  ASSERT_EQ(out_.size(), 4u);
  EXPECT_EQ(out_[3].lo, 1u);
  EXPECT_EQ(assembler_.traces_in_flight(), 0u);
}

class CappedAssemblerTest : public AssemblerTest {
 protected:
  CappedAssemblerTest()
      : AssemblerTest(AssemblerOptions{
            .grace_ns = 120 * kSec, .max_traces_in_flight = 2, .max_spans_in_flight = 5}) {}
};

TEST_F(CappedAssemblerTest, ForcesTheOldestTraceOutAndCountsIt) {
  Add(Fields(1, 1, 0, "a"), 0, 1);
  Add(Fields(2, 1, 0, "a"), 0, 2);
  Add(Fields(1, 2, 1, "b"), 0, 3);
  EXPECT_TRUE(out_.empty());
  Add(Fields(3, 1, 0, "a"), 0, 4);  // third trace: the oldest (1) goes
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].lo, 1u);
  EXPECT_TRUE(out_[0].forced);
  EXPECT_THAT(out_[0].span_ids, ElementsAre(1u, 2u));
  EXPECT_EQ(assembler_.counters().traces_forced, 1u);
  EXPECT_EQ(assembler_.traces_in_flight(), 2u);
  EXPECT_EQ(assembler_.SafeCommitOffset(0, 5), 2);
  // The span cap: trace 2 grows to 4 spans, 5 + 1 in flight > 5 forces trace 2 out.
  Add(Fields(2, 2, 1, "a"), 0, 5);
  Add(Fields(2, 3, 1, "a"), 0, 6);
  Add(Fields(2, 4, 1, "a"), 0, 7);
  EXPECT_EQ(out_.size(), 1u);
  Add(Fields(3, 2, 1, "a"), 0, 8);
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_EQ(out_[1].lo, 2u);
  EXPECT_TRUE(out_[1].forced);
  EXPECT_EQ(assembler_.counters().traces_forced, 2u);
  EXPECT_EQ(assembler_.spans_in_flight(), 2u);
  EXPECT_EQ(assembler_.SafeCommitOffset(0, 9), 4);
}

// A trace forced out is judged once, from the spans it had: the spans that arrive for it later
// are dropped and counted, never assembled into a second, partial trace (which would be judged
// again, with invented orphans, and counted twice), until the watermark passes its deadline.
TEST_F(CappedAssemblerTest, SpansOfATraceForcedOutAreDroppedNotJudgedAgain) {
  Add(Fields(1, 1, 0, "a"), 0, 1);
  Add(Fields(2, 1, 0, "a"), 0, 2);
  Add(Fields(3, 1, 0, "a"), 0, 3);  // forces trace 1 out
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_TRUE(out_[0].forced);
  EXPECT_EQ(assembler_.forced_remembered(), 1u);
  Add(Fields(1, 2, 1, "b", 1000), 0, 4);  // its tail, ending 1001 s
  Add(Fields(1, 3, 2, "c", 1050), 0, 5);  // ending 1051 s: remembered until 1051 + 120
  EXPECT_EQ(assembler_.counters().forced_tail_spans_dropped, 2u);
  EXPECT_EQ(assembler_.traces_in_flight(), 2u);  // 2 and 3: no new trace 1
  EXPECT_EQ(assembler_.SafeCommitOffset(0, 6), 2);
  Watermark(1170);  // traces 2 and 3 end at 1001 s: final; trace 1's tail is still expected
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_EQ(out_[1].lo, 2u);
  EXPECT_EQ(out_[2].lo, 3u);
  EXPECT_EQ(assembler_.forced_remembered(), 1u);
  Add(Fields(1, 4, 1, "b", 1060), 0, 7);  // still trace 1's: dropped, extends it to 1181
  EXPECT_EQ(assembler_.counters().forced_tail_spans_dropped, 3u);
  Watermark(1180);
  EXPECT_EQ(assembler_.forced_remembered(), 1u);
  Watermark(1181);
  EXPECT_EQ(assembler_.forced_remembered(), 0u);
  // Past its deadline a span of trace 1 breaks the watermark contract: a late span, as always.
  Add(Fields(1, 5, 1, "b", 1060), 0, 8);
  EXPECT_EQ(assembler_.counters().late_spans_dropped, 1u);
  EXPECT_EQ(assembler_.counters().forced_tail_spans_dropped, 3u);
  EXPECT_EQ(out_.size(), 3u);
  EXPECT_EQ(assembler_.counters().traces_finalised, 3u);
}

// The ids remembered are bounded by the trace cap (here 2): past it the oldest is forgotten,
// and its tail opens a trace of its own again (judged, not lost). A revoked partition forgets
// its own.
TEST_F(CappedAssemblerTest, ForcedIdsRememberedAreBoundedAndForgottenWithTheirPartition) {
  for (uint64_t trace = 1; trace <= 5; ++trace) Add(Fields(trace, 1, 0, "a"), 0, 0);
  ASSERT_EQ(assembler_.counters().traces_forced, 3u);  // 1, 2, 3
  EXPECT_EQ(assembler_.forced_remembered(), 2u);       // 2 and 3: 1 forgotten
  Add(Fields(1, 2, 1, "b"), 0, 0);                     // a new trace 1 (forcing 4 out)
  EXPECT_EQ(assembler_.counters().forced_tail_spans_dropped, 0u);
  Add(Fields(3, 2, 1, "b"), 0, 0);  // still remembered: dropped
  EXPECT_EQ(assembler_.counters().forced_tail_spans_dropped, 1u);
  Add(Fields(9, 1, 0, "a"), 1, 0);   // partition 1: forces trace 5 out
  Add(Fields(10, 1, 0, "a"), 1, 0);  // forces trace 1 (the second) out
  EXPECT_EQ(assembler_.forced_remembered(), 2u);
  assembler_.RevokePartition(0);
  EXPECT_EQ(assembler_.forced_remembered(), 0u);
}

// Without watermarks the caps force traces out one by one; what each leaves behind in the
// partition's queue and deadline buckets (a bucket each here: their deadlines are a second
// apart) is dropped as it piles up, so memory stays flat however long the flood lasts.
TEST_F(CappedAssemblerTest, ForcedTracesLeaveNothingBehindWithoutWatermarks) {
  uint64_t trace = 1;
  auto flood = [&](int n) {
    for (int i = 0; i < n; ++i, ++trace) {
      Add(Fields(trace, 1, 0, "a", 1000 + static_cast<int64_t>(trace)));
    }
  };
  flood(5'000);
  const size_t bytes = assembler_.MemoryBytes();
  flood(50'000);
  EXPECT_EQ(assembler_.counters().traces_forced, trace - 1 - 2);
  EXPECT_LT(assembler_.MemoryBytes(), bytes + 100'000);
  // The two traces still in flight are final at their own deadline.
  Watermark(1000 + static_cast<int64_t>(trace) + 1 + 120);
  EXPECT_EQ(assembler_.traces_in_flight(), 0u);
  EXPECT_EQ(out_.back().lo, trace - 1);
}

}  // namespace
}  // namespace apmcov::coverage
