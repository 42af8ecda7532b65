// EncodeSpanBatches: the bytes written straight from a page's spans are exactly those of the
// SpanBatch messages the collector would otherwise build (one per trace, first-seen order),
// each span without its operation and host, which are not published.
#include "span_batches.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "google/protobuf/unknown_field_set.h"

namespace apmcov::collector {
namespace {

v1::Span MakeSpan(uint64_t trace, uint64_t id, int64_t start, std::string resource) {
  v1::Span s;
  s.set_trace_id(trace);
  s.set_span_id(id);
  s.set_parent_id(id > 1 ? id - 1 : 0);
  s.set_service("svc-" + std::to_string(trace % 7));
  s.set_env("prod");
  s.set_resource(std::move(resource));
  s.set_operation("http.request");
  s.set_kind("server");
  s.set_start_unix_nano(start);
  s.set_duration_ns(1234);
  s.set_error(id % 3 == 0);
  return s;
}

// What the collector built before: SpanBatch messages, serialised by protobuf, of the spans
// without operation and host.
std::vector<std::pair<std::string, std::string>> Reference(
    const google::protobuf::RepeatedPtrField<v1::Span>& spans, const std::string& window_id,
    const std::string& job_id) {
  std::vector<uint64_t> order;
  std::map<uint64_t, v1::SpanBatch> batches;
  for (const v1::Span& s : spans) {
    auto [it, inserted] = batches.try_emplace(s.trace_id());
    if (inserted) {
      order.push_back(s.trace_id());
      it->second.set_window_id(window_id);
      it->second.set_job_id(job_id);
    }
    v1::Span& published = *it->second.add_spans();
    published = s;
    published.clear_operation();
    published.clear_host();
  }
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(order.size());
  for (uint64_t t : order) out.emplace_back(std::to_string(t), batches[t].SerializeAsString());
  return out;
}

TEST(EncodeSpanBatches, BytesEqualSerialisedSpanBatchesOnePerTraceInFirstSeenOrder) {
  google::protobuf::RepeatedPtrField<v1::Span> spans;
  // Interleaved traces; a long resource makes a span longer than 127 bytes (two-byte length).
  const uint64_t traces[] = {42, 7, 42, 18446744073709551615ull, 7, 42, 9};
  int64_t start = 1'700'000'000'000'000'000;
  uint64_t id = 1;
  for (uint64_t t : traces) {
    *spans.Add() = MakeSpan(t, id, start - static_cast<int64_t>(id) * 1000,
                            id == 3 ? std::string(300, 'r') : "GET /x");
    ++id;
  }
  PageBatches got = EncodeSpanBatches(spans, "100-200", "sync-1");
  const auto want = Reference(spans, "100-200", "sync-1");
  ASSERT_EQ(got.records.size(), want.size());
  ASSERT_EQ(got.records.size(), 4u);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got.records[i].key, want[i].first);
    EXPECT_EQ(got.records[i].value, want[i].second) << "batch " << i;
    EXPECT_FALSE(got.records[i].partition.has_value());
    v1::SpanBatch decoded;
    ASSERT_TRUE(decoded.ParseFromString(got.records[i].value));
    EXPECT_EQ(decoded.window_id(), "100-200");
    EXPECT_EQ(decoded.job_id(), "sync-1");
  }
  EXPECT_EQ(got.records[0].key, "42");
  v1::SpanBatch first;
  ASSERT_TRUE(first.ParseFromString(got.records[0].value));
  ASSERT_EQ(first.spans_size(), 3);
  EXPECT_EQ(first.spans(1).resource(), std::string(300, 'r'));
  EXPECT_EQ(got.last_start_unix_nano, start - 1000);
}

TEST(EncodeSpanBatches, EmptyIdsAreLeftOutLikeProtobufAndAnEmptyPageHasNoRecords) {
  google::protobuf::RepeatedPtrField<v1::Span> spans;
  *spans.Add() = MakeSpan(5, 1, 10, "r");
  PageBatches got = EncodeSpanBatches(spans, "", "");
  const auto want = Reference(spans, "", "");
  ASSERT_EQ(got.records.size(), 1u);
  EXPECT_EQ(got.records[0].value, want[0].second);

  PageBatches none = EncodeSpanBatches({}, "w", "j");
  EXPECT_TRUE(none.records.empty());
  EXPECT_EQ(none.last_start_unix_nano, INT64_MIN);
}

