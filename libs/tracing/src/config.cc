#include "apmcov/tracing/config.h"

#include <prometheus/registry.h>

#include "absl/strings/str_cat.h"
#include "apmcov/base/config.h"
#include "apmcov/base/log.h"
#include "apmcov/base/status.h"
#include "apmcov/tracing/exporter_metrics.h"

namespace apmcov::tracing {

absl::Status TracingConfig::Validate() const {
  if (!enabled) return absl::OkStatus();
  AgentExporterOptions options;
  options.agent_url = agent_url;
  return AgentExporter::Create(options).status();
}

TracingConfig TracingConfig::Read(ConfigReader& reader, std::string_view default_service) {
  TracingConfig c;
  c.enabled = reader.Bool("DD_TRACE_ENABLED", false);
  const std::string url = reader.String("DD_TRACE_AGENT_URL", "");
  const std::string host = reader.String("DD_AGENT_HOST", "");
  const int64_t port = reader.Int("DD_TRACE_AGENT_PORT", 8126, 1, 65535);
  c.sample_rate_set = reader.IsSet("DD_TRACE_SAMPLE_RATE");
  c.sample_rate = reader.Double("DD_TRACE_SAMPLE_RATE", 1, 0, 1);
  c.service = reader.String("DD_SERVICE", default_service);
  c.env = reader.String("DD_ENV", "");
  c.version = reader.String("DD_VERSION", "");
  c.partial_flush_min_spans = static_cast<size_t>(
      reader.Int("DD_TRACE_PARTIAL_FLUSH_MIN_SPANS", TracerOptions().partial_flush_min_spans, 0,
                 AgentExporterOptions().max_queued_spans / 2));
  if (!url.empty()) {
    c.agent_url = url;
  } else {
    const std::string h = host.empty() ? "localhost" : host;
    const bool ipv6 = h.find(':') != std::string::npos && h.front() != '[';
    c.agent_url = absl::StrCat("http://", ipv6 ? "[" : "", h, ipv6 ? "]" : "", ":",
                               port >= 1 && port <= 65535 ? port : 8126);
  }
  if (absl::Status s = c.Validate(); !s.ok()) {
    reader.AddError(url.empty() ? "DD_AGENT_HOST" : "DD_TRACE_AGENT_URL", StdView(s.message()));
  }
  return c;
}

TracerOptions TracingConfig::ToTracerOptions() const {
  TracerOptions o;
  o.service = service;
  o.env = env;
  o.version = version;
  o.sampler = Sampler(sample_rate, sample_rate_set);
  o.partial_flush_min_spans = partial_flush_min_spans;
  return o;
}

TracingSetup::TracingSetup(const TracingConfig& config, prometheus::Registry& registry,
                           const Clock& clock, AgentExporterOptions exporter_options) {
  static const Logger log("tracing");
  if (config.enabled) {
    exporter_options.agent_url = config.agent_url;
    auto exporter = AgentExporter::Create(std::move(exporter_options),
                                          std::make_shared<ExporterMetrics>(registry));
    if (exporter.ok()) {
      exporter_ = std::move(*exporter);
      log.Info("tracing on", {{"agent_url", config.agent_url},
                              {"service", config.service},
                              {"sample_rate", config.sample_rate}});
    } else {
      log.Error("tracing off: the exporter cannot start",
                {{"error", std::string(exporter.status().message())}});
    }
  }
  tracer_ = std::make_unique<Tracer>(config.ToTracerOptions(), exporter_.get(), clock);
}

TracingSetup::~TracingSetup() { Shutdown(std::chrono::milliseconds(500)).IgnoreError(); }

absl::Status TracingSetup::Shutdown(std::chrono::milliseconds timeout) {
  if (exporter_ == nullptr) return absl::OkStatus();
  return exporter_->Stop(timeout);
}

}  // namespace apmcov::tracing
