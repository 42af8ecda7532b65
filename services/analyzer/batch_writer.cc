#include "batch_writer.h"

#include <utility>

#include "apmcov/base/process.h"

namespace apmcov::analyzer {

BatchWriter::BatchWriter(size_t depth, WriteFn write)
    : depth_(depth == 0 ? 1 : depth), write_(std::move(write)), thread_([this] { Loop(); }) {}

BatchWriter::~BatchWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BatchWriter::Enqueue(Job job) {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [this] { return queue_.size() + writing_ < depth_; });
  queue_.push_back(std::move(job));
  changed_.notify_all();
}

void BatchWriter::Drain() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [this] { return queue_.empty() && writing_ == 0; });
}

std::vector<BatchWriter::Done> BatchWriter::TakeDone() {
  std::lock_guard lock(mu_);
  return std::exchange(done_, {});
}

size_t BatchWriter::Pending() const {
  std::lock_guard lock(mu_);
  return queue_.size() + writing_;
}

void BatchWriter::Loop() {
  NameThisThread("pg-writer");
  std::unique_lock lock(mu_);
  for (;;) {
    changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    Job job = std::move(queue_.front());
    queue_.pop_front();
    Done done;
    done.commit = std::move(job.commit);
    if (failed_) {
      // An earlier job failed: this one is not written, and its offsets must not be
      // committed (a later commit would cover the failed batch).
      done.status = absl::AbortedError("not written: an earlier batch failed");
      done.commit.clear();
      done_.push_back(std::move(done));
      changed_.notify_all();
      continue;
    }
    writing_ = 1;
    lock.unlock();
    done.status = job.batch.empty()
                      ? absl::OkStatus()
                      : write_(job.batch, job.trace_parent, &done.completed_snapshots);
    if (done.status.ok()) done.watermarks = std::move(job.batch.watermarks);
    lock.lock();
    writing_ = 0;
    if (!done.status.ok()) {
      failed_ = true;
      done.commit.clear();
    }
    done_.push_back(std::move(done));
    changed_.notify_all();
  }
}

}  // namespace apmcov::analyzer
