// The analyzer's orchestration (app.h): one poll at a time, the catalog, inventory and
// sync-jobs records first, then the spans, then the batch's effects in one transaction, the
// dead letters, coverage snapshots, commits, metrics and retention. The work itself is done by
// the rooms it drives: record mapping (record_mapping.h), the catalog gate (catalog_gate.h),
// the coverage refresher (coverage_refresher.h), the offset tracker (offset_tracker.h), dead
// letters (dead_letters.h), retention (retention.h), retries (retry.h) and the metrics
// (metrics.h).
#include "app.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "apmcov/bus/proto.h"
#include "apmcov/coverage/gap_detector.h"
#include "apmcov/coverage/proto_convert.h"
#include "apmcov/coverage/sampling.h"
#include "apmcov/coverage/span_batch_decoder.h"
#include "apmcov/coverage/trace_assembler.h"
#include "apmcov/v1/events.pb.h"
#include "batch_span.h"
#include "batch_writer.h"
#include "catalog_gate.h"
#include "coverage_refresher.h"
#include "dead_letters.h"
#include "logger.h"
#include "metrics.h"
#include "offset_tracker.h"
#include "record_mapping.h"
#include "retention.h"
#include "retry.h"
#include "span_decoder.h"

namespace apmcov::analyzer {
namespace {

namespace v1 = apmcov::v1;

// How long read intervals are kept past the watermark and grace: traces in flight older than
// that are finalised by the memory cap long before.
constexpr int64_t kIntervalKeepNs = int64_t{6} * 3600 * 1'000'000'000;
using bus::IncomingMessage;
using bus::TopicPartition;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// 64 random bits as 16 hex digits.
std::string RandomHex64() {
  std::random_device random;
  const uint64_t v = uint64_t{random()} << 32 | random();
  return absl::StrCat(absl::Hex(v, absl::kZeroPad16));
}

}  // namespace

struct App::Impl {
  Impl(AppOptions o, AppPorts p)
      : options(std::move(o)),
        ports(std::move(p)),
        topics(options.topic_prefix),
        metrics(ports.registry),
        retrier(ports.clock, stop, options.max_backoff),
        decoder(options.decode_queue_depth, topics.spans, pool),
        assembler(coverage::AssemblerOptions{options.trace_grace_ns, options.max_traces_in_flight,
                                             options.max_spans_in_flight}),
        detector(pool, coverage::DetectorOptions{options.whole_trace_retention}),
        gate(options.catalog_wait),
        refresher({options.apm_lookback_ns, options.directory_refresh, options.snapshot_wait,
                   options.infra_aliases, ports.on_coverage_snapshot},
                  ports.store, ports.clock, retrier, metrics, detector,
                  [this](const store::WriteBatch& b, std::string_view what) {
                    return ApplyWithRetry(b, what);
                  }),
        dead_letters(topics.dlq, options.consumer_name, ports.dlq_publisher, ports.store, retrier,
                     metrics),
        pruner({options.retention, options.retention_interval, options.retention_batch_rows,
                options.retention_budget},
               ports.store, ports.clock, metrics, stop),
        writer(options.write_queue_depth,
               [this](const store::WriteBatch& b, const tracing::SpanContext& parent,
                      std::vector<store::CompletedSnapshot>* done) {
                 return ApplySkippingRejected(b, "applying a batch", done, &parent);
               }) {}

  // --- configuration and ports ---
  AppOptions options;
  AppPorts ports;
  bus::TopicNames topics;
  std::atomic<bool> stop{false};
  AnalyzerMetrics metrics;
  Retrier retrier;

  // --- core ---
  coverage::StringPool pool;
  SpanDecoder decoder;  // decodes `spans` messages on its own thread, into `pool`
  coverage::TraceAssembler assembler;
  coverage::GapDetector detector;
  coverage::TraceVerdict verdict;

  // --- rooms ---
  OffsetTracker offsets;
  CatalogGate gate;
  CoverageRefresher refresher;
  DeadLetters dead_letters;
  RetentionPruner pruner;

