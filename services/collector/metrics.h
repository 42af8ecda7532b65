// CollectorMetrics: the collector's Prometheus metrics (README "Metrics"), every family
// registered once on the registry it is given, which must outlive it; and the per-job counters
// the SyncJob events report (API calls and rate-limit waits since ResetJob()). It is also the
// ApiObserver of the Datadog HTTP client. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "apmcov/datadog/source.h"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace apmcov::collector {

class CollectorMetrics final : public datadog::ApiObserver {
 public:
  explicit CollectorMetrics(prometheus::Registry& registry);

  void OnApiCall(const std::string& endpoint, int http_status, double seconds) override;
  void OnRateLimitWait(const std::string& bucket, double seconds) override;

  void AddPages(uint64_t n);
  void AddSpansPublished(uint64_t n);
  void AddPublishError();
  void AddBackpressureWait(double seconds);
  // One span window made durable (its spans and watermarks, then its checkpoint): the time
  // the sync waited for Kafka's acknowledgements before reading on.
  void ObserveWindowFlush(double seconds);
  void SetAnalyzerLag(int64_t messages);
  void ObserveSync(const std::string& state, double seconds, int64_t finished_unix);
  void SetCatalogServices(uint64_t n);
  void AddSpansUnparsed(uint64_t n);
  // A sync's span range: seconds read whole and skipped on purpose (design §7.1).
  void ObserveSampling(double sampled_seconds, double skipped_seconds);
  // How far the span checkpoint is behind real time.
  void SetCheckpointLag(double seconds);
  void SetLeader(bool leader);
  // 1 while this collector holds an assignment of the election group without partition 0 (a
  // settled standby); 0 while it leads or while its membership is being negotiated.
  void SetStandby(bool standby);

  struct JobCounters {
    uint64_t api_calls = 0, rate_limit_waits = 0, rate_limited_ms = 0;
  };
  // Counters since the last ResetJob().
  JobCounters Job() const;
  void ResetJob();

 private:
  prometheus::Family<prometheus::Counter>& api_calls_;
  prometheus::Family<prometheus::Counter>& api_seconds_;
  prometheus::Counter& rate_limit_waits_;
  prometheus::Counter& rate_limit_wait_seconds_;
  prometheus::Counter& pages_;
  prometheus::Counter& spans_published_;
  prometheus::Counter& publish_errors_;
  prometheus::Counter& backpressure_seconds_;
  prometheus::Counter& window_flushes_;
  prometheus::Counter& window_flush_seconds_;
  prometheus::Gauge& analyzer_lag_;
  prometheus::Family<prometheus::Counter>& syncs_;
  prometheus::Histogram& sync_duration_;
  prometheus::Gauge& last_success_;
  prometheus::Gauge& catalog_services_;
  prometheus::Counter& spans_unparsed_;
  prometheus::Counter& sampled_seconds_;
  prometheus::Counter& skipped_seconds_;
  prometheus::Gauge& sampled_share_;
  prometheus::Gauge& checkpoint_lag_;
  prometheus::Gauge& leader_;
  prometheus::Gauge& standby_;
  std::atomic<uint64_t> job_calls_{0}, job_waits_{0}, job_wait_ms_{0};
};

}  // namespace apmcov::collector
