#include "config.h"

#include "absl/status/statusor.h"
#include "apmcov/base/status.h"
#include "apmcov/datadog/http_client.h"
#include "apmcov/datadog/key_guard.h"

namespace apmcov::collector {

CollectorConfig CollectorConfig::Read(ConfigReader& r) {
  CollectorConfig c;
  c.dd_api_key = r.String("DD_API_KEY", "", Secret::kYes);
  c.dd_app_key = r.String("DD_APP_KEY", "", Secret::kYes);
  c.dd_site = r.String("DD_SITE", c.dd_site);
  c.dd_api_base_url = r.String("DD_API_BASE_URL", "");
  c.kafka_brokers = r.String("KAFKA_BROKERS", "");
  c.kafka_topic_prefix = r.String("KAFKA_TOPIC_PREFIX", c.kafka_topic_prefix);
  c.sync_interval_minutes = r.Int("SYNC_INTERVAL_MINUTES", c.sync_interval_minutes, 1, 24 * 60);
  c.apm_lookback_hours = r.Int("APM_LOOKBACK_HOURS", c.apm_lookback_hours, 1, 24 * 30);
  c.span_page_budget = r.Int("SPAN_PAGE_BUDGET", c.span_page_budget, 0, 100'000);
  c.span_lag_seconds = r.Int("SPAN_LAG_SECONDS", c.span_lag_seconds, 0, 24 * 3600);
  c.span_backfill_minutes =
      r.Int("SPAN_BACKFILL_MINUTES", c.span_backfill_minutes, 1, 15 * 24 * 60);
  c.span_window_seconds = r.Int("SPAN_WINDOW_SECONDS", c.span_window_seconds, 1, 24 * 3600);
  c.span_slice_min_seconds =
      r.Int("SPAN_SLICE_MIN_SECONDS", c.span_slice_min_seconds, 1, 24 * 3600);
  c.span_slice_seed = r.Int("SPAN_SLICE_SEED", c.span_slice_seed, 0, INT64_MAX);
  c.max_consumer_lag_messages =
      r.Int("MAX_CONSUMER_LAG_MESSAGES", c.max_consumer_lag_messages, 1, INT64_MAX / 2);
  c.kafka_flush_timeout_seconds =
      r.Int("KAFKA_FLUSH_TIMEOUT_SECONDS", c.kafka_flush_timeout_seconds, 1, 290);
  c.span_query = r.String("SPAN_QUERY", c.span_query);
  c.analyzer_group = r.String("ANALYZER_GROUP", c.analyzer_group);
  c.admin_port = r.Int("ADMIN_PORT", c.admin_port, 0, 65535);
  c.http_timeout_seconds = r.Int("DD_HTTP_TIMEOUT_SECONDS", c.http_timeout_seconds, 1, 3600);
  c.max_retries = r.Int("DD_MAX_RETRIES", c.max_retries, 0, 20);
  c.once = r.Bool("ONCE", false);
  c.Validate(r);
  return c;
}

void CollectorConfig::Validate(ConfigReader& r) const {
  if (dd_api_key.empty()) r.AddError("DD_API_KEY", "is required (a Datadog API key)");
  if (dd_app_key.empty()) r.AddError("DD_APP_KEY", "is required (a Datadog application key)");
  if (kafka_brokers.empty()) r.AddError("KAFKA_BROKERS", "is required (host:port[,host:port])");
  if (span_query.empty()) r.AddError("SPAN_QUERY", "must not be empty");
  if (analyzer_group.empty()) r.AddError("ANALYZER_GROUP", "must not be empty");
  // Read here, next to its only use: real-looking keys never go over plain http elsewhere.
  const bool allow_insecure = r.Bool("DD_API_ALLOW_INSECURE", false);
  if (absl::StatusOr<std::string> url = datadog::ResolveBaseUrl(dd_site, dd_api_base_url);
      url.ok()) {
    absl::Status transport =
        datadog::CheckKeyTransport(dd_api_key, dd_app_key, *url, allow_insecure);
    if (!transport.ok()) r.AddError("DD_API_BASE_URL", StdView(transport.message()));
  }
}

}  // namespace apmcov::collector
