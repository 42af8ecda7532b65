#include "metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace apmcov::collector {

CollectorMetrics::CollectorMetrics(prometheus::Registry& registry)
    : api_calls_(prometheus::BuildCounter()
                     .Name("apmcov_collector_datadog_api_calls_total")
                     .Help("Datadog API HTTP exchanges by endpoint and status (0: no response)")
                     .Register(registry)),
      api_seconds_(prometheus::BuildCounter()
                       .Name("apmcov_collector_datadog_api_seconds_total")
                       .Help("Time spent in Datadog API calls by endpoint")
                       .Register(registry)),
      rate_limit_waits_(prometheus::BuildCounter()
                            .Name("apmcov_collector_rate_limit_waits_total")
                            .Help("Waits caused by Datadog rate limits")
                            .Register(registry)
                            .Add({})),
      rate_limit_wait_seconds_(prometheus::BuildCounter()
                                   .Name("apmcov_collector_rate_limit_wait_seconds_total")
                                   .Help("Seconds waited on Datadog rate limits")
                                   .Register(registry)
                                   .Add({})),
      pages_(prometheus::BuildCounter()
                 .Name("apmcov_collector_span_pages_total")
                 .Help("Span pages read from Datadog")
                 .Register(registry)
                 .Add({})),
      spans_published_(prometheus::BuildCounter()
                           .Name("apmcov_collector_spans_published_total")
                           .Help("Spans published to the spans topic")
                           .Register(registry)
                           .Add({})),
      publish_errors_(prometheus::BuildCounter()
                          .Name("apmcov_collector_publish_errors_total")
                          .Help("Failed publishes and flushes to Kafka")
                          .Register(registry)
                          .Add({})),
      backpressure_seconds_(prometheus::BuildCounter()
                                .Name("apmcov_collector_backpressure_wait_seconds_total")
                                .Help("Seconds paused because the analyzer lag was too high")
                                .Register(registry)
                                .Add({})),
      window_flushes_(prometheus::BuildCounter()
                          .Name("apmcov_collector_window_flushes_total")
                          .Help("Span windows made durable in Kafka (spans and watermarks, "
                                "then the checkpoint)")
                          .Register(registry)
                          .Add({})),
      window_flush_seconds_(prometheus::BuildCounter()
                                .Name("apmcov_collector_window_flush_seconds_total")
                                .Help("Seconds syncs waited for Kafka to acknowledge a span "
                                      "window and its checkpoint before reading on")
                                .Register(registry)
                                .Add({})),
      analyzer_lag_(prometheus::BuildGauge()
                        .Name("apmcov_collector_analyzer_lag_messages")
                        .Help("The analyzer group's lag on the spans topic, last read")
                        .Register(registry)
                        .Add({})),
      syncs_(prometheus::BuildCounter()
                 .Name("apmcov_collector_syncs_total")
                 .Help("Finished syncs by final state")
                 .Register(registry)),
      sync_duration_(prometheus::BuildHistogram()
                         .Name("apmcov_collector_sync_duration_seconds")
                         .Help("Duration of a sync")
                         .Register(registry)
                         .Add({}, prometheus::Histogram::BucketBoundaries{1, 5, 15, 30, 60, 120,
                                                                          300, 600, 1200, 3600})),
      last_success_(prometheus::BuildGauge()
                        .Name("apmcov_collector_last_successful_sync_timestamp_seconds")
                        .Help("Unix time of the last sync that succeeded")
                        .Register(registry)
                        .Add({})),
      catalog_services_(prometheus::BuildGauge()
                            .Name("apmcov_collector_catalog_services")
                            .Help("Services in the last catalog snapshot read")
                            .Register(registry)
                            .Add({})),
      spans_unparsed_(prometheus::BuildCounter()
                          .Name("apmcov_collector_spans_unparsed_total")
                          .Help("Spans skipped because they could not be parsed (the rest of "
                                "their page was kept)")
                          .Register(registry)
                          .Add({})),
      sampled_seconds_(prometheus::BuildCounter()
                           .Name("apmcov_collector_span_sampled_seconds_total")
                           .Help("Span time read whole")
                           .Register(registry)
                           .Add({})),
      skipped_seconds_(prometheus::BuildCounter()
                           .Name("apmcov_collector_span_skipped_seconds_total")
                           .Help("Span time skipped on purpose because the volume exceeded "
                                 "SPAN_PAGE_BUDGET")
                           .Register(registry)
                           .Add({})),
      sampled_share_(prometheus::BuildGauge()
                         .Name("apmcov_collector_span_sampled_ratio")
                         .Help("Share of the last sync's span range that was read (1 = all)")
                         .Register(registry)
                         .Add({})),
      checkpoint_lag_(prometheus::BuildGauge()
                          .Name("apmcov_collector_checkpoint_lag_seconds")
                          .Help("How far the span checkpoint is behind real time")
                          .Register(registry)
                          .Add({})),
      leader_(prometheus::BuildGauge()
                  .Name("apmcov_collector_leader")
                  .Help("1 while this collector leads (syncs), 0 while it stands by")
                  .Register(registry)
                  .Add({})),
      standby_(prometheus::BuildGauge()
                   .Name("apmcov_collector_standby")
                   .Help("1 while this collector is an assigned standby of the election group, "
                         "0 while it leads or rejoins the group")
                   .Register(registry)
                   .Add({})) {}

