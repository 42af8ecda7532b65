// Event bus ports (design §3). The Kafka adapter (kafka.h, librdkafka) and the in-memory fake
// (memory_bus.h) both implement them, and one contract test suite runs against both.
//
// Topic names passed here are full names (prefix included; see TopicNames).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace apmcov::bus {

// The topics of design §3 under a configurable prefix (default "apmcov."):
// catalog, apm-inventory, spans, sync-jobs, commands, collector-state, dlq.
struct TopicNames {
  explicit TopicNames(const std::string& prefix = "apmcov.");
  std::string catalog, apm_inventory, spans, sync_jobs, commands, collector_state, dlq;
  std::vector<std::string> All() const;
};

// Kafka headers: ordered, names may repeat, values are arbitrary bytes.
using Headers = std::vector<std::pair<std::string, std::string>>;

// The partition of a keyed message among `partition_count` partitions: Kafka's murmur2
// partitioner ((murmur2(key) & 0x7fffffff) % partition_count), the Java client's default and
// librdkafka's "murmur2_random". The Kafka adapter and MemoryBus both use it, so a key lands on
// the same partition in tests and in production, whatever the client language. An empty key
// means "no key": such messages may go to any partition. Requires partition_count > 0.
int32_t PartitionForKey(std::string_view key, int32_t partition_count);

struct OutgoingMessage {
  std::string topic;
  std::string key;  // empty = no key (any partition)
  std::string value;
  Headers headers;                   // content-type and type are added by the proto.h helpers
  std::optional<int32_t> partition;  // explicit partition (watermarks go to every partition)
};

// Records of one topic that carry the same headers: a page of span batches, each record with
// the content type, the type and the producer span's trace context (design §12). The headers
// are given once for all the records; the Kafka adapter writes them into librdkafka's native
// headers once per batch (librdkafka copies them to each record) and hands each value over
// without copying it.
struct OutgoingRecord {
  std::string key;  // empty = no key (any partition)
  std::string value;
  std::optional<int32_t> partition;  // explicit partition
};
struct OutgoingBatch {
  std::string topic;
  Headers headers;  // every record's
  std::vector<OutgoingRecord> records;
};

struct IncomingMessage {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  Headers headers;
  int64_t timestamp_ms = 0;
  // The value of the last header called `name`, if any.
  std::optional<std::string_view> Header(std::string_view name) const;
};

// Publishes messages. Contract:
//  - Publish() enqueues and returns at once; Flush() returns OK only when every message
//    published before it is acknowledged by all in-sync replicas (acks=all). The Kafka adapter
//    is an idempotent producer, so retries never duplicate or reorder within a partition.
//  - Messages with the same key go to the same partition, in order.
//  - Thread-safe. A failed delivery is reported by the next Flush() (and counted in metrics).
//  - An explicit partition that does not exist fails Publish() or the next Flush().
//  - A topic that does not exist is created with the cluster's defaults (MemoryBus: 4
//    partitions, like kafka-dev's auto-creation).
class Publisher {
 public:
  virtual ~Publisher() = default;
  virtual absl::Status Publish(OutgoingMessage message) = 0;
  // Publishes every record of `batch`, in order, as Publish() publishes {topic, key, value,
  // headers, partition} (same contract, same partitions). On an error the records before the
  // failing one were published and the others not. The default calls Publish() per record,
  // with a copy of the headers each.
  virtual absl::Status PublishBatch(OutgoingBatch batch);
  virtual absl::Status Flush(std::chrono::milliseconds timeout) = 0;
  // Number of partitions of `topic` (for watermarks sent to every partition). Creates the
  // topic like Publish() does when it does not exist.
  virtual absl::StatusOr<int32_t> PartitionCount(const std::string& topic) = 0;
};

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  bool operator<(const TopicPartition& o) const {
    return topic < o.topic || (topic == o.topic && partition < o.partition);
  }
  bool operator==(const TopicPartition& o) const = default;
};