TEST(EncodeSpanBatches, EveryFieldOfASpanIsWrittenAsProtobufWritesIt) {
  google::protobuf::RepeatedPtrField<v1::Span> spans;
  v1::Span& s = *spans.Add();
  s.set_trace_id(~0ull);
  s.set_trace_id_high(0x0123456789abcdefull);
  s.set_span_id(1);
  s.set_parent_id(1ull << 63);
  s.set_service("checkout");
  s.set_env("prod");
  s.set_resource("GET /caf\xc3\xa9/\xe2\x82\xac");  // multi-byte UTF-8
  s.set_operation("http.request");
  s.set_type("web");
  s.set_kind("server");
  s.set_start_unix_nano(-5);  // negative: a ten-byte varint
  s.set_duration_ns(INT64_MAX);
  s.set_retained_by("flat_sampled");
  s.set_host("host-1");
  s.set_language("go");
  s.set_target(std::string(200, 't'));  // fields 16-19 have two-byte tags
  s.set_db_system("postgresql");
  s.set_messaging_system("kafka");
  s.set_infra_hint("kubernetes");
  s.set_error(true);
  *spans.Add() = MakeSpan(s.trace_id(), 2, 0, "");  // zeros and empty strings left out
  PageBatches got = EncodeSpanBatches(spans, "w", "j");
  ASSERT_EQ(got.records.size(), 1u);
  EXPECT_EQ(got.records[0].value, Reference(spans, "w", "j")[0].second);
  // Every field of v1::Span is set above: a field added to Span must be added there too (the
  // encoder falls back to protobuf's serialiser for a Span it does not know).
  EXPECT_EQ(v1::Span::descriptor()->field_count(), 20);
}

TEST(EncodeSpanBatches, OperationAndHostAreNotPublished) {
  google::protobuf::RepeatedPtrField<v1::Span> spans;
  *spans.Add() = MakeSpan(3, 1, 10, "r");
  spans[0].set_host("ip-10-0-0-17.ec2.internal");
  ASSERT_EQ(spans[0].operation(), "http.request");
  PageBatches got = EncodeSpanBatches(spans, "w", "j");
  ASSERT_EQ(got.records.size(), 1u);
  v1::SpanBatch b;
  ASSERT_TRUE(b.ParseFromString(got.records[0].value));
  ASSERT_EQ(b.spans_size(), 1);
  EXPECT_EQ(b.spans(0).operation(), "");
  EXPECT_EQ(b.spans(0).host(), "");
  EXPECT_EQ(b.spans(0).resource(), "r");
  EXPECT_EQ(got.records[0].value.find("http.request"), std::string::npos);
  // The same on the fallback path (a span with unknown fields goes through protobuf).
  spans[0].GetReflection()->MutableUnknownFields(&spans[0])->AddVarint(99, 5);
  got = EncodeSpanBatches(spans, "w", "j");
  ASSERT_TRUE(b.ParseFromString(got.records[0].value));
  EXPECT_EQ(b.spans(0).operation(), "");
  EXPECT_EQ(b.spans(0).host(), "");
}

TEST(EncodeSpanBatches, ASpanWithUnknownFieldsKeepsThem) {
  google::protobuf::RepeatedPtrField<v1::Span> spans;
  *spans.Add() = MakeSpan(3, 1, 10, "r");
  *spans.Add() = MakeSpan(3, 2, 11, "r");
  spans[1].GetReflection()->MutableUnknownFields(&spans[1])->AddVarint(99, 5);
  PageBatches got = EncodeSpanBatches(spans, "w", "j");
  ASSERT_EQ(got.records.size(), 1u);
  EXPECT_EQ(got.records[0].value, Reference(spans, "w", "j")[0].second);
}

}  // namespace
}  // namespace apmcov::collector
