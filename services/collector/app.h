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
#include "apmcov/bus/bus.h"
#include "apmcov/datadog/source.h"
#include "apmcov/tracing/tracer.h"
#include "apmcov/v1/events.pb.h"
#include "backpressure.h"
#include "config.h"
#include "metrics.h"
#include "page_fetcher.h"
#include "span_plan.h"
#include "sync_result.h"

namespace apmcov::collector {

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
    // Traces each sync (design §12): its root span (a child of the request that asked for it,
    // from the `commands` record's headers; a scheduled sync is its own root), and a producer
    // span per group of records published (a page of span batches, a round of watermarks, the
    // checkpoint, the catalog, each inventory list, each job record with its coalesced copies,
    // a dead letter), whose context goes in the records' headers for the analyzer. Null: not
    // traced. (The Datadog API calls' client
    // spans come from the DatadogHttpClient, given the same tracer by main().)
    tracing::Tracer* tracer = nullptr;
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
  // `parents`: the trace contexts of the requests (the first is the sync span's parent, the
  // others, coalesced requests, are links); empty: the sync starts its own trace.
  SyncResult RunSync(v1::SyncTrigger trigger, std::vector<std::string> job_ids = {},
                     const std::string& requested_by = "",
                     const std::vector<tracing::SpanContext>& parents = {});

  // Records a SyncRequest (from the commands topic): publishes it as queued and wakes the
  // loop. Requests that arrive while a sync runs are coalesced into the next one. Returns the
  // job id (the request's, or a new one); JobRecorded(id) says when a sync took it up.
  // `parent`: the trace context the request's record carried, if any.
  std::string Request(const v1::SyncRequest& request,
                      const std::optional<tracing::SpanContext>& parent = std::nullopt);
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
  const bus::TopicNames& topics() const { return topics_; }

 private:
  // The job record of the sync in progress, as published to sync-jobs.
  struct JobProgress {
    v1::SyncJob job;
    std::vector<std::string> coalesced;  // other requested ids answered by this job
    int64_t started_ns = 0;
  };
  absl::Status PublishJob(const JobProgress& job, v1::SyncState state, const std::string& error);
  // Every publish of the collector goes through Produce(): one producer span (design §12) for
  // a group of records published together (a page of span batches, the catalog, a list of
  // observations, a job and its coalesced copies, a round of watermarks), never one per
  // record. The span is the child of `parent` when given, else of the thread's active span
  // (the sync's), else a root; its context goes in every record's headers. Counts and
  // annotates a failure.
  absl::Status Produce(const std::string& topic, std::vector<bus::OutgoingBatch> batches,
                       const tracing::SpanContext* parent = nullptr);
  // Appends `message` serialised (key, partition) to the last of `batches` when that holds
  // the same type, else to a new batch with the type's headers. InvalidArgument when it cannot
  // be serialised.
  static absl::Status AddProto(std::vector<bus::OutgoingBatch>& batches, const std::string& topic,
                               std::string key, const google::protobuf::Message& message,
                               std::optional<int32_t> partition = std::nullopt);
  // One protobuf record, under a producer span of its own.
  absl::Status Publish(const std::string& topic, const std::string& key,
                       const google::protobuf::Message& message,
                       std::optional<int32_t> partition = std::nullopt,
                       const tracing::SpanContext* parent = nullptr);
  tracing::Tracer& tracer() const {
    return ports_.tracer != nullptr ? *ports_.tracer : tracing::DisabledTracer();
  }
  absl::Status SyncCatalog(JobProgress& job, SyncResult& result, std::vector<std::string>& issues);
  absl::Status SyncInventory(JobProgress& job, SyncResult& result,
                             std::vector<std::string>& issues);
  absl::Status SyncSpans(JobProgress& job, SyncResult& result, std::vector<std::string>& issues);

  // span_sync.cc: the span part of a sync.
  struct RangeRead {
    bool complete = false;  // every page of the range was read and published
    bool budget = false;    // stopped by SPAN_PAGE_BUDGET
    bool paused = false;    // cut to publish progress before a backpressure pause
    int64_t read_to = 0;    // every span starting before it was published
    std::string stop;       // why it stopped early
    absl::Status fatal;     // publishing failed: the sync fails
  };
  absl::StatusOr<std::vector<DensityBucket>> ReadDensity(int64_t from, int64_t to);
  // `cut_on_pause`: a backpressure pause after spans were published cuts the read (paused,
  // read_to) instead of waiting, so that the caller can publish their watermark first.
  RangeRead ReadRange(JobProgress& job, SyncResult& result, const std::string& window_id,
                      int64_t from, int64_t to, uint64_t& pages_left, bool cut_on_pause);
  absl::Status PublishProgress(JobProgress& job, const std::string& window_id, int64_t watermark,
                               const std::vector<v1::ReadInterval>& intervals, int64_t checkpoint);
  void SchedulerLoop();
  // Waits until this collector leads and has read the checkpoint (retrying, unready, while it
  // cannot be read). False when stopping. Sets `next` to now when leadership was just gained.
  bool AwaitLeadership(Clock::TimePoint& next);
  // command_listener.cc: the commands topic (requests and the leader election).
  void OnCommandsAssigned(const std::vector<bus::TopicPartition>& tps);
  void OnCommandsRevoked(const std::vector<bus::TopicPartition>& tps);
  // Consumes `commands`, committing by CommandCommits' rule (command_listener.h).
  void CommandLoop();
  absl::Status DeadLetterCommand(const bus::IncomingMessage& m, const std::string& reason);
  std::string NewJobId();

  CollectorConfig config_;
  Ports ports_;
  bus::TopicNames topics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::SyncRequest> pending_;
  std::map<std::string, tracing::SpanContext> request_parents_;  // job id → its request's context
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
  Backpressure backpressure_;
  PageFetcher fetcher_;  // before the threads that sync: destroyed after they are joined
  std::unique_ptr<std::thread> scheduler_;
  std::unique_ptr<std::thread> commands_;
};

}  // namespace apmcov::collector
