// The collector App (app.h): the scheduler and leadership wait, one sync (the job record,
// the catalog and the APM inventory here; the spans in span_sync.cc), the checkpoint and
// manual requests. The commands topic is command_listener.cc; configuration, metrics and
// backpressure have their own files.
#include "app.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apmcov/base/log.h"
#include "apmcov/base/process.h"
#include "apmcov/base/status.h"
#include "apmcov/base/time.h"
#include "apmcov/bus/partition_ends.h"
#include "apmcov/bus/proto.h"
#include "google/protobuf/util/time_util.h"
#include "internal.h"
#include "inventory.h"

namespace apmcov::collector {
namespace {

using google::protobuf::util::TimeUtil;
using internal::kSource;
using internal::Log;
using internal::ToNanos;

const std::string kSnapshotEndKey("\0snapshot-end", 13);

}  // namespace

App::App(CollectorConfig config, Ports ports)
    : config_(std::move(config)),
      ports_(ports),
      topics_(config_.kafka_topic_prefix),
      phase_rng_(config_.span_slice_seed != 0 ? static_cast<uint64_t>(config_.span_slice_seed)
                                              : std::random_device{}()),
      leader_(ports.commands == nullptr),
      backpressure_({config_.analyzer_group, topics_.spans, config_.max_consumer_lag_messages},
                    ports.lag_probe, ports.clock, ports.metrics,
                    [this] {
                      std::lock_guard lock(mu_);
                      return stopping_;
                    }),
      fetcher_(ports.source) {}

App::~App() { Stop(); }

absl::Status App::ValidateKeys() { return ports_.source.Validate(); }

std::optional<int64_t> App::checkpoint() const {
  std::lock_guard lock(mu_);
  return checkpoint_;
}

absl::Status App::Ready() const {
  std::lock_guard lock(mu_);
  if (!kafka_status_.ok()) return kafka_status_;
  return checkpoint_status_;
}

bool App::leader() const {
  std::lock_guard lock(mu_);
  return leader_;
}

absl::Status App::ProbeKafka() {
  absl::StatusOr<int32_t> n = ports_.publisher.PartitionCount(topics_.spans);
  absl::Status s = n.ok() ? absl::OkStatus() : Annotate(n.status(), "Kafka (KAFKA_BROKERS)");
  std::lock_guard lock(mu_);
  kafka_status_ = s;
  return s;
}

std::string App::NewJobId() {
  std::string ts = FormatRfc3339(ports_.clock.NowUnixNanos());
  std::string compact;
  for (char c : ts) {
    if (c != '-' && c != ':' && c != '.') compact.push_back(c);
  }
  std::lock_guard lock(mu_);
  return absl::StrCat("sync-", compact, "-", ++job_seq_);
}

absl::Status App::AddProto(std::vector<bus::OutgoingBatch>& batches, const std::string& topic,
                           std::string key, const google::protobuf::Message& message,
                           std::optional<int32_t> partition) {
  bus::OutgoingRecord r;
  if (!message.SerializeToString(&r.value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot serialise ", bus::ProtoTypeName(message), " for topic ", topic));
  }
  r.key = std::move(key);
  r.partition = partition;
  const std::string& type = message.GetDescriptor()->full_name();
  auto same_type = [&type](const bus::OutgoingBatch& b) {
    for (const auto& [name, value] : b.headers) {
      if (name == bus::kTypeHeader) return value == type;
    }
    return false;
  };
  if (batches.empty() || batches.back().topic != topic || !same_type(batches.back())) {
    batches.push_back({topic, bus::ProtoHeaders(message), {}});
  }
  batches.back().records.push_back(std::move(r));
  return absl::OkStatus();
}

absl::Status App::Produce(const std::string& topic, std::vector<bus::OutgoingBatch> batches,
                          const tracing::SpanContext* parent) {
  size_t records = 0;
  for (const bus::OutgoingBatch& b : batches) records += b.records.size();
  if (records == 0) return absl::OkStatus();
  tracing::Span span;
  if (tracer().enabled()) {
    span = tracer().StartSpan("kafka.produce",
                              {.resource = topic,
                               .type = "queue",
                               .kind = tracing::kinds::kProducer,
                               .parent = parent != nullptr && parent->valid() ? parent : nullptr});
    span.SetTag(tracing::tags::kMessagingSystem, "kafka");
    span.SetTag(tracing::tags::kMessagingDestination, topic);
    span.SetMetric("messaging.batch.message_count", static_cast<double>(records));
    // Once per batch, never per record: the records share their batch's headers.
    bus::Headers trace_headers;
    tracing::Inject(span.context(), tracing::WriteTo(&trace_headers));
    for (bus::OutgoingBatch& b : batches) {
      b.headers.insert(b.headers.end(), trace_headers.begin(), trace_headers.end());
    }
  }
  for (bus::OutgoingBatch& b : batches) {
    if (absl::Status s = ports_.publisher.PublishBatch(std::move(b)); !s.ok()) {
      ports_.metrics.AddPublishError();
      span.SetError(StdView(s.message()));
      return Annotate(s, absl::StrCat("publishing to ", topic));
    }
  }
  return absl::OkStatus();
}

absl::Status App::Publish(const std::string& topic, const std::string& key,
                          const google::protobuf::Message& message,
                          std::optional<int32_t> partition, const tracing::SpanContext* parent) {
  std::vector<bus::OutgoingBatch> batches;
  APMCOV_RETURN_IF_ERROR(AddProto(batches, topic, key, message, partition));
  return Produce(topic, std::move(batches), parent);
}

absl::Status App::PublishJob(const JobProgress& p, v1::SyncState state, const std::string& error) {
  v1::SyncJob job = p.job;
  CollectorMetrics::JobCounters c = ports_.metrics.Job();
  job.set_state(state);
  job.set_api_calls(c.api_calls);
  job.set_rate_limit_waits(c.rate_limit_waits);
  job.set_rate_limited_ms(c.rate_limited_ms);
  job.set_error(error);
  int64_t now = ports_.clock.NowUnixNanos();
  *job.mutable_updated_at() = TimeUtil::NanosecondsToTimestamp(now);
  if (state == v1::SYNC_STATE_SUCCEEDED || state == v1::SYNC_STATE_PARTIAL ||
      state == v1::SYNC_STATE_FAILED) {
    *job.mutable_finished_at() = TimeUtil::NanosecondsToTimestamp(now);
  }
  // The job and its coalesced copies: one group, one producer span.
  std::vector<bus::OutgoingBatch> batches;
  APMCOV_RETURN_IF_ERROR(AddProto(batches, topics_.sync_jobs, job.id(), job));
  for (const std::string& id : p.coalesced) {
    v1::SyncJob copy = job;
    copy.set_id(id);
    APMCOV_RETURN_IF_ERROR(AddProto(batches, topics_.sync_jobs, id, copy));
  }
  APMCOV_RETURN_IF_ERROR(Produce(topics_.sync_jobs, std::move(batches)));
  {
    std::lock_guard lock(mu_);  // CommandLoop may commit these requests (after a flush)
    awaited_jobs_.erase(job.id());
    for (const std::string& id : p.coalesced) awaited_jobs_.erase(id);
  }
  return absl::OkStatus();
}

std::string App::Request(const v1::SyncRequest& request,
                         const std::optional<tracing::SpanContext>& parent) {
  v1::SyncRequest r = request;
  if (r.job_id().empty()) r.set_job_id(NewJobId());
  std::string job_id = r.job_id();
  v1::SyncJob queued;
  queued.set_id(r.job_id());
  queued.set_trigger(v1::SYNC_TRIGGER_MANUAL);
  queued.set_state(v1::SYNC_STATE_QUEUED);
  queued.set_requested_by(r.requested_by());
  *queued.mutable_updated_at() = TimeUtil::NanosecondsToTimestamp(ports_.clock.NowUnixNanos());
  // Its producer span is the child of the request's (the record's context), if any.
  if (absl::Status s = Publish(topics_.sync_jobs, r.job_id(), queued, std::nullopt,
                               parent.has_value() ? &*parent : nullptr);
      !s.ok()) {
    Log().Warn("cannot publish queued job",
               {{"job_id", r.job_id()}, {"error", StdView(s.message())}});
  }
  {
    std::lock_guard lock(mu_);
    awaited_jobs_.insert(job_id);
    if (parent && parent->valid()) request_parents_[job_id] = *parent;
    pending_.push_back(std::move(r));
  }
  cv_.notify_all();
  return job_id;
}

bool App::JobRecorded(const std::string& job_id) const {
  std::lock_guard lock(mu_);
  return awaited_jobs_.count(job_id) == 0;
}

absl::Status App::LoadCheckpoint() {
  if (!ports_.open_state) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<bus::Subscriber>> opened = ports_.open_state();
  if (!opened.ok()) return Annotate(opened.status(), "opening a reader of collector-state");
  bus::Subscriber& state = **opened;
  // Read to the end of every partition (partition EOF), then stop: no quiet timeout to wait
  // out. A group's first join takes seconds on Kafka. An empty assignment (the topic does not
  // exist yet) counts as read after two empty polls, in case its partitions come in a
  // rebalance right after.
  bus::PartitionEnds ends;
  int empty_polls = 0;  // in a row, once assigned
  auto read_to_end = [&ends, &empty_polls] {
    if (!ends.assigned()) return false;
    if (ends.owned() == 0) return empty_polls >= 2;
    return ends.AllEnded();
  };
  APMCOV_RETURN_IF_ERROR(state.Subscribe({topics_.collector_state}, ends.Listener()));
  std::optional<int64_t> best;
  int64_t undecodable = 0;
  constexpr int kAssignRounds = 60;  // polls of at most one second
  for (int round = 0; !read_to_end(); ++round) {
    if (ports_.clock.Cancelled()) {  // SIGTERM: a minute of polls would outlive it
      state.Close();
      return absl::CancelledError("stopped while reading the checkpoint");
    }
    if (!ends.assigned() && round >= kAssignRounds) {
      state.Close();
      return absl::UnavailableError(absl::StrCat(
          "no partition of ", topics_.collector_state, " was assigned in ", kAssignRounds,
          " polls: the checkpoint cannot be read (does the topic exist? is Kafka reachable?)"));
    }
    const size_t ended_before = ends.ended();
    absl::StatusOr<std::vector<bus::IncomingMessage>> batch =
        state.Poll(1000, std::chrono::milliseconds(1000));
    if (!batch.ok()) {
      if (batch.status().code() == absl::StatusCode::kDataLoss) continue;
      state.Close();
      return Annotate(batch.status(),
                      absl::StrCat("reading the checkpoint from ", topics_.collector_state));
    }
    // A poll that only reported a partition's end is progress too (Kafka reports one end a
    // poll: 64 partitions are 64 polls without a message).
    const bool idle = batch->empty() && ends.ended() == ended_before;
    empty_polls = idle && ends.assigned() ? empty_polls + 1 : 0;
    if (constexpr int kMaxEmptyPolls = 30; empty_polls >= kMaxEmptyPolls && !read_to_end()) {
      state.Close();
      return absl::UnavailableError(absl::StrCat("the end of ", topics_.collector_state,
                                                 " was not reported after ", kMaxEmptyPolls,
                                                 " empty polls: the checkpoint cannot be read"));
    }
    for (const bus::IncomingMessage& m : *batch) {
      if (m.key != kSource) continue;
      v1::CollectorCheckpoint cp;
      if (!cp.ParseFromString(m.value)) {
        ++undecodable;
        Log().Warn("ignoring an undecodable checkpoint",
                   {{"partition", m.partition}, {"offset", m.offset}});
        continue;
      }
      if (!best || cp.span_window_end_unix_nano() > *best) best = cp.span_window_end_unix_nano();
    }
  }
  state.Close();
  if (!best && undecodable > 0) {
    return absl::DataLossError(absl::StrCat(
        topics_.collector_state, " holds ", undecodable,
        " checkpoint(s) and none decodes: refusing to start again from SPAN_BACKFILL_MINUTES"));
  }
  std::lock_guard lock(mu_);
  if (best) {
    checkpoint_ = best;
    Log().Info("checkpoint loaded", {{"span_window_end", FormatRfc3339(*best)}});
  } else {
    Log().Info("no checkpoint yet: the first sync reads SPAN_BACKFILL_MINUTES back",
               {{"topic", topics_.collector_state}});
  }
  return absl::OkStatus();
}

absl::Status App::SyncCatalog(JobProgress& p, SyncResult& result,
                              std::vector<std::string>& issues) {
  std::map<std::string, v1::CatalogService> services;
  bool complete = true;
  constexpr int32_t kPageSize = 100;
  for (int32_t page = 0;; ++page) {
    absl::StatusOr<datadog::ServiceDefinitionPage> r =
        ports_.source.ListServiceDefinitions(page, kPageSize);
    if (!r.ok()) {
      issues.push_back(absl::StrCat("catalog page ", page, ": ", r.status().message()));
      complete = false;
      break;
    }
    for (const std::string& why : r->skipped) {
      Log().Warn("skipping a service definition", {{"reason", why}});
    }
    for (v1::CatalogService& svc : r->services) {
      std::string name = svc.name();
      services[name] = std::move(svc);
    }
    if (!r->has_more) break;
  }
  // v3 `kind: service` entities count too (design §5); a definition of the same name wins.
  // An org or key without the v3 catalog (404, 403) simply has none.
  constexpr int32_t kEntityPage = 1000;
  for (int64_t offset = 0; complete;) {
    absl::StatusOr<datadog::CatalogEntityPage> r =
        ports_.source.ListCatalogEntities(offset, kEntityPage);
    if (!r.ok()) {
      if (absl::IsNotFound(r.status()) || absl::IsPermissionDenied(r.status())) {
        Log().Info("no v3 catalog entities", {{"reason", StdView(r.status().message())}});
      } else {
        issues.push_back(absl::StrCat("catalog entities at ", offset, ": ", r.status().message()));
        complete = false;
      }
      break;
    }
    for (v1::CatalogService& svc : r->services) {
      std::string name = svc.name();
      services.try_emplace(std::move(name), std::move(svc));
    }
    if (!r->next_offset || *r->next_offset <= offset) break;
    offset = *r->next_offset;
  }
  const int64_t now = ports_.clock.NowUnixNanos();
  // The snapshot and its end marker: one group, one producer span.
  std::vector<bus::OutgoingBatch> batches;
  for (auto& [name, svc] : services) {
    svc.set_snapshot_id(p.job.id());
    *svc.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(now);
    APMCOV_RETURN_IF_ERROR(AddProto(batches, topics_.catalog, name, svc));
  }
  if (complete) {
    v1::CatalogSnapshotEnd end;
    end.set_snapshot_id(p.job.id());
    end.set_count(static_cast<uint32_t>(services.size()));
    end.set_job_id(p.job.id());
    *end.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(now);
    APMCOV_RETURN_IF_ERROR(AddProto(batches, topics_.catalog, kSnapshotEndKey, end));
  }
  APMCOV_RETURN_IF_ERROR(Produce(topics_.catalog, std::move(batches)));
  result.catalog_services = services.size();
  result.catalog_complete = complete;
  if (complete) ports_.metrics.SetCatalogServices(services.size());
  return absl::OkStatus();
}

absl::Status App::SyncInventory(JobProgress&, SyncResult& result,
                                std::vector<std::string>& issues) {
  const int64_t now = ports_.clock.NowUnixNanos();
  // Each list of observations: one group, one producer span.
  auto publish = [&](std::vector<v1::ApmObservation>& list) -> absl::Status {
    std::vector<bus::OutgoingBatch> batches;
    for (v1::ApmObservation& obs : list) {
      *obs.mutable_observed_at() = TimeUtil::NanosecondsToTimestamp(now);
      APMCOV_RETURN_IF_ERROR(AddProto(batches, topics_.apm_inventory,
                                      absl::StrCat(obs.service(), "\x1f", obs.env()), obs));
    }
    APMCOV_RETURN_IF_ERROR(Produce(topics_.apm_inventory, std::move(batches)));
    result.apm_observations += list.size();
    return absl::OkStatus();
  };
  absl::StatusOr<std::vector<v1::ApmObservation>> list = ports_.source.ListApmServices();
  if (list.ok()) {
    APMCOV_RETURN_IF_ERROR(publish(*list));
  } else {
    issues.push_back(absl::StrCat("APM service list: ", list.status().message()));
  }
  // One aggregate over the lookback for counts, envs, languages and infra (design §7.2): a
  // constant number of calls whatever the volume, and nothing taken from sampled spans.
  absl::StatusOr<datadog::AggregateResult> counted = ports_.source.AggregateSpanCounts(
      InventoryQuery(now - ToNanos(std::chrono::hours(config_.apm_lookback_hours)), now));
  if (!counted.ok()) {
    issues.push_back(absl::StrCat("spans aggregate: ", counted.status().message()));
    return absl::OkStatus();
  }
  if (counted->partial) {
    // What it counted is true (those services sent spans); the counts are lower bounds and a
    // service may be missing, which the sync's state says.
    issues.push_back(
        "spans aggregate: Datadog stopped counting early (meta.status \"timeout\"): span "
        "counts are lower bounds and services may be missing");
  }
  std::vector<v1::ApmObservation> observed = InventoryFromAggregate(counted->buckets);
  return publish(observed);
}

SyncResult App::RunSync(v1::SyncTrigger trigger, std::vector<std::string> job_ids,
                        const std::string& requested_by,
                        const std::vector<tracing::SpanContext>& parents) {
  std::lock_guard sync_lock(sync_mu_);
  // The sync's root span: the child of the request that asked for it (its record's context),
  // else a trace of its own. Every Datadog call and produce of the sync is inside it.
  tracing::Span span;
  if (tracer().enabled()) {
    const bool requested = !parents.empty();
    span = tracer().StartSpan(
        "collector.sync",
        {.resource = trigger == v1::SYNC_TRIGGER_MANUAL ? "manual sync" : "scheduled sync",
         .type = "worker",
         .kind = requested ? tracing::kinds::kConsumer : tracing::kinds::kInternal,
         .parent = requested ? &parents.front() : nullptr,
         .root = !requested});
    for (size_t i = 1; i < parents.size(); ++i) span.AddLink(parents[i]);
  }
  tracing::ActiveSpanScope active(span);
  {
    std::lock_guard lock(mu_);
    running_sync_ = true;
  }
  ports_.metrics.ResetJob();
  JobProgress p;
  p.started_ns = ports_.clock.NowUnixNanos();
  p.job.set_id(job_ids.empty() ? NewJobId() : job_ids[0]);
  if (job_ids.size() > 1) p.coalesced.assign(job_ids.begin() + 1, job_ids.end());
  p.job.set_trigger(trigger);
  p.job.set_requested_by(requested_by);
  *p.job.mutable_started_at() = TimeUtil::NanosecondsToTimestamp(p.started_ns);
  Log().Info("sync started", {{"job_id", p.job.id()}});

  SyncResult result;
  std::vector<std::string> issues;
  absl::Status fatal = PublishJob(p, v1::SYNC_STATE_RUNNING, "");
  if (fatal.ok()) fatal = SyncCatalog(p, result, issues);
  if (fatal.ok()) (void)PublishJob(p, v1::SYNC_STATE_RUNNING, "");
  if (fatal.ok()) fatal = SyncInventory(p, result, issues);
  if (fatal.ok()) (void)PublishJob(p, v1::SYNC_STATE_RUNNING, "");
  if (fatal.ok()) fatal = SyncSpans(p, result, issues);
  if (fatal.ok()) {
    fatal = ports_.publisher.Flush(std::chrono::seconds(config_.kafka_flush_timeout_seconds));
    if (!fatal.ok()) ports_.metrics.AddPublishError();
  }

  const bool nothing_read = result.catalog_services == 0 && !result.catalog_complete &&
                            result.apm_observations == 0 && result.pages == 0;
  if (!fatal.ok()) {
    result.state = v1::SYNC_STATE_FAILED;
    result.error = std::string(fatal.message());
  } else if (issues.empty()) {
    result.state = v1::SYNC_STATE_SUCCEEDED;
  } else if (nothing_read && issues.size() >= 3) {
    result.state = v1::SYNC_STATE_FAILED;
    result.error = absl::StrJoin(issues, "; ");
  } else {
    result.state = v1::SYNC_STATE_PARTIAL;
    result.error = absl::StrJoin(issues, "; ");
  }
  const absl::Status published = PublishJob(p, result.state, result.error);
  {
    // The sync is over once its outcome is out: a rebalance from here on cuts nothing short,
    // so it must not make the next leadership sync again at once (a leader that a joining
    // standby's rebalance reassigned used to run a second sync when this came after it).
    std::lock_guard lock(mu_);
    running_sync_ = false;
  }
  if (published.ok()) (void)ports_.publisher.Flush(std::chrono::seconds(10));
  const int64_t finished = ports_.clock.NowUnixNanos();
  const char* state_name = FinalStateName(result.state);
  if (span.recording()) {
    span.SetTag("sync.job_id", p.job.id());
    span.SetTag("sync.state", state_name);
    span.SetMetric("sync.pages", static_cast<double>(result.pages));
    span.SetMetric("sync.spans", static_cast<double>(result.spans));
    if (result.state == v1::SYNC_STATE_FAILED) span.SetError(result.error);
  }
  ports_.metrics.ObserveSync(state_name, static_cast<double>(finished - p.started_ns) / 1e9,
                             finished / 1'000'000'000);
  CollectorMetrics::JobCounters c = ports_.metrics.Job();
  Log().Log(result.state == v1::SYNC_STATE_SUCCEEDED ? LogLevel::kInfo : LogLevel::kWarn,
            "sync finished",
            {{"job_id", p.job.id()},
             {"state", state_name},
             {"error", result.error},
             {"catalog_services", result.catalog_services},
             {"apm_observations", result.apm_observations},
             {"pages", result.pages},
             {"spans", result.spans},
             {"api_calls", c.api_calls},
             {"rate_limit_waits", c.rate_limit_waits},
             {"sampled_seconds", static_cast<int64_t>(result.sampled_seconds)},
             {"skipped_seconds", static_cast<int64_t>(result.skipped_seconds)}});
  {
    std::lock_guard lock(mu_);
    if (checkpoint_)
      ports_.metrics.SetCheckpointLag(static_cast<double>(finished - *checkpoint_) / 1e9);
  }
  return result;
}

void App::Start() {
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
    if (ports_.commands == nullptr) leader_ = true;  // alone: no election
    ports_.metrics.SetLeader(leader_);
  }
  scheduler_ = std::make_unique<std::thread>([this] {
    NameThisThread("sync");  // the scheduler runs each sync on its own thread
    SchedulerLoop();
  });
  commands_ = std::make_unique<std::thread>([this] {
    NameThisThread("commands");
    CommandLoop();
  });
}

void App::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (scheduler_ && scheduler_->joinable()) scheduler_->join();
  if (commands_ && commands_->joinable()) commands_->join();
  scheduler_.reset();
  commands_.reset();
}

bool App::AwaitLeadership(Clock::TimePoint& next) {
  std::unique_lock lock(mu_);
  bool announced = false;
  while (true) {
    while (!stopping_ && !leader_) {
      if (!announced) {
        Log().Info("standing by: another collector leads",
                   {{"group_topic", topics_.commands}, {"partition", 0}});
        announced = true;
      }
      cv_.wait_for(lock, std::chrono::seconds(1));
    }
    if (stopping_) return false;
    if (checkpoint_current_) return true;
    // Leadership (re)gained: the former leader may have moved the checkpoint since.
    auto backoff = std::chrono::seconds(1);
    while (!stopping_ && leader_ && !checkpoint_current_) {
      lock.unlock();
      absl::Status s = LoadCheckpoint();
      lock.lock();
      if (s.ok()) {
        checkpoint_current_ = true;
        checkpoint_status_ = absl::OkStatus();
        if (sync_at_lead_) next = ports_.clock.Now();
        sync_at_lead_ = false;
        break;
      }
      if (absl::IsCancelled(s)) return false;
      checkpoint_status_ = Annotate(s, "the checkpoint cannot be read");
      Log().Error("cannot read the checkpoint: not syncing (unready) until it can be read",
                  {{"error", StdView(s.message())},
                   {"retry_in_seconds", static_cast<int64_t>(backoff.count())}});
      // On the injected clock, in steps of at most a second so that Stop() is not held up.
      lock.unlock();
      for (auto left = backoff; left.count() > 0; left -= std::chrono::seconds(1)) {
        if (!ports_.clock.SleepFor(std::min(left, std::chrono::seconds(1)))) break;
        std::lock_guard stop_lock(mu_);
        if (stopping_ || !leader_) break;
      }
      lock.lock();
      backoff = std::min(backoff * 2, std::chrono::seconds(60));
    }
  }
}

void App::SchedulerLoop() {
  auto next = ports_.clock.Now();  // the first sync runs at start (once leading)
  while (true) {
    if (!AwaitLeadership(next)) return;
    std::vector<v1::SyncRequest> requests;
    {
      std::unique_lock lock(mu_);
      while (!stopping_ && leader_ && pending_.empty() && ports_.clock.Now() < next) {
        if (checkpoint_) {
          ports_.metrics.SetCheckpointLag(
              static_cast<double>(ports_.clock.NowUnixNanos() - *checkpoint_) / 1e9);
        }
        auto remaining = next - ports_.clock.Now();
        cv_.wait_for(lock, std::min<std::chrono::nanoseconds>(
                               std::chrono::duration_cast<std::chrono::nanoseconds>(remaining),
                               std::chrono::seconds(1)));
      }
      if (stopping_) return;
      if (!leader_) continue;
      requests.swap(pending_);  // every request so far is coalesced into this sync
    }
    if (requests.empty()) {
      next = ports_.clock.Now() + std::chrono::minutes(config_.sync_interval_minutes);
      RunSync(v1::SYNC_TRIGGER_SCHEDULE);
    } else {
      std::vector<std::string> ids;
      std::vector<tracing::SpanContext> parents;
      {
        std::lock_guard lock(mu_);
        for (const v1::SyncRequest& r : requests) {
          ids.push_back(r.job_id());
          auto it = request_parents_.find(r.job_id());
          if (it == request_parents_.end()) continue;
          parents.push_back(it->second);
          request_parents_.erase(it);
        }
      }
      RunSync(v1::SYNC_TRIGGER_MANUAL, ids, requests[0].requested_by(), parents);
    }
  }
}

}  // namespace apmcov::collector
