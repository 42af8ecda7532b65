// The v0.4 encoder, decoded back with msgpack-cxx's object API and compared field by field.
#include "apmcov/tracing/msgpack_v04.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "exporter_contract.h"
#include "v04_decode.h"

namespace apmcov::tracing {
namespace {

using testing::DecodeV04;
using testing::SpanDifference;

TEST(MsgpackV04Test, EveryFieldRoundTripsThroughMsgpackCxx) {
  const std::vector<TraceChunk> chunks = {contract::SampleChunk(1, 4), contract::SampleChunk(2, 1)};
  const std::vector<TraceChunk> got = DecodeV04(EncodeTracesV04(chunks));
  ASSERT_EQ(got.size(), 2u);
  for (size_t c = 0; c < chunks.size(); ++c) {
    ASSERT_EQ(got[c].size(), chunks[c].size());
    for (size_t i = 0; i < chunks[c].size(); ++i) {
      EXPECT_EQ(SpanDifference(chunks[c][i], got[c][i]), "") << c << "/" << i;
    }
  }
  // The 128-bit id: low in trace_id, high as 16 lowercase hex digits in the root's meta.
  EXPECT_EQ(got[0][0].meta.at("_dd.p.tid"), "6650a1b200000001");
  EXPECT_EQ(got[0][0].trace_id.high, 0x6650a1b200000001ULL);
  EXPECT_EQ(got[0][2].trace_id.low, 0x9000000000000000ULL + 7919);
  EXPECT_EQ(got[0][1].meta.at("messaging.system"), "kafka");
  EXPECT_EQ(got[0][0].metrics.at("_sampling_priority_v1"), 1.0);
  EXPECT_EQ(got[0][3].metrics.at("queue.size"), 0.75);
  EXPECT_EQ(got[0][1].error, 1);
}

TEST(MsgpackV04Test, ExtremeValuesKeepTheirTypes) {
  SpanData s;
  s.trace_id = {0, std::numeric_limits<uint64_t>::max()};
  s.span_id = std::numeric_limits<uint64_t>::max() - 1;
  s.parent_id = 0;
  s.service = "";
  s.name = std::string(300, 'n');
  s.resource = "SELECT * FROM \"t\" WHERE x = 'ü €'\n";
  s.start_ns = std::numeric_limits<int64_t>::max();
  s.duration_ns = 0;
  s.SetMeta(std::string_view("k\0ey", 4), std::string_view("v\0al", 4));
  s.meta[""] = "";
  s.metrics["neg"] = -1e300;
  s.metrics["tiny"] = std::numeric_limits<double>::denorm_min();
  const std::vector<TraceChunk> got = DecodeV04(EncodeTracesV04({{s}}));
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].size(), 1u);
  EXPECT_EQ(SpanDifference(s, got[0][0]), "");
}

TEST(MsgpackV04Test, EmptyPayloadsAndChunks) {
  EXPECT_TRUE(DecodeV04(EncodeTracesV04({})).empty());
  const std::vector<TraceChunk> got = DecodeV04(EncodeTracesV04({{}, contract::SampleChunk(3, 1)}));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].empty());
  EXPECT_EQ(got[1].size(), 1u);
}

TEST(MsgpackV04Test, AssembledPayloadEqualsTheWholeEncoding) {
  const std::vector<TraceChunk> chunks = {contract::SampleChunk(1, 2), contract::SampleChunk(2, 3)};
  const std::string a = EncodeChunkV04(chunks[0]), b = EncodeChunkV04(chunks[1]);
  EXPECT_EQ(AssemblePayloadV04({&a, &b}), EncodeTracesV04(chunks));
  // More than 15 chunks needs the array16 header.
  std::vector<TraceChunk> many;
  std::vector<std::string> encoded;
  for (uint64_t n = 0; n < 40; ++n) many.push_back(contract::SampleChunk(n, 1));
  for (const TraceChunk& c : many) encoded.push_back(EncodeChunkV04(c));
  std::vector<const std::string*> parts;
  for (const std::string& e : encoded) parts.push_back(&e);
  EXPECT_EQ(DecodeV04(AssemblePayloadV04(parts)).size(), 40u);
}

}  // namespace
}  // namespace apmcov::tracing
