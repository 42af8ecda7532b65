// apmcov-gateway: parses config, builds the real adapters (PostgreSQL read model, Kafka
// publisher), hands them to App, runs until SIGTERM/SIGINT, stops in reverse order.
#include <prometheus/registry.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <filesystem>

#include "apmcov/base/clock.h"
#include "apmcov/base/config.h"
#include "apmcov/base/log.h"
#include "apmcov/base/process.h"
#include "apmcov/bus/kafka.h"
#include "apmcov/store/postgres_read_model.h"
#include "apmcov/telemetry/dogstatsd_exporter.h"
#include "apmcov/tracing/config.h"
#include "app.h"

namespace {
std::string DefaultWebDir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "web";
  buf[n] = '\0';
  return (std::filesystem::path(buf).parent_path() / "web").string();
}
}  // namespace

int main(int argc, char** argv) {
  apmcov::BlockShutdownSignals();
  apmcov::ConfigReader reader(argc, argv);
  apmcov::ConfigureLoggingFrom(reader, "apmcov-gateway");
  auto config = apmcov::gateway::GatewayConfig::Read(reader, DefaultWebDir());
  const auto statsd_options =
      apmcov::telemetry::DogStatsdExporterOptions::Read(reader, "apmcov-gateway");
  const auto tracing_config = apmcov::tracing::TracingConfig::Read(reader, "apmcov-gateway");
  static const apmcov::Logger log("gateway.main");
  if (apmcov::PrintUsageIfRequested(
          reader, "apmcov-gateway",
          "Serves the REST API, gRPC and the web dashboard over the analyzer's PostgreSQL data,\n"
          "and forwards sync requests to the collector through Kafka.")) {
    return 0;
  }
  if (auto s = reader.Finish(); !s.ok()) {
    std::fprintf(stderr, "apmcov-gateway: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  apmcov::LogEffectiveConfig(log, reader);

  apmcov::RealClock clock;
  apmcov::bus::KafkaConfig kafka;
  kafka.brokers = config.kafka_brokers;
  kafka.client_id = "apmcov-gateway";
  auto publisher = apmcov::bus::KafkaPublisher::Create(kafka);
  if (!publisher.ok()) {
    log.Error("kafka producer", {{"error", std::string(publisher.status().message())}});
    return 2;
  }
  auto registry = std::make_shared<prometheus::Registry>();
  apmcov::tracing::TracingSetup tracing(tracing_config, *registry, clock);
  // Each read transaction is a client span under the request's server span (design §12).
  apmcov::store::PostgresReadModel store(config.database_url, {.tracer = &tracing.tracer()});
  apmcov::gateway::App app(config, store, **publisher, clock, tracing.tracer(), registry);
  if (auto s = app.Start(); !s.ok()) {
    log.Error("start failed", {{"error", std::string(s.message())}});
    return 1;
  }
  auto statsd = apmcov::telemetry::MaybeStartDogStatsd(statsd_options, app.registry(),  // null: off
                                                       [&app] { app.RefreshMetrics(); });
  int sig = apmcov::WaitForShutdownSignal();
  log.Info("stopping", {{"signal", sig}});
  app.Stop();
  (void)tracing.Shutdown(std::chrono::seconds(2));  // the last spans, bounded
  if (statsd) statsd->Stop();                       // a last flush
  return 0;
}
