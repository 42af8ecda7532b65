// AgentExporter: the real TraceExporter. Export() encodes a finished chunk to msgpack on the
// caller's thread (about 1 µs a span: 2-3 ms for a collector sync's 2,553 spans) and queues
// the bytes in a bounded in-memory queue; a background flusher thread sends them every
// `flush_interval` (sooner when the queue is half full) as msgpack `PUT <agent>/v0.4/traces`
// over libcurl, with the headers the Agent reads: Content-Type: application/msgpack,
// Datadog-Meta-Lang: cpp, Datadog-Meta-Lang-Version, Datadog-Meta-Tracer-Version,
// X-Datadog-Trace-Count. Payloads are split so that none exceeds `max_payload_bytes`. The
// exporter contract is in exporter.h: Export() never waits for the network (it takes a mutex
// for a push), a full queue drops and counts (before encoding), a failed request is counted
// and not retried, Flush()/Stop() honour their deadline (a request in flight is aborted when
// Stop()'s deadline passes).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "apmcov/tracing/exporter.h"

namespace apmcov::tracing {

struct AgentExporterOptions {
  std::string agent_url = "http://localhost:8126";  // scheme://host:port, no path
  std::chrono::milliseconds flush_interval{1000};
  size_t max_queued_spans = 10000;
  size_t max_payload_bytes = 4 << 20;
  std::chrono::milliseconds request_timeout{2000};
  std::string tracer_version;  // Datadog-Meta-Tracer-Version; "" = the project's version
};

class AgentExporter final : public TraceExporter {
 public:
  // InvalidArgument for an agent_url that is not http://host[:port], a zero queue or payload
  // size, or a non-positive interval or timeout. The flusher starts at once. `metrics` may
  // be null.
  static absl::StatusOr<std::unique_ptr<AgentExporter>> Create(
      AgentExporterOptions options, std::shared_ptr<ExporterMetrics> metrics = nullptr);

  ~AgentExporter() override;
  AgentExporter(const AgentExporter&) = delete;
  AgentExporter& operator=(const AgentExporter&) = delete;

  bool Export(TraceChunk chunk) override;
  absl::Status Flush(std::chrono::milliseconds timeout) override;
  absl::Status Stop(std::chrono::milliseconds timeout) override;
  ExporterStats stats() const override;

  const AgentExporterOptions& options() const { return options_; }

 private:
  struct Sender;  // libcurl, used by the flusher thread only
  AgentExporter(AgentExporterOptions options, std::shared_ptr<ExporterMetrics> metrics);
  void Run();
  // One chunk as Export() encoded it (msgpack v0.4, see msgpack_v04.h).
  struct EncodedChunk {
    std::string bytes;
    size_t spans = 0;
  };
  // Sends `batch` (already taken off the queue); returns false when a request failed.
  bool SendBatch(const std::deque<EncodedChunk>& batch);

  const AgentExporterOptions options_;
  const std::shared_ptr<ExporterMetrics> metrics_;
  std::unique_ptr<Sender> sender_;

  mutable std::mutex mu_;
  std::condition_variable wake_;  // the flusher: a flush was asked, the queue filled, stop
  std::condition_variable done_;  // Flush() callers: a batch finished
  std::deque<EncodedChunk> queue_;
  size_t queued_spans_ = 0;
  uint64_t accepted_ = 0;      // chunks accepted by Export() so far
  uint64_t processed_ = 0;     // chunks the flusher finished with (sent or lost)
  uint64_t flush_wanted_ = 0;  // the highest `accepted_` a Flush() waits for
  uint64_t failed_upto_ = 0;   // `processed_` after the latest failed batch
  bool stopping_ = false;
  bool stopped_ = false;
  bool cut_by_stop_deadline_ = false;  // a request failed because Stop()'s deadline came
  ExporterStats stats_;
  static constexpr int64_t kNoDeadline = INT64_MAX;
  std::atomic<int64_t> stop_deadline_ns_{kNoDeadline};  // steady clock; set by Stop()
  std::atomic<bool> abort_{false};  // aborts a request in flight (Stop() past its deadline)
  std::mutex stop_mu_;              // one Stop() at a time
  std::thread thread_;
};

}  // namespace apmcov::tracing
