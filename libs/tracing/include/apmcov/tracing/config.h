// Tracing configuration (design §9, §12) and the one call a service's main() makes.
//
//   DD_TRACE_ENABLED       true turns tracing on (default false)
//   DD_TRACE_AGENT_URL     http://host:port of the Agent (wins when set)
//   DD_AGENT_HOST          the Agent's host (default localhost), with
//   DD_TRACE_AGENT_PORT    its trace port (default 8126)
//   DD_TRACE_SAMPLE_RATE   0..1, the share of traces kept where they start (default 1)
//   DD_SERVICE, DD_ENV, DD_VERSION   unified service tags
//   DD_TRACE_PARTIAL_FLUSH_MIN_SPANS  finished spans of a still-open trace sent as a chunk of
//                          their own (default 500, 0 = off, at most half the exporter's queue)
//
//   auto tracing_config = tracing::TracingConfig::Read(reader, "apmcov-collector");
//   ... reader.Finish() ...
//   tracing::TracingSetup tracing(tracing_config, *registry, clock);   // off: a no-op tracer
//   App app(..., tracing.tracer());
//   ... on shutdown, after the App stopped:
//   tracing.Shutdown(std::chrono::seconds(2));
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "apmcov/base/clock.h"
#include "apmcov/tracing/agent_exporter.h"
#include "apmcov/tracing/tracer.h"

namespace apmcov {
class ConfigReader;
}
namespace prometheus {
class Registry;
}

namespace apmcov::tracing {

struct TracingConfig {
  bool enabled = false;
  std::string agent_url = "http://localhost:8126";
  std::string service, env, version;
  double sample_rate = 1;
  bool sample_rate_set = false;
  size_t partial_flush_min_spans = TracerOptions().partial_flush_min_spans;

  // OK when disabled, or when the URL is http://host[:port].
  absl::Status Validate() const;
  // Reads the variables above; errors are recorded in `reader` under the variable's name.
  static TracingConfig Read(ConfigReader& reader, std::string_view default_service);
  TracerOptions ToTracerOptions() const;
};

// Owns the exporter (an AgentExporter when enabled) and the tracer. A disabled config, or an
// exporter that cannot be created (logged), gives a tracer that is off.
class TracingSetup {
 public:
  TracingSetup(const TracingConfig& config, prometheus::Registry& registry, const Clock& clock,
               AgentExporterOptions exporter_options = {});
  ~TracingSetup();
  TracingSetup(const TracingSetup&) = delete;
  TracingSetup& operator=(const TracingSetup&) = delete;

  Tracer& tracer() { return *tracer_; }
  TraceExporter* exporter() { return exporter_.get(); }
  // Sends what is queued within `timeout`, then stops the exporter. Idempotent.
  absl::Status Shutdown(std::chrono::milliseconds timeout);

 private:
  std::unique_ptr<TraceExporter> exporter_;
  std::unique_ptr<Tracer> tracer_;
};

}  // namespace apmcov::tracing
