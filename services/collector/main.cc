// apmcov-collector: wiring only (conventions: main parses config, builds the real adapters,
// hands them to App, runs until SIGTERM/SIGINT, stops in reverse order).
//
// Exit status: 0 ok (--once: the sync succeeded), 1 failed, 2 bad configuration,
// 3 (--once) the sync was partial, 4 Datadog rejected the keys.
#include <prometheus/registry.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "apmcov/base/clock.h"
#include "apmcov/base/config.h"
#include "apmcov/base/log.h"
#include "apmcov/base/process.h"
#include "apmcov/base/status.h"
#include "apmcov/base/time.h"
#include "apmcov/base/version.h"
#include "apmcov/bus/kafka.h"
#include "apmcov/datadog/http_client.h"
#include "apmcov/datadog/parse.h"
#include "apmcov/telemetry/admin_server.h"
#include "apmcov/telemetry/dogstatsd_exporter.h"
#include "apmcov/tracing/config.h"
#include "app.h"

namespace {

constexpr char kService[] = "apmcov-collector";

int Fail(const apmcov::Logger& log, int code, const std::string& what, const absl::Status& s) {
  std::string msg = std::string(s.message());
  log.Error(what, {{"error", msg}});
  std::fprintf(stderr, "%s: %s: %s\n", kService, what.c_str(), msg.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace apmcov;
  BlockShutdownSignals();
  ConfigReader reader(argc, argv);
  ConfigureLoggingFrom(reader, kService);
  const Logger log("collector.main");
  collector::CollectorConfig cfg = collector::CollectorConfig::Read(reader);
  const auto statsd_options = telemetry::DogStatsdExporterOptions::Read(reader, kService);
  const auto tracing_config = tracing::TracingConfig::Read(reader, kService);
  if (PrintUsageIfRequested(
          reader, kService,
          "Reads the Datadog API (service catalog, APM services, spans) and publishes it to Kafka\n"
          "as protobuf events, on a schedule and on request. --once runs one sync and exits:\n"
          "0 succeeded, 1 failed, 2 bad configuration, 3 partial, 4 keys rejected.")) {
    return 0;
  }
  if (absl::Status s = reader.Finish(); !s.ok()) return Fail(log, 2, "bad configuration", s);
  absl::StatusOr<std::string> base_url = datadog::ResolveBaseUrl(cfg.dd_site, cfg.dd_api_base_url);
  if (!base_url.ok()) return Fail(log, 2, "bad configuration", base_url.status());
  LogEffectiveConfig(log, reader);

  bus::KafkaConfig kafka;
  kafka.brokers = cfg.kafka_brokers;
  kafka.client_id = kService;
  if (absl::Status s = kafka.Validate(); !s.ok()) return Fail(log, 2, "bad configuration", s);
  // Spans go out in bulk and every window ends with a flush, so a longer linger than the bus's
  // 5 ms costs no latency that matters: fuller batches compress better (a partition of the
  // embedded Kafka, which keeps ~5 MiB, holds ~12% more spans) and take fewer requests.
  bus::KafkaConfig producer = kafka;
  producer.properties.emplace("linger.ms", "50");
  auto publisher = bus::KafkaPublisher::Create(producer);
  if (!publisher.ok()) return Fail(log, 1, "cannot create the Kafka producer", publisher.status());
  auto lag_probe = bus::KafkaLagProbe::Create(kafka);
  if (!lag_probe.ok()) return Fail(log, 1, "cannot create the Kafka lag probe", lag_probe.status());
  // Each checkpoint read is a fresh group: it reads collector-state from the beginning.
  auto open_state = [kafka]() -> absl::StatusOr<std::unique_ptr<bus::Subscriber>> {
    static std::atomic<int> reads{0};
    APMCOV_ASSIGN_OR_RETURN(auto sub,
                            bus::KafkaSubscriber::Create(
                                kafka, absl::StrCat(kService, "-state-", ::getpid(), "-",
                                                    RealClock().NowUnixNanos(), "-", ++reads)));
    return std::unique_ptr<bus::Subscriber>(std::move(sub));
  };
  // The group of the leader election (design §3): whoever owns partition 0 of `commands`.
  std::unique_ptr<bus::KafkaSubscriber> commands;
  if (!cfg.once) {
    auto c = bus::KafkaSubscriber::Create(kafka, cfg.kafka_topic_prefix + "collector");
    if (!c.ok()) return Fail(log, 1, "cannot create the Kafka consumer", c.status());
    commands = std::move(*c);
  }

  auto registry = std::make_shared<prometheus::Registry>();
  collector::CollectorMetrics metrics(*registry);
  // The admin server (and its process metrics) exists only in service mode, after --once.
  std::atomic<telemetry::AdminServer*> admin_for_statsd{nullptr};
  auto statsd = telemetry::MaybeStartDogStatsd(  // null when off
      statsd_options, registry, [&admin_for_statsd] {
        if (telemetry::AdminServer* a = admin_for_statsd.load()) a->RunScrapeHooks();
      });
  RealClock clock;
  tracing::TracingSetup tracing(tracing_config, *registry, clock);  // off: a no-op tracer
  datadog::TransportOptions transport_options;
  transport_options.total_timeout_ms = cfg.http_timeout_seconds * 1000;
  datadog::CurlTransport transport(transport_options);
  datadog::ClientOptions client_options;
  client_options.base_url = *base_url;
  // For messages only: never the user-info a base URL may carry.
  client_options.site =
      cfg.dd_api_base_url.empty() ? cfg.dd_site : RedactUrlUserInfo(cfg.dd_api_base_url);
  client_options.api_key = cfg.dd_api_key;
  client_options.app_key = cfg.dd_app_key;
  client_options.max_retries = static_cast<int>(cfg.max_retries);
  client_options.tracer = &tracing.tracer();
  datadog::DatadogHttpClient client(client_options, transport, clock, &metrics);
  datadog::HttpDatadogSource source(client);

  collector::App app(cfg, {source, **publisher, **lag_probe, clock, metrics, commands.get(),
                           open_state, &tracing.tracer()});

  if (absl::Status s = app.ValidateKeys(); !s.ok()) {
    if (absl::IsCancelled(s)) return Fail(log, 1, "stopped (SIGTERM) while checking the keys", s);
    return Fail(log, s.code() == absl::StatusCode::kPermissionDenied ? 4 : 1,
                "Datadog did not accept the keys", s);
  }
  if (absl::Status s = app.ProbeKafka(); !s.ok()) log.Warn("Kafka not reachable yet");
  if (ShutdownRequested()) {  // during the probe: the threads would only hold the exit up
    log.Info("stopped (SIGTERM) before starting");
    return 0;
  }
  if (cfg.once) {
    // Service mode reads it once leading, and retries (unready) when it cannot.
    if (absl::Status s = app.LoadCheckpoint(); !s.ok()) {
      return Fail(log, 1, "cannot read the checkpoint", s);
    }
    const collector::SyncResult r = app.RunSync(v1::SYNC_TRIGGER_SCHEDULE);
    std::fputs(collector::OnceSummaryLine(r).c_str(), stdout);
    (void)tracing.Shutdown(std::chrono::seconds(2));  // the sync's spans, bounded
    return collector::OnceExitCode(r);
  }

  telemetry::AdminServer admin(registry, "0.0.0.0", static_cast<uint16_t>(cfg.admin_port));
  admin.EnableProcessMetrics(kService, kBuildVersion);
  admin_for_statsd.store(&admin);
  admin.AddReadinessCheck({"kafka", [&app] { return app.Ready(); }});
  if (absl::Status s = admin.Start(); !s.ok())
    return Fail(log, 1, "cannot start the admin server", s);
  log.Info("collector started",
           {{"admin_port", static_cast<int64_t>(admin.port())},
            {"span_parser_kernel", std::string(datadog::SpanPageSimdjsonKernel())}});
  app.Start();
  int sig = WaitForShutdownSignal();
  log.Info("stopping", {{"signal", sig}});
  app.Stop();
  (void)tracing.Shutdown(std::chrono::seconds(2));  // the last spans, bounded
  if (statsd) statsd->Stop();                       // a last flush
  admin.Stop();
  (void)(*publisher)->Flush(std::chrono::seconds(5));
  return 0;
}
