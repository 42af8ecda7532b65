#include "app.h"

#include <prometheus/registry.h>

#include "apmcov/base/log.h"
#include "apmcov/base/status.h"
#include "apmcov/base/version.h"
#include "apmcov/telemetry/admin_server.h"
#include "grpc/grpc_service.h"
#include "metrics.h"
#include "query/query_service.h"
#include "rest/rest_api.h"
#include "rest/rest_server.h"
#include "rest/token_bucket.h"
#include "sync_trigger.h"

namespace apmcov::gateway {

GatewayConfig GatewayConfig::Read(ConfigReader& reader, const std::string& default_web_dir) {
  GatewayConfig c;
  c.database_url = reader.String("DATABASE_URL", "", Secret::kYes);
  if (c.database_url.empty()) reader.AddError("DATABASE_URL", "required (a PostgreSQL URL)");
  c.kafka_brokers = reader.String("KAFKA_BROKERS", "");
  if (c.kafka_brokers.empty()) reader.AddError("KAFKA_BROKERS", "required (host:port,...)");
  c.topic_prefix = reader.String("KAFKA_TOPIC_PREFIX", "apmcov.");
  c.bind_address = reader.String("BIND_ADDRESS", "0.0.0.0");
  c.http_port = static_cast<uint16_t>(reader.Int("HTTP_PORT", 8080, 0, 65535));
  c.grpc_port = static_cast<uint16_t>(reader.Int("GRPC_PORT", 9090, 0, 65535));
  c.admin_port = static_cast<uint16_t>(reader.Int("ADMIN_PORT", 9103, 0, 65535));
  c.apm_lookback_hours = static_cast<int>(reader.Int("APM_LOOKBACK_HOURS", 24, 1, 24 * 365));
  auto aliases = coverage::ParseInfraAliases(reader.String("INFRA_ALIASES", ""));
  if (aliases.ok()) {
    c.infra_aliases = *std::move(aliases);
  } else {
    reader.AddError("INFRA_ALIASES", StdView(aliases.status().message()));
  }
  c.api_token = reader.String("GATEWAY_API_TOKEN", "", Secret::kYes);
  c.web_dir = reader.String("WEB_DIR", default_web_dir);
  c.catalog_cache_ms = static_cast<int>(reader.Int("GATEWAY_CACHE_MS", 1000, 0, 600000));
  c.http_threads = static_cast<int>(reader.Int("HTTP_THREADS", 2, 1, 64));
  c.watch_interval_ms = static_cast<int>(reader.Int("WATCH_INTERVAL_MS", 500, 10, 60000));
  c.grpc_max_receive_bytes =
      static_cast<int>(reader.Int("GRPC_MAX_RECEIVE_BYTES", 1 << 20, 1024, 64 << 20));
  c.grpc_max_concurrent_streams =
      static_cast<int>(reader.Int("GRPC_MAX_CONCURRENT_STREAMS", 32, 1, 1000));
  c.grpc_max_watch_streams = static_cast<int>(reader.Int("GRPC_MAX_WATCH_STREAMS", 16, 1, 10000));
  c.grpc_watch_idle_seconds =
      static_cast<int>(reader.Int("GRPC_WATCH_IDLE_SECONDS", 600, 1, 86400));
  c.grpc_watch_max_seconds = static_cast<int>(reader.Int("GRPC_WATCH_MAX_SECONDS", 3600, 1, 86400));
  c.grpc_keepalive_seconds = static_cast<int>(reader.Int("GRPC_KEEPALIVE_SECONDS", 60, 10, 3600));
  c.grpc_max_connection_idle_seconds =
      static_cast<int>(reader.Int("GRPC_MAX_CONNECTION_IDLE_SECONDS", 900, 1, 86400));
  c.sync_rate_per_second = reader.Double("SYNC_RATE_PER_SECOND", 2, 0.01, 1000);
  c.sync_burst = static_cast<int>(reader.Int("SYNC_BURST", 5, 1, 1000));
  return c;
}

struct App::Impl {
  GatewayConfig config;
  store::ReadModel& store;
  bus::Publisher& publisher;
  std::shared_ptr<prometheus::Registry> registry;
  GatewayMetrics metrics{*registry};
  QueryService queries;
  SyncTrigger sync;
  TokenBucket sync_limit;
  RestApi api;
  RestServer rest;
  CoverageGrpcService grpc_service;
  GrpcServer grpc_server;
  telemetry::AdminServer admin;

