// The Prometheus side of ExporterStats (exporter.h), registered once per registry:
//   apmcov_tracing_spans_sent_total, apmcov_tracing_spans_dropped_total,
//   apmcov_tracing_send_errors_total.
// Both exporters update it as they update their stats. Thread-safe (prometheus counters).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/registry.h>

namespace apmcov::tracing {

class ExporterMetrics {
 public:
  explicit ExporterMetrics(prometheus::Registry& registry);
  prometheus::Counter& spans_sent;
  prometheus::Counter& spans_dropped;
  prometheus::Counter& send_errors;
};

}  // namespace apmcov::tracing
