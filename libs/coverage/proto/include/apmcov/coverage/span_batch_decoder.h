// SpanBatch wire bytes (protos/apmcov/v1/events.proto) → interned SpanRecords in one pass: the
// string fields are interned straight from the message bytes, with no apmcov::v1::Span and no
// std::string in between (the analyzer's hot path, design §11). Decodes the protobuf wire
// format itself: unknown fields of every proto3 wire type are skipped, so a newer producer's
// fields do no harm; anything that is not a well-formed SpanBatch is an InvalidArgument error
// naming the byte offset, and `out` is then unspecified. Where it and protobuf's parser both
// accept the bytes they read the same batch; it is the stricter of the two on what no proto3
// producer writes: groups, and field tags above 32 bits (which protobuf truncates).
//
// Not thread-safe (the interner is not); `out` is reused across messages so that steady-state
// decoding allocates nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "apmcov/coverage/span.h"

namespace apmcov::coverage {

struct DecodedSpanBatch {
  std::vector<SpanRecord> spans;
  int64_t watermark_unix_nano = 0;
  std::string job_id;
  struct Interval {
    int64_t from_unix_nano = 0;
    int64_t to_unix_nano = 0;
    bool complete = false;
  };
  std::vector<Interval> read_intervals;

  void Clear() {
    spans.clear();
    watermark_unix_nano = 0;
    job_id.clear();
    read_intervals.clear();
  }
};

// Replaces the contents of `out` with the batch in `wire`.
absl::Status DecodeSpanBatch(std::string_view wire, SpanInterner& interner, DecodedSpanBatch* out);

}  // namespace apmcov::coverage
