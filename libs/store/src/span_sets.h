// The spans of one broken trace as `trace_spans` holds them (migration 0012): one JSON array per
// trace, each span a positional array
//   [span_id, parent_id, service, resource, kind, type, start_ns, duration_ns, target]
// with the ids as decimal strings (64-bit unsigned: beyond a JSON number's exact range in most
// readers) and the times as integers. Private to the library; pure, no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "apmcov/store/records.h"

namespace apmcov::store::internal {

// The JSON text of `spans`, a span id met again left out (the first wins, as in the in-memory
// store). Strings are escaped for JSON; they are expected to hold no NUL (validate.h drops NULs
// before a batch is written).
std::string SpanSetJson(const std::vector<TraceSpanRecord>& spans);

// The spans of SpanSetJson's text, ordered by (start_ns, span_id), the trace view's order.
// Anything else (not JSON, not that shape) is an InvalidArgument error naming what is wrong.
absl::StatusOr<std::vector<TraceSpanRecord>> ParseSpanSetJson(std::string_view json);

}  // namespace apmcov::store::internal
