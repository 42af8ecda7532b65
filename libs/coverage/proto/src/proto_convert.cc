#include "apmcov/coverage/proto_convert.h"

#include "google/protobuf/util/time_util.h"

namespace apmcov::coverage {
namespace {

int64_t Nanos(const google::protobuf::Timestamp& t) {
  return google::protobuf::util::TimeUtil::TimestampToNanoseconds(t);
}

}  // namespace

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

CatalogServiceInfo CatalogFromProto(const apmcov::v1::CatalogService& service) {
  CatalogServiceInfo c;
  c.name = service.name();
  c.team = service.team();
  c.tier = service.tier();
  c.lifecycle = service.lifecycle();
  c.infra = service.infra();
  c.languages.assign(service.languages().begin(), service.languages().end());
  c.envs.assign(service.envs().begin(), service.envs().end());
  c.customer_facing = service.customer_facing();
  return c;
}

ApmSeen ApmSeenFromProto(const apmcov::v1::ApmObservation& observation) {
  ApmSeen a;
  a.service = observation.service();
  a.env = observation.env().empty() ? "*" : observation.env();
  a.traced = observation.traced();
  a.usm = observation.usm();
  a.span_count = observation.span_count();
  a.languages.assign(observation.languages().begin(), observation.languages().end());
  a.last_seen_ns = observation.has_last_seen() ? Nanos(observation.last_seen())
                                               : Nanos(observation.observed_at());
  return a;
}

}  // namespace apmcov::coverage
