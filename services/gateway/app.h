// The gateway application: wires one QueryService (over the store's ReadModel) and one SyncTrigger
// (over a bus Publisher) into the REST server, the gRPC server and the admin server (/metrics,
// /healthz, /readyz with PostgreSQL and Kafka checks). It receives its ports by reference and
// creates no I/O adapters itself, so tests run it over fakes or real adapters alike.
#pragma once

#include <prometheus/registry.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "apmcov/base/clock.h"
#include "apmcov/base/config.h"
#include "apmcov/bus/bus.h"
#include "apmcov/coverage/infra_aliases.h"
#include "apmcov/store/read_model.h"
#include "apmcov/tracing/tracer.h"

namespace apmcov::gateway {

struct GatewayConfig {
  std::string database_url;  // secret: never logged
  std::string kafka_brokers;
  std::string topic_prefix = "apmcov.";
  std::string bind_address = "0.0.0.0";
  uint16_t http_port = 8080;
  uint16_t grpc_port = 9090;
  uint16_t admin_port = 9103;
  int apm_lookback_hours = 24;
  coverage::InfraAliases infra_aliases = coverage::DefaultInfraAliases();  // INFRA_ALIASES
  std::string api_token;  // GATEWAY_API_TOKEN; secret
  std::string web_dir;    // WEB_DIR
  int catalog_cache_ms = 1000;
  int http_threads = 2;
  int watch_interval_ms = 500;
  // gRPC limits (design §8; the gateway README has the table).
  int grpc_max_receive_bytes = 1 << 20;
  int grpc_max_concurrent_streams = 32;
  int grpc_max_watch_streams = 16;
  int grpc_watch_idle_seconds = 600;
  int grpc_watch_max_seconds = 3600;
  int grpc_keepalive_seconds = 60;
  int grpc_max_connection_idle_seconds = 900;
  // Sync requests (POST /api/sync and TriggerSync together): a token bucket.
  double sync_rate_per_second = 2;
  int sync_burst = 5;

  // Reads every variable (design §9 plus WEB_DIR, GATEWAY_CACHE_MS, HTTP_THREADS); errors are
  // collected in `reader` (reader.Finish() reports them). `default_web_dir` is used when
  // WEB_DIR is unset.
  static GatewayConfig Read(ConfigReader& reader, const std::string& default_web_dir);
};

class App {
 public:
  // `tracer`: REST and gRPC server spans and the sync request's producer span (off by
  // default). `registry`: where the metrics go (null: a new one), so main() can give the
  // tracer's exporter the same registry.
  App(const GatewayConfig& config, store::ReadModel& store, bus::Publisher& publisher,
      const Clock& clock, tracing::Tracer& tracer = tracing::DisabledTracer(),
      std::shared_ptr<prometheus::Registry> registry = nullptr);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Starts admin, gRPC and HTTP servers; on error, stops what started.
  absl::Status Start();
  // Stops in reverse order. Idempotent.
  void Stop();

  uint16_t http_port() const;
  uint16_t grpc_port() const;
  uint16_t admin_port() const;
  // The registry /metrics serves (for the optional DogStatsD export).
  std::shared_ptr<prometheus::Registry> registry() const;
  // Refreshes the on-demand gauges (process metrics) as a /metrics scrape would.
  void RefreshMetrics();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apmcov::gateway
