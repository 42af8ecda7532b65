#include "apmcov/coverage/span_batch_decoder.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <string>

#include "apmcov/coverage/proto_convert.h"
#include "apmcov/v1/events.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace apmcov::coverage {
namespace {

bool SameRecord(const SpanRecord& a, const SpanRecord& b) {
  return std::memcmp(&a, &b, sizeof(SpanRecord)) == 0;
}

void Fill(std::mt19937_64& rng, apmcov::v1::Span* s) {
  static const char* kWords[] = {"",
                                 "checkout",
                                 "prod",
                                 "GET /x",
                                 "http",
                                 "client",
                                 "flat_sampled",
                                 "go",
                                 "payments:8443",
                                 "pg",
                                 "kafka",
                                 "ecs",
                                 "caf\xc3\xa9 \xe2\x82\xac",
                                 "a-much-longer-resource-name /v1/items/{id}"};
  auto w = [&] { return kWords[rng() % std::size(kWords)]; };
  s->set_trace_id(rng());
  if (rng() % 2) s->set_trace_id_high(rng());
  s->set_span_id(rng());
  if (rng() % 3) s->set_parent_id(rng());
  s->set_service(w());
  s->set_env(w());
  s->set_resource(w());
  s->set_operation(w());
  s->set_type(w());
  s->set_kind(w());
  s->set_start_unix_nano(static_cast<int64_t>(rng() >> (rng() % 64)) * (rng() % 5 == 0 ? -1 : 1));
  s->set_duration_ns(static_cast<int64_t>(rng() % 1'000'000'000));
  s->set_retained_by(w());
  s->set_host(w());
  s->set_language(w());
  s->set_target(w());
  s->set_db_system(w());
  s->set_messaging_system(w());
  s->set_infra_hint(w());
  s->set_error(rng() % 2);
}

TEST(SpanBatchDecoderTest, AgreesWithProtobufOnRandomBatches) {
  std::mt19937_64 rng(3);
  StringPool pool;
  SpanInterner by_proto(pool), by_wire(pool);
  DecodedSpanBatch out;
  for (int round = 0; round < 200; ++round) {
    apmcov::v1::SpanBatch b;
    const int n = static_cast<int>(rng() % 20);
    for (int i = 0; i < n; ++i) Fill(rng, b.add_spans());
    if (rng() % 4 == 0) {
      b.set_watermark_unix_nano(static_cast<int64_t>(rng() >> 1));
      b.set_job_id("job-" + std::to_string(round));
      b.set_window_id("w");
      auto* iv = b.add_read_intervals();
      iv->set_from_unix_nano(5);
      iv->set_to_unix_nano(9);
      iv->set_complete(true);
    }
    const std::string wire = b.SerializeAsString();
    ASSERT_TRUE(DecodeSpanBatch(wire, by_wire, &out).ok());
    ASSERT_EQ(out.spans.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      EXPECT_TRUE(SameRecord(out.spans[i], SpanFromProto(b.spans(i), by_proto))) << round;
    }
    EXPECT_EQ(out.watermark_unix_nano, b.watermark_unix_nano());
    EXPECT_EQ(out.job_id, b.job_id());
    ASSERT_EQ(out.read_intervals.size(), static_cast<size_t>(b.read_intervals_size()));
    for (size_t i = 0; i < out.read_intervals.size(); ++i) {
      EXPECT_EQ(out.read_intervals[i].from_unix_nano, b.read_intervals(i).from_unix_nano());
      EXPECT_EQ(out.read_intervals[i].to_unix_nano, b.read_intervals(i).to_unix_nano());
      EXPECT_EQ(out.read_intervals[i].complete, b.read_intervals(i).complete());
    }
  }
}

// The bytes of one field of `s` as protobuf writes it (empty when it is at its default).
std::string FieldBytes(const apmcov::v1::Span& s, const google::protobuf::FieldDescriptor* field) {
  apmcov::v1::Span one = s;
  const google::protobuf::Descriptor* d = apmcov::v1::Span::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i) != field) one.GetReflection()->ClearField(&one, d->field(i));
  }
  return one.SerializeAsString();
}

std::string Varint(uint64_t v) {
  std::string out;
  for (; v >= 0x80; v >>= 7) out += static_cast<char>(v | 0x80);
  return out + static_cast<char>(v);
}

