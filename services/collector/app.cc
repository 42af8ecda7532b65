#include "app.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apmcov/base/log.h"
#include "apmcov/base/status.h"
#include "apmcov/base/time.h"
#include "apmcov/datadog/http_client.h"
#include "apmcov/datadog/key_guard.h"
#include "internal.h"
#include "inventory.h"

namespace apmcov::collector {
namespace {

using internal::kSource;
using internal::Log;
using internal::SetTs;
using internal::ToNanos;

const std::string kSnapshotEndKey("\0snapshot-end", 13);

}  // namespace

// ---- config ----

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

Topics::Topics(const std::string& prefix)
    : catalog(prefix + "catalog"),
      apm_inventory(prefix + "apm-inventory"),
      spans(prefix + "spans"),
      sync_jobs(prefix + "sync-jobs"),
      commands(prefix + "commands"),
      collector_state(prefix + "collector-state"),
      dlq(prefix + "dlq") {}

// ---- metrics ----

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

CollectorMetrics::JobCounters CollectorMetrics::Job() const {
  return {job_calls_.load(), job_waits_.load(), job_wait_ms_.load()};
}

void CollectorMetrics::ResetJob() {
  job_calls_ = 0;
  job_waits_ = 0;
  job_wait_ms_ = 0;
}

// ---- App ----

App::App(CollectorConfig config, Ports ports)
    : config_(std::move(config)),
      ports_(ports),
      topics_(config_.kafka_topic_prefix),
      phase_rng_(config_.span_slice_seed != 0 ? static_cast<uint64_t>(config_.span_slice_seed)
                                              : std::random_device{}()),
      leader_(ports.commands == nullptr) {}

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

absl::Status App::Publish(const std::string& topic, const std::string& key,
                          const google::protobuf::Message& message,
                          std::optional<int32_t> partition) {
  bus::OutgoingMessage out;
  out.topic = topic;
  out.key = key;
  if (!message.SerializeToString(&out.value)) {
    return absl::InternalError(absl::StrCat("cannot serialise ", message.GetTypeName()));
  }
  out.headers = {{"content-type", "application/x-protobuf"},
                 {"type", message.GetDescriptor()->full_name()}};
  out.partition = partition;
  absl::Status s = ports_.publisher.Publish(std::move(out));
  if (!s.ok()) {
    ports_.metrics.AddPublishError();
    return Annotate(s, absl::StrCat("publishing to ", topic));
  }
  return s;
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
  SetTs(now, job.mutable_updated_at());
  if (state == v1::SYNC_STATE_SUCCEEDED || state == v1::SYNC_STATE_PARTIAL ||
      state == v1::SYNC_STATE_FAILED) {
    SetTs(now, job.mutable_finished_at());
  }
  APMCOV_RETURN_IF_ERROR(Publish(topics_.sync_jobs, job.id(), job));
  for (const std::string& id : p.coalesced) {
    v1::SyncJob copy = job;
    copy.set_id(id);
    APMCOV_RETURN_IF_ERROR(Publish(topics_.sync_jobs, id, copy));
  }
  {
    std::lock_guard lock(mu_);  // CommandLoop may commit these requests (after a flush)
    awaited_jobs_.erase(job.id());
    for (const std::string& id : p.coalesced) awaited_jobs_.erase(id);
  }
  return absl::OkStatus();
}

std::string App::Request(const v1::SyncRequest& request) {
  v1::SyncRequest r = request;
  if (r.job_id().empty()) r.set_job_id(NewJobId());
  const std::string job_id = r.job_id();
  v1::SyncJob queued;
  queued.set_id(r.job_id());
  queued.set_trigger(v1::SYNC_TRIGGER_MANUAL);
  queued.set_state(v1::SYNC_STATE_QUEUED);
  queued.set_requested_by(r.requested_by());
  SetTs(ports_.clock.NowUnixNanos(), queued.mutable_updated_at());
  if (absl::Status s = Publish(topics_.sync_jobs, r.job_id(), queued); !s.ok()) {
    Log().Warn("cannot publish queued job",
               {{"job_id", r.job_id()}, {"error", StdView(s.message())}});
  }
  {
    std::lock_guard lock(mu_);
    awaited_jobs_.insert(job_id);
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
  // Quiet polls count only once partitions are assigned: a group's first join takes seconds.
  auto assigned = std::make_shared<std::atomic<bool>>(false);
  bus::RebalanceListener listener;
  listener.on_assigned = [assigned](const std::vector<bus::TopicPartition>&) { *assigned = true; };
  APMCOV_RETURN_IF_ERROR(state.Subscribe({topics_.collector_state}, listener));
  std::optional<int64_t> best;
  int quiet = 0;
  int64_t undecodable = 0;
  constexpr int kAssignRounds = 60;  // one-second polls
  for (int round = 0; quiet < 2; ++round) {
    if (ports_.clock.Cancelled()) {  // SIGTERM: a minute of empty polls would outlive it
      state.Close();
      return absl::CancelledError("stopped while reading the checkpoint");
    }
    if (!*assigned && round >= kAssignRounds) {
      state.Close();
      return absl::UnavailableError(absl::StrCat(
          "no partition of ", topics_.collector_state, " was assigned in ", kAssignRounds,
          " s: the checkpoint cannot be read (does the topic exist? is Kafka reachable?)"));
    }
    absl::StatusOr<std::vector<bus::IncomingMessage>> batch =
        state.Poll(1000, std::chrono::milliseconds(1000));
    if (!batch.ok()) {
      if (batch.status().code() == absl::StatusCode::kDataLoss) continue;
      state.Close();
      return Annotate(batch.status(),
                      absl::StrCat("reading the checkpoint from ", topics_.collector_state));
    }
    if (batch->empty()) {
      if (*assigned) ++quiet;
      continue;
    }
    quiet = 0;
    *assigned = true;
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
  for (auto& [name, svc] : services) {
    svc.set_snapshot_id(p.job.id());
    SetTs(now, svc.mutable_synced_at());
    APMCOV_RETURN_IF_ERROR(Publish(topics_.catalog, name, svc));
  }
  result.catalog_services = services.size();
  result.catalog_complete = complete;
  if (complete) {
    v1::CatalogSnapshotEnd end;
    end.set_snapshot_id(p.job.id());
    end.set_count(static_cast<uint32_t>(services.size()));
    end.set_job_id(p.job.id());
    SetTs(now, end.mutable_synced_at());
    APMCOV_RETURN_IF_ERROR(Publish(topics_.catalog, kSnapshotEndKey, end));
    ports_.metrics.SetCatalogServices(services.size());
  }
  return absl::OkStatus();
}

absl::Status App::SyncInventory(JobProgress&, SyncResult& result,
                                std::vector<std::string>& issues) {
  const int64_t now = ports_.clock.NowUnixNanos();
  auto publish = [&](v1::ApmObservation& obs) -> absl::Status {
    SetTs(now, obs.mutable_observed_at());
    ++result.apm_observations;
    return Publish(topics_.apm_inventory, absl::StrCat(obs.service(), "\x1f", obs.env()), obs);
  };
  absl::StatusOr<std::vector<v1::ApmObservation>> list = ports_.source.ListApmServices();
  if (list.ok()) {
    for (v1::ApmObservation& obs : *list) APMCOV_RETURN_IF_ERROR(publish(obs));
  } else {
    issues.push_back(absl::StrCat("APM service list: ", list.status().message()));
  }
  // One aggregate over the lookback for counts, envs, languages and infra (design §7.2): a
  // constant number of calls whatever the volume, and nothing taken from sampled spans.
  absl::StatusOr<std::vector<datadog::AggregateBucket>> buckets = ports_.source.AggregateSpanCounts(
      InventoryQuery(now - ToNanos(std::chrono::hours(config_.apm_lookback_hours)), now));
  if (!buckets.ok()) {
    issues.push_back(absl::StrCat("spans aggregate: ", buckets.status().message()));
    return absl::OkStatus();
  }
  for (v1::ApmObservation& obs : InventoryFromAggregate(*buckets)) {
    APMCOV_RETURN_IF_ERROR(publish(obs));
  }
  return absl::OkStatus();
}

std::string BackpressureReason(const std::vector<bus::PartitionLag>& lags, int64_t max_lag_messages,
                               double retention_share) {
  const int64_t total = bus::TotalLag(lags);
  if (total > max_lag_messages) {
    return absl::StrCat("the analyzer is ", total,
                        " messages behind on spans, above MAX_CONSUMER_LAG_MESSAGES (",
                        max_lag_messages, ")");
  }
  for (const bus::PartitionLag& p : lags) {
    const int64_t retained = p.high - p.low;
    if (p.low > 0 &&
        static_cast<double>(p.lag()) > retention_share * static_cast<double>(retained)) {
      return absl::StrCat("the analyzer is ", p.lag(), " messages behind on spans partition ",
                          p.partition, ", which retains only ", retained,
                          " (its oldest messages are already gone): publishing on would lose "
                          "spans to retention");
    }
  }
  return "";
}

absl::Status App::WaitForBackpressure() {
  double waited = 0;
  constexpr double kMaxWaitSeconds = 600;
  std::string reason;
  while (true) {
    absl::StatusOr<std::vector<bus::PartitionLag>> lags =
        ports_.lag_probe.PartitionLags(config_.analyzer_group, topics_.spans);
    if (!lags.ok()) {
      // Without a reading, publish on: delivery itself reports an unreachable Kafka.
      Log().Warn("cannot read the analyzer lag", {{"error", StdView(lags.status().message())}});
      return absl::OkStatus();
    }
    const int64_t total = bus::TotalLag(*lags);
    ports_.metrics.SetAnalyzerLag(total);
    reason = BackpressureReason(*lags, config_.max_consumer_lag_messages);
    if (reason.empty()) {
      if (waited > 0) Log().Info("resuming: analyzer caught up", {{"paused_seconds", waited}});
      return absl::OkStatus();
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return absl::CancelledError("collector stopping");
    }
    if (waited >= kMaxWaitSeconds) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "paused ", static_cast<int64_t>(waited), " s and still ", reason,
          "; if the analyzer is running, its traces in flight (SPAN_WINDOW_SECONDS + "
          "TRACE_GRACE_SECONDS of spans) may not fit what Kafka retains: give the spans "
          "topic more partitions or retention, or shorten SPAN_WINDOW_SECONDS"));
    }
    if (waited == 0) Log().Info("pausing", {{"reason", reason}, {"lag", total}});
    if (!ports_.clock.SleepFor(std::chrono::seconds(1))) {
      return absl::CancelledError("collector stopping");
    }
    ports_.metrics.AddBackpressureWait(1.0);
    waited += 1;
  }
}

