// InMemoryExporter: the fake TraceExporter for tests (the tracer's, and services' App tests
// that assert which spans they made). It follows the exporter contract (exporter.h; the same
// suite as AgentExporter): a bounded queue of `max_queued_spans` spans, drop-and-count when
// full, Flush() "delivers" the queue into the received list, Stop() refuses later chunks.
// Nothing is delivered without a Flush()/Stop(), so a test decides when the queue drains.
// Fault injection mirrors a refusing Agent: FailNextFlushes(n) makes the next n deliveries
// fail (send_errors, spans lost); BlockDelivery(true) makes Flush() time out.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "apmcov/tracing/exporter.h"

namespace apmcov::tracing {

class InMemoryExporter final : public TraceExporter {
 public:
  // `metrics` may be null.
  explicit InMemoryExporter(size_t max_queued_spans = 10000,
                            std::shared_ptr<ExporterMetrics> metrics = nullptr);

  bool Export(TraceChunk chunk) override;
  absl::Status Flush(std::chrono::milliseconds timeout) override;
  absl::Status Stop(std::chrono::milliseconds timeout) override;
  ExporterStats stats() const override;

  // Chunks delivered so far, in delivery order.
  std::vector<TraceChunk> Received() const;
  // Chunks handed over and not yet delivered.
  std::vector<TraceChunk> Queued() const;
  // Every span delivered or queued, flattened (what a test usually wants).
  std::vector<SpanData> AllSpans() const;

  void FailNextFlushes(int count);
  void BlockDelivery(bool blocked);

 private:
  absl::Status DeliverLocked(std::unique_lock<std::mutex>& lock,
                             std::chrono::steady_clock::time_point deadline);

  const size_t max_queued_spans_;
  const std::shared_ptr<ExporterMetrics> metrics_;
  mutable std::mutex mu_;
  std::condition_variable cv_;  // BlockDelivery(false) wakes waiting flushes
  std::vector<TraceChunk> queued_;
  size_t queued_spans_ = 0;
  std::vector<TraceChunk> received_;
  ExporterStats stats_;
  int failing_flushes_ = 0;
  bool blocked_ = false;
  bool stopped_ = false;
};

}  // namespace apmcov::tracing
