// Conversions from the events of protos/apmcov/v1/events.proto to the coverage domain types.
// Target apmcov::coverage_proto (links apmcov::coverage and apmcov::protos); kept apart so the
// pure logic library never depends on protobuf.
#pragma once

#include "apmcov/coverage/coverage_report.h"
#include "apmcov/coverage/span.h"
#include "apmcov/v1/events.pb.h"

namespace apmcov::coverage {

// The span's fields as views into `span` (valid while `span` lives and is unchanged).
SpanFields FieldsFromProto(const apmcov::v1::Span& span);

// Interns `span` (through the interner's last-value cache).
inline SpanRecord SpanFromProto(const apmcov::v1::Span& span, SpanInterner& interner) {
  return interner.Intern(FieldsFromProto(span));
}

// A catalog record as coverage input.
CatalogServiceInfo CatalogFromProto(const apmcov::v1::CatalogService& service);

// An APM observation as coverage input; last_seen falls back to observed_at when unset.
ApmSeen ApmSeenFromProto(const apmcov::v1::ApmObservation& observation);

}  // namespace apmcov::coverage