  // --- span watermarks applied, per spans partition ---
  std::set<int32_t> restore_watermarks;         // assigned, not yet restored from the store
  std::map<int32_t, int64_t> stored_watermark;  // the watermark in the store
  std::map<int32_t, coverage::ReadIntervals> read_intervals;  // what was read whole (§7.1)
  std::map<int32_t, std::string> partition_job;               // job of the last one applied
  const std::string* judging_job = nullptr;                   // job of the watermark being applied
  int64_t judging_watermark = 0;                              // and its value

  // --- per-batch accumulators ---
  store::WriteBatch batch;
  SpanSightings span_sightings{pool};
  JudgementCounts judgements;
  std::map<std::string, int64_t> edge_cuts;  // job id → traces cut at a read interval's edge
  // Count keys of batches (store::WriteBatch::count_key): a random prefix per process, then a
  // sequence.
  const std::string count_key_prefix = RandomHex64();
  uint64_t count_key_seq = 0;

  int64_t data_loss_count = 0;
  int64_t last_lag_ns = 0;
  absl::Status write_error;  // the first batch the writer failed; returned by RunOnce

  // Last member: its thread (which writes through the members above) stops first.
  BatchWriter writer;

  // --- rebalance ---
  void OnAssigned(const std::vector<TopicPartition>& tps) {
    offsets.Assign(tps);
    for (const auto& tp : tps) {
      if (tp.topic == topics.spans) restore_watermarks.insert(tp.partition);
    }
    metrics.CountRebalance("assigned", tps.size());
    CountOwnedSpansPartitions();
    Log().Info("partitions assigned", {{"count", tps.size()}});
  }
  void OnRevoked(const std::vector<TopicPartition>& tps) {
    // The batches written so far commit their offsets while the partitions are still ours.
    writer.Drain();
    (void)TakeWritten();  // a failure is kept in write_error for RunOnce
    // Polls still queued for decoding hold messages of these partitions that were never
    // processed, so never committed: the new owner re-reads them; processing them here would
    // count them twice.
    const size_t discarded = decoder.Discard(tps);
    metrics.decode_discarded_messages->Increment(static_cast<double>(discarded));
    size_t dropped = 0;
    offsets.Revoke(tps);
    for (const auto& tp : tps) {
      metrics.ForgetLag(tp);
      if (tp.topic == topics.spans) {
        dropped += assembler.RevokePartition(tp.partition);
        gate.Revoke(tp.partition);  // re-read by the new owner (not committed)
        read_intervals.erase(tp.partition);
        restore_watermarks.erase(tp.partition);
        stored_watermark.erase(tp.partition);
      }
    }
    metrics.CountRebalance("revoked", tps.size());
    CountOwnedSpansPartitions();
    Log().Info("partitions revoked", {{"count", tps.size()},
                                      {"traces_dropped", dropped},
                                      {"queued_messages_discarded", discarded}});
  }
  void CountOwnedSpansPartitions() {
    metrics.owned_spans_partitions->Set(
        static_cast<double>(offsets.OwnedPartitions(topics.spans).size()));
  }