  Impl(const GatewayConfig& c, store::ReadModel& s, bus::Publisher& p, const Clock& clock,
       tracing::Tracer& tracer, std::shared_ptr<prometheus::Registry> r)
      : config(c),
        store(s),
        publisher(p),
        registry(r != nullptr ? std::move(r) : std::make_shared<prometheus::Registry>()),
        queries(s, clock,
                QueryOptions{.apm_lookback = std::chrono::hours(c.apm_lookback_hours),
                             .infra_aliases = c.infra_aliases,
                             .catalog_ttl = std::chrono::milliseconds(c.catalog_cache_ms),
                             .background_refresh = true}),
        sync(p, clock, c.topic_prefix, std::chrono::seconds(5), tracer),
        sync_limit(c.sync_rate_per_second, c.sync_burst, clock),
        api(queries, sync, RestApiOptions{c.api_token, c.web_dir, &sync_limit}),
        rest(api, metrics,
             RestServerOptions{c.bind_address, c.http_port, c.http_threads, 64 * 1024,
                               std::chrono::milliseconds(5000), std::chrono::milliseconds(10000)},
             tracer),
        grpc_service(queries, sync, metrics,
                     GrpcServiceOptions{
                         c.api_token, std::chrono::milliseconds(c.watch_interval_ms),
                         c.grpc_max_watch_streams, std::chrono::seconds(c.grpc_watch_idle_seconds),
                         std::chrono::seconds(c.grpc_watch_max_seconds), &sync_limit, &tracer}),
        grpc_server(grpc_service,
                    GrpcServerOptions{c.grpc_max_receive_bytes, c.grpc_max_concurrent_streams,
                                      std::chrono::seconds(c.grpc_keepalive_seconds),
                                      std::chrono::seconds(20), std::chrono::seconds(30),
                                      std::chrono::seconds(c.grpc_max_connection_idle_seconds)}),
        admin(registry, c.bind_address, c.admin_port) {}
};

App::App(const GatewayConfig& config, store::ReadModel& store, bus::Publisher& publisher,
         const Clock& clock, tracing::Tracer& tracer,
         std::shared_ptr<prometheus::Registry> registry)
    : impl_(std::make_unique<Impl>(config, store, publisher, clock, tracer, std::move(registry))) {}

App::~App() { Stop(); }

absl::Status App::Start() {
  static const Logger log("gateway");
  Impl& i = *impl_;
  i.admin.EnableProcessMetrics("apmcov-gateway", kBuildVersion);
  i.admin.AddReadinessCheck({"postgres", [&i] { return i.store.Ping(); }});
  i.admin.AddReadinessCheck({"kafka", [&i]() -> absl::Status {
                               auto n = i.publisher.PartitionCount(i.sync.topic());
                               return n.ok() ? absl::OkStatus() : n.status();
                             }});
  APMCOV_RETURN_IF_ERROR(Annotate(i.admin.Start(), "admin server"));
  if (auto s = i.grpc_server.Start(i.config.bind_address, i.config.grpc_port); !s.ok()) {
    Stop();
    return s;
  }
  if (auto s = i.rest.Start(); !s.ok()) {
    Stop();
    return Annotate(s, "HTTP server");
  }
  log.Info("gateway started", {{"http_port", static_cast<int>(i.rest.port())},
                               {"grpc_port", static_cast<int>(i.grpc_server.port())},
                               {"admin_port", static_cast<int>(i.admin.port())},
                               {"web_dir", i.config.web_dir}});
  return absl::OkStatus();
}

void App::Stop() {
  impl_->rest.Stop();
  impl_->grpc_server.Stop();
  impl_->admin.Stop();
}

uint16_t App::http_port() const { return impl_->rest.port(); }
uint16_t App::grpc_port() const { return impl_->grpc_server.port(); }
uint16_t App::admin_port() const { return impl_->admin.port(); }
std::shared_ptr<prometheus::Registry> App::registry() const { return impl_->registry; }
void App::RefreshMetrics() { impl_->admin.RunScrapeHooks(); }

}  // namespace apmcov::gateway
