#include "config.h"

#include "apmcov/base/status.h"
#include "apmcov/datadog/http_client.h"
#include "apmcov/datadog/key_guard.h"

namespace apmcov::analyzer {

AnalyzerConfig AnalyzerConfig::Read(ConfigReader& r) {
  AnalyzerConfig c;
  c.kafka_brokers = r.String("KAFKA_BROKERS", c.kafka_brokers);
  c.topic_prefix = r.String("KAFKA_TOPIC_PREFIX", c.topic_prefix);
  c.database_url = r.String("DATABASE_URL", "", Secret::kYes);
  c.group_id = r.String("ANALYZER_GROUP_ID", c.group_id);
  c.apm_lookback_hours = r.Int("APM_LOOKBACK_HOURS", c.apm_lookback_hours, 1, int64_t{24} * 366);
  auto aliases = coverage::ParseInfraAliases(r.String("INFRA_ALIASES", ""));
  if (aliases.ok()) {
    c.infra_aliases = *std::move(aliases);
  } else {
    r.AddError("INFRA_ALIASES", StdView(aliases.status().message()));
  }
  c.trace_grace_seconds = r.Int("TRACE_GRACE_SECONDS", c.trace_grace_seconds, 0, 86400);
  c.clock_skew_seconds = r.Double("CLOCK_SKEW_SECONDS", c.clock_skew_seconds, 0, 3600);
  c.trace_edge_seconds = r.Double("TRACE_EDGE_SECONDS", c.trace_edge_seconds, 0, 3600);
  c.whole_trace_retention = r.List("WHOLE_TRACE_RETENTION", "");
  c.admin_port = static_cast<uint16_t>(r.Int("ADMIN_PORT", c.admin_port, 0, 65535));
  c.max_batch_messages = r.Int("ANALYZER_MAX_BATCH_MESSAGES", c.max_batch_messages, 1, 1'000'000);
  c.poll_timeout_ms = r.Int("ANALYZER_POLL_TIMEOUT_MS", c.poll_timeout_ms, 1, 60'000);
  c.max_traces_in_flight =
      r.Int("ANALYZER_MAX_TRACES_IN_FLIGHT", c.max_traces_in_flight, 1, 100'000'000);
  c.max_spans_in_flight =
      r.Int("ANALYZER_MAX_SPANS_IN_FLIGHT", c.max_spans_in_flight, 1, 1'000'000'000);
  c.snapshot_wait_seconds =
      r.Int("ANALYZER_SNAPSHOT_WAIT_SECONDS", c.snapshot_wait_seconds, 0, 86400);
  c.directory_refresh_seconds =
      r.Int("ANALYZER_DIRECTORY_REFRESH_SECONDS", c.directory_refresh_seconds, 0, 3600);
  c.catalog_wait_seconds = r.Int("ANALYZER_CATALOG_WAIT_SECONDS", c.catalog_wait_seconds, 0, 3600);
  c.broken_trace_retention_days =
      r.Int("BROKEN_TRACE_RETENTION_DAYS", c.broken_trace_retention_days, 1, 3650);
  c.sync_job_retention_days = r.Int("SYNC_JOB_RETENTION_DAYS", c.sync_job_retention_days, 1, 3650);
  c.retention_interval_seconds =
      r.Int("RETENTION_INTERVAL_SECONDS", c.retention_interval_seconds, 0, 86400);
  c.retention_batch_rows = r.Int("RETENTION_BATCH_ROWS", c.retention_batch_rows, 1, 100'000);
  c.scorecards_enabled = r.Bool("SCORECARDS_ENABLED", false);
  c.dashboard_url = r.String("DASHBOARD_URL", "");
  while (!c.dashboard_url.empty() && c.dashboard_url.back() == '/') c.dashboard_url.pop_back();
  if (!c.dashboard_url.empty() && c.dashboard_url.rfind("http://", 0) != 0 &&
      c.dashboard_url.rfind("https://", 0) != 0) {
    r.AddError("DASHBOARD_URL", "must be an http:// or https:// URL (the dashboard's address)");
  }
  if (c.scorecards_enabled) {
    c.dd_api_key = r.String("DD_API_KEY", "", Secret::kYes);
    c.dd_app_key = r.String("DD_APP_KEY", "", Secret::kYes);
    c.dd_site = r.String("DD_SITE", c.dd_site);
    const std::string base = r.String("DD_API_BASE_URL", "");
    const bool allow_insecure = r.Bool("DD_API_ALLOW_INSECURE", false);
    if (c.dd_api_key.empty()) r.AddError("DD_API_KEY", "is required with SCORECARDS_ENABLED=true");
    if (c.dd_app_key.empty()) {
      r.AddError("DD_APP_KEY",
                 "is required with SCORECARDS_ENABLED=true (scope apm_service_catalog_write)");
    }
    absl::StatusOr<std::string> url = datadog::ResolveBaseUrl(c.dd_site, base);
    if (!url.ok()) {
      r.AddError("DD_API_BASE_URL", StdView(url.status().message()));
    } else {
      c.dd_api_base_url = *url;
      absl::Status transport =
          datadog::CheckKeyTransport(c.dd_api_key, c.dd_app_key, *url, allow_insecure);
      if (!transport.ok()) r.AddError("DD_API_BASE_URL", StdView(transport.message()));
    }
  }
  if (c.database_url.empty()) {
    r.AddError("DATABASE_URL", "is required (postgresql://user:password@host:port/db)");
  }
  if (c.kafka_brokers.empty()) r.AddError("KAFKA_BROKERS", "must not be empty");
  return c;
}

AppOptions AppOptions::FromConfig(const AnalyzerConfig& c) {
  AppOptions o;
  o.topic_prefix = c.topic_prefix;
  o.apm_lookback_ns = c.apm_lookback_hours * 3600 * int64_t{1'000'000'000};
  o.infra_aliases = c.infra_aliases;
  o.trace_grace_ns = c.trace_grace_seconds * int64_t{1'000'000'000};
  o.completeness.clock_skew_ns = static_cast<int64_t>(c.clock_skew_seconds * 1e9);
  o.completeness.edge_ns = static_cast<int64_t>(c.trace_edge_seconds * 1e9);
  o.whole_trace_retention = c.whole_trace_retention;
  o.max_batch_messages = static_cast<size_t>(c.max_batch_messages);
  o.poll_timeout = std::chrono::milliseconds(c.poll_timeout_ms);
  o.max_traces_in_flight = static_cast<size_t>(c.max_traces_in_flight);
  o.max_spans_in_flight = static_cast<size_t>(c.max_spans_in_flight);
  o.snapshot_wait = std::chrono::seconds(c.snapshot_wait_seconds);
  o.directory_refresh = std::chrono::seconds(c.directory_refresh_seconds);
  o.catalog_wait = std::chrono::seconds(c.catalog_wait_seconds);
  o.retention.broken_trace_ns = c.broken_trace_retention_days * store::RetentionPolicy::kDay;
  o.retention.sync_job_ns = c.sync_job_retention_days * store::RetentionPolicy::kDay;
  o.retention_interval = std::chrono::seconds(c.retention_interval_seconds);
  o.retention_batch_rows = static_cast<size_t>(c.retention_batch_rows);
  return o;
}

}  // namespace apmcov::analyzer