  absl::Status RestoreWatermarks() {
    if (restore_watermarks.empty()) return absl::OkStatus();
    std::vector<store::PartitionWatermark> stored;
    APMCOV_RETURN_IF_ERROR(retrier.Run("loading partition watermarks", [&]() -> absl::Status {
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

  // --- decoding: catalog, apm-inventory and sync-jobs messages, one record (or none) each ---
  void DeadLetter(const IncomingMessage& m, const std::string& reason) {
    dead_letters.Add(m, reason, ports.clock.NowUnixNanos());
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

  // The record, or a dead letter with the mapping's reason.
  template <typename R>
  std::optional<R> Mapped(const IncomingMessage& m, absl::StatusOr<R> record) {
    if (!record.ok()) {
      DeadLetter(m, Msg(record.status()));
      return std::nullopt;
    }
    return std::move(*record);
  }

  int64_t MessageTimeNs(const IncomingMessage& m) const {
    return m.timestamp_ms > 0 ? m.timestamp_ms * 1'000'000 : ports.clock.NowUnixNanos();
  }

  void HandleCatalogService(const IncomingMessage& m, const v1::CatalogService& s) {
    if (auto r = Mapped(m, CatalogServiceRecordFrom(s, MessageTimeNs(m)))) {
      batch.catalog_services.push_back(std::move(*r));
    }
  }

  void HandleSnapshotEnd(const IncomingMessage& m, const v1::CatalogSnapshotEnd& e) {
    if (auto r = Mapped(m, SnapshotEndRecordFrom(e, MessageTimeNs(m)))) {
      batch.snapshot_ends.push_back(std::move(*r));
      gate.OnSnapshotEnd(e.snapshot_id(), e.job_id());
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
    if (auto r = Mapped(m, ApmObservationRecordFrom(*o, MessageTimeNs(m)))) {
      batch.apm_observations.push_back(std::move(*r));
    }
  }

  void HandleSyncJob(const IncomingMessage& m) {
    auto j = Decode<v1::SyncJob>(m);
    if (!j) return;
    if (auto r = Mapped(m, SyncJobRecordFrom(*j, MessageTimeNs(m)))) {
      refresher.OnSyncJob(*r);
      batch.sync_jobs.push_back(std::move(*r));
    }
  }

  void HandleRecordMessage(const IncomingMessage& m) {
    if (m.topic == topics.catalog) {
      HandleCatalog(m);
    } else if (m.topic == topics.apm_inventory) {
      HandleApm(m);
    } else if (m.topic == topics.sync_jobs) {
      HandleSyncJob(m);
    }
  }

  // --- spans and their watermarks ---
  // Decoded by the decode thread straight into interned records (no v1::Span, no std::string
  // per span); a message it could not decode goes to the dlq with the reason.
  void HandleSpans(const IncomingMessage& m, const coverage::DecodedSpanBatch& b,
                   const absl::Status& decoded) {
    if (!decoded.ok()) {
      DeadLetter(m, Msg(decoded));
      return;
    }
    auto sink = [this](const coverage::AssembledTrace& t) { OnTrace(t); };
    for (const coverage::SpanRecord& rec : b.spans) {
      assembler.Add(rec, m.partition, m.offset, sink);
      if (span_sightings.Add(rec)) refresher.NoteSpanService(std::string(pool.View(rec.service)));
    }
    metrics.spans_processed->Increment(static_cast<double>(b.spans.size()));
    if (b.spans.empty() && b.watermark_unix_nano > 0) {
      // Every watermark goes through the gate, so they stay in order; one whose job's catalog
      // is complete (or that has no job) is applied at once.
      if (!b.job_id.empty()) NoteJob(b.job_id);
      CatalogGate::Watermark w{m.offset, b.watermark_unix_nano, b.job_id,
                               ports.clock.NowUnixNanos()};
      w.legacy = b.read_intervals.empty();
      for (const auto& r : b.read_intervals) {
        if (r.complete) w.intervals.emplace_back(r.from_unix_nano, r.to_unix_nano);
      }
      gate.Add(m.partition, std::move(w));
      // A snapshot the store says complete but this directory may not hold yet: released by
      // ReleaseAllWatermarks() after the rebuild.
      if (!gate.directory_stale()) ReleaseWatermarks(m.partition);
    }
  }

  // First sighting of a job's watermark: the apm-inventory end offsets to wait for, and
  // whether the store already holds its complete catalog snapshot.
  void NoteJob(const std::string& job) {
    if (!gate.FirstWatermarkOf(job)) return;
    std::map<TopicPartition, int64_t> ends;
    std::vector<TopicPartition> apm;
    for (const auto& tp : offsets.owned()) {
      if (tp.topic != topics.apm_inventory) continue;
      absl::StatusOr<std::pair<int64_t, int64_t>> marks =
          ports.lag_probe.Watermarks(tp.topic, tp.partition);
      if (!marks.ok()) {
        Log().Warn("apm-inventory end offset unknown: not waiting for that partition",
                   {{"partition", tp.partition}, {"error", Msg(marks.status())}});
        continue;
      }
      ends[tp] = marks->second;
      apm.push_back(tp);
    }
    std::map<TopicPartition, int64_t> committed;
    if (!apm.empty()) {
      absl::StatusOr<std::map<TopicPartition, int64_t>> c = ports.subscriber.Committed(apm);
      if (c.ok()) committed = std::move(*c);
    }
    gate.SetInventoryEnds(job, std::move(ends), std::move(committed));
    LookUpCatalog(job);
  }

  // Another replica (or a run before a restart) may have completed the job's snapshot.
  void LookUpCatalog(const std::string& job) {
    for (const std::string& id : gate.SnapshotsToLookUp(job, ports.clock.NowUnixNanos())) {
      absl::StatusOr<std::optional<store::SnapshotState>> st = ports.store.LoadSnapshotState(id);
      if (!st.ok()) {
        Log().Warn("could not read a catalog snapshot state",
                   {{"snapshot_id", id}, {"error", Msg(st.status())}});
        return;  // looked up again later; the wait is bounded
      }
      if (*st && (*st)->completed) {
        gate.CompleteInStore(job);
        refresher.MarkDirty();  // it may have been completed by another replica
        return;
      }
    }
  }

  // Applies what the gate releases on `partition`. Call only with an up-to-date directory.
  void ReleaseWatermarks(int32_t partition) {
    const int64_t now = ports.clock.NowUnixNanos();
    for (const CatalogGate::Released& r : gate.Release(partition, now, offsets)) {
      const CatalogGate::Watermark& w = r.watermark;
      if (r.why == CatalogGate::Why::kOvertaken) {
        Log().Info("watermark applied before its job's catalog: a later job's is complete",
                   {{"partition", partition}, {"job_id", w.job_id}});
      } else if (r.why == CatalogGate::Why::kWaitExpired) {
        if (r.first_expiry) {
          Log().Warn(
              "catalog snapshot of the job not complete after ANALYZER_CATALOG_WAIT_SECONDS: "
              "judging its traces with the catalog at hand",
              {{"job_id", w.job_id},
               {"partition", partition},
               {"catalog_complete", r.catalog_complete},
               {"waited_seconds", (now - w.received_ns) / 1'000'000'000}});
        }
        metrics.catalog_wait_expired->Increment();
      }
      ApplyWatermark(partition, w);
    }
  }

  // Before judging: look in the store for jobs still waited for (other replicas), rebuild the
  // directory if a snapshot completed, then release what may go on every partition.
  absl::Status ReleaseAllWatermarks() {
    if (gate.waiting() == 0 && !gate.directory_stale()) return absl::OkStatus();
    APMCOV_RETURN_IF_ERROR(DrainWriter());  // the store is read below
    for (const std::string& job : gate.JobsWaitedFor()) LookUpCatalog(job);
    APMCOV_RETURN_IF_ERROR(Refresh());
    gate.DirectoryRebuilt();
    for (int32_t p : gate.partitions()) ReleaseWatermarks(p);
    return absl::OkStatus();
  }

  void ApplyWatermark(int32_t partition, const CatalogGate::Watermark& w) {
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
    refresher.OnWatermarkApplied(w.job_id, partition);
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
      metrics.traces_edge_cut->Increment();
      return;
    }
    if (detector.Judge(t, &verdict) != coverage::GapDetector::Outcome::kJudged) return;
    metrics.traces_judged->Increment();
    metrics.judged_spans->Increment(static_cast<double>(t.spans.size()));
    judgements.Add(verdict);
    AppendDependencyRecords(verdict, t.trace_id_lo, batch.dependencies);
    if (!verdict.broken()) return;
    metrics.traces_broken->Increment();
    for (const auto& g : verdict.gaps) metrics.gaps[static_cast<size_t>(g.kind)]->Increment();
    batch.broken_traces.push_back(BrokenTraceRecordFrom(verdict, pool, ports.clock.NowUnixNanos()));
  }

  tracing::Tracer& tracer() const {
    return ports.tracer != nullptr ? *ports.tracer : tracing::DisabledTracer();
  }

  // --- writing ---
  // With `completed` (the writer's thread), the catalog snapshots the batch completed are
  // handed back instead of acted on: the consumer thread acts on them (TakeWritten).
  // `trace_parent`: the batch span when written on the writer's thread (batch_span.h).
  absl::Status ApplyWithRetry(const store::WriteBatch& b, std::string_view what,
                              std::vector<store::CompletedSnapshot>* completed = nullptr,
                              const tracing::SpanContext* trace_parent = nullptr) {
    return retrier.Run(what, [&]() -> absl::Status {
      tracing::Span span = StartTransactionSpan(tracer(), what, trace_parent);
      const auto start = std::chrono::steady_clock::now();
      absl::StatusOr<store::ApplyResult> r = ports.store.Apply(b);
      if (!r.ok()) span.SetError(StdView(r.status().message()));
      span.Finish();
      metrics.db_write->Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      if (!r.ok()) return r.status();
      if (completed != nullptr) {
        completed->insert(completed->end(), r->completed_snapshots.begin(),
                          r->completed_snapshots.end());
      } else {
        OnSnapshotsCompleted(r->completed_snapshots);
      }
      return absl::OkStatus();
    });
  }

  void OnSnapshotsCompleted(const std::vector<store::CompletedSnapshot>& completed) {
    for (const auto& done : completed) {
      Log().Info("catalog snapshot complete",
                 {{"snapshot_id", done.snapshot_id}, {"removed_services", done.removed}});
      refresher.MarkDirty();
      gate.OnSnapshotComplete(done.snapshot_id);
    }
  }

  // Applies `batch` (the records of the non-span `messages`). When the store rejects a record
  // (store::IsRecordRejected: retrying can never help), the messages are applied one by one and
  // each rejected one goes to the dlq with the store's reason; consumption goes on. Outages are
  // retried as always.
  absl::Status ApplySettingAsideRejected(const std::vector<IncomingMessage>& messages,
                                         const DecodedPoll& poll) {
    absl::Status s = ApplyWithRetry(batch, "applying catalog and inventory");
    batch = store::WriteBatch{};
    if (!store::IsRecordRejected(s)) return s;
    Log().Warn("the store rejected a record; applying the batch message by message",
               {{"error", Msg(s)}});
    for (const IncomingMessage& m : messages) {
      if (m.topic == topics.spans || poll.Discarded(m)) continue;
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
  absl::Status ApplySkippingRejected(const store::WriteBatch& b, std::string_view what,
                                     std::vector<store::CompletedSnapshot>* completed,
                                     const tracing::SpanContext* trace_parent = nullptr) {
    absl::Status s = ApplyWithRetry(b, what, completed, trace_parent);
    if (!store::IsRecordRejected(s)) return s;
    Log().Error("the store rejected a record; applying the batch record by record",
                {{"error", Msg(s)}});
    auto each = [&](auto member, const char* kind, auto describe) -> absl::Status {
      size_t index = 0;
      for (const auto& record : b.*member) {
        store::WriteBatch one;
        (one.*member).push_back(record);
        if (!b.count_key.id.empty()) {  // a count of its own, still counted once
          one.count_key = {absl::StrCat(b.count_key.id, "/", kind, "/", index), b.count_key.at_ns};
        }
        ++index;
        absl::Status r = ApplyWithRetry(one, "applying one record", completed, trace_parent);
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
    APMCOV_RETURN_IF_ERROR(each(&B::judgements, "judgement", [](const auto& r) {
      return absl::StrCat(r.root_service, "@", r.hour_ns);
    }));
    APMCOV_RETURN_IF_ERROR(each(&B::edge_cuts, "edge_cut", [](const auto& r) { return r.job_id; }));
    return each(&B::watermarks, "watermark",
                [](const auto& r) { return r.topic + "/" + std::to_string(r.partition); });
  }

  // The span watermark of each owned partition that moved past the stored one, with the read
  // intervals still needed after a restart.
  void AddMovedWatermarks() {
    for (int32_t partition : offsets.OwnedPartitions(topics.spans)) {
      const int64_t w = assembler.LatestWatermark(partition);
      auto it = stored_watermark.find(partition);
      if (w != INT64_MIN && (it == stored_watermark.end() || it->second < w)) {
        store::PartitionWatermark pw{topics.spans, partition, w, {}};
        for (const coverage::ReadInterval& r : read_intervals[partition].intervals()) {
          pw.read_intervals.push_back(r.from_ns);
          pw.read_intervals.push_back(r.to_ns);
        }
        batch.watermarks.push_back(std::move(pw));
      }
    }
  }

  // --- commits, metrics, lag ---
  // What the batch in hand makes safe to commit (once it is written).
  std::map<TopicPartition, int64_t> OffsetsToCommit() {
    return offsets.ToCommit(
        topics.spans,
        [this](int32_t partition, int64_t next) {
          return assembler.SafeCommitOffset(partition, next);
        },
        gate.OldestWaitingOffsets());
  }

  // The batches the writer finished, in order: their snapshots, watermarks and commits. The
  // first failure is kept (and later jobs were not written, so nothing after it commits).
  absl::Status TakeWritten() {
    for (BatchWriter::Done& d : writer.TakeDone()) {
      if (!d.status.ok()) {
        if (write_error.ok()) write_error = d.status;
        continue;
      }
      OnSnapshotsCompleted(d.completed_snapshots);
      for (const auto& w : d.watermarks) {
        int64_t& stored = stored_watermark[w.partition];
        stored = std::max(stored, w.watermark_ns);
      }
      CommitOffsets(d.commit);
    }
    return write_error;
  }

  // Waits for the batches being written: before anything reads the store or writes it from
  // this thread.
  absl::Status DrainWriter() {
    writer.Drain();
    return TakeWritten();
  }

  void CommitOffsets(const std::map<TopicPartition, int64_t>& to_commit) {
    if (to_commit.empty()) return;
    if (absl::Status s = ports.subscriber.Commit(to_commit); !s.ok()) {
      // Not fatal: nothing is lost, the next batch commits again (or the new owner replays).
      Log().Warn("offset commit failed", {{"error", Msg(s)}});
      return;
    }
    offsets.Committed(to_commit);
  }

  void SyncMetrics() {
    metrics.AddAssemblerCounters(assembler.counters());
    metrics.traces_in_flight->Set(static_cast<double>(assembler.traces_in_flight()));
    metrics.spans_in_flight->Set(static_cast<double>(assembler.spans_in_flight()));
    metrics.watermarks_pending->Set(static_cast<double>(gate.waiting()));
  }

  void UpdateLag() {
    const int64_t now = ports.clock.NowUnixNanos();
    if (last_lag_ns != 0 && now - last_lag_ns < int64_t{2'000'000'000}) return;
    last_lag_ns = now;
    // A partition not consumed from since this member got it (no new messages): its position
    // is the group's committed offset, read from Kafka (again at each refresh while the group
    // has none), not 0, which would report every message ever written as lag.
    if (std::vector<TopicPartition> unknown = offsets.WithoutPosition(); !unknown.empty()) {
      if (auto c = ports.subscriber.Committed(unknown); c.ok()) {
        for (const auto& [tp, offset] : *c) offsets.LearnCommitted(tp, offset);
      }
    }
    for (const auto& tp : offsets.owned()) {
      absl::StatusOr<std::pair<int64_t, int64_t>> marks =
          ports.lag_probe.Watermarks(tp.topic, tp.partition);
      if (!marks.ok()) continue;
      const std::optional<int64_t> at = offsets.Position(tp);
      if (!at) continue;  // nothing known yet
      metrics.SetLag(tp, std::max<int64_t>(0, marks->second - *at));
    }
  }

  // The directory from the store, once the batches being written are in it.
  absl::Status Refresh() {
    if (refresher.WouldLoad()) APMCOV_RETURN_IF_ERROR(DrainWriter());
    return refresher.Refresh(span_sightings);
  }

  // --- one poll ---
  // One poll, handed to the decode thread; then the polls decoded before it are processed,
  // oldest first: all of them with `drain` (and then their writes are waited for, offsets
  // committed), else all but the newest, which is decoded while the next poll's turn comes
  // (unless the poll brought nothing: then nothing is left waiting).
  absl::StatusOr<size_t> RunOnce(bool drain) {
    APMCOV_RETURN_IF_ERROR(TakeWritten());
    absl::StatusOr<std::vector<IncomingMessage>> polled =
        ports.subscriber.Poll(options.max_batch_messages, options.poll_timeout);
    size_t consumed = 0;
    if (!polled.ok()) {
      if (absl::IsDataLoss(polled.status())) {
        metrics.data_loss->Increment();
        ++data_loss_count;
        Log().Error("data loss: offset out of range, messages were lost to retention",
                    {{"error", Msg(polled.status())}});
      } else {
        Log().Warn("poll failed", {{"error", Msg(polled.status())}});
      }
    } else if (!polled->empty()) {
      consumed = polled->size();
      decoder.Submit(std::move(*polled));
    }
    APMCOV_RETURN_IF_ERROR(TakeWritten());  // a rebalance in the poll drained the writer
    const size_t keep = drain || consumed == 0 ? 0 : 1;
    bool processed = false;
    while (decoder.Pending() > keep) {
      metrics.decode_queue_polls->Set(static_cast<double>(decoder.Pending()));
      std::optional<DecodedPoll> poll = decoder.Next();
      if (!poll) break;
      absl::Status s = ProcessPoll(*poll);
      decoder.Recycle(std::move(*poll));
      APMCOV_RETURN_IF_ERROR(s);
      processed = true;
    }
    // Nothing to process: time still moves (watermarks whose catalog wait ran out, snapshots
    // whose wait passed), as with a poll that brought nothing.
    if (!processed) APMCOV_RETURN_IF_ERROR(ProcessPoll(DecodedPoll{}));
    metrics.decode_queue_polls->Set(static_cast<double>(decoder.Pending()));
    if (drain) APMCOV_RETURN_IF_ERROR(DrainWriter());
    APMCOV_RETURN_IF_ERROR(TakeWritten());
    SyncMetrics();
    UpdateLag();
    pruner.MaybePrune();
    return consumed;
  }

  // Processes every poll still queued (a drain before stopping).
  absl::Status RunOnceQueued() {
    while (std::optional<DecodedPoll> poll = decoder.Next()) {
      absl::Status s = ProcessPoll(*poll);
      decoder.Recycle(std::move(*poll));
      APMCOV_RETURN_IF_ERROR(s);
    }
    metrics.decode_queue_polls->Set(0);
    return absl::OkStatus();
  }

  // One poll's messages: the catalog, inventory and sync-jobs records first, then the spans,
  // then the batch's writes to the writer thread with the offsets they make safe.
  absl::Status ProcessPoll(const DecodedPoll& poll) {
    if (!restore_watermarks.empty()) APMCOV_RETURN_IF_ERROR(DrainWriter());
    APMCOV_RETURN_IF_ERROR(RestoreWatermarks());
    const std::vector<IncomingMessage>& messages = poll.messages;
    tracing::Span batch_span = StartBatchSpan(tracer(), messages);
    tracing::ActiveSpanScope active(batch_span);
    // Catalog, inventory and sync jobs first: apply them (a catalog snapshot may complete) and
    // rebuild the directory before judging any trace of this poll or a later one. Topics are
    // not ordered among themselves anyway.
    for (const IncomingMessage& m : messages) {
      if (m.topic == topics.spans || poll.Discarded(m)) continue;
      HandleRecordMessage(m);
      offsets.Consumed({m.topic, m.partition}, m.offset);
    }
    if (!batch.catalog_services.empty() || !batch.snapshot_ends.empty() ||
        !batch.apm_observations.empty()) {
      refresher.MarkDirty();
    }
    if (!batch.empty()) {
      APMCOV_RETURN_IF_ERROR(DrainWriter());
      APMCOV_RETURN_IF_ERROR(ApplySettingAsideRejected(messages, poll));
    }
    APMCOV_RETURN_IF_ERROR(Refresh());
    // Jobs whose catalog completed elsewhere, and watermarks whose wait is over.
    APMCOV_RETURN_IF_ERROR(ReleaseAllWatermarks());
    for (size_t i = 0; i < messages.size(); ++i) {
      const IncomingMessage& m = messages[i];
      if (m.topic != topics.spans || poll.Discarded(m)) continue;
      HandleSpans(m, poll.batches[i], poll.errors[i]);
      offsets.Consumed({m.topic, m.partition}, m.offset);
    }
    APMCOV_RETURN_IF_ERROR(ReleaseAllWatermarks());
    for (const CatalogGate::Waiting& w : gate.NewlyWaiting()) {
      Log().Info("span watermarks wait for their job's catalog snapshot",
                 {{"job_id", w.job_id},
                  {"partition", w.partition},
                  {"catalog_complete", w.catalog_complete}});
    }
    span_sightings.MoveTo(batch.apm_observations);
    AddMovedWatermarks();
    judgements.MoveTo(batch.judgements);
    for (auto& [job, n] : edge_cuts) batch.edge_cuts.push_back({job, n});
    edge_cuts.clear();
    if (!batch.judgements.empty() || !batch.edge_cuts.empty()) {
      // The writer retries a commit that failed, and a failed commit may have committed: the
      // key makes these counts add once (store contract).
      batch.count_key = {absl::StrCat(count_key_prefix, "-", ++count_key_seq),
                         ports.clock.NowUnixNanos()};
    }

    APMCOV_RETURN_IF_ERROR(dead_letters.Flush());
    // The batch boundary: its writes and the offsets they make safe go to the writer thread,
    // in order; the offsets are committed once the transaction holding them committed.
    BatchWriter::Job job{std::move(batch), OffsetsToCommit(), batch_span.context()};
    batch = store::WriteBatch{};
    if (!job.batch.empty() || !job.commit.empty()) writer.Enqueue(std::move(job));
    APMCOV_RETURN_IF_ERROR(Refresh());
    if (refresher.HasPendingSnapshots()) {
      APMCOV_RETURN_IF_ERROR(DrainWriter());  // a snapshot is computed from the stored rows
      APMCOV_RETURN_IF_ERROR(refresher.WriteReadySnapshots(offsets.OwnedPartitions(topics.spans)));
    }
    return TakeWritten();
  }
};

App::App(AppOptions options, AppPorts ports)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(ports))),
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
  return impl_->refresher.Refresh(impl_->span_sightings);
}

absl::StatusOr<size_t> App::RunOnce() { return impl_->RunOnce(/*drain=*/true); }

absl::StatusOr<size_t> App::Step() { return impl_->RunOnce(/*drain=*/false); }

absl::Status App::Run() {
  while (!impl_->stop.load()) {
    absl::StatusOr<size_t> n = Step();
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
  absl::Status s = impl_->RunOnceQueued();
  if (s.ok()) s = impl_->DrainWriter();
  if (!s.ok()) {
    if (absl::IsCancelled(s)) {
      Log().Warn(
          "stopped during an outage: the batches being written were not committed and "
          "will be replayed on restart",
          {{"error", Msg(s)}});
      return absl::OkStatus();
    }
    return s;
  }
  Log().Info("drained: last batch committed", {{"traces_in_flight", traces_in_flight()}});
  return absl::OkStatus();
}

void App::Stop() { impl_->stop.store(true); }

size_t App::traces_in_flight() const { return impl_->assembler.traces_in_flight(); }
int64_t App::dlq_messages() const { return impl_->dead_letters.published(); }
int64_t App::data_loss_events() const { return impl_->data_loss_count; }
size_t App::pending_watermarks() const { return impl_->gate.waiting(); }
const std::map<bus::TopicPartition, int64_t>& App::committed() const {
  return impl_->offsets.committed();
}

}  // namespace apmcov::analyzer
