// The trace exporter port: where finished trace chunks go. The real adapter is AgentExporter
// (agent_exporter.h: msgpack PUT /v0.4/traces to a Datadog Agent, batched by a background
// flusher); the fake is InMemoryExporter (memory_exporter.h). One contract suite
// (libs/tracing/tests/exporter_contract.h) runs against both.
//
// Contract:
//  - Export() hands over one chunk and returns at once: it never waits for the network, a
//    flush or a full queue. When the exporter holds `max_queued_spans` spans not yet sent, or
//    was stopped, the chunk is dropped whole, counted in spans_dropped, and Export() returns
//    false. A chunk is never split or reordered within itself.
//  - Delivery is at most once and not durable: a chunk that the receiver refuses or that
//    cannot be sent is counted in send_errors (requests) and its spans are lost, never
//    retried; a tracer must not grow memory while its Agent is down.
//  - Flush(timeout) returns OK once every chunk handed over before the call was delivered;
//    Unavailable when some of them could not be (send error); DeadlineExceeded when `timeout`
//    passed first (the chunks stay queued and go with a later flush).
//  - Stop(timeout) flushes what is queued within `timeout`, then refuses every later
//    Export(). Idempotent; the destructor stops with a short timeout.
//  - Thread-safe: any thread may call any method at any time.
//  - Counters (stats(), and the Prometheus counters of ExporterMetrics, exporter_metrics.h, when
//    given) only grow: spans_sent + spans_dropped + spans_lost + spans queued = spans handed
//    over.
#pragma once

#include <chrono>
#include <cstdint>

#include "absl/status/status.h"
#include "apmcov/tracing/span_data.h"

namespace apmcov::tracing {

class ExporterMetrics;  // exporter_metrics.h

struct ExporterStats {
  uint64_t spans_sent = 0;     // delivered (the receiver answered 2xx)
  uint64_t traces_sent = 0;    // chunks delivered
  uint64_t spans_dropped = 0;  // refused by Export(): queue full or stopped
  uint64_t send_errors = 0;    // requests that failed (their spans are lost)
  uint64_t spans_lost = 0;     // spans of failed requests
};

class TraceExporter {
 public:
  virtual ~TraceExporter() = default;
  virtual bool Export(TraceChunk chunk) = 0;
  virtual absl::Status Flush(std::chrono::milliseconds timeout) = 0;
  virtual absl::Status Stop(std::chrono::milliseconds timeout) = 0;
  virtual ExporterStats stats() const = 0;
};

}  // namespace apmcov::tracing
