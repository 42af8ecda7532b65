// apmcov-analyzer's application (design §3–§6): one consumer-group member over the catalog,
// apm-inventory, spans and sync-jobs topics that assembles traces, judges them, and writes the
// effects of each consumed batch to PostgreSQL in one transaction before committing offsets.
//
// Contract:
//  - Offsets are committed only after the store transaction holding the batch's effects has
//    committed (and after dead letters of the batch are flushed), and for `spans` never past
//    the oldest span of a trace still being assembled (TraceAssembler::SafeCommitOffset). A
//    crash at any point therefore replays at most what was not yet durable; every write is an
//    idempotent merge (CoverageStore contract), and traces judged before a restart are not
//    judged again (the applied watermark per partition is stored with the effects).
//  - A message that cannot be decoded (wrong type header, bad bytes, missing key fields), or
//    whose record the store rejects (store::IsRecordRejected), is published to the `dlq` topic
//    as a DeadLetter with the reason; consumption goes on. A span-derived record the store
//    rejects (no single message to blame) is dropped with an error log. Dead letters are
//    claimed in the store by (topic, partition, offset) before producing and marked after the
//    flush, so a replay after a crash does not publish a second one.
//  - Store or DLQ unavailable: the same batch is retried with capped exponential backoff
//    (on the Clock) until it succeeds or Stop() is requested; then Run() returns without
//    committing, so nothing is lost.
//  - Rebalance: revoked `spans` partitions drop their in-flight traces (the next owner re-reads
//    them: they were never committed); assigned ones restore their applied watermark. Messages
//    of revoked partitions still queued for decoding are discarded, never processed (they were
//    not committed either), counted in apmcov_analyzer_decode_discarded_messages_total.
//  - Decoding: `spans` messages are decoded on a thread of their own (span_decoder.h), one
//    poll ahead of the consumer thread's assembly, behind a queue of decode_queue_depth polls
//    (apmcov_analyzer_decode_queue_polls). The queue holds nothing that was committed.
//  - A catalog snapshot whose end marker and every member are stored marks absent services
//    removed (in the store, CoverageStore contract).
//  - Coverage snapshot: when a sync job reaches succeeded or partial, and this member has
//    processed a watermark of that job on every `spans` partition it owns (or the job
//    published no spans, or snapshot_wait passed), the coverage of every dimension is written
//    to coverage_snapshots with taken_at = the job's finish time (so a replay rewrites the
//    same rows).
//  - Catalog before judging (design §3, tests/e2e): catalog, apm-inventory and spans are
//    different topics with no order among them. A span watermark carrying job_id J does not
//    finalise traces until this member knows the catalog snapshot of J is complete (its end
//    marker and every member stored: seen in an Apply result, or in the store when another
//    replica applied it) and its consumer position on each apm-inventory partition it owns has
//    reached the end offset observed when J's first watermark arrived; the detector's
//    directory is rebuilt from the store before. Until then the watermark waits in memory, in
//    order, per partition (spans keep being assembled). It is applied anyway after
//    catalog_wait (a sync whose catalog failed publishes no end marker), with a warning and
//    apmcov_analyzer_catalog_wait_expired_total, or as soon as a later watermark of the same
//    partition is ready (a newer complete snapshot). Watermarks without job_id wait for
//    nothing. The committed `spans` offset never passes a waiting watermark.
//  - Offset-out-of-range (DataLoss from Poll) is counted in apmcov_analyzer_data_loss_total and
//    logged as an error, never silent.
//  - Retention (design §4): between batches, at most every retention_interval, the store is
//    pruned (CoverageStore::Prune with `retention`, the Clock's now) in batches of
//    retention_batch_rows, looping until nothing is left; after retention_budget of wall time
//    the loop yields to consumption and goes on after the next poll. Rows deleted are counted
//    in apmcov_analyzer_rows_pruned_total{table} and a finished run is logged with a summary.
//    A failed prune is logged and tried again at the next interval; it never fails a batch.
//    Every replica prunes; the store's batches skip rows another one holds.
//  - Not thread-safe: Run()/RunOnce()/Step() on one thread; Stop() from any thread.
// Ports are held by reference and must outlive the App.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/base/clock.h"
#include "apmcov/bus/bus.h"
#include "apmcov/coverage/coverage_report.h"
#include "apmcov/store/coverage_store.h"
#include "apmcov/tracing/tracer.h"
#include "config.h"

namespace prometheus {
class Registry;
}

namespace apmcov::analyzer {

struct AppPorts {
  bus::Subscriber& subscriber;
  bus::Publisher& dlq_publisher;
  store::CoverageStore& store;
  Clock& clock;
  prometheus::Registry& registry;
  // End offsets of the partitions this member owns: the lag gauge, and the apm-inventory
  // offsets a span watermark waits for (catalog before judging, above).
  bus::LagProbe& lag_probe;
  // Called with the report of each coverage snapshot this member writes (the Scorecards push,
  // design §13); must not block. Empty: nothing is called.
  std::function<void(const coverage::CoverageReport&)> on_coverage_snapshot = nullptr;
  // Traces each processed batch and each store transaction (batch_span.h). Null: not traced.
  tracing::Tracer* tracer = nullptr;
};

class App {
 public:
  App(AppOptions options, AppPorts ports);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Subscribes to the four input topics and loads the service directory from the store.
  absl::Status Start();

  // Polls once and processes what came and every poll still queued for decoding (store
  // transaction, then commit). Returns the number of messages consumed. Errors: Cancelled when
  // Stop() interrupted a retry; Internal for a store failure that retrying cannot fix.
  absl::StatusOr<size_t> RunOnce();

  // What Run() does in a loop: polls once and hands the poll to the decode thread, then
  // processes the polls decoded before it, leaving the newest one decoding (none when the poll
  // brought nothing). Its writes are left to the writer thread. Returns the messages polled.
  absl::StatusOr<size_t> Step();

  // Step() until Stop(); the polls queued are processed and their batches written and
  // committed first (drain).
  absl::Status Run();
  void Stop();

  // Introspection for tests and logs.
  size_t traces_in_flight() const;
  int64_t dlq_messages() const;
  int64_t data_loss_events() const;
  // Span watermarks received but not applied yet (waiting for their job's catalog).
  size_t pending_watermarks() const;
  // The offsets committed last, per partition.
  const std::map<bus::TopicPartition, int64_t>& committed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::shared_ptr<Impl*> alive_;  // what rebalance callbacks reach; null once destroyed
};

}  // namespace apmcov::analyzer
