// Span decoder: the analyzer's decoding of `spans` messages (SpanBatch wire bytes → interned
// SpanRecords) on a thread of its own, behind a bounded queue of polls, so that one poll is
// decoded while the consumer thread assembles, judges and hands writes for the one before.
//
// Strings: the decoder's thread owns the SpanInterner (its caches); both threads share the
// StringPool, whose Intern() is locked and whose View() is lock-free over segments that never
// move (span.h). The consumer thread reads the ids of a poll only after Next() handed it over
// under the queue's lock, so every view it takes was published before.
//
// Order and delivery: polls come out of Next() in the order they were submitted, each with its
// messages untouched; the decoder consumes nothing and commits nothing. Discard() marks the
// messages of revoked partitions in every poll still queued, so the consumer skips them (the
// new owner re-reads them from the committed offset, which never passed them). A poll lost in
// the queue by a crash was never committed either.
//
// Thread-safety: Submit(), Next(), Discard(), Recycle() and Pending() are for one thread (the
// consumer's).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "apmcov/bus/bus.h"
#include "apmcov/coverage/span.h"
#include "apmcov/coverage/span_batch_decoder.h"

namespace apmcov::analyzer {

// One poll, its `spans` messages decoded.
struct DecodedPoll {
  std::vector<bus::IncomingMessage> messages;
  // Per message, in order: the decoded batch (empty for other topics) and why decoding failed
  // (OK for other topics): the dead letter's reason.
  std::vector<coverage::DecodedSpanBatch> batches;
  std::vector<absl::Status> errors;
  // Partitions revoked while the poll was queued: their messages are not to be processed.
  std::set<bus::TopicPartition> discarded;
  bool Discarded(const bus::IncomingMessage& m) const {
    return !discarded.empty() && discarded.contains({m.topic, m.partition});
  }
};

class SpanDecoder {
 public:
  // `depth`: polls submitted and not yet taken by Next() at most; Submit() waits beyond that.
  SpanDecoder(size_t depth, std::string spans_topic, coverage::StringPool& pool);
  ~SpanDecoder();  // stops the thread; polls still queued are dropped (never committed)
  SpanDecoder(const SpanDecoder&) = delete;
  SpanDecoder& operator=(const SpanDecoder&) = delete;

  void Submit(std::vector<bus::IncomingMessage> messages);
  // The oldest poll submitted, once decoded; nullopt when none is queued.
  std::optional<DecodedPoll> Next();
  // Marks the messages of `tps` in every queued poll; returns how many it marked.
  size_t Discard(const std::vector<bus::TopicPartition>& tps);
  // Hands a processed poll back, so its buffers are reused (steady state allocates little).
  void Recycle(DecodedPoll poll);
  // Polls submitted and not yet taken by Next().
  size_t Pending() const;

 private:
  struct Entry {
    std::unique_ptr<DecodedPoll> poll;
    bool decoded = false;
  };
  void Loop();
  void Decode(DecodedPoll& poll);

  const size_t depth_;
  const std::string spans_topic_;
  coverage::SpanInterner interner_;  // the decoder thread's only
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Entry> queue_;  // oldest first; the decoder works on the first not decoded
  std::vector<std::unique_ptr<DecodedPoll>> spare_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace apmcov::analyzer
