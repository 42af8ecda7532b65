// The analyzer's configuration (design §9): AnalyzerConfig holds what the environment and
// flags say (ConfigReader; a bad value is reported naming its variable), AppOptions what the
// App runs with, derived from it (tests set AppOptions directly).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "apmcov/base/config.h"
#include "apmcov/coverage/infra_aliases.h"
#include "apmcov/coverage/sampling.h"
#include "apmcov/store/coverage_store.h"

namespace apmcov::analyzer {

// Configuration (design §9), from env vars / flags through ConfigReader.
struct AnalyzerConfig {
  std::string kafka_brokers = "127.0.0.1:9092";
  std::string topic_prefix = "apmcov.";
  std::string database_url;  // a secret for logging purposes
  std::string group_id = "apmcov-analyzer";
  int64_t apm_lookback_hours = 24;
  coverage::InfraAliases infra_aliases = coverage::DefaultInfraAliases();  // INFRA_ALIASES
  int64_t trace_grace_seconds = 120;
  double clock_skew_seconds = 1;   // CLOCK_SKEW_SECONDS (fractions allowed)
  double trace_edge_seconds = 30;  // TRACE_EDGE_SECONDS
  std::vector<std::string> whole_trace_retention;
  uint16_t admin_port = 9102;
  int64_t max_batch_messages = 5000;
  int64_t poll_timeout_ms = 200;
  int64_t max_traces_in_flight = 1'000'000;
  int64_t max_spans_in_flight = 4'000'000;
  int64_t snapshot_wait_seconds = 300;
  int64_t directory_refresh_seconds = 10;
  int64_t catalog_wait_seconds = 30;
  int64_t broken_trace_retention_days = 14;  // BROKEN_TRACE_RETENTION_DAYS
  int64_t sync_job_retention_days = 30;      // SYNC_JOB_RETENTION_DAYS
  int64_t retention_interval_seconds = 600;  // RETENTION_INTERVAL_SECONDS; 0: never prune
  int64_t retention_batch_rows = 1000;       // RETENTION_BATCH_ROWS
  // Datadog Scorecards (design §13): off unless SCORECARDS_ENABLED; then the Datadog keys and
  // site are needed as by the collector.
  bool scorecards_enabled = false;     // SCORECARDS_ENABLED
  std::string dashboard_url;           // DASHBOARD_URL (links in the outcomes' remarks)
  std::string dd_api_key, dd_app_key;  // secrets
  std::string dd_site = "datadoghq.com";
  std::string dd_api_base_url;  // DD_API_BASE_URL, resolved (https://api.<DD_SITE> by default)

  // Reads every variable; errors are recorded in `reader` (see ConfigReader::Finish()).
  static AnalyzerConfig Read(ConfigReader& reader);
};

struct AppOptions {
  std::string topic_prefix = "apmcov.";
  std::string consumer_name = "apmcov-analyzer";  // DeadLetter.consumer
  int64_t apm_lookback_ns = int64_t{24} * 3600 * 1'000'000'000;
  coverage::InfraAliases infra_aliases = coverage::DefaultInfraAliases();
  int64_t trace_grace_ns = int64_t{120} * 1'000'000'000;
  // When a trace counts as complete within a read interval (CLOCK_SKEW_SECONDS,
  // TRACE_EDGE_SECONDS; design §7.1).
  coverage::CompletenessOptions completeness;
  std::vector<std::string> whole_trace_retention;
  size_t max_batch_messages = 5000;
  std::chrono::milliseconds poll_timeout{200};
  // Batches queued for (or being written to) PostgreSQL by the writer thread while the next
  // poll is processed; 1 writes each batch before the next poll is judged.
  size_t write_queue_depth = 2;
  // Polls queued for (or being decoded by) the decode thread; the consumer thread processes
  // the oldest while the newest is decoded (span_decoder.h).
  size_t decode_queue_depth = 2;
  size_t max_traces_in_flight = 1'000'000;
  size_t max_spans_in_flight = 4'000'000;
  std::chrono::nanoseconds snapshot_wait = std::chrono::minutes(5);
  // How often the service directory used by gap detection (catalog, instrumented services)
  // and the coverage gauges are recomputed from the store when catalog or APM data changed.
  std::chrono::nanoseconds directory_refresh = std::chrono::seconds(10);
  std::chrono::nanoseconds max_backoff = std::chrono::seconds(30);
  // Longest time a span watermark of job J waits for J's catalog snapshot to be complete
  // (see the contract above) before it is applied anyway.
  std::chrono::nanoseconds catalog_wait = std::chrono::seconds(30);
  // Retention (see the contract above); a zero interval disables pruning.
  store::RetentionPolicy retention;
  std::chrono::nanoseconds retention_interval = std::chrono::minutes(10);
  size_t retention_batch_rows = 1000;
  std::chrono::nanoseconds retention_budget = std::chrono::seconds(2);

  static AppOptions FromConfig(const AnalyzerConfig& config);
};

}  // namespace apmcov::analyzer
