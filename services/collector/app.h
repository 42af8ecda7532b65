// apmcov-collector: polls Datadog and publishes catalog, APM inventory and span events to the
// bus (design §7, §3). App receives every I/O port by reference (DatadogSource, Publisher,
// Subscribers, LagProbe, Clock) and creates none, so tests run it on fakes and a ManualClock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/base/clock.h"
#include "apmcov/base/config.h"
#include "apmcov/bus/bus.h"
#include "apmcov/datadog/source.h"
#include "apmcov/v1/events.pb.h"
#include "span_plan.h"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

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

// Topic names under the prefix (design §3).
struct Topics {
  explicit Topics(const std::string& prefix);
  std::string catalog, apm_inventory, spans, sync_jobs, commands, collector_state, dlq;
};

// Prometheus metrics of the collector, and the per-job counters the SyncJob events report.
// It is also the ApiObserver of the Datadog HTTP client. Thread-safe.
// Why publishing must pause, given where the analyzer group stands on each `spans` partition
// (design §3 backpressure), or "" to publish on. Pauses when the summed lag exceeds
// `max_lag_messages` (MAX_CONSUMER_LAG_MESSAGES), or when on a partition that retention has
// already trimmed (low watermark > 0) the analyzer's commit is more than `retention_share` of
// the retained messages behind: publishing on would push unread spans out of a small log
// (kafka-dev keeps about 5 MiB per partition) whatever MAX_CONSUMER_LAG_MESSAGES says.
std::string BackpressureReason(const std::vector<bus::PartitionLag>& lags, int64_t max_lag_messages,
                               double retention_share = 0.5);

class CollectorMetrics final : public datadog::ApiObserver {
 public:
  explicit CollectorMetrics(prometheus::Registry& registry);

  void OnApiCall(const std::string& endpoint, int http_status, double seconds) override;
  void OnRateLimitWait(const std::string& bucket, double seconds) override;

  void AddPages(uint64_t n);
  void AddSpansPublished(uint64_t n);
  void AddPublishError();
  void AddBackpressureWait(double seconds);
  void SetAnalyzerLag(int64_t messages);
  void ObserveSync(const std::string& state, double seconds, int64_t finished_unix);
  void SetCatalogServices(uint64_t n);
  void AddSpansUnparsed(uint64_t n);
  // A sync's span range: seconds read whole and skipped on purpose (design §7.1).
  void ObserveSampling(double sampled_seconds, double skipped_seconds);
  // How far the span checkpoint is behind real time.
  void SetCheckpointLag(double seconds);
  void SetLeader(bool leader);

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
  std::atomic<uint64_t> job_calls_{0}, job_waits_{0}, job_wait_ms_{0};
};

// The outcome of one sync.
struct SyncResult {
  v1::SyncState state = v1::SYNC_STATE_UNSPECIFIED;
  std::string error;  // failed: the error; partial: the reason(s)
  uint64_t catalog_services = 0;
  bool catalog_complete = false;
  uint64_t apm_observations = 0;
  uint64_t pages = 0;
  uint64_t spans = 0;
  uint64_t windows = 0;
  int64_t checkpoint_unix_nano = 0;
  double sampled_seconds = 0;  // span time read whole
  double skipped_seconds = 0;  // span time skipped on purpose (sampling)
};

class App {
 public:
  struct Ports {
    datadog::DatadogSource& source;
    bus::Publisher& publisher;
    bus::LagProbe& lag_probe;
    Clock& clock;
    CollectorMetrics& metrics;
    // Subscribed to `commands` by App, in the group `<prefix>collector`. It is also the
    // election (design §3): the member that owns partition 0 of `commands` leads and syncs,
    // the others stand by. Null: no commands and always the leader (--once, tests).
    bus::Subscriber* commands = nullptr;
    // Opens a subscriber of a fresh group, to read collector-state from its beginning; called
    // at every (re)gained leadership. Null: no checkpoint is ever read.
    std::function<absl::StatusOr<std::unique_ptr<bus::Subscriber>>()> open_state;
  };

  App(CollectorConfig config, Ports ports);
  ~App();

  // Validates the Datadog keys (design §7). PermissionDenied naming DD_API_KEY / DD_APP_KEY.
  absl::Status ValidateKeys();

  // Reads the last checkpoint from collector-state (through `open_state`). OK with no
  // checkpoint only when the topic was read and holds none; Unavailable when it cannot be read
  // (no partition assigned in time, a poll error) and DataLoss when checkpoints exist but none
  // decodes: the caller must not start from SPAN_BACKFILL_MINUTES then.
  absl::Status LoadCheckpoint();

  // Runs one sync now, on the calling thread. `job_ids` are the ids requested (the first is
  // the job's id; the others were coalesced into it); empty: a new scheduled id.
  SyncResult RunSync(v1::SyncTrigger trigger, std::vector<std::string> job_ids = {},
                     const std::string& requested_by = "");

