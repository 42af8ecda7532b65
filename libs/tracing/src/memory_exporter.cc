#include "apmcov/tracing/memory_exporter.h"

#include "apmcov/tracing/exporter_metrics.h"

namespace apmcov::tracing {

InMemoryExporter::InMemoryExporter(size_t max_queued_spans,
                                   std::shared_ptr<ExporterMetrics> metrics)
    : max_queued_spans_(max_queued_spans), metrics_(std::move(metrics)) {}

bool InMemoryExporter::Export(TraceChunk chunk) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_ || queued_spans_ + chunk.size() > max_queued_spans_) {
    stats_.spans_dropped += chunk.size();
    if (metrics_) metrics_->spans_dropped.Increment(static_cast<double>(chunk.size()));
    return false;
  }
  queued_spans_ += chunk.size();
  queued_.push_back(std::move(chunk));
  return true;
}

absl::Status InMemoryExporter::DeliverLocked(std::unique_lock<std::mutex>& lock,
                                             std::chrono::steady_clock::time_point deadline) {
  if (!cv_.wait_until(lock, deadline, [this] { return !blocked_; })) {
    return absl::DeadlineExceededError("trace delivery did not finish before the deadline");
  }
  if (queued_.empty()) return absl::OkStatus();
  size_t spans = 0;
  for (const TraceChunk& c : queued_) spans += c.size();
  if (metrics_) metrics_->UpdateSpanMemory();  // every delivery attempt, as AgentExporter
  if (failing_flushes_ > 0) {
    --failing_flushes_;
    stats_.send_errors += 1;
    stats_.spans_lost += spans;
    if (metrics_) metrics_->send_errors.Increment();
    queued_.clear();
    queued_spans_ = 0;
    return absl::UnavailableError("the in-memory exporter was told to fail this delivery");
  }
  stats_.spans_sent += spans;
  stats_.traces_sent += queued_.size();
  if (metrics_) metrics_->spans_sent.Increment(static_cast<double>(spans));
  for (TraceChunk& c : queued_) received_.push_back(std::move(c));
  queued_.clear();
  queued_spans_ = 0;
  return absl::OkStatus();
}

absl::Status InMemoryExporter::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return DeliverLocked(lock, std::chrono::steady_clock::now() + timeout);
}

absl::Status InMemoryExporter::Stop(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopped_) return absl::OkStatus();
  absl::Status s = DeliverLocked(lock, std::chrono::steady_clock::now() + timeout);
  stopped_ = true;
  return s;
}

ExporterStats InMemoryExporter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::vector<TraceChunk> InMemoryExporter::Received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

std::vector<TraceChunk> InMemoryExporter::Queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_;
}

std::vector<SpanData> InMemoryExporter::AllSpans() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SpanData> out;
  for (const auto* list : {&received_, &queued_}) {
    for (const TraceChunk& c : *list) out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}

void InMemoryExporter::FailNextFlushes(int count) {
  std::lock_guard<std::mutex> lock(mu_);
  failing_flushes_ = count;
}

void InMemoryExporter::BlockDelivery(bool blocked) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_ = blocked;
  }
  cv_.notify_all();
}

}  // namespace apmcov::tracing