SyncResult App::RunSync(v1::SyncTrigger trigger, std::vector<std::string> job_ids,
                        const std::string& requested_by) {
  std::lock_guard sync_lock(sync_mu_);
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
  SetTs(p.started_ns, p.job.mutable_started_at());
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
  if (absl::Status s = PublishJob(p, result.state, result.error); s.ok()) {
    (void)ports_.publisher.Flush(std::chrono::seconds(10));
  }
  const int64_t finished = ports_.clock.NowUnixNanos();
  const char* state_name = result.state == v1::SYNC_STATE_SUCCEEDED ? "succeeded"
                           : result.state == v1::SYNC_STATE_PARTIAL ? "partial"
                                                                    : "failed";
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
    running_sync_ = false;
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
  scheduler_ = std::make_unique<std::thread>([this] { SchedulerLoop(); });
  commands_ = std::make_unique<std::thread>([this] { CommandLoop(); });
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
      cv_.wait_for(lock, backoff);
      backoff = std::min(backoff * 2, std::chrono::seconds(60));
    }
  }
}

void App::OnCommandsAssigned(const std::vector<bus::TopicPartition>& tps) {
  bool lead = false;
  for (const auto& tp : tps) lead |= tp.topic == topics_.commands && tp.partition == 0;
  {
    std::lock_guard lock(mu_);
    if (lead && !leader_) {
      Log().Info("leading: this collector owns partition 0 of the commands topic",
                 {{"topic", topics_.commands}});
    }
    leader_ = lead;
    ports_.metrics.SetLeader(lead);
  }
  cv_.notify_all();
}

