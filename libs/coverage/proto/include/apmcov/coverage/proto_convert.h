// Spans as the analyzer consumes them (protos/apmcov/v1/events.proto) → the coverage domain's
// SpanRecord. Target apmcov::coverage_proto (links apmcov::coverage and apmcov::protos); kept
// apart so the pure logic library never depends on protobuf. Catalog and APM events have no
// conversion here: they reach coverage through the stored rows (store_rows.h), one path.
#pragma once

#include "apmcov/coverage/span.h"
#include "apmcov/v1/events.pb.h"

namespace apmcov::coverage {

// The span's fields as views into `span` (valid while `span` lives and is unchanged).
SpanFields FieldsFromProto(const apmcov::v1::Span& span);

// Interns `span` (through the interner's last-value cache).
inline SpanRecord SpanFromProto(const apmcov::v1::Span& span, SpanInterner& interner) {
  return interner.Intern(FieldsFromProto(span));
}

}  // namespace apmcov::coverage
