// Batch writer: the analyzer's PostgreSQL writes on their own thread, behind a bounded queue,
// so that the next poll is decoded, assembled and judged while the previous batch is written.
//
// Delivery (design §3, unchanged): each job carries the offsets that its batch makes safe to
// commit; jobs are written strictly in the order they were queued, and the consumer thread
// commits a job's offsets only once TakeDone() has handed it back written. Nothing is
// committed before the transaction that holds its effects. A job that fails stops the writer:
// the jobs after it are not written (their offsets are never committed, so they are replayed),
// and the failure is handed back in order.
//
// Thread-safety: Enqueue(), Drain(), TakeDone() and Pending() are for one thread (the
// consumer's); `write` runs on the writer's thread and must be safe to call there.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "apmcov/bus/bus.h"
#include "apmcov/store/coverage_store.h"
#include "apmcov/tracing/propagation.h"

namespace apmcov::analyzer {

class BatchWriter {
 public:
  struct Job {
    store::WriteBatch batch;
    std::map<bus::TopicPartition, int64_t> commit;  // safe once `batch` is written
    // The batch's consumer span (batch_span.h), parent of the transaction that writes it on
    // the writer's thread, where no span is active. Invalid: not traced.
    tracing::SpanContext trace_parent;
  };
  struct Done {
    absl::Status status;
    std::map<bus::TopicPartition, int64_t> commit;
    std::vector<store::CompletedSnapshot> completed_snapshots;
    std::vector<store::PartitionWatermark> watermarks;  // the batch's, now stored
  };
  // Writes a batch (retrying as it sees fit) and says which catalog snapshots it completed.
  using WriteFn = std::function<absl::Status(const store::WriteBatch&, const tracing::SpanContext&,
                                             std::vector<store::CompletedSnapshot>*)>;

  // `depth`: jobs queued or being written at most; Enqueue() waits beyond that.
  BatchWriter(size_t depth, WriteFn write);
  ~BatchWriter();  // finishes the jobs queued, then stops the thread
  BatchWriter(const BatchWriter&) = delete;
  BatchWriter& operator=(const BatchWriter&) = delete;

  void Enqueue(Job job);
  // Waits until every job queued so far is written (or failed).
  void Drain();
  // The jobs written (or failed) since the last call, in queue order.
  std::vector<Done> TakeDone();
  // Jobs queued or being written.
  size_t Pending() const;

 private:
  void Loop();

  const size_t depth_;
  WriteFn write_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Job> queue_;
  size_t writing_ = 0;  // 1 while a job is being written
  std::vector<Done> done_;
  bool failed_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace apmcov::analyzer
