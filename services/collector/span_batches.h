// The span batches of one page (design §3, §7): one SpanBatch per trace, in the order of each
// trace's first span, keyed by the trace id. Each value is serialised straight from the page's
// spans, with no SpanBatch built: a SpanBatch's bytes are each span as field 1 (tag, length,
// the span's own bytes), then window_id (3) and job_id (4), which is what SerializeToString
// gives for the same message.
//
// A span is published without its operation and host: nothing downstream of the topic reads
// them (the analyzer skips both), and they were a quarter of a span's bytes (187 a span with
// them, 142 without, in bench/coverage's corpus).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "apmcov/bus/bus.h"
#include "apmcov/v1/events.pb.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace apmcov::collector {

struct PageBatches {
  std::vector<bus::OutgoingRecord> records;  // one per trace, key: its trace id in decimal
  int64_t last_start_unix_nano = INT64_MIN;  // the latest span start of the page
};

PageBatches EncodeSpanBatches(const google::protobuf::RepeatedPtrField<v1::Span>& spans,
                              std::string_view window_id, std::string_view job_id);

}  // namespace apmcov::collector