  // Records a SyncRequest (from the commands topic): publishes it as queued and wakes the
  // loop. Requests that arrive while a sync runs are coalesced into the next one. Returns the
  // job id (the request's, or a new one); JobRecorded(id) says when a sync took it up.
  std::string Request(const v1::SyncRequest& request);
  // True once a sync published a state past `queued` for a job id Request() returned (or for
  // an id Request() never saw).
  bool JobRecorded(const std::string& job_id) const;

  // Starts the scheduler and command threads; Stop() ends them (idempotent, joins).
  void Start();
  void Stop();

  // Readiness: the last Kafka probe (publisher metadata), refreshed by the loop, and, while
  // leading, whether the checkpoint could be read.
  absl::Status Ready() const;
  // Whether this collector leads (owns partition 0 of `commands`, or has no commands port).
  bool leader() const;
  // Probes Kafka now (publisher.PartitionCount of the spans topic) and caches the result.
  absl::Status ProbeKafka();

  std::optional<int64_t> checkpoint() const;
  const Topics& topics() const { return topics_; }

 private:
  // The job record of the sync in progress, as published to sync-jobs.
  struct JobProgress {
    v1::SyncJob job;
    std::vector<std::string> coalesced;  // other requested ids answered by this job
    int64_t started_ns = 0;
  };
  absl::Status PublishJob(const JobProgress& job, v1::SyncState state, const std::string& error);
  absl::Status Publish(const std::string& topic, const std::string& key,
                       const google::protobuf::Message& message,
                       std::optional<int32_t> partition = std::nullopt);
  absl::Status SyncCatalog(JobProgress& job, SyncResult& result, std::vector<std::string>& issues);
  absl::Status SyncInventory(JobProgress& job, SyncResult& result,
                             std::vector<std::string>& issues);
  absl::Status SyncSpans(JobProgress& job, SyncResult& result, std::vector<std::string>& issues);

  // span_sync.cc: the span part of a sync.
  struct RangeRead {
    bool complete = false;  // every page of the range was read and published
    bool budget = false;    // stopped by SPAN_PAGE_BUDGET
    int64_t read_to = 0;    // every span starting before it was published
    std::string stop;       // why it stopped early
    absl::Status fatal;     // publishing failed: the sync fails
  };
  absl::StatusOr<std::vector<DensityBucket>> ReadDensity(int64_t from, int64_t to);
  RangeRead ReadRange(JobProgress& job, SyncResult& result, const std::string& window_id,
                      int64_t from, int64_t to, uint64_t& pages_left);
  absl::Status PublishProgress(JobProgress& job, const std::string& window_id, int64_t watermark,
                               const std::vector<v1::ReadInterval>& intervals, int64_t checkpoint);
  absl::Status WaitForBackpressure();
  void SchedulerLoop();
  // Waits until this collector leads and has read the checkpoint (retrying, unready, while it
  // cannot be read). False when stopping. Sets `next` to now when leadership was just gained.
  bool AwaitLeadership(Clock::TimePoint& next);
  void OnCommandsAssigned(const std::vector<bus::TopicPartition>& tps);
  void OnCommandsRevoked(const std::vector<bus::TopicPartition>& tps);
  // Consumes `commands`: a SyncRequest's offset is committed only once its job is recorded
  // as started (flushed), so a crash before that replays the request; a message that is not a
  // SyncRequest goes to `dlq` (DeadLetter) before its offset is committed.
  void CommandLoop();
  absl::Status DeadLetterCommand(const bus::IncomingMessage& m, const std::string& reason);
  std::string NewJobId();

  CollectorConfig config_;
  Ports ports_;
  Topics topics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::SyncRequest> pending_;
  std::set<std::string> awaited_jobs_;  // Request()ed ids not yet published past queued
  bool stopping_ = false;
  bool running_sync_ = false;
  std::mt19937_64 phase_rng_;     // the slices' phase, one draw per sync (guarded by mu_)
  int32_t spans_partitions_ = 0;  // of the spans topic, read at each sync
  std::optional<int64_t> checkpoint_;
  bool leader_ = false;              // see leader()
  bool checkpoint_current_ = false;  // read since leadership was (re)gained
  absl::Status checkpoint_status_;   // the last checkpoint read, for readiness
  bool sync_at_lead_ = true;         // sync as soon as leadership is (re)gained
  absl::Status kafka_status_ = absl::UnavailableError("Kafka not probed yet");
  uint64_t job_seq_ = 0;
  std::mutex sync_mu_;  // one sync at a time
  std::unique_ptr<std::thread> scheduler_;
  std::unique_ptr<std::thread> commands_;
};

}  // namespace apmcov::collector