void CollectorMetrics::OnApiCall(const std::string& endpoint, int http_status, double seconds) {
  api_calls_.Add({{"endpoint", endpoint}, {"status", std::to_string(http_status)}}).Increment();
  api_seconds_.Add({{"endpoint", endpoint}}).Increment(seconds);
  ++job_calls_;
}

void CollectorMetrics::OnRateLimitWait(const std::string&, double seconds) {
  rate_limit_waits_.Increment();
  rate_limit_wait_seconds_.Increment(seconds);
  ++job_waits_;
  job_wait_ms_ += static_cast<uint64_t>(seconds * 1000);
}

void CollectorMetrics::AddPages(uint64_t n) { pages_.Increment(static_cast<double>(n)); }
void CollectorMetrics::AddSpansPublished(uint64_t n) {
  spans_published_.Increment(static_cast<double>(n));
}
void CollectorMetrics::AddPublishError() { publish_errors_.Increment(); }
void CollectorMetrics::AddBackpressureWait(double seconds) {
  backpressure_seconds_.Increment(seconds);
}
void CollectorMetrics::ObserveWindowFlush(double seconds) {
  window_flushes_.Increment();
  window_flush_seconds_.Increment(seconds);
}
void CollectorMetrics::SetAnalyzerLag(int64_t messages) {
  analyzer_lag_.Set(static_cast<double>(messages));
}
void CollectorMetrics::ObserveSync(const std::string& state, double seconds,
                                   int64_t finished_unix) {
  syncs_.Add({{"state", state}}).Increment();
  sync_duration_.Observe(seconds);
  if (state == "succeeded") last_success_.Set(static_cast<double>(finished_unix));
}
void CollectorMetrics::SetCatalogServices(uint64_t n) {
  catalog_services_.Set(static_cast<double>(n));
}
void CollectorMetrics::AddSpansUnparsed(uint64_t n) {
  spans_unparsed_.Increment(static_cast<double>(n));
}
void CollectorMetrics::ObserveSampling(double sampled_seconds, double skipped_seconds) {
  sampled_seconds_.Increment(sampled_seconds);
  skipped_seconds_.Increment(skipped_seconds);
  const double covered = sampled_seconds + skipped_seconds;
  if (covered > 0) sampled_share_.Set(sampled_seconds / covered);
}
void CollectorMetrics::SetCheckpointLag(double seconds) { checkpoint_lag_.Set(seconds); }
void CollectorMetrics::SetLeader(bool leader) { leader_.Set(leader ? 1 : 0); }

void CollectorMetrics::SetStandby(bool standby) { standby_.Set(standby ? 1 : 0); }

CollectorMetrics::JobCounters CollectorMetrics::Job() const {
  return {job_calls_.load(), job_waits_.load(), job_wait_ms_.load()};
}

void CollectorMetrics::ResetJob() {
  job_calls_ = 0;
  job_waits_ = 0;
  job_wait_ms_ = 0;
}

}  // namespace apmcov::collector
