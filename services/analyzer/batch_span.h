// The analyzer's spans (design §12), kept apart from the consumer loop so the loop only opens
// them: a consumer span per processed batch and a client span per PostgreSQL transaction.
//
//  - StartBatchSpan: `kafka.consume` (span.kind consumer, resource = the topics of the batch,
//    messaging.destination.name only when there is one),
//    the child of the collector's producing span when the records' headers name one trace, or
//    a trace of its own linking each producing span when the batch holds several senders
//    (tracing::ChooseBatchParent). Records without trace headers (catalog, inventory, sync
//    jobs) count in messaging.batch.message_count but name no parent.
//  - StartTransactionSpan: `postgresql.transaction` (span.kind client, type sql,
//    db.system and peer.service postgresql, resource = what the transaction writes), a child
//    of the active span: tracing::StartPostgresTransactionSpan (db_span.h), which the
//    gateway's reads use too.
// With the tracer off both return an empty span at the cost of one branch.
#pragma once

#include <string_view>
#include <vector>

#include "apmcov/bus/bus.h"
#include "apmcov/tracing/tracer.h"

namespace apmcov::analyzer {

tracing::Span StartBatchSpan(tracing::Tracer& tracer,
                             const std::vector<bus::IncomingMessage>& messages);

// `parent` null: the thread's active span (none on the writer's thread: pass the batch's).
tracing::Span StartTransactionSpan(tracing::Tracer& tracer, std::string_view what,
                                   const tracing::SpanContext* parent = nullptr);

}  // namespace apmcov::analyzer
