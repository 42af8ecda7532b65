#include "batch_span.h"

#include <optional>
#include <set>
#include <string>

#include "absl/strings/str_join.h"
#include "apmcov/tracing/batch_parent.h"

namespace apmcov::analyzer {

tracing::Span StartBatchSpan(tracing::Tracer& tracer,
                             const std::vector<bus::IncomingMessage>& messages) {
  if (!tracer.enabled() || messages.empty()) return tracing::Span();
  std::vector<std::optional<tracing::SpanContext>> senders;
  senders.reserve(messages.size());
  std::set<std::string> topics;
  for (const bus::IncomingMessage& m : messages) {
    topics.insert(m.topic);
    if (!m.Header(tracing::kDatadogTraceIdHeader) && !m.Header(tracing::kTraceparentHeader)) {
      continue;
    }
    senders.push_back(tracing::Extract(tracing::ReadFrom(m.headers)));
  }
  const tracing::BatchParent where = tracing::ChooseBatchParent(senders);
  const std::string resource = absl::StrJoin(topics, ",");
  tracing::Span span =
      tracer.StartSpan("kafka.consume", {.resource = resource,
                                         .type = "queue",
                                         .kind = tracing::kinds::kConsumer,
                                         .parent = where.parent ? &*where.parent : nullptr,
                                         .root = !where.parent.has_value()});
  span.SetTag(tracing::tags::kMessagingSystem, "kafka");
  span.SetTag(tracing::tags::kMessagingDestination, resource);
  span.SetMetric("messaging.batch.message_count", static_cast<double>(messages.size()));
  for (const tracing::SpanContext& link : where.links) span.AddLink(link);
  if (where.links_dropped > 0) {
    span.SetMetric("_dd.span_links.dropped", static_cast<double>(where.links_dropped));
  }
  return span;
}

tracing::Span StartTransactionSpan(tracing::Tracer& tracer, std::string_view what) {
  if (!tracer.enabled()) return tracing::Span();
  tracing::Span span = tracer.StartSpan(
      "postgresql.transaction", {.resource = what, .type = "sql", .kind = tracing::kinds::kClient});
  span.SetTag(tracing::tags::kDbSystem, "postgresql");
  return span;
}

}  // namespace apmcov::analyzer
