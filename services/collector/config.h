// The collector's configuration (design §9): CollectorConfig is filled from env vars and
// flags by Read() (ConfigReader: a bad value is reported naming its variable) and checked
// across fields by Validate(). The Datadog keys are secrets: only from the environment or a
// *_FILE, never a flag, never logged.
#pragma once

#include <cstdint>
#include <string>

#include "apmcov/base/config.h"

namespace apmcov::collector {

// Configuration (design §9). Filled from env vars / flags by Read(), checked by Validate().
struct CollectorConfig {
  std::string dd_api_key;
  std::string dd_app_key;
  std::string dd_site = "datadoghq.com";
  std::string dd_api_base_url;
  std::string kafka_brokers;
  std::string kafka_topic_prefix = "apmcov.";
  int64_t sync_interval_minutes = 15;
  int64_t apm_lookback_hours = 24;
  int64_t span_page_budget = 60;
  int64_t span_lag_seconds = 60;
  int64_t span_backfill_minutes = 60;
  int64_t span_window_seconds = 300;  // length of one published span window
  // Sampling (design §7.1): the shortest slice worth reading when the volume exceeds the
  // budget, and the seed of the slices' phase (0: a random seed per process).
  int64_t span_slice_min_seconds = 30;
  int64_t span_slice_seed = 0;
  int64_t max_consumer_lag_messages = 2'000'000;
  // How long a sync waits for Kafka to acknowledge what it published (a broker outage is
  // ridden out up to this; librdkafka itself gives a message up after 300 s).
  int64_t kafka_flush_timeout_seconds = 120;
  std::string span_query = "retained_by:(flat_sampled OR diversity_sampling)";
  std::string analyzer_group = "apmcov-analyzer";
  int64_t admin_port = 9101;
  int64_t http_timeout_seconds = 60;
  int64_t max_retries = 4;
  bool once = false;

  // Reads every variable; errors are collected in `reader` (reader.Finish() reports them).
  static CollectorConfig Read(ConfigReader& reader);
  // Cross-field checks, reported through reader.AddError().
  void Validate(ConfigReader& reader) const;
};

}  // namespace apmcov::collector