// Called on rebalance: partitions taken away (commit what you can first) and given; and,
// when set, on reaching the end of a partition.
struct RebalanceListener {
  std::function<void(const std::vector<TopicPartition>&)> on_revoked;
  std::function<void(const std::vector<TopicPartition>&)> on_assigned;
  // Kafka's partition EOF: the member was handed every message of a partition it owns up to
  // `end`, the partition's next offset to be written when the member got there. Reported
  // once per end reached: again only after more messages arrived and were handed out, or
  // after a (re)assignment; an empty partition reports 0 once assigned. Every message of the
  // partition below `end` is returned by the Poll() it runs in or by an earlier one. While it
  // is set, Poll() returns right after an end was reported (with what it gathered, maybe
  // nothing), so a reader that wants everything written so far needs no quiet timeout.
  std::function<void(const TopicPartition&, int64_t end)> on_end_of_partition;
};

// A consumer-group member. Contract:
//  - Offsets are committed only by Commit() (never automatically). Commit(offsets) stores, per
//    partition, the offset of the NEXT message to read; it is synchronous and durable when OK.
//  - After a restart or rebalance a member resumes at the committed offset; with none, at the
//    earliest retained message.
//  - An offset-out-of-range event is reported as DataLoss status by Poll() (never silent)
//    and consumption resumes at the earliest retained message.
//  - The listener runs inside Poll() (and Close()), on the polling thread; on_revoked runs
//    before the partitions are taken away, so Commit() works there. on_end_of_partition tells
//    when a partition was read to its end (see RebalanceListener); Poll() returns after
//    each such report, one a poll: a poll that brought only an end is progress, not idleness.
//  - A member only gets and commits the partitions it owns: Poll() never returns a message of
//    a partition revoked before it returns (a revoke served inside Poll() takes back what was
//    gathered of it), and Commit() of a partition it does not own is FailedPrecondition (inside
//    on_revoked the partitions being revoked still count as owned).
//  - Committed() leaves out partitions that have no committed offset.
//  - Not thread-safe: one thread polls and commits.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  virtual absl::Status Subscribe(const std::vector<std::string>& topics,
                                 RebalanceListener listener = {}) = 0;
  // Up to `max_messages`, waiting at most `timeout` for the first one. An empty vector on
  // timeout.
  virtual absl::StatusOr<std::vector<IncomingMessage>> Poll(size_t max_messages,
                                                            std::chrono::milliseconds timeout) = 0;
  virtual absl::Status Commit(const std::map<TopicPartition, int64_t>& next_offsets) = 0;
  virtual absl::StatusOr<std::map<TopicPartition, int64_t>> Committed(
      const std::vector<TopicPartition>& partitions) = 0;
  virtual void Close() = 0;
};

// Where a consumer group stands on one partition.
struct PartitionLag {
  int32_t partition = 0;
  int64_t committed = -1;  // the group's committed offset (next to read); -1 = none
  int64_t low = 0;         // first retained offset (> 0 once retention dropped messages)
  int64_t high = 0;        // next offset to be written
  // Messages the group has still to read: from its commit, or every retained one.
  int64_t lag() const { return high - (committed >= 0 ? committed : low); }
};

// Sum of PartitionLag::lag() over `lags`.
int64_t TotalLag(const std::vector<PartitionLag>& lags);

// Reads committed offsets of any group and the watermarks of a topic: the collector's
// backpressure (design §3), the analyzer's lag gauge and the end offsets its catalog gate waits
// for. Reads only, never joins a group. Thread-safe.
class LagProbe {
 public:
  virtual ~LagProbe() = default;
  // One entry per partition of `topic`. NotFound when the topic does not exist.
  virtual absl::StatusOr<std::vector<PartitionLag>> PartitionLags(const std::string& group,
                                                                  const std::string& topic) = 0;
  // {low, high} of one partition: the first retained offset (> 0 once retention dropped
  // messages) and the next offset to be written; equal when the partition holds nothing.
  // Counts only what the cluster acknowledged (published and flushed). NotFound for a partition
  // the topic does not have (kafka-dev creates an unknown topic on the request, like any
  // metadata request, and answers {0, 0}).
  virtual absl::StatusOr<std::pair<int64_t, int64_t>> Watermarks(const std::string& topic,
                                                                 int32_t partition) = 0;
  // Sum of PartitionLag::lag() over the partitions.
  absl::StatusOr<int64_t> GroupLag(const std::string& group, const std::string& topic);
};

}  // namespace apmcov::bus
