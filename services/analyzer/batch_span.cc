#include "batch_span.h"

#include <optional>
#include <set>
#include <string>

#include "absl/strings/str_join.h"
#include "apmcov/tracing/batch_parent.h"
#include "apmcov/tracing/db_span.h"

namespace apmcov::analyzer {

tracing::Span StartBatchSpan(tracing::Tracer& tracer,
                             const std::vector<bus::IncomingMessage>& messages) {
  if (!tracer.enabled() || messages.empty()) return tracing::Span();
  std::vector<std::optional<tracing::SpanContext>> senders;
  std::set<std::string> topics;
  // The records of one producer span come in a row with the same headers: each run of equal
  // headers is parsed once (parsing every record cost ~10% of a batch's CPU in the bench).
  std::optional<std::string_view> last_dd, last_tp;
  bool any = false;
  const std::string* last_topic = nullptr;
  for (const bus::IncomingMessage& m : messages) {
    if (last_topic == nullptr || *last_topic != m.topic) topics.insert(m.topic);
    last_topic = &m.topic;
    // One pass over the record's headers (the last of a name wins, as Header() has it).
    std::optional<std::string_view> dd, tp;
    bool trace_id = false;
    for (const auto& [name, value] : m.headers) {
      if (name == tracing::kDatadogParentIdHeader) {
        dd = value;
      } else if (name == tracing::kTraceparentHeader) {
        tp = value;
      } else if (name == tracing::kDatadogTraceIdHeader) {
        trace_id = true;
      }
    }
    if (!dd && !tp && !trace_id) continue;
    if (any && dd == last_dd && tp == last_tp && dd.has_value()) continue;  // same sender
    any = true;
    last_dd = dd;
    last_tp = tp;
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
  // One destination only when the batch has one topic: a joined list would read as a topic
  // of its own to whoever maps dependencies from these spans (the tracker itself included).
  if (topics.size() == 1) span.SetTag(tracing::tags::kMessagingDestination, *topics.begin());
  span.SetMetric("messaging.batch.message_count", static_cast<double>(messages.size()));
  for (const tracing::SpanContext& link : where.links) span.AddLink(link);
  if (where.links_dropped > 0) {
    span.SetMetric("_dd.span_links.dropped", static_cast<double>(where.links_dropped));
  }
  return span;
}

tracing::Span StartTransactionSpan(tracing::Tracer& tracer, std::string_view what,
                                   const tracing::SpanContext* parent) {
  return tracing::StartPostgresTransactionSpan(tracer, what, parent);
}

}  // namespace apmcov::analyzer
