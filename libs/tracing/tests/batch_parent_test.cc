// ChooseBatchParent: where an analyzer batch span belongs, from the contexts its records carry.
#include "apmcov/tracing/batch_parent.h"

#include <gtest/gtest.h>

namespace apmcov::tracing {
namespace {

SpanContext Ctx(uint64_t trace_low, uint64_t span) {
  SpanContext c;
  c.trace_id = {7, trace_low};
  c.span_id = span;
  c.sampling_priority = 1;
  return c;
}

TEST(BatchParentTest, NoContextStartsATraceWithoutLinks) {
  BatchParent p = ChooseBatchParent({std::nullopt, std::nullopt});
  EXPECT_FALSE(p.parent);
  EXPECT_TRUE(p.links.empty());
  EXPECT_FALSE(ChooseBatchParent({}).parent);
  SpanContext invalid;  // zero ids are ignored like a missing context
  EXPECT_FALSE(ChooseBatchParent({invalid}).parent);
}

TEST(BatchParentTest, OneProducerIsTheParent) {
  BatchParent p = ChooseBatchParent({std::nullopt, Ctx(1, 10), Ctx(1, 10)});
  ASSERT_TRUE(p.parent);
  EXPECT_EQ(p.parent->span_id, 10u);
  EXPECT_EQ(p.parent->trace_id, (TraceId{7, 1}));
  EXPECT_TRUE(p.links.empty());
}

TEST(BatchParentTest, OneTraceManyProducersIsAChildOfTheFirstAndLinksTheOthers) {
  BatchParent p = ChooseBatchParent({Ctx(1, 10), Ctx(1, 11), Ctx(1, 10), Ctx(1, 12)});
  ASSERT_TRUE(p.parent);
  EXPECT_EQ(p.parent->span_id, 10u);
  ASSERT_EQ(p.links.size(), 2u);
  EXPECT_EQ(p.links[0].span_id, 11u);
  EXPECT_EQ(p.links[1].span_id, 12u);
}

TEST(BatchParentTest, SeveralSendersStartATraceLinkingEachOnce) {
  BatchParent p = ChooseBatchParent({Ctx(1, 10), Ctx(2, 20), Ctx(1, 10), Ctx(2, 21)});
  EXPECT_FALSE(p.parent);
  ASSERT_EQ(p.links.size(), 3u);
  EXPECT_EQ(p.links[0].span_id, 10u);
  EXPECT_EQ(p.links[1].span_id, 20u);
  EXPECT_EQ(p.links[2].span_id, 21u);
  EXPECT_EQ(p.links_dropped, 0u);
}

TEST(BatchParentTest, LinksAreBounded) {
  std::vector<std::optional<SpanContext>> senders;
  for (uint64_t i = 1; i <= 40; ++i) senders.push_back(Ctx(i, 100 + i));
  BatchParent p = ChooseBatchParent(senders, 32);
  EXPECT_FALSE(p.parent);
  EXPECT_EQ(p.links.size(), 32u);
  EXPECT_EQ(p.links_dropped, 8u);
}

TEST(BatchParentTest, SameLowIdDifferentHighIsAnotherTrace) {
  SpanContext a = Ctx(1, 10), b = Ctx(1, 11);
  b.trace_id.high = 8;
  BatchParent p = ChooseBatchParent({a, b});
  EXPECT_FALSE(p.parent);
  EXPECT_EQ(p.links.size(), 2u);
}

}  // namespace
}  // namespace apmcov::tracing