void App::OnCommandsRevoked(const std::vector<bus::TopicPartition>& tps) {
  bool lost = false;
  for (const auto& tp : tps) lost |= tp.topic == topics_.commands && tp.partition == 0;
  if (!lost) return;
  {
    std::lock_guard lock(mu_);
    if (!leader_) return;
    // Until the next assignment says otherwise another collector may lead: a running sync
    // stops at its next page (publishing what it read), and requests not started yet are
    // left to the next leader, which reads them again from the uncommitted offsets.
    leader_ = false;
    checkpoint_current_ = false;
    sync_at_lead_ = sync_at_lead_ || running_sync_;  // a sync cut short runs again
    checkpoint_status_ = absl::OkStatus();
    for (const v1::SyncRequest& r : pending_) awaited_jobs_.erase(r.job_id());
    pending_.clear();
    ports_.metrics.SetLeader(false);
    Log().Info("leadership released in a rebalance: standing by until reassigned",
               {{"topic", topics_.commands}});
  }
  cv_.notify_all();
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
      for (const v1::SyncRequest& r : requests) ids.push_back(r.job_id());
      RunSync(v1::SYNC_TRIGGER_MANUAL, ids, requests[0].requested_by());
    }
  }
}

void App::CommandLoop() {
  // Consumed commands whose offset cannot be committed yet: a request whose job no sync has
  // recorded, or an undecodable message whose dead letter is not flushed yet.
  struct Awaiting {
    bus::TopicPartition tp;
    int64_t offset = 0;
    std::string job_id;                       // a request
    std::optional<bus::IncomingMessage> bad;  // an undecodable message
    std::string reason;
  };
  std::deque<Awaiting> awaiting;
  std::map<bus::TopicPartition, int64_t> consumed;  // next offset after the last consumed
  std::map<bus::TopicPartition, int64_t> committed;
  bool subscribed = false;
  if (ports_.commands != nullptr) {
    // The listener runs inside Poll() and Close(), on this thread.
    bus::RebalanceListener listener;
    listener.on_assigned = [this](const std::vector<bus::TopicPartition>& tps) {
      OnCommandsAssigned(tps);
    };
    listener.on_revoked = [&, this](const std::vector<bus::TopicPartition>& tps) {
      const std::set<bus::TopicPartition> gone(tps.begin(), tps.end());
      std::erase_if(awaiting, [&](const Awaiting& a) { return gone.contains(a.tp); });
      for (const auto& tp : tps) {
        consumed.erase(tp);
        committed.erase(tp);
      }
      OnCommandsRevoked(tps);
    };
    absl::Status s = ports_.commands->Subscribe({topics_.commands}, std::move(listener));
    if (!s.ok()) {
      Log().Error("cannot subscribe to the commands topic", {{"error", StdView(s.message())}});
    }
    subscribed = s.ok();
  }
  auto last_probe = std::chrono::steady_clock::now() - std::chrono::hours(1);
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    if (std::chrono::steady_clock::now() - last_probe > std::chrono::seconds(10)) {
      (void)ProbeKafka();
      last_probe = std::chrono::steady_clock::now();
    }
    if (!subscribed) {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(500));
      continue;
    }
    absl::StatusOr<std::vector<bus::IncomingMessage>> batch =
        ports_.commands->Poll(100, std::chrono::milliseconds(500));
    if (!batch.ok()) {
      Log().Warn("reading commands failed", {{"error", StdView(batch.status().message())}});
      continue;
    }
    for (const bus::IncomingMessage& m : *batch) {
      const bus::TopicPartition tp{m.topic, m.partition};
      consumed[tp] = std::max(consumed[tp], m.offset + 1);
      std::string type;
      for (const auto& [k, v] : m.headers) {
        if (k == "type") type = v;
      }
      v1::SyncRequest req;
      if (!type.empty() && type != "apmcov.v1.SyncRequest") {
        awaiting.push_back({tp, m.offset, "", m, "not a SyncRequest: type " + type});
      } else if (!req.ParseFromString(m.value)) {
        awaiting.push_back({tp, m.offset, "", m, "not a SyncRequest: the bytes do not parse"});
      } else {
        awaiting.push_back({tp, m.offset, Request(req), std::nullopt, ""});
      }
    }
    // Dead letters first (flushed below with the job states), then what is settled.
    bool dead_lettered = false;
    for (Awaiting& a : awaiting) {
      if (!a.bad) continue;
      if (absl::Status s = DeadLetterCommand(*a.bad, a.reason); !s.ok()) {
        Log().Warn("cannot dead-letter a command; retrying",
                   {{"offset", a.offset}, {"error", StdView(s.message())}});
        continue;
      }
      a.bad.reset();
      a.job_id.clear();
      dead_lettered = true;
    }
    std::map<bus::TopicPartition, int64_t> commit = consumed;
    for (const Awaiting& a : awaiting) {
      const bool settled = !a.bad && (a.job_id.empty() || JobRecorded(a.job_id));
      if (settled) continue;
      auto it = commit.find(a.tp);
      it->second = std::min(it->second, a.offset);  // never past an unsettled command
    }
    for (auto it = commit.begin(); it != commit.end();) {
      auto c = committed.find(it->first);
      it = c != committed.end() && c->second >= it->second ? commit.erase(it) : std::next(it);
    }
    // Nothing to commit (an earlier request still waits for its sync): dead letters of this
    // round are still flushed now, not whenever that sync starts.
    if (commit.empty() && !dead_lettered) continue;
    // The job states and dead letters a commit relies on must be durable first. A sync that
    // keeps publishing can make this wait time out: the commit is then tried next round.
    if (absl::Status s = ports_.publisher.Flush(std::chrono::seconds(2)); !s.ok()) {
      Log().Warn("command offsets wait for the producer's flush",
                 {{"error", StdView(s.message())}});
      continue;
    }
    if (commit.empty()) continue;
    if (absl::Status s = ports_.commands->Commit(commit); !s.ok()) {
      Log().Warn("cannot commit command offsets", {{"error", StdView(s.message())}});
      continue;
    }
    for (const auto& [tp, offset] : commit) committed[tp] = offset;
    while (!awaiting.empty()) {
      const Awaiting& a = awaiting.front();
      auto c = committed.find(a.tp);
      if (c == committed.end() || c->second <= a.offset) break;
      awaiting.pop_front();
    }
  }
  if (ports_.commands != nullptr) ports_.commands->Close();
}

absl::Status App::DeadLetterCommand(const bus::IncomingMessage& m, const std::string& reason) {
  v1::DeadLetter dl;
  dl.set_topic(m.topic);
  dl.set_partition(m.partition);
  dl.set_offset(m.offset);
  dl.set_error(reason);
  dl.set_original_key(m.key);
  dl.set_original_value(m.value);
  dl.set_consumer("apmcov-collector");
  SetTs(ports_.clock.NowUnixNanos(), dl.mutable_failed_at());
  Log().Warn("command sent to the dead-letter topic",
             {{"topic", m.topic}, {"offset", m.offset}, {"error", reason}});
  return Publish(topics_.dlq, m.key, dl);
}

}  // namespace apmcov::collector
