// The client span of one PostgreSQL transaction (design §12), one helper for every process
// that talks to PostgreSQL (the analyzer's writes, the gateway's reads):
// `postgresql.transaction`, span.kind client, type sql, resource = what the transaction does
// (a fixed name chosen by the caller: never SQL text nor a value), and the peer tags
// db.system postgresql, peer.service postgresql, out.host the server's host when known (set
// it later with SetPostgresHost once connected). A child of `parent` when valid, else of the
// thread's active span (on a gateway request thread: the REST or gRPC server span). With the
// tracer off: an empty span, at the cost of one branch.
#pragma once

#include <string_view>

#include "apmcov/tracing/tracer.h"

namespace apmcov::tracing {

inline constexpr std::string_view kPostgresTransactionSpan = "postgresql.transaction";
inline constexpr std::string_view kPostgresPeerService = "postgresql";

Span StartPostgresTransactionSpan(Tracer& tracer, std::string_view what,
                                  const SpanContext* parent = nullptr);

// out.host on a span of StartPostgresTransactionSpan; nothing when `host` is empty.
void SetPostgresHost(Span& span, std::string_view host);

}  // namespace apmcov::tracing
