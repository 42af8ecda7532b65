#include "span_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apmcov/bus/proto.h"
#include "apmcov/v1/events.pb.h"

namespace apmcov::analyzer {
namespace {

bus::IncomingMessage SpanMessage(int32_t partition, int64_t offset, uint64_t trace,
                                 const std::string& service) {
  v1::SpanBatch b;
  v1::Span* s = b.add_spans();
  s->set_trace_id(trace);
  s->set_span_id(trace + 1);
  s->set_service(service);
  bus::IncomingMessage m;
  m.topic = "t.spans";
  m.partition = partition;
  m.offset = offset;
  m.value = b.SerializeAsString();
  m.headers = {{"content-type", "application/x-protobuf"}, {"type", "apmcov.v1.SpanBatch"}};
  return m;
}

TEST(SpanDecoderTest, PollsComeOutDecodedInOrderWithTheirErrors) {
  coverage::StringPool pool;
  SpanDecoder decoder(2, "t.spans", pool);
  EXPECT_FALSE(decoder.Next().has_value());
  bus::IncomingMessage bad = SpanMessage(0, 1, 9, "x");
  bad.value = "\xff\xff";
  bus::IncomingMessage other;
  other.topic = "t.catalog";
  other.value = "not a span batch";
  decoder.Submit({SpanMessage(0, 0, 7, "checkout"), bad, other});
  decoder.Submit({SpanMessage(1, 0, 8, "payments")});
  EXPECT_EQ(decoder.Pending(), 2u);

  std::optional<DecodedPoll> first = decoder.Next();
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->messages.size(), 3u);
  ASSERT_EQ(first->batches[0].spans.size(), 1u);
  EXPECT_EQ(first->batches[0].spans[0].trace_id_lo, 7u);
  EXPECT_EQ(pool.View(first->batches[0].spans[0].service), "checkout");
  EXPECT_TRUE(first->errors[0].ok());
  EXPECT_FALSE(first->errors[1].ok());
  EXPECT_NE(std::string(first->errors[1].message()).find("t.spans"), std::string::npos)
      << first->errors[1];
  EXPECT_TRUE(first->errors[2].ok());  // other topics are left to the consumer
  EXPECT_TRUE(first->batches[2].spans.empty());
  decoder.Recycle(std::move(*first));

  std::optional<DecodedPoll> second = decoder.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(pool.View(second->batches[0].spans[0].service), "payments");
  EXPECT_EQ(decoder.Pending(), 0u);
  EXPECT_FALSE(decoder.Next().has_value());
}

TEST(SpanDecoderTest, DiscardMarksOnlyTheRevokedPartitionsOfQueuedPolls) {
  coverage::StringPool pool;
  SpanDecoder decoder(3, "t.spans", pool);
  decoder.Submit({SpanMessage(0, 0, 1, "a"), SpanMessage(1, 0, 2, "b")});
  decoder.Submit({SpanMessage(1, 1, 3, "c")});
  EXPECT_EQ(decoder.Discard({{"t.spans", 1}}), 2u);
  std::optional<DecodedPoll> first = decoder.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(first->Discarded(first->messages[0]));
  EXPECT_TRUE(first->Discarded(first->messages[1]));
  std::optional<DecodedPoll> second = decoder.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(second->Discarded(second->messages[0]));
  // A poll submitted after the revocation is not touched by it.
  decoder.Submit({SpanMessage(1, 0, 2, "b")});
  std::optional<DecodedPoll> third = decoder.Next();
  ASSERT_TRUE(third.has_value());
  EXPECT_FALSE(third->Discarded(third->messages[0]));
}

TEST(SpanDecoderTest, ManyPollsThroughABoundedQueueKeepEveryIdValid) {
  coverage::StringPool pool;
  SpanDecoder decoder(2, "t.spans", pool);
  // The consumer reads views of ids the decode thread interned while it keeps interning.
  size_t seen = 0;
  for (int i = 0; i < 2000; ++i) {
    decoder.Submit({SpanMessage(0, i, static_cast<uint64_t>(i), "svc-" + std::to_string(i))});
    if (decoder.Pending() > 1) {
      std::optional<DecodedPoll> p = decoder.Next();
      ASSERT_TRUE(p.has_value());
      const auto& rec = p->batches[0].spans.at(0);
      EXPECT_EQ(pool.View(rec.service), "svc-" + std::to_string(rec.trace_id_lo));
      ++seen;
      decoder.Recycle(std::move(*p));
    }
  }
  while (std::optional<DecodedPoll> p = decoder.Next()) ++seen;
  EXPECT_EQ(seen, 2000u);
}

}  // namespace
}  // namespace apmcov::analyzer
