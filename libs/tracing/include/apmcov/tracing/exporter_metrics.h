// The Prometheus side of ExporterStats (exporter.h), registered once per registry:
//   apmcov_tracing_spans_sent_total, apmcov_tracing_spans_dropped_total,
//   apmcov_tracing_send_errors_total, and the gauge apmcov_tracing_span_memory_bytes
//   (SpanMemoryBytes(), span_data.h).
// Both exporters update it as they update their stats (the gauge after every delivery
// attempt). Thread-safe (prometheus metrics).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace apmcov::tracing {

class ExporterMetrics {
 public:
  explicit ExporterMetrics(prometheus::Registry& registry);
  prometheus::Counter& spans_sent;
  prometheus::Counter& spans_dropped;
  prometheus::Counter& send_errors;
  prometheus::Gauge& span_memory_bytes;

  // Reads SpanMemoryBytes() into span_memory_bytes.
  void UpdateSpanMemory();
};

}  // namespace apmcov::tracing
