#include "apmcov/coverage/proto_convert.h"

namespace apmcov::coverage {

SpanFields FieldsFromProto(const apmcov::v1::Span& span) {
  SpanFields f;
  f.trace_id_lo = span.trace_id();
  f.trace_id_hi = span.trace_id_high();
  f.span_id = span.span_id();
  f.parent_id = span.parent_id();
  f.start_ns = span.start_unix_nano();
  f.duration_ns = span.duration_ns();
  f.service = span.service();
  f.env = span.env();
  f.resource = span.resource();
  f.type = span.type();
  f.kind = span.kind();
  f.retained_by = span.retained_by();
  f.target = span.target();
  f.db_system = span.db_system();
  f.messaging_system = span.messaging_system();
  f.language = span.language();
  f.infra_hint = span.infra_hint();
  f.error = span.error();
  return f;
}

}  // namespace apmcov::coverage
