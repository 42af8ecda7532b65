// apmcov-analyzer: parses config, applies the schema migrations, builds the real adapters
// (Kafka subscriber and DLQ publisher, PostgreSQL store, admin server), hands them to App, runs
// until SIGTERM/SIGINT, then drains (finishes and commits the batch in hand) and stops in
// reverse order. `apmcov-analyzer migrate` only applies the migrations and exits.
#include <prometheus/registry.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <thread>

#include "apmcov/base/clock.h"
#include "apmcov/base/config.h"
#include "apmcov/base/log.h"
#include "apmcov/base/process.h"
#include "apmcov/bus/kafka.h"
#include "apmcov/datadog/http_client.h"
#include "apmcov/datadog/scorecards.h"
#include "apmcov/store/postgres_store.h"
#include "apmcov/telemetry/admin_server.h"
#include "apmcov/telemetry/dogstatsd_exporter.h"
#include "apmcov/tracing/config.h"
#include "app.h"
#include "scorecards.h"

namespace {

using apmcov::analyzer::AnalyzerConfig;

const apmcov::Logger& Log() {
  static const apmcov::Logger log("analyzer.main");
  return log;
}

// Applies pending migrations, waiting up to a minute for the database to come up.
bool Migrate(const AnalyzerConfig& config, apmcov::Clock& clock) {
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<apmcov::store::MigrationReport> report =
        apmcov::store::RunMigrations(config.database_url);
    if (report.ok()) {
      Log().Info("schema up to date",
                 {{"version", report->current_version}, {"applied", report->applied.size()}});
      return true;
    }
    if (!absl::IsUnavailable(report.status()) || attempt >= 30) {
      Log().Error("migrations failed", {{"error", std::string(report.status().message())}});
      return false;
    }
    Log().Warn("database not reachable, retrying migrations",
               {{"attempt", attempt}, {"error", std::string(report.status().message())}});
    if (!clock.SleepFor(std::chrono::seconds(2))) {
      Log().Error("stopped while waiting for the database");  // SIGTERM during start-up
      return false;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  apmcov::BlockShutdownSignals();
  apmcov::ConfigReader reader(argc, argv);
  apmcov::ConfigureLoggingFrom(reader, "apmcov-analyzer");
  AnalyzerConfig config = AnalyzerConfig::Read(reader);
  const auto statsd_options =
      apmcov::telemetry::DogStatsdExporterOptions::Read(reader, "apmcov-analyzer");
  const auto tracing_config = apmcov::tracing::TracingConfig::Read(reader, "apmcov-analyzer");
  const auto& args = reader.positional();
  const bool migrate_only = !args.empty() && args[0] == "migrate";
  if (args.size() > 1 || (!args.empty() && !migrate_only)) {
    reader.AddError("ARGS", "the only subcommand is `migrate`");
  }
  if (apmcov::PrintUsageIfRequested(
          reader, "apmcov-analyzer [migrate]",
          "Consumes the collector's events from Kafka, assembles traces, finds broken traces and\n"
          "the services missing from them, computes APM coverage and writes PostgreSQL.\n"
          "`apmcov-analyzer migrate` applies the schema migrations and exits.")) {
    return 0;
  }
  if (absl::Status s = reader.Finish(); !s.ok()) {
    std::fprintf(stderr, "apmcov-analyzer: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  apmcov::LogEffectiveConfig(Log(), reader);
  Log().Info("database", {{"url", apmcov::store::RedactDatabaseUrl(config.database_url)}});

  apmcov::RealClock clock;
  if (!Migrate(config, clock)) return 1;
  if (migrate_only) return 0;

  apmcov::bus::KafkaConfig kafka;
  kafka.brokers = config.kafka_brokers;
  kafka.client_id = "apmcov-analyzer";
  auto subscriber = apmcov::bus::KafkaSubscriber::Create(kafka, config.group_id);
  auto publisher = apmcov::bus::KafkaPublisher::Create(kafka);
  auto probe = apmcov::bus::KafkaLagProbe::Create(kafka);
  for (const absl::Status& s : {subscriber.status(), publisher.status(), probe.status()}) {
    if (!s.ok()) {
      Log().Error("kafka client", {{"error", std::string(s.message())}});
      return 2;
    }
  }
  apmcov::store::PostgresCoverageStore store(config.database_url);
  apmcov::store::PostgresCoverageStore readiness_store(config.database_url);  // own connection

  auto registry = std::make_shared<prometheus::Registry>();
  apmcov::telemetry::AdminServer admin(registry, "0.0.0.0", config.admin_port);
  auto statsd = apmcov::telemetry::MaybeStartDogStatsd(  // null: off
      statsd_options, registry, [&admin] { admin.RunScrapeHooks(); });
  admin.EnableProcessMetrics("apmcov-analyzer", apmcov::CurrentLogOptions().identity.version);
  admin.AddReadinessCheck({"postgres", [&] { return readiness_store.Ping(); }});
  const apmcov::bus::TopicNames topics(config.topic_prefix);
  admin.AddReadinessCheck({"kafka", [&]() -> absl::Status {
                             return (*publisher)->PartitionCount(topics.spans).status();
                           }});
  if (absl::Status s = admin.Start(); !s.ok()) {
    Log().Error("admin server", {{"error", std::string(s.message())}});
    return 1;
  }

  // Datadog Scorecards (design §13): its own thread, store connection and HTTP client, so
  // the push never holds up consumption.
  std::unique_ptr<apmcov::store::PostgresCoverageStore> scorecard_store;
  std::unique_ptr<apmcov::datadog::CurlTransport> dd_transport;
  std::unique_ptr<apmcov::datadog::DatadogHttpClient> dd_client;
  std::unique_ptr<apmcov::datadog::HttpScorecardApi> scorecard_api;
  std::unique_ptr<apmcov::analyzer::ScorecardPusher> scorecards;
  std::function<void(const apmcov::coverage::CoverageReport&)> on_snapshot;
  if (config.scorecards_enabled) {
    scorecard_store = std::make_unique<apmcov::store::PostgresCoverageStore>(config.database_url);
    apmcov::datadog::TransportOptions transport_options;
    transport_options.user_agent = "apmcov-analyzer/0.1";
    dd_transport = std::make_unique<apmcov::datadog::CurlTransport>(transport_options);
    apmcov::datadog::ClientOptions client_options;
    client_options.base_url = config.dd_api_base_url;
    client_options.site = apmcov::RedactUrlUserInfo(config.dd_api_base_url);
    client_options.api_key = config.dd_api_key;
    client_options.app_key = config.dd_app_key;
    client_options.max_rate_limit_wait_s = 300;
    dd_client =
        std::make_unique<apmcov::datadog::DatadogHttpClient>(client_options, *dd_transport, clock);
    scorecard_api = std::make_unique<apmcov::datadog::HttpScorecardApi>(*dd_client);
    apmcov::analyzer::ScorecardOptions sc;
    sc.dashboard_url = config.dashboard_url;
    sc.lookback_ns = config.apm_lookback_hours * 3600 * int64_t{1'000'000'000};
    scorecards = std::make_unique<apmcov::analyzer::ScorecardPusher>(
        sc, *scorecard_store, *scorecard_api, clock, *registry);
    scorecards->Start();
    on_snapshot = [p = scorecards.get()](const apmcov::coverage::CoverageReport& r) {
      p->Submit(r);
    };
    Log().Info("Scorecards push on", {{"scorecard", std::string(apmcov::analyzer::kScorecardName)},
                                      {"site", client_options.site}});
  }

  apmcov::tracing::TracingSetup tracing(tracing_config, *registry, clock);  // off: a no-op
  apmcov::analyzer::App app(apmcov::analyzer::AppOptions::FromConfig(config),
                            {**subscriber, **publisher, store, clock, *registry, **probe,
                             on_snapshot, &tracing.tracer()});
  if (absl::Status s = app.Start(); !s.ok()) {
    Log().Error("start failed", {{"error", std::string(s.message())}});
    return 1;
  }
  Log().Info("started",
             {{"admin_port", static_cast<int>(admin.port())}, {"group", config.group_id}});

  absl::Status run_status;
  std::thread worker([&] {
    run_status = app.Run();
    if (!run_status.ok()) {
      Log().Error("analyzer stopped on an error", {{"error", std::string(run_status.message())}});
      kill(getpid(), SIGTERM);  // wake the main thread
    }
  });
  const int sig = apmcov::WaitForShutdownSignal();
  Log().Info("stopping", {{"signal", sig}});
  app.Stop();
  worker.join();
  if (scorecards) scorecards->Stop();
  (void)tracing.Shutdown(std::chrono::seconds(2));  // the last spans, bounded
  if (statsd) statsd->Stop();                       // a last flush
  (*subscriber)->Close();
  (void)(*publisher)->Flush(std::chrono::seconds(5));
  admin.Stop();
  return run_status.ok() ? 0 : 1;
}