// The decoder reads the fields in protobuf's own order straight through and falls back to a
// field-by-field loop at the first one out of that order: a span whose fields come shuffled,
// some twice (the last one wins) and with unknown fields among them reads as protobuf reads it.
TEST(SpanBatchDecoderTest, AgreesWithProtobufOnFieldsInAnyOrderOrRepeated) {
  std::mt19937_64 rng(11);
  StringPool pool;
  SpanInterner by_proto(pool), by_wire(pool);
  DecodedSpanBatch out;
  const google::protobuf::Descriptor* d = apmcov::v1::Span::descriptor();
  const std::string unknown("\x98\x06\x01", 3);  // field 99, varint
  for (int round = 0; round < 300; ++round) {
    apmcov::v1::Span a, b;
    Fill(rng, &a);
    Fill(rng, &b);
    std::vector<std::string> fields;
    for (int i = 0; i < d->field_count(); ++i) {
      fields.push_back(FieldBytes(a, d->field(i)));
      if (rng() % 4 == 0) fields.push_back(FieldBytes(b, d->field(i)));  // the same field again
    }
    if (round % 2 == 0) std::shuffle(fields.begin(), fields.end(), rng);  // else in order
    if (rng() % 3 == 0) fields.insert(fields.begin() + rng() % fields.size(), unknown);
    std::string span;
    for (const std::string& f : fields) span += f;
    const std::string wire = "\x0a" + Varint(span.size()) + span;
    apmcov::v1::SpanBatch theirs;
    ASSERT_TRUE(theirs.ParseFromString(wire));
    ASSERT_TRUE(DecodeSpanBatch(wire, by_wire, &out).ok()) << round;
    ASSERT_EQ(out.spans.size(), 1u);
    EXPECT_TRUE(SameRecord(out.spans[0], SpanFromProto(theirs.spans(0), by_proto))) << round;
  }
}

// A field the in-order pass cannot read is refused with the offset of its tag, as the
// field-by-field loop refuses it: here a truncated two-byte-tag field (target, number 16).
TEST(SpanBatchDecoderTest, RefusesAnUnreadableFieldAtItsTag) {
  apmcov::v1::Span s;
  s.set_trace_id(1);
  s.set_service("checkout");
  s.set_target("payments");
  std::string span = s.SerializeAsString();
  const size_t target_at = span.find("payments") - 3;  // its tag 0x82 0x01, its length
  span.resize(span.size() - 3);                        // "payme"
  const std::string wire = "\x0a" + Varint(span.size()) + span;
  apmcov::v1::SpanBatch theirs;
  EXPECT_FALSE(theirs.ParseFromString(wire));
  StringPool pool;
  SpanInterner interner(pool);
  DecodedSpanBatch out;
  absl::Status st = DecodeSpanBatch(wire, interner, &out);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), testing::HasSubstr("a truncated span string at byte " +
                                                            std::to_string(2 + target_at)));
}

// Varints of every length from 1 to 10 bytes, read by the in-order pass: as the batch's last
// bytes (a truncated read there must not pass its end) and followed by other fields.
TEST(SpanBatchDecoderTest, ReadsVarintsOfEveryLength) {
  StringPool pool;
  SpanInterner interner(pool);
  DecodedSpanBatch out;
  std::vector<int64_t> values = {0, -1, INT64_MIN, INT64_MAX};
  for (int k = 1; k < 63; ++k) {
    values.push_back(int64_t{1} << k);
    values.push_back((int64_t{1} << k) - 1);
    values.push_back(-(int64_t{1} << k));
  }
  for (const int64_t v : values) {
    for (const bool alone : {true, false}) {
      apmcov::v1::SpanBatch b;
      apmcov::v1::Span* s = b.add_spans();
      s->set_start_unix_nano(v);
      if (!alone) {
        s->set_duration_ns(v);
        s->set_retained_by("flat_sampled");
      }
      const std::string wire = b.SerializeAsString();
      ASSERT_TRUE(DecodeSpanBatch(wire, interner, &out).ok()) << v;
      ASSERT_EQ(out.spans.size(), 1u);
      EXPECT_EQ(out.spans[0].start_ns, v);
      if (!alone) {
        EXPECT_EQ(out.spans[0].duration_ns, v);
      }
    }
  }
}

