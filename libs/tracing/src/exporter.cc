#include "apmcov/tracing/exporter_metrics.h"
#include "apmcov/tracing/span_data.h"

namespace apmcov::tracing {
namespace {

prometheus::Counter& NewCounter(prometheus::Registry& registry, const std::string& name,
                                const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

ExporterMetrics::ExporterMetrics(prometheus::Registry& registry)
    : spans_sent(NewCounter(registry, "apmcov_tracing_spans_sent_total",
                            "Spans of this service's own traces delivered to the Datadog Agent")),
      spans_dropped(NewCounter(registry, "apmcov_tracing_spans_dropped_total",
                               "Spans dropped because the trace export queue was full (or "
                               "tracing was stopping)")),
      send_errors(NewCounter(registry, "apmcov_tracing_send_errors_total",
                             "Trace payloads the Datadog Agent refused or could not be sent "
                             "(their spans are lost)")),
      span_memory_bytes(prometheus::BuildGauge()
                            .Name("apmcov_tracing_span_memory_bytes")
                            .Help("Memory the tracer's span pool took from the heap and keeps "
                                  "(the peak of this service's own spans alive at once)")
                            .Register(registry)
                            .Add({})) {}

void ExporterMetrics::UpdateSpanMemory() {
  span_memory_bytes.Set(static_cast<double>(SpanMemoryBytes()));
}

}  // namespace apmcov::tracing
