#include "apmcov/tracing/db_span.h"

#include "apmcov/tracing/span_data.h"

namespace apmcov::tracing {

Span StartPostgresTransactionSpan(Tracer& tracer, std::string_view what,
                                  const SpanContext* parent) {
  if (!tracer.enabled()) return Span();
  if (parent != nullptr && !parent->valid()) parent = nullptr;
  Span span =
      tracer.StartSpan(kPostgresTransactionSpan,
                       {.resource = what, .type = "sql", .kind = kinds::kClient, .parent = parent});
  span.SetTag(tags::kDbSystem, "postgresql");
  span.SetTag(tags::kPeerService, kPostgresPeerService);
  return span;
}

void SetPostgresHost(Span& span, std::string_view host) {
  if (!host.empty()) span.SetTag(tags::kOutHost, host);
}

}  // namespace apmcov::tracing
