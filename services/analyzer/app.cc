#include "app.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <deque>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <tuple>

#include "apmcov/base/log.h"
#include "apmcov/base/status.h"
#include "apmcov/bus/proto.h"
#include "apmcov/coverage/coverage_report.h"
#include "apmcov/coverage/gap_detector.h"
#include "apmcov/coverage/proto_convert.h"
#include "apmcov/coverage/sampling.h"
#include "apmcov/coverage/store_rows.h"
#include "apmcov/coverage/trace_assembler.h"
#include "apmcov/v1/events.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace apmcov::analyzer {
namespace {

namespace v1 = apmcov::v1;

// How long read intervals are kept past the watermark and grace: traces in flight older than
// that are finalised by the memory cap long before.
constexpr int64_t kIntervalKeepNs = int64_t{6} * 3600 * 1'000'000'000;
using bus::IncomingMessage;
using bus::TopicPartition;

const Logger& Log() {
  static const Logger log("analyzer");
  return log;
}

int64_t Nanos(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1'000'000'000 + t.nanos();
}

bool Retriable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsAborted(s) ||
         absl::IsResourceExhausted(s);
}

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// A message that cannot become a record: the reason goes to the dead letter.
struct Undecodable {
  std::string reason;
};

}  // namespace

AnalyzerConfig AnalyzerConfig::Read(ConfigReader& r) {
  AnalyzerConfig c;
  c.kafka_brokers = r.String("KAFKA_BROKERS", c.kafka_brokers);
  c.topic_prefix = r.String("KAFKA_TOPIC_PREFIX", c.topic_prefix);
  c.database_url = r.String("DATABASE_URL", "", Secret::kYes);
  c.group_id = r.String("ANALYZER_GROUP_ID", c.group_id);
  c.apm_lookback_hours = r.Int("APM_LOOKBACK_HOURS", c.apm_lookback_hours, 1, 24 * 366);
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

struct App::Impl {
  Impl(AppOptions o, AppPorts p)
      : options(std::move(o)),
        ports(p),
        topics(options.topic_prefix),
        interner(pool),
        assembler(coverage::AssemblerOptions{options.trace_grace_ns, options.max_traces_in_flight,
                                             options.max_spans_in_flight}),
        detector(pool, coverage::DetectorOptions{options.whole_trace_retention}) {
    auto& reg = ports.registry;
    lag_family = &prometheus::BuildGauge()
                      .Name("apmcov_analyzer_consumer_lag_messages")
                      .Help("Messages between the analyzer's position and the partition's end")
                      .Register(reg);
    spans_processed = &prometheus::BuildCounter()
                           .Name("apmcov_analyzer_spans_processed_total")
                           .Help("Spans consumed from the spans topic")
                           .Register(reg)
                           .Add({});
    traces_finalised = &prometheus::BuildCounter()
                            .Name("apmcov_analyzer_traces_finalised_total")
                            .Help("Traces finalised (judged or skipped), forced ones included")
                            .Register(reg)
                            .Add({});
    auto& dropped = prometheus::BuildCounter()
                        .Name("apmcov_analyzer_traces_dropped_total")
                        .Help(
                            "Traces not judged normally, by reason (forced = finalised early "
                            "by the memory cap; replayed = judged before a restart; "
                            "late_span = a span arriving after its trace was judged; "
                            "edge_cut = not complete within a read interval, never judged)")
                        .Register(reg);
    traces_forced = &dropped.Add({{"reason", "forced"}});
    traces_replayed = &dropped.Add({{"reason", "replayed"}});
    traces_edge_cut = &dropped.Add({{"reason", "edge_cut"}});
    traces_judged = &prometheus::BuildCounter()
                         .Name("apmcov_analyzer_traces_judged_total")
                         .Help("Traces judged: complete within a read interval (design §7.1)")
                         .Register(reg)
                         .Add({});
    judged_spans = &prometheus::BuildCounter()
                        .Name("apmcov_analyzer_judged_spans_total")
                        .Help(
                            "Spans of judged traces: with spans_processed, the share of what "
                            "was read that sampling turned into verdicts")
                        .Register(reg)
                        .Add({});
    late_spans = &dropped.Add({{"reason", "late_span"}});
    traces_in_flight = &prometheus::BuildGauge()
                            .Name("apmcov_analyzer_traces_in_flight")
                            .Help("Traces being assembled")
                            .Register(reg)
                            .Add({});
    spans_in_flight = &prometheus::BuildGauge()
                           .Name("apmcov_analyzer_spans_in_flight")
                           .Help("Spans of the traces being assembled")
                           .Register(reg)
                           .Add({});
    gaps_family = &prometheus::BuildCounter()
                       .Name("apmcov_analyzer_gaps_total")
                       .Help("Gaps found in judged traces, by kind")
                       .Register(reg);
    for (size_t k = 0; k < coverage::kGapKindCount; ++k) {
      gaps[k] = &gaps_family->Add(
          {{"kind", std::string(coverage::GapKindName(static_cast<coverage::GapKind>(k)))}});
    }
    db_write =
        &prometheus::BuildHistogram()
             .Name("apmcov_analyzer_db_write_duration_seconds")
             .Help("Time to apply one consumed batch to PostgreSQL (one transaction)")
             .Register(reg)
             .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025,
                                                              0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    dlq_family = &prometheus::BuildCounter()
                      .Name("apmcov_dlq_messages_total")
                      .Help("Messages sent to the dead-letter topic, by source topic")
                      .Register(reg);
    rebalances = &prometheus::BuildCounter()
                      .Name("apmcov_analyzer_rebalance_partitions_total")
                      .Help("Partitions assigned to or revoked from this member, by event")
                      .Register(reg);
    owned_spans_partitions = &prometheus::BuildGauge()
                                  .Name("apmcov_analyzer_spans_partitions_owned")
                                  .Help("Partitions of the spans topic this member owns")
                                  .Register(reg)
                                  .Add({});
    data_loss = &prometheus::BuildCounter()
                     .Name("apmcov_analyzer_data_loss_total")
                     .Help("Offset-out-of-range events: messages lost to retention")
                     .Register(reg)
                     .Add({});
    coverage_family = &prometheus::BuildGauge()
                           .Name("apmcov_coverage_ratio")
                           .Help("Instrumented / catalog services (0..1), per dimension value")
                           .Register(reg);
    catalog_wait_expired =
        &prometheus::BuildCounter()
             .Name("apmcov_analyzer_catalog_wait_expired_total")
             .Help(
                 "Span watermarks applied after ANALYZER_CATALOG_WAIT_SECONDS without their "
                 "job's complete catalog snapshot")
             .Register(reg)
             .Add({});
    watermarks_pending = &prometheus::BuildGauge()
                              .Name("apmcov_analyzer_watermarks_pending")
                              .Help("Span watermarks waiting for their job's catalog snapshot")
                              .Register(reg)
                              .Add({});
    rows_pruned = &prometheus::BuildCounter()
                       .Name("apmcov_analyzer_rows_pruned_total")
                       .Help("Rows deleted by retention (design §4), by table")
                       .Register(reg);
    services_total = &prometheus::BuildGauge()
                          .Name("apmcov_catalog_services")
                          .Help("Catalog services counted by coverage (deprecated excluded)")
                          .Register(reg)
                          .Add({});
  }

  // --- configuration and ports ---
  AppOptions options;
  AppPorts ports;
  bus::TopicNames topics;
  std::atomic<bool> stop{false};

  // --- core ---
  coverage::StringPool pool;
  coverage::SpanInterner interner;
  coverage::TraceAssembler assembler;
  coverage::GapDetector detector;
  coverage::TraceVerdict verdict;
  coverage::AssemblerCounters seen_counters;  // what was already added to the metrics

  // --- consumption state ---
  std::set<TopicPartition> assigned;
  std::set<int32_t> restore_watermarks;           // spans partitions assigned, not yet restored
  std::map<int32_t, int64_t> stored_watermark;    // spans partition → watermark in the store
  std::map<TopicPartition, int64_t> next_offset;  // after the last consumed message
  std::map<TopicPartition, int64_t> committed;
  int64_t dlq_count = 0;
  int64_t data_loss_count = 0;

  // --- sync jobs and coverage snapshots ---
  struct PendingSnapshot {
    store::SyncJobRecord job;
    int64_t since_ns = 0;
  };
  std::map<std::string, PendingSnapshot> pending_snapshots;
  std::map<std::string, std::set<int32_t>> job_watermarks;  // job → spans partitions
  std::deque<std::string> job_watermark_order;              // to bound job_watermarks

  // --- span watermarks waiting for their job's catalog (see app.h) ---
  struct PendingWatermark {
    int64_t offset = 0;  // of the watermark message in its spans partition
    int64_t watermark_ns = 0;
    std::string job_id;
    int64_t received_ns = 0;                             // clock time it arrived
    std::vector<std::pair<int64_t, int64_t>> intervals;  // complete read intervals it carries
    bool legacy = false;  // no read interval at all: everything before it was read
  };
  std::map<int32_t, std::deque<PendingWatermark>> pending_watermarks;  // spans partition →
  // What is known of a job whose watermarks were seen.
  struct JobCatalog {
    bool catalog_complete = false;
    bool watermark_seen = false;
    bool catalog_wait_warned = false;
    bool wait_logged = false;
    int64_t last_store_check_ns = INT64_MIN;
    // apm-inventory partition → end offset when the job's first watermark arrived; the
    // job is ready once the consumer position reached each (`apm_base` = committed then).
    std::map<TopicPartition, int64_t> apm_targets;
    std::map<TopicPartition, int64_t> apm_base;
  };
  std::map<std::string, JobCatalog> job_catalog;
  std::deque<std::string> job_catalog_order;  // to bound job_catalog
  // Snapshots completed in this process (snapshot id → job id from the end marker).
  std::map<std::string, std::string> snapshot_job;
  bool refresh_before_release = false;  // a job became ready through the store

  // --- service directory ---
  bool directory_dirty = true;
  int64_t last_directory_ns = 0;
  bool directory_loaded = false;
  std::set<std::string> known_apm_names;  // services the current directory knows from APM
  int64_t last_lag_ns = 0;

  // --- per-batch accumulators ---
  store::WriteBatch batch;
  std::map<std::pair<std::string, std::string>, store::ApmObservationRecord> span_apm;
  std::map<std::pair<int64_t, std::string>, store::TraceJudgementCount> judgements;
  std::map<std::string, int64_t> edge_cuts;  // job id → traces cut at a read interval's edge

  // --- read intervals (design §7.1): per spans partition, what was read whole ---
  std::map<int32_t, coverage::ReadIntervals> read_intervals;
  std::map<int32_t, std::string> partition_job;  // job of the last watermark applied
  const std::string* judging_job = nullptr;      // job of the watermark being applied
  int64_t judging_watermark = 0;                 // and its value
  std::vector<v1::DeadLetter> dead_letters;

  // --- metrics ---
  prometheus::Family<prometheus::Gauge>* lag_family;
  std::map<TopicPartition, prometheus::Gauge*> lag_gauges;
  prometheus::Counter* spans_processed;
  prometheus::Counter* traces_finalised;
  prometheus::Counter* traces_forced;
  prometheus::Counter* traces_replayed;
  prometheus::Counter* traces_edge_cut;
  prometheus::Counter* traces_judged;
  prometheus::Counter* judged_spans;
  prometheus::Counter* late_spans;
  prometheus::Gauge* traces_in_flight;
  prometheus::Gauge* spans_in_flight;
  prometheus::Family<prometheus::Counter>* gaps_family;
  prometheus::Counter* gaps[coverage::kGapKindCount];
  prometheus::Histogram* db_write;
  prometheus::Family<prometheus::Counter>* dlq_family;
  prometheus::Counter* data_loss;
  prometheus::Family<prometheus::Counter>* rebalances;
  prometheus::Gauge* owned_spans_partitions;
  prometheus::Family<prometheus::Gauge>* coverage_family;
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> coverage_gauges;
  prometheus::Gauge* services_total;
  prometheus::Counter* catalog_wait_expired;
  prometheus::Gauge* watermarks_pending;
  prometheus::Family<prometheus::Counter>* rows_pruned;

  // Retention: when the last run started (Clock), and a run the budget interrupted.
  int64_t last_prune_ns = INT64_MIN;
  bool prune_unfinished = false;
  int64_t prune_now_ns = 0;  // the run's `now`, kept across its slices
  std::map<std::string, int64_t> prune_rows;
  std::chrono::steady_clock::duration prune_spent{0};

  // Prunes what the retention policy says is too old (see the contract in app.h).
  void MaybePrune() {
    if (options.retention_interval.count() <= 0) return;
    if (!prune_unfinished) {
      const int64_t now = ports.clock.NowUnixNanos();
      if (last_prune_ns != INT64_MIN && now - last_prune_ns < options.retention_interval.count()) {
        return;
      }
      last_prune_ns = prune_now_ns = now;
      prune_rows.clear();
      prune_spent = {};
    }
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      absl::StatusOr<store::PruneResult> r =
          ports.store.Prune(options.retention, prune_now_ns, options.retention_batch_rows);
      if (!r.ok()) {
        prune_unfinished = false;
        Log().Warn("retention: pruning failed, tried again at the next interval",
                   {{"error", Msg(r.status())}});
        return;
      }
      for (const auto& [table, n] : r->rows) {
        rows_pruned->Add({{"table", table}}).Increment(static_cast<double>(n));
        prune_rows[table] += n;
      }
      const auto spent = std::chrono::steady_clock::now() - start;
      prune_unfinished = r->more;
      if (!r->more) {
        prune_spent += spent;
        break;
      }
      if (stop.load() || spent >= options.retention_budget) {  // go on after the next poll
        prune_spent += spent;
        return;
      }
      std::this_thread::yield();
    }
    int64_t total = 0;
    for (const auto& [table, n] : prune_rows) total += n;
    auto rows = [&](const char* table) {
      auto it = prune_rows.find(table);
      return it == prune_rows.end() ? int64_t{0} : it->second;
    };
    Log().Log(total > 0 ? LogLevel::kInfo : LogLevel::kDebug, "retention: pruned",
              {{"rows", total},
               {"broken_traces", rows("broken_traces")},
               {"trace_spans", rows("trace_spans")},
               {"trace_gaps", rows("trace_gaps")},
               {"trace_judgements", rows("trace_judgements")},
               {"dependencies", rows("dependencies")},
               {"dependency_counted_traces", rows("dependency_counted_traces")},
               {"sync_jobs", rows("sync_jobs")},
               {"dead_letters", rows("dead_letters")},
               {"catalog_snapshots", rows("catalog_snapshots")},
               {"coverage_snapshots", rows("coverage_snapshots")},
               {"seconds", std::chrono::duration<double>(prune_spent).count()}});
  }

  // Runs `fn` until it succeeds, fails for good, or Stop() is requested (Cancelled).
  template <typename Fn>
  absl::Status Retry(std::string_view what, Fn fn) {
    auto backoff = std::chrono::nanoseconds(std::chrono::milliseconds(200));
    for (int attempt = 1;; ++attempt) {
      absl::Status s = fn();
      if (s.ok() || !Retriable(s)) return s;
      Log().Warn("retrying", {{"what", what}, {"attempt", attempt}, {"error", Msg(s)}});
      // Sleep in slices so a stop request is noticed quickly.
      for (auto slept = std::chrono::nanoseconds(0); slept < backoff;) {
        if (stop.load()) {
          return absl::CancelledError(
              absl::StrCat(AbslView(what), ": stopped while retrying: ", s.message()));
        }
        const auto slice =
            std::min(backoff - slept, std::chrono::nanoseconds(std::chrono::milliseconds(250)));
        if (!ports.clock.SleepFor(slice)) {  // the clock is cancelled: shutting down
          return absl::CancelledError(
              absl::StrCat(AbslView(what), ": stopped while retrying: ", s.message()));
        }
        slept += slice;
      }
      backoff = std::min(backoff * 2, options.max_backoff);
    }
  }

  // --- rebalance ---
  void OnAssigned(const std::vector<TopicPartition>& tps) {
    for (const auto& tp : tps) {
      assigned.insert(tp);
      if (tp.topic == topics.spans) restore_watermarks.insert(tp.partition);
    }
    rebalances->Add({{"event", "assigned"}}).Increment(static_cast<double>(tps.size()));
    CountOwnedSpansPartitions();
    Log().Info("partitions assigned", {{"count", tps.size()}});
  }
  void OnRevoked(const std::vector<TopicPartition>& tps) {
    size_t dropped = 0;
    for (const auto& tp : tps) {
      assigned.erase(tp);
      next_offset.erase(tp);
      committed.erase(tp);
      if (auto it = lag_gauges.find(tp); it != lag_gauges.end()) {
        lag_family->Remove(it->second);
        lag_gauges.erase(it);
      }
      if (tp.topic == topics.spans) {
        dropped += assembler.RevokePartition(tp.partition);
        pending_watermarks.erase(tp.partition);  // re-read by the new owner (not committed)
        read_intervals.erase(tp.partition);
        restore_watermarks.erase(tp.partition);
        stored_watermark.erase(tp.partition);
      }
    }
    rebalances->Add({{"event", "revoked"}}).Increment(static_cast<double>(tps.size()));
    CountOwnedSpansPartitions();
    Log().Info("partitions revoked", {{"count", tps.size()}, {"traces_dropped", dropped}});
  }
  void CountOwnedSpansPartitions() {
    double n = 0;
    for (const auto& tp : assigned) n += tp.topic == topics.spans ? 1 : 0;
    owned_spans_partitions->Set(n);
  }

  absl::Status RestoreWatermarks() {
    if (restore_watermarks.empty()) return absl::OkStatus();
    std::vector<store::PartitionWatermark> stored;
    APMCOV_RETURN_IF_ERROR(Retry("loading partition watermarks", [&]() -> absl::Status {
      absl::StatusOr<std::vector<store::PartitionWatermark>> r = ports.store.LoadWatermarks();
      if (!r.ok()) return r.status();
      stored = std::move(*r);
      return absl::OkStatus();
    }));
    for (const auto& w : stored) {
      if (w.topic != topics.spans || !restore_watermarks.contains(w.partition)) continue;
      assembler.SetAppliedWatermark(w.partition, w.watermark_ns);
      stored_watermark[w.partition] = w.watermark_ns;
      coverage::ReadIntervals& known = read_intervals[w.partition];
      for (size_t i = 0; i + 1 < w.read_intervals.size(); i += 2) {
        known.Add(w.read_intervals[i], w.read_intervals[i + 1]);
      }
    }
    restore_watermarks.clear();
    return absl::OkStatus();
  }

  // --- decoding ---
  void DeadLetter(const IncomingMessage& m, const std::string& reason) {
    for (const v1::DeadLetter& pending : dead_letters) {
      // A message handled twice in one batch (ApplySettingAsideRejected) is set aside once.
      if (pending.topic() == m.topic && pending.partition() == m.partition &&
          pending.offset() == m.offset) {
        return;
      }
    }
    v1::DeadLetter dl;
    dl.set_topic(m.topic);
    dl.set_partition(m.partition);
    dl.set_offset(m.offset);
    dl.set_error(reason);
    dl.set_original_key(m.key);
    dl.set_original_value(m.value);
    dl.set_consumer(options.consumer_name);
    const int64_t now = ports.clock.NowUnixNanos();
    dl.mutable_failed_at()->set_seconds(now / 1'000'000'000);
    dl.mutable_failed_at()->set_nanos(static_cast<int32_t>(now % 1'000'000'000));
    dead_letters.push_back(std::move(dl));
    Log().Warn(
        "message sent to the dead-letter topic",
        {{"topic", m.topic}, {"partition", m.partition}, {"offset", m.offset}, {"error", reason}});
  }

  template <typename M>
  std::optional<M> Decode(const IncomingMessage& m) {
    M msg;
    if (absl::Status s = bus::ParseProto(m, &msg); !s.ok()) {
      DeadLetter(m, Msg(s));
      return std::nullopt;
    }
    return msg;
  }

  int64_t MessageTimeNs(const IncomingMessage& m) const {
    return m.timestamp_ms > 0 ? m.timestamp_ms * 1'000'000 : ports.clock.NowUnixNanos();
  }

  void HandleCatalogService(const IncomingMessage& m, const v1::CatalogService& s) {
    if (s.name().empty() || s.snapshot_id().empty()) {
      DeadLetter(m, "CatalogService needs a name and a snapshot_id");
      return;
    }
    if (!s.links_json().empty() && !nlohmann::json::accept(s.links_json())) {
      DeadLetter(m, absl::StrCat("CatalogService ", s.name(), ": links_json is not valid JSON"));
      return;
    }
    store::CatalogServiceRecord r;
    r.snapshot_id = s.snapshot_id();
    r.name = s.name();
    r.team = s.team();
    r.application = s.application();
    r.tier = s.tier();
    r.lifecycle = s.lifecycle();
    r.type = s.type();
    r.languages.assign(s.languages().begin(), s.languages().end());
    r.tags.assign(s.tags().begin(), s.tags().end());
    r.envs.assign(s.envs().begin(), s.envs().end());
    r.infra = s.infra();
    r.customer_facing = s.customer_facing();
    r.schema_version = s.schema_version();
    r.links_json = s.links_json().empty() ? "[]" : s.links_json();
    r.description = s.description();
    r.synced_at_ns = s.has_synced_at() ? Nanos(s.synced_at()) : MessageTimeNs(m);
    batch.catalog_services.push_back(std::move(r));
  }

  void HandleSnapshotEnd(const IncomingMessage& m, const v1::CatalogSnapshotEnd& e) {
    if (e.snapshot_id().empty()) {
      DeadLetter(m, "CatalogSnapshotEnd needs a snapshot_id");
      return;
    }
    batch.snapshot_ends.push_back(
        {e.snapshot_id(), e.count(), e.has_synced_at() ? Nanos(e.synced_at()) : MessageTimeNs(m)});
    if (!e.job_id().empty()) {
      snapshot_job[e.snapshot_id()] = e.job_id();
      if (snapshot_job.size() > 1000) snapshot_job.erase(snapshot_job.begin());
    }
  }

  void HandleCatalog(const IncomingMessage& m) {
    const std::optional<std::string_view> type = bus::MessageType(m);
    if (type == "apmcov.v1.CatalogSnapshotEnd") {
      if (auto e = Decode<v1::CatalogSnapshotEnd>(m)) HandleSnapshotEnd(m, *e);
    } else if (type == "apmcov.v1.CatalogEvent") {
      auto ev = Decode<v1::CatalogEvent>(m);
      if (!ev) return;
      if (ev->has_service()) {
        HandleCatalogService(m, ev->service());
      } else if (ev->has_snapshot_end()) {
        HandleSnapshotEnd(m, ev->snapshot_end());
      } else {
        DeadLetter(m, "CatalogEvent holds neither a service nor a snapshot end");
      }
    } else if (auto s = Decode<v1::CatalogService>(m)) {
      HandleCatalogService(m, *s);
    }
  }

  void HandleApm(const IncomingMessage& m) {
    auto o = Decode<v1::ApmObservation>(m);
    if (!o) return;
    if (o->service().empty()) {
      DeadLetter(m, "ApmObservation needs a service");
      return;
    }
    store::ApmObservationRecord r;
    r.service = o->service();
    r.env = o->env().empty() ? "*" : o->env();
    r.traced = o->traced();
    r.usm = o->usm();
    r.span_count = o->span_count();
    r.languages.assign(o->languages().begin(), o->languages().end());
    r.infra_hints.assign(o->infra_hints().begin(), o->infra_hints().end());
    r.last_seen_ns = o->has_last_seen()     ? Nanos(o->last_seen())
                     : o->has_observed_at() ? Nanos(o->observed_at())
                                            : MessageTimeNs(m);
    batch.apm_observations.push_back(std::move(r));
  }

  void HandleSyncJob(const IncomingMessage& m) {
    auto j = Decode<v1::SyncJob>(m);
    if (!j) return;
    static const std::map<v1::SyncState, std::string> kStates = {
        {v1::SYNC_STATE_QUEUED, "queued"},
        {v1::SYNC_STATE_RUNNING, "running"},
        {v1::SYNC_STATE_SUCCEEDED, "succeeded"},
        {v1::SYNC_STATE_PARTIAL, "partial"},
        {v1::SYNC_STATE_FAILED, "failed"}};
    auto state = kStates.find(j->state());
    if (j->id().empty() || state == kStates.end()) {
      DeadLetter(m, "SyncJob needs an id and a known state");
      return;
    }
    store::SyncJobRecord r;
    r.id = j->id();
    r.trigger = j->trigger() == v1::SYNC_TRIGGER_MANUAL ? "manual" : "schedule";
    r.state = state->second;
    if (j->has_started_at()) r.started_at_ns = Nanos(j->started_at());
    if (j->has_finished_at()) r.finished_at_ns = Nanos(j->finished_at());
    r.api_calls = static_cast<int64_t>(j->api_calls());
    r.pages = static_cast<int64_t>(j->pages());
    r.spans = static_cast<int64_t>(j->spans());
    r.rate_limited_ms = static_cast<int64_t>(j->rate_limited_ms());
    r.sampled_seconds = static_cast<int64_t>(j->sampled_seconds());
    r.skipped_seconds = static_cast<int64_t>(j->skipped_seconds());
    r.error = j->error();
    r.updated_at_ns = j->has_updated_at() ? Nanos(j->updated_at())
                      : r.finished_at_ns  ? *r.finished_at_ns
                      : r.started_at_ns   ? *r.started_at_ns
                                          : MessageTimeNs(m);
    if (r.state == "succeeded" || r.state == "partial") {
      if (!r.finished_at_ns) r.finished_at_ns = r.updated_at_ns;
      pending_snapshots.try_emplace(r.id, PendingSnapshot{r, ports.clock.NowUnixNanos()});
    }
    batch.sync_jobs.push_back(std::move(r));
  }

  void HandleSpans(const IncomingMessage& m) {
    auto b = Decode<v1::SpanBatch>(m);
    if (!b) return;
    auto sink = [this](const coverage::AssembledTrace& t) { OnTrace(t); };
    for (const v1::Span& span : b->spans()) {
      const coverage::SpanRecord rec = coverage::SpanFromProto(span, interner);
      assembler.Add(rec, m.partition, m.offset, sink);
      NoteSpanService(span);
    }
    spans_processed->Increment(static_cast<double>(b->spans_size()));
    if (b->spans().empty() && b->watermark_unix_nano() > 0) {
      // Every watermark goes through the per-partition queue, so they stay in order; one whose
      // job's catalog is complete (or that has no job) is applied at once.
      if (!b->job_id().empty()) NoteJob(b->job_id());
      PendingWatermark w{m.offset, b->watermark_unix_nano(), b->job_id(),
                         ports.clock.NowUnixNanos()};
      w.legacy = b->read_intervals().empty();
      for (const v1::ReadInterval& r : b->read_intervals()) {
        if (r.complete()) w.intervals.emplace_back(r.from_unix_nano(), r.to_unix_nano());
      }
      pending_watermarks[m.partition].push_back(std::move(w));
      // A snapshot the store says complete but this directory may not hold yet: released by
      // ReleaseAllWatermarks() after the rebuild.
      if (!refresh_before_release) ReleaseWatermarks(m.partition);
    }
  }

  void ApplyWatermark(int32_t partition, const PendingWatermark& w) {
    // The intervals first: the traces this watermark finalises are judged against them.
    coverage::ReadIntervals& known = read_intervals[partition];
    if (w.legacy) known.Add(INT64_MIN / 2, w.watermark_ns);
    for (const auto& [from, to] : w.intervals) known.Add(from, to);
    partition_job[partition] = w.job_id;
    judging_job = &w.job_id;
    judging_watermark = w.watermark_ns;
    assembler.OnWatermark(partition, w.watermark_ns,
                          [this](const coverage::AssembledTrace& t) { OnTrace(t); });
    judging_job = nullptr;
    // Intervals long past every trace that could still be in flight.
    known.PruneBefore(w.watermark_ns - options.trace_grace_ns - kIntervalKeepNs);
    if (w.job_id.empty()) return;
    auto [it, inserted] = job_watermarks.try_emplace(w.job_id);
    it->second.insert(partition);
    if (inserted) {
      job_watermark_order.push_back(w.job_id);
      while (job_watermark_order.size() > 1000) {
        job_watermarks.erase(job_watermark_order.front());
        job_watermark_order.pop_front();
      }
    }
  }

  // First sighting of a job's watermark: remember the apm-inventory end offsets to wait for
  // and whether the store already holds its complete catalog snapshot.
  void NoteJob(const std::string& job) {
    JobCatalog& j = Job(job);
    if (j.watermark_seen) return;
    j.watermark_seen = true;
    std::vector<TopicPartition> apm;
    for (const auto& tp : assigned) {
      if (tp.topic != topics.apm_inventory) continue;
      absl::StatusOr<std::pair<int64_t, int64_t>> end =
          ports.lag_probe.Watermarks(tp.topic, tp.partition);
      if (!end.ok()) {
        Log().Warn("apm-inventory end offset unknown: not waiting for that partition",
                   {{"partition", tp.partition}, {"error", Msg(end.status())}});
        continue;
      }
      j.apm_targets[tp] = end->second;
      apm.push_back(tp);
    }
    if (!apm.empty()) {
      absl::StatusOr<std::map<TopicPartition, int64_t>> base = ports.subscriber.Committed(apm);
      if (base.ok()) j.apm_base = std::move(*base);
    }
    CheckCatalogInStore(job, j);
  }

  // The entry of `job`, created if new; the oldest entries no watermark waits for are dropped
  // beyond 1000 jobs.
  JobCatalog& Job(const std::string& job) {
    auto [it, inserted] = job_catalog.try_emplace(job);
    if (!inserted) return it->second;
    job_catalog_order.push_back(job);
    while (job_catalog_order.size() > 1000) {
      const std::string old = job_catalog_order.front();
      if (old == job || Waiting(old)) break;  // bounded by catalog_wait anyway
      job_catalog.erase(old);
      job_catalog_order.pop_front();
    }
    return it->second;
  }

  bool Waiting(const std::string& job) const {
    for (const auto& [p, q] : pending_watermarks) {
      for (const auto& w : q) {
        if (w.job_id == job) return true;
      }
    }
    return false;
  }

  // Another replica (or a run before a restart) may have completed the job's snapshot: ask the
  // store, at most once a second per job. The collector's snapshot id is the job id.
  void CheckCatalogInStore(const std::string& job, JobCatalog& j) {
    if (j.catalog_complete) return;
    const int64_t now = ports.clock.NowUnixNanos();
    if (j.last_store_check_ns != INT64_MIN && now - j.last_store_check_ns < 1'000'000'000) return;
    j.last_store_check_ns = now;
    std::vector<std::string> ids{job};
    for (const auto& [snap, owner] : snapshot_job) {
      if (owner == job && snap != job) ids.push_back(snap);
    }
    for (const auto& id : ids) {
      absl::StatusOr<std::optional<store::SnapshotState>> st = ports.store.LoadSnapshotState(id);
      if (!st.ok()) {
        Log().Warn("could not read a catalog snapshot state",
                   {{"snapshot_id", id}, {"error", Msg(st.status())}});
        return;  // checked again later; the wait is bounded
      }
      if (*st && (*st)->completed) {
        j.catalog_complete = true;
        directory_dirty = true;  // it may have been completed by another replica
        refresh_before_release = true;
        return;
      }
    }
  }

  void MarkSnapshotComplete(const std::string& snapshot_id) {
    auto owner = snapshot_job.find(snapshot_id);
    // Watermarks of the job may come later: remember it is complete.
    Job(owner != snapshot_job.end() ? owner->second : snapshot_id).catalog_complete = true;
  }

  int64_t Position(const TopicPartition& tp, const JobCatalog& j) const {
    int64_t pos = -1;
    if (auto it = next_offset.find(tp); it != next_offset.end()) pos = std::max(pos, it->second);
    if (auto it = j.apm_base.find(tp); it != j.apm_base.end()) pos = std::max(pos, it->second);
    return pos;
  }

  // The job's catalog is complete and the inventory published before its spans is consumed.
  bool JobReady(const std::string& job) const {
    if (job.empty()) return true;
    auto it = job_catalog.find(job);
    if (it == job_catalog.end() || !it->second.catalog_complete) return false;
    for (const auto& [tp, end] : it->second.apm_targets) {
      if (end <= 0 || !assigned.contains(tp)) continue;  // empty, or another member's now
      if (Position(tp, it->second) < end) return false;
    }
    return true;
  }

  // Applies the waiting watermarks of `partition` that may go, in order: every one up to the
  // last whose job is ready (a later ready watermark means a newer complete catalog), then
  // those at the front that waited catalog_wait. Call only with an up-to-date directory.
  void ReleaseWatermarks(int32_t partition) {
    auto qit = pending_watermarks.find(partition);
    if (qit == pending_watermarks.end()) return;
    std::deque<PendingWatermark>& q = qit->second;
    size_t ready_upto = 0;  // entries [0, ready_upto) may go
    for (size_t i = q.size(); i > 0; --i) {
      if (JobReady(q[i - 1].job_id)) {
        ready_upto = i;
        break;
      }
    }
    const int64_t now = ports.clock.NowUnixNanos();
    for (size_t i = 0; i < ready_upto; ++i) {
      if (!JobReady(q.front().job_id)) {
        Log().Info("watermark applied before its job's catalog: a later job's is complete",
                   {{"partition", partition}, {"job_id", q.front().job_id}});
      }
      ApplyWatermark(partition, q.front());
      q.pop_front();
    }
    while (!q.empty() && now - q.front().received_ns >= options.catalog_wait.count()) {
      const PendingWatermark& w = q.front();
      JobCatalog& j = Job(w.job_id);
      if (!j.catalog_wait_warned) {
        j.catalog_wait_warned = true;
        Log().Warn(
            "catalog snapshot of the job not complete after ANALYZER_CATALOG_WAIT_SECONDS: "
            "judging its traces with the catalog at hand",
            {{"job_id", w.job_id},
             {"partition", partition},
             {"catalog_complete", j.catalog_complete},
             {"waited_seconds", (now - w.received_ns) / 1'000'000'000}});
      }
      catalog_wait_expired->Increment();
      ApplyWatermark(partition, w);
      q.pop_front();
    }
    if (q.empty()) pending_watermarks.erase(qit);
  }

  // Before judging: look in the store for jobs still waiting (other replicas), rebuild the
  // directory if a snapshot completed, then release what may go on every partition.
  absl::Status ReleaseAllWatermarks() {
    if (pending_watermarks.empty() && !refresh_before_release) return absl::OkStatus();
    for (auto& [job, j] : job_catalog) {
      if (!j.catalog_complete && Waiting(job)) CheckCatalogInStore(job, j);
    }
    APMCOV_RETURN_IF_ERROR(RefreshDirectory());
    refresh_before_release = false;
    std::vector<int32_t> parts;
    for (const auto& [p, q] : pending_watermarks) parts.push_back(p);
    for (int32_t p : parts) ReleaseWatermarks(p);
    return absl::OkStatus();
  }

  // "At least one of its spans was seen" (design §5): the span's (service, env) is traced.
  void NoteSpanService(const v1::Span& span) {
    if (span.service().empty()) return;
    const std::string env = span.env().empty() ? "*" : span.env();
    auto [it, inserted] = span_apm.try_emplace({span.service(), env});
    store::ApmObservationRecord& r = it->second;
    if (inserted) {
      r.service = span.service();
      r.env = env;
      r.traced = true;
      r.last_seen_ns = span.start_unix_nano();
      if (!known_apm_names.contains(r.service)) directory_dirty = true;
    }
    r.last_seen_ns = std::max(r.last_seen_ns, span.start_unix_nano());
    if (!span.language().empty() &&
        std::find(r.languages.begin(), r.languages.end(), span.language()) == r.languages.end()) {
      r.languages.push_back(span.language());
    }
    const std::string hint = span.infra_hint().empty() ? "host" : span.infra_hint();
    if (std::find(r.infra_hints.begin(), r.infra_hints.end(), hint) == r.infra_hints.end()) {
      r.infra_hints.push_back(hint);
    }
  }

  void OnTrace(const coverage::AssembledTrace& t) {
    // Judged only when complete within a read interval (design §7.1): a trace cut at a
    // slice's edge would show gaps that the cut made.
    const int64_t open_end =
        judging_job != nullptr ? judging_watermark : assembler.LatestWatermark(t.partition);
    if (!coverage::CompleteWithin(t.spans, read_intervals[t.partition], options.completeness,
                                  open_end)) {
      const std::string& job = judging_job != nullptr ? *judging_job : partition_job[t.partition];
      ++edge_cuts[job];
      traces_edge_cut->Increment();
      return;
    }
    if (detector.Judge(t, &verdict) != coverage::GapDetector::Outcome::kJudged) return;
    traces_judged->Increment();
    judged_spans->Increment(static_cast<double>(t.spans.size()));
    {
      constexpr int64_t kHour = int64_t{3600} * 1'000'000'000;
      const int64_t hour = verdict.started_ns - ((verdict.started_ns % kHour) + kHour) % kHour;
      std::string root = verdict.has_root ? std::string(verdict.root_service) : std::string();
      store::TraceJudgementCount& c = judgements[{hour, root}];
      c.hour_ns = hour;
      c.root_service = std::move(root);
      ++c.judged;
      if (verdict.broken()) ++c.broken;
    }
    const int64_t now = ports.clock.NowUnixNanos();
    for (const auto& d : verdict.dependencies) {
      batch.dependencies.push_back({std::string(d.from_service), std::string(d.to_name),
                                    std::string(coverage::DependencyKindName(d.kind)),
                                    std::string(coverage::PeerKindName(d.to_kind)), t.trace_id_lo,
                                    d.last_seen_ns});
    }
    if (!verdict.broken()) return;
    store::BrokenTraceRecord r;
    r.trace_id = verdict.trace_id_lo;
    r.trace_id_high = verdict.trace_id_hi;
    r.env = std::string(verdict.env);
    if (verdict.has_root) r.root_service = std::string(verdict.root_service);
    r.started_at_ns = verdict.started_ns;
    r.duration_ns = verdict.duration_ns;
    r.span_count = static_cast<int32_t>(verdict.span_count);
    for (auto s : verdict.services) r.services.emplace_back(s);
    for (auto s : verdict.missing_services) r.missing_services.emplace_back(s);
    for (auto k : verdict.gap_kinds) r.gap_kinds.emplace_back(coverage::GapKindName(k));
    r.detected_at_ns = now;
    for (const auto& g : verdict.gaps) {
      store::TraceGapRecord gap;
      gap.span_id = g.span_id;
      gap.kind = std::string(coverage::GapKindName(g.kind));
      gap.from_service = std::string(g.from_service);
      if (g.has_to_service) gap.to_service = std::string(g.to_service);
      gap.peer = std::string(g.peer);
      gap.detail = coverage::FormatGapDetail(g);
      r.gaps.push_back(std::move(gap));
      gaps[static_cast<size_t>(g.kind)]->Increment();
    }
    for (const auto& s : verdict.spans) {
      r.spans.push_back({s.span_id, s.parent_id, std::string(pool.View(s.service)),
                         std::string(pool.View(s.resource)), std::string(pool.View(s.kind)),
                         std::string(pool.View(s.type)), s.start_ns, s.duration_ns,
                         std::string(pool.View(s.target))});
    }
    batch.broken_traces.push_back(std::move(r));
  }

  // --- coverage ---
  absl::StatusOr<coverage::CoverageReport> ComputeReport(int64_t now_ns) {
    std::vector<store::ServiceRow> services;
    std::vector<store::ApmServiceRow> apm;
    APMCOV_RETURN_IF_ERROR(Retry("loading catalog and APM data", [&]() -> absl::Status {
      auto s = ports.store.LoadServices(/*include_removed=*/false);
      if (!s.ok()) return s.status();
      auto a = ports.store.LoadApmServices();
      if (!a.ok()) return a.status();
      services = std::move(*s);
      apm = std::move(*a);
      return absl::OkStatus();
    }));
    absl::StatusOr<coverage::CoverageReport> report =
        coverage::ComputeCoverageFromRows(services, apm, {now_ns, options.apm_lookback_ns});
    if (!report.ok())
      return absl::InternalError(absl::StrCat("coverage: ", report.status().message()));
    return report;
  }

  void UpdateCoverageGauges(const coverage::CoverageReport& report) {
    services_total->Set(static_cast<double>(report.total_services));
    std::set<std::pair<std::string, std::string>> present;
    for (const auto& row : report.rows) {
      const std::pair<std::string, std::string> key{row.dimension, row.key};
      present.insert(key);
      auto [it, inserted] = coverage_gauges.try_emplace(key, nullptr);
      if (inserted)
        it->second = &coverage_family->Add({{"dimension", key.first}, {"key", key.second}});
      it->second->Set(row.total == 0 ? 0.0 : static_cast<double>(row.instrumented) / row.total);
    }
    for (auto it = coverage_gauges.begin(); it != coverage_gauges.end();) {
      if (present.contains(it->first)) {
        ++it;
      } else {
        coverage_family->Remove(it->second);
        it = coverage_gauges.erase(it);
      }
    }
  }

  // Recomputes the detector's service directory and the coverage gauges from the store: at once
  // when catalog or APM data changed (or a span named a service not yet known to APM), else
  // every directory_refresh (the lookback moves on).
  absl::Status RefreshDirectory() {
    const int64_t now = ports.clock.NowUnixNanos();
    if (directory_loaded && !directory_dirty &&
        now - last_directory_ns < options.directory_refresh.count()) {
      return absl::OkStatus();
    }
    APMCOV_ASSIGN_OR_RETURN(coverage::CoverageReport report, ComputeReport(now));
    coverage::ServiceDirectory directory = report.Directory();
    known_apm_names.clear();
    known_apm_names.insert(directory.apm_names.begin(), directory.apm_names.end());
    known_apm_names.insert(directory.instrumented.begin(), directory.instrumented.end());
    detector.SetDirectory(directory);
    UpdateCoverageGauges(report);
    directory_dirty = false;
    directory_loaded = true;
    last_directory_ns = now;
    // Services seen in spans of this poll are stored with the batch, after this rebuild.
    for (const auto& [key, r] : span_apm) {
      if (!known_apm_names.contains(key.first)) directory_dirty = true;
    }
    return absl::OkStatus();
  }

  bool SnapshotReady(const PendingSnapshot& p) const {
    if (p.job.spans == 0) return true;
    if (ports.clock.NowUnixNanos() - p.since_ns >= options.snapshot_wait.count()) return true;
    auto it = job_watermarks.find(p.job.id);
    for (const auto& tp : assigned) {
      if (tp.topic != topics.spans) continue;
      if (it == job_watermarks.end() || !it->second.contains(tp.partition)) return false;
    }
    return true;
  }

  absl::Status WriteReadySnapshots() {
    for (auto it = pending_snapshots.begin(); it != pending_snapshots.end();) {
      if (!SnapshotReady(it->second)) {
        ++it;
        continue;
      }
      const store::SyncJobRecord& job = it->second.job;
      const int64_t taken_at = *job.finished_at_ns;
      // Write-once: a replayed job record must not rewrite its snapshot from later data.
      std::vector<store::CoverageRow> existing;
      APMCOV_RETURN_IF_ERROR(Retry("reading a coverage snapshot", [&]() -> absl::Status {
        auto r = ports.store.LoadCoverageSnapshot(taken_at);
        if (!r.ok()) return r.status();
        existing = std::move(*r);
        return absl::OkStatus();
      }));
      if (!existing.empty()) {
        job_watermarks.erase(job.id);
        it = pending_snapshots.erase(it);
        continue;
      }
      APMCOV_ASSIGN_OR_RETURN(coverage::CoverageReport report, ComputeReport(taken_at));
      store::WriteBatch rows;
      for (const auto& row : report.rows) {
        rows.coverage_rows.push_back({taken_at, row.dimension, row.key,
                                      static_cast<int32_t>(row.total),
                                      static_cast<int32_t>(row.instrumented)});
      }
      APMCOV_RETURN_IF_ERROR(ApplyWithRetry(rows, "writing a coverage snapshot"));
      Log().Info("coverage snapshot written",
                 {{"job_id", job.id},
                  {"rows", rows.coverage_rows.size()},
                  {"total_services", report.total_services},
                  {"instrumented_services", report.instrumented_services}});
      job_watermarks.erase(job.id);
      it = pending_snapshots.erase(it);
    }
    return absl::OkStatus();
  }

  absl::Status ApplyWithRetry(const store::WriteBatch& b, std::string_view what) {
    return Retry(what, [&]() -> absl::Status {
      const auto start = std::chrono::steady_clock::now();
      absl::StatusOr<store::ApplyResult> r = ports.store.Apply(b);
      db_write->Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      if (!r.ok()) return r.status();
      for (const auto& done : r->completed_snapshots) {
        Log().Info("catalog snapshot complete",
                   {{"snapshot_id", done.snapshot_id}, {"removed_services", done.removed}});
        directory_dirty = true;
        MarkSnapshotComplete(done.snapshot_id);
      }
      return absl::OkStatus();
    });
  }

  // catalog, apm-inventory and sync-jobs messages: one record (or none) each.
  void HandleRecordMessage(const IncomingMessage& m) {
    if (m.topic == topics.catalog) {
      HandleCatalog(m);
    } else if (m.topic == topics.apm_inventory) {
      HandleApm(m);
    } else if (m.topic == topics.sync_jobs) {
      HandleSyncJob(m);
    }
  }

  // Applies `batch` (the records of the non-span `messages`). When the store rejects a record
  // (store::IsRecordRejected: retrying can never help), the messages are applied one by one and
  // each rejected one goes to the dlq with the store's reason; consumption goes on. Outages are
  // retried as always.
  absl::Status ApplySettingAsideRejected(const std::vector<IncomingMessage>& messages) {
    absl::Status s = ApplyWithRetry(batch, "applying catalog and inventory");
    batch = store::WriteBatch{};
    if (!store::IsRecordRejected(s)) return s;
    Log().Warn("the store rejected a record; applying the batch message by message",
               {{"error", Msg(s)}});
    for (const IncomingMessage& m : messages) {
      if (m.topic == topics.spans) continue;
      HandleRecordMessage(m);
      if (batch.empty()) continue;
      absl::Status one = ApplyWithRetry(batch, "applying one message");
      batch = store::WriteBatch{};
      if (store::IsRecordRejected(one)) {
        DeadLetter(m, absl::StrCat("the store rejected the record: ", one.message()));
      } else if (!one.ok()) {
        return one;
      }
    }
    return absl::OkStatus();
  }

  // Applies the span-derived batch (traces, dependencies, observations, watermarks: many
  // messages per record, so no message to set aside). When the store rejects a record, the
  // records are applied one by one (watermarks last) and each rejected one is dropped with an
  // error log naming it, instead of failing the batch on every replay.
  absl::Status ApplySkippingRejected(const store::WriteBatch& b, std::string_view what) {
    absl::Status s = ApplyWithRetry(b, what);
    if (!store::IsRecordRejected(s)) return s;
    Log().Error("the store rejected a record; applying the batch record by record",
                {{"error", Msg(s)}});
    auto each = [&](auto member, const char* kind, auto describe) -> absl::Status {
      for (const auto& record : b.*member) {
        store::WriteBatch one;
        (one.*member).push_back(record);
        absl::Status r = ApplyWithRetry(one, "applying one record");
        if (store::IsRecordRejected(r)) {
          Log().Error("record dropped: the store rejected it",
                      {{"kind", kind}, {"record", describe(record)}, {"error", Msg(r)}});
        } else if (!r.ok()) {
          return r;
        }
      }
      return absl::OkStatus();
    };
    using B = store::WriteBatch;
    APMCOV_RETURN_IF_ERROR(
        each(&B::catalog_services, "catalog_service", [](const auto& r) { return r.name; }));
    APMCOV_RETURN_IF_ERROR(
        each(&B::snapshot_ends, "snapshot_end", [](const auto& r) { return r.snapshot_id; }));
    APMCOV_RETURN_IF_ERROR(each(&B::apm_observations, "apm_observation",
                                [](const auto& r) { return r.service + "/" + r.env; }));
    APMCOV_RETURN_IF_ERROR(each(&B::sync_jobs, "sync_job", [](const auto& r) { return r.id; }));
    APMCOV_RETURN_IF_ERROR(each(&B::broken_traces, "broken_trace",
                                [](const auto& r) { return std::to_string(r.trace_id); }));
    APMCOV_RETURN_IF_ERROR(each(&B::dependencies, "dependency",
                                [](const auto& r) { return r.from_service + ">" + r.to_name; }));
    APMCOV_RETURN_IF_ERROR(each(&B::coverage_rows, "coverage_row",
                                [](const auto& r) { return r.dimension + "/" + r.key; }));
    return each(&B::watermarks, "watermark",
                [](const auto& r) { return r.topic + "/" + std::to_string(r.partition); });
  }

  // Publishes the batch's dead letters once per original message, across restarts: the store
  // claims each (topic, partition, offset) before producing and marks it after the flush, so a
  // replay after a crash skips what was published (store::CoverageStore, dead letters).
  absl::Status FlushDeadLetters() {
    if (dead_letters.empty()) return absl::OkStatus();
    std::vector<store::DeadLetterKey> keys;
    keys.reserve(dead_letters.size());
    for (const auto& dl : dead_letters) {
      keys.push_back({dl.topic(), dl.partition(), dl.offset(), dl.error()});
    }
    std::vector<store::DeadLetterKey> claimed;
    APMCOV_RETURN_IF_ERROR(Retry("claiming dead letters", [&]() -> absl::Status {
      absl::StatusOr<std::vector<store::DeadLetterKey>> c = ports.store.ClaimDeadLetters(keys);
      if (!c.ok()) return c.status();
      claimed = std::move(*c);
      return absl::OkStatus();
    }));
    std::set<std::tuple<std::string, int32_t, int64_t>> to_publish;
    for (const auto& k : claimed) to_publish.emplace(k.topic, k.partition, k.offset);
    std::vector<const v1::DeadLetter*> publish;
    for (const auto& dl : dead_letters) {
      if (to_publish.count({dl.topic(), dl.partition(), dl.offset()}) > 0) {
        publish.push_back(&dl);
      } else {
        Log().Info("dead letter already published (a replay)",
                   {{"topic", dl.topic()}, {"partition", dl.partition()}, {"offset", dl.offset()}});
      }
    }
    if (!publish.empty()) {
      APMCOV_RETURN_IF_ERROR(Retry("publishing dead letters", [&]() -> absl::Status {
        for (const v1::DeadLetter* dl : publish) {
          APMCOV_RETURN_IF_ERROR(
              bus::PublishProto(ports.dlq_publisher, topics.dlq, dl->original_key(), *dl));
        }
        return ports.dlq_publisher.Flush(std::chrono::seconds(10));
      }));
      APMCOV_RETURN_IF_ERROR(Retry("marking dead letters published", [&]() -> absl::Status {
        return ports.store.MarkDeadLettersPublished(claimed);
      }));
      for (const v1::DeadLetter* dl : publish) {
        dlq_family->Add({{"topic", dl->topic()}}).Increment();
        ++dlq_count;
      }
    }
    dead_letters.clear();
    return absl::OkStatus();
  }

  void CommitOffsets() {
    std::map<TopicPartition, int64_t> to_commit;
    for (const auto& [tp, next] : next_offset) {
      if (!assigned.contains(tp)) continue;  // the bus refuses it anyway: the new owner's now
      int64_t safe =
          tp.topic == topics.spans ? assembler.SafeCommitOffset(tp.partition, next) : next;
      // Never past a watermark not applied yet: if it were committed and the process crashed,
      // nothing would re-deliver it, and a trace whose spans all precede it could wait for the
      // next window's watermark, or, at the end of a sync, forever. Re-reading a few span
      // batches after a crash is the cheaper risk (replays change nothing).
      if (tp.topic == topics.spans) {
        auto pw = pending_watermarks.find(tp.partition);
        if (pw != pending_watermarks.end() && !pw->second.empty()) {
          safe = std::min(safe, pw->second.front().offset);
        }
      }
      auto it = committed.find(tp);
      if (it == committed.end() || it->second != safe) to_commit[tp] = safe;
    }
    if (to_commit.empty()) return;
    if (absl::Status s = ports.subscriber.Commit(to_commit); !s.ok()) {
      // Not fatal: nothing is lost, the next batch commits again (or the new owner replays).
      Log().Warn("offset commit failed", {{"error", Msg(s)}});
      return;
    }
    for (const auto& [tp, off] : to_commit) committed[tp] = off;
  }

  void SyncMetrics() {
    const auto& c = assembler.counters();
    traces_finalised->Increment(
        static_cast<double>(c.traces_finalised - seen_counters.traces_finalised));
    traces_forced->Increment(static_cast<double>(c.traces_forced - seen_counters.traces_forced));
    traces_replayed->Increment(
        static_cast<double>(c.traces_replayed - seen_counters.traces_replayed));
    late_spans->Increment(
        static_cast<double>(c.late_spans_dropped - seen_counters.late_spans_dropped));
    seen_counters = c;
    traces_in_flight->Set(static_cast<double>(assembler.traces_in_flight()));
    spans_in_flight->Set(static_cast<double>(assembler.spans_in_flight()));
    watermarks_pending->Set(static_cast<double>(PendingCount()));
  }

  size_t PendingCount() const {
    size_t n = 0;
    for (const auto& [p, q] : pending_watermarks) n += q.size();
    return n;
  }

  void UpdateLag() {
    const int64_t now = ports.clock.NowUnixNanos();
    if (last_lag_ns != 0 && now - last_lag_ns < int64_t{2'000'000'000}) return;
    last_lag_ns = now;
    // A partition not consumed from since this member got it (no new messages): its position
    // is the group's committed offset, read from Kafka (again at each refresh while the group
    // has none), not 0, which would report every message ever written as lag.
    std::vector<TopicPartition> unknown;
    for (const auto& tp : assigned) {
      if (next_offset.count(tp) == 0 && committed.count(tp) == 0) unknown.push_back(tp);
    }
    if (!unknown.empty()) {
      if (auto c = ports.subscriber.Committed(unknown); c.ok()) {
        for (const auto& [tp, offset] : *c) {
          if (offset >= 0) committed.try_emplace(tp, offset);
        }
      }
    }
    for (const auto& tp : assigned) {
      absl::StatusOr<std::pair<int64_t, int64_t>> marks =
          ports.lag_probe.Watermarks(tp.topic, tp.partition);
      if (!marks.ok()) continue;
      auto pos = next_offset.find(tp);
      auto com = committed.find(tp);
      if (pos == next_offset.end() && com == committed.end()) continue;  // nothing known yet
      const int64_t at = pos != next_offset.end() ? pos->second : com->second;
      auto [it, inserted] = lag_gauges.try_emplace(tp, nullptr);
      if (inserted) {
        it->second =
            &lag_family->Add({{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}});
      }
      it->second->Set(static_cast<double>(std::max<int64_t>(0, marks->second - at)));
    }
  }

  absl::StatusOr<size_t> RunOnce() {
    absl::StatusOr<std::vector<IncomingMessage>> polled =
        ports.subscriber.Poll(options.max_batch_messages, options.poll_timeout);
    if (!polled.ok()) {
      if (absl::IsDataLoss(polled.status())) {
        data_loss->Increment();
        ++data_loss_count;
        Log().Error("data loss: offset out of range, messages were lost to retention",
                    {{"error", Msg(polled.status())}});
        return size_t{0};
      }
      Log().Warn("poll failed", {{"error", Msg(polled.status())}});
      return size_t{0};
    }
    APMCOV_RETURN_IF_ERROR(RestoreWatermarks());
    const std::vector<IncomingMessage>& messages = *polled;
    // Catalog, inventory and sync jobs first: apply them (a catalog snapshot may complete) and
    // rebuild the directory before judging any trace of this poll or a later one. Topics are
    // not ordered among themselves anyway.
    for (const IncomingMessage& m : messages) {
      if (m.topic == topics.spans) continue;
      HandleRecordMessage(m);
      TopicPartition tp{m.topic, m.partition};
      next_offset[tp] = std::max(next_offset[tp], m.offset + 1);
    }
    if (!batch.catalog_services.empty() || !batch.snapshot_ends.empty() ||
        !batch.apm_observations.empty()) {
      directory_dirty = true;
    }
    if (!batch.empty()) APMCOV_RETURN_IF_ERROR(ApplySettingAsideRejected(messages));
    APMCOV_RETURN_IF_ERROR(RefreshDirectory());
    // Jobs whose catalog completed elsewhere, and watermarks whose wait is over.
    APMCOV_RETURN_IF_ERROR(ReleaseAllWatermarks());
    for (const IncomingMessage& m : messages) {
      if (m.topic != topics.spans) continue;
      HandleSpans(m);
      TopicPartition tp{m.topic, m.partition};
      next_offset[tp] = std::max(next_offset[tp], m.offset + 1);
    }
    APMCOV_RETURN_IF_ERROR(ReleaseAllWatermarks());
    for (const auto& [partition, q] : pending_watermarks) {
      for (const PendingWatermark& w : q) {
        if (w.job_id.empty()) continue;
        JobCatalog& j = Job(w.job_id);
        if (j.wait_logged) continue;
        j.wait_logged = true;
        Log().Info("span watermarks wait for their job's catalog snapshot",
                   {{"job_id", w.job_id},
                    {"partition", partition},
                    {"catalog_complete", j.catalog_complete}});
      }
    }
    for (auto& [key, r] : span_apm) {
      std::sort(r.languages.begin(), r.languages.end());
      std::sort(r.infra_hints.begin(), r.infra_hints.end());
      batch.apm_observations.push_back(std::move(r));
    }
    span_apm.clear();
    for (const auto& tp : assigned) {
      if (tp.topic != topics.spans) continue;
      const int64_t w = assembler.LatestWatermark(tp.partition);
      auto it = stored_watermark.find(tp.partition);
      if (w != INT64_MIN && (it == stored_watermark.end() || it->second < w)) {
        store::PartitionWatermark pw{tp.topic, tp.partition, w, {}};
        for (const coverage::ReadInterval& r : read_intervals[tp.partition].intervals()) {
          pw.read_intervals.push_back(r.from_ns);
          pw.read_intervals.push_back(r.to_ns);
        }
        batch.watermarks.push_back(std::move(pw));
      }
    }
    for (auto& [key, c] : judgements) batch.judgements.push_back(std::move(c));
    judgements.clear();
    for (auto& [job, n] : edge_cuts) batch.edge_cuts.push_back({job, n});
    edge_cuts.clear();

    APMCOV_RETURN_IF_ERROR(FlushDeadLetters());
    if (!batch.empty()) {
      APMCOV_RETURN_IF_ERROR(ApplySkippingRejected(batch, "applying a batch"));
      for (const auto& w : batch.watermarks) stored_watermark[w.partition] = w.watermark_ns;
    }
    batch = store::WriteBatch{};
    APMCOV_RETURN_IF_ERROR(RefreshDirectory());
    APMCOV_RETURN_IF_ERROR(WriteReadySnapshots());
    CommitOffsets();
    SyncMetrics();
    UpdateLag();
    MaybePrune();
    return messages.size();
  }
};

App::App(AppOptions options, AppPorts ports)
    : impl_(std::make_unique<Impl>(std::move(options), ports)),
      alive_(std::make_shared<Impl*>(impl_.get())) {}

App::~App() { *alive_ = nullptr; }

absl::Status App::Start() {
  // The subscriber may call the listener after the App is gone (Close() in its destructor):
  // the callbacks go through `alive_`, cleared by ~App.
  bus::RebalanceListener listener;
  listener.on_assigned = [alive = alive_](const std::vector<bus::TopicPartition>& tps) {
    if (*alive != nullptr) (*alive)->OnAssigned(tps);
  };
  listener.on_revoked = [alive = alive_](const std::vector<bus::TopicPartition>& tps) {
    if (*alive != nullptr) (*alive)->OnRevoked(tps);
  };
  const auto& t = impl_->topics;
  APMCOV_RETURN_IF_ERROR(impl_->ports.subscriber.Subscribe(
      {t.catalog, t.apm_inventory, t.spans, t.sync_jobs}, std::move(listener)));
  return impl_->RefreshDirectory();
}

absl::StatusOr<size_t> App::RunOnce() { return impl_->RunOnce(); }

absl::Status App::Run() {
  while (!impl_->stop.load()) {
    absl::StatusOr<size_t> n = impl_->RunOnce();
    if (!n.ok()) {
      if (absl::IsCancelled(n.status())) {
        Log().Warn(
            "stopped during an outage: the batch in hand was not committed and will be "
            "replayed on restart",
            {{"error", Msg(n.status())}});
        return absl::OkStatus();
      }
      return n.status();
    }
  }
  Log().Info("drained: last batch committed", {{"traces_in_flight", traces_in_flight()}});
  return absl::OkStatus();
}

void App::Stop() { impl_->stop.store(true); }

size_t App::traces_in_flight() const { return impl_->assembler.traces_in_flight(); }
int64_t App::dlq_messages() const { return impl_->dlq_count; }
int64_t App::data_loss_events() const { return impl_->data_loss_count; }
size_t App::pending_watermarks() const { return impl_->PendingCount(); }
const std::map<bus::TopicPartition, int64_t>& App::committed() const { return impl_->committed; }

}  // namespace apmcov::analyzer