TEST(SpanBatchDecoderTest, SkipsUnknownFieldsOfEveryWireType) {
  apmcov::v1::Span s;
  s.set_trace_id(7);
  s.set_service("web");
  std::string span = s.SerializeAsString();
  // field 99 as varint, fixed64, bytes and fixed32, inside the span and in the batch
  const std::string unknown = std::string("\x98\x06\x01", 3) + std::string("\x99\x06", 2) +
                              std::string(8, 'x') + std::string("\x9a\x06\x02zz", 5) +
                              std::string("\x9d\x06", 2) + std::string(4, 'y');
  span += unknown;
  std::string wire = unknown + "\x0a" + static_cast<char>(span.size()) + span;
  StringPool pool;
  SpanInterner interner(pool);
  DecodedSpanBatch out;
  ASSERT_TRUE(DecodeSpanBatch(wire, interner, &out).ok());
  ASSERT_EQ(out.spans.size(), 1u);
  EXPECT_EQ(out.spans[0].trace_id_lo, 7u);
  EXPECT_EQ(pool.View(out.spans[0].service), "web");
  apmcov::v1::SpanBatch check;  // protobuf agrees that this is a valid batch
  EXPECT_TRUE(check.ParseFromString(wire));
}

TEST(SpanBatchDecoderTest, RejectsWhatProtobufRejects) {
  apmcov::v1::SpanBatch b;
  b.add_spans()->set_service("checkout");
  b.mutable_spans(0)->set_trace_id(1);
  const std::string wire = b.SerializeAsString();
  StringPool pool;
  SpanInterner interner(pool);
  DecodedSpanBatch out;
  for (size_t cut = 1; cut < wire.size(); ++cut) {
    const std::string truncated = wire.substr(0, cut);
    apmcov::v1::SpanBatch check;
    if (check.ParseFromString(truncated)) continue;
    EXPECT_FALSE(DecodeSpanBatch(truncated, interner, &out).ok()) << "cut at " << cut;
  }
  std::string bad_utf8 = wire;
  bad_utf8[bad_utf8.find("checkout")] = '\xff';
  apmcov::v1::SpanBatch check;
  EXPECT_FALSE(check.ParseFromString(bad_utf8));
  absl::Status s = DecodeSpanBatch(bad_utf8, interner, &out);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), testing::HasSubstr("UTF-8"));
  EXPECT_FALSE(DecodeSpanBatch(std::string("\x0b\x00", 2), interner, &out).ok());  // a group
}

// A tag's varint is at most 5 bytes and 32 bits. protobuf reads a 5-byte tag with bits above 32
// by dropping them (0x8a 80 80 80 10 is field 1, length-delimited, to it): read as 64 bits it
// would be another, unknown, field, and the two parsers would see different batches. Found by
// fuzz_span_batch_decoder; the decoder refuses such tags, at the top and inside a span.
TEST(SpanBatchDecoderTest, RefusesTagsProtobufWouldTruncate) {
  StringPool pool;
  SpanInterner interner(pool);
  DecodedSpanBatch out;
  const std::string wide_tag("\x8a\x80\x80\x80\x10", 5);
  apmcov::v1::SpanBatch theirs;
  ASSERT_TRUE(theirs.ParseFromString(wide_tag + std::string("\x00", 1)));
  ASSERT_EQ(theirs.spans_size(), 1);  // what protobuf makes of it
  absl::Status s = DecodeSpanBatch(wide_tag + std::string("\x00", 1), interner, &out);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), testing::HasSubstr("over-long field tag at byte 0"));

  // Inside a span: 0x89 80 80 80 10 is trace_id (fixed64) to protobuf.
  const std::string span = std::string("\x89\x80\x80\x80\x10", 5) + std::string(8, '\x07');
  const std::string in_span = "\x0a" + std::string(1, static_cast<char>(span.size())) + span;
  ASSERT_TRUE(theirs.ParseFromString(in_span));
  EXPECT_NE(theirs.spans(0).trace_id(), 0u);
  EXPECT_FALSE(DecodeSpanBatch(in_span, interner, &out).ok());

  // Six bytes for a tag that fits in one: protobuf refuses it, and so does the decoder.
  const std::string six("\x8a\x80\x80\x80\x80\x00\x00", 7);
  EXPECT_FALSE(theirs.ParseFromString(six));
  EXPECT_FALSE(DecodeSpanBatch(six, interner, &out).ok());

  // A 5-byte tag within 32 bits is an ordinary tag to both.
  const std::string five("\x8a\x80\x80\x80\x00\x00", 6);
  ASSERT_TRUE(theirs.ParseFromString(five));
  ASSERT_TRUE(DecodeSpanBatch(five, interner, &out).ok());
  EXPECT_EQ(out.spans.size(), 1u);
}

}  // namespace
}  // namespace apmcov::coverage
