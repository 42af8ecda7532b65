// MemoryBroker: an in-memory fake of the Kafka cluster behind the bus ports, for unit tests
// and for App tests that must not touch the network. It follows the same contract test suite
// as the Kafka adapter (libs/bus/tests/bus_contract.h):
//  - topics with partitions; offsets start at 0; keyed messages are partitioned with
//    PartitionForKey() exactly like the Kafka adapter; unkeyed messages go round-robin;
//  - publishing to an unknown topic creates it with `auto_create_partitions` (4, like kafka-dev);
//  - consumer groups: members share the partitions of the topics they subscribe to
//    (round-robin over members ordered by join time; every join or leave revokes and reassigns
//    all, like Kafka's eager protocol; listeners run in the members' next Poll());
//  - committed offsets per group; a member starts at the committed offset, else the earliest
//    retained message;
//  - optional retention per partition: older messages are dropped (like kafka-dev's ~5 MiB),
//    and a member whose position fell behind gets DataLoss from Poll() and resumes at the
//    earliest retained message;
//  - partition EOF (RebalanceListener::on_end_of_partition) as Kafka reports it.
// Test controls, each the in-memory twin of what a real cluster does or an admin client can
// do: failed deliveries (FailNextDeliveries), moving a group's committed offsets
// (AlterGroupOffsets) or a partition's log start (DeleteRecords), and a hook that runs before
// every lag reading (OnLagRead), so a test decides what a group did between two readings.
// Thread-safe. The broker must outlive every publisher, subscriber and probe made from it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "apmcov/bus/bus.h"

namespace apmcov::bus {

class MemoryBroker {
 public:
  struct Options {
    int32_t auto_create_partitions = 4;
    // Per partition: keep at most this many bytes of keys + values (0 = unlimited). The
    // newest message is always kept.
    size_t retention_bytes = 0;
    // A publisher's messages stay in it until its Flush() delivers them (like a producer
    // whose linger.ms never runs out), so consumers see only what was flushed: for tests that
    // check what the code under test flushed, not merely published. False: each message is
    // delivered when published (Kafka's short linger), Flush() only reports.
    bool deliver_on_flush = false;
  };

  MemoryBroker() : MemoryBroker(Options{}) {}
  explicit MemoryBroker(Options options);
  ~MemoryBroker();
  MemoryBroker(const MemoryBroker&) = delete;
  MemoryBroker& operator=(const MemoryBroker&) = delete;

  // AlreadyExists when it exists, InvalidArgument for an empty name or a count < 1.
  absl::Status CreateTopic(const std::string& topic, int32_t partitions);
  // Low (first retained) and high (next to be written) offsets. NotFound for unknown ones.
  absl::StatusOr<std::pair<int64_t, int64_t>> Watermarks(const std::string& topic,
                                                         int32_t partition) const;
  // The next `count` deliveries (of any publisher of this broker) fail like a real broker's
  // failed delivery: Publish() accepts them, they are never stored (consumers and watermarks
  // never see them), and the publisher's next Flush() returns `status`'s code and message,
  // with the number of messages lost. Additive; INT_MAX: every delivery from now on.
  void FailNextDeliveries(
      int count, absl::Status status = absl::UnavailableError("delivery failed (injected)"));

  // Sets a group's committed offsets (the next offset to read), like Kafka's
  // AlterConsumerGroupOffsets: NotFound for a partition that does not exist, InvalidArgument
  // for a negative offset, FailedPrecondition while the group has members (Kafka refuses to
  // alter an active group too). Creates the group when it has none.
  absl::Status AlterGroupOffsets(const std::string& group,
                                 const std::map<TopicPartition, int64_t>& offsets);
  // Drops the messages of a partition below `before` (Kafka's DeleteRecords): the low
  // watermark moves there, as retention would move it. NotFound for an unknown partition,
  // OutOfRange when `before` is past the high watermark. Lower than the log start: no-op.
  absl::Status DeleteRecords(const std::string& topic, int32_t partition, int64_t before);

  // Blocks until `group` committed at least `offset` on `tp`, or `timeout` passed; returns the
  // committed offset then (-1: none). For tests of code that commits on a thread of its own:
  // commits wake it, nothing polls.
  int64_t AwaitCommitted(const std::string& group, const TopicPartition& tp, int64_t offset,
                         std::chrono::milliseconds timeout) const;

  // Blocks until `group` has `members` members and each of them took its part in the latest
  // rebalance inside a Poll() (its listener ran): Kafka's Stable group state. False when
  // `timeout` passed first.
  bool AwaitGroupStable(const std::string& group, size_t members,
                        std::chrono::milliseconds timeout) const;

  // Runs `hook(group, topic)` before every PartitionLags() reading of this broker's probes,
  // outside the broker's lock (it may publish, AlterGroupOffsets or DeleteRecords). Empty:
  // none. For tests of code that waits on a group's lag: the hook plays the consumer.
  void OnLagRead(std::function<void(const std::string& group, const std::string& topic)> hook);

  std::unique_ptr<Publisher> NewPublisher();
  std::unique_ptr<Subscriber> NewSubscriber(std::string group_id);
  std::unique_ptr<LagProbe> NewLagProbe();

  // Offset-out-of-range events seen by all members (the DataLoss count).
  int64_t data_loss_events() const;

 private:
  friend class MemoryPublisher;
  friend class MemorySubscriber;
  friend class MemoryLagProbe;

  struct Partition {
    int64_t log_start = 0;
    std::deque<IncomingMessage> messages;  // offsets log_start .. log_start + size - 1
    size_t bytes = 0;
    int64_t high() const { return log_start + static_cast<int64_t>(messages.size()); }
  };
  struct Topic {
    std::vector<Partition> partitions;
    uint32_t round_robin = 0;
  };
  struct Member {
    std::vector<std::string> topics;
    int64_t generation_seen = -1;  // the last rebalance its Poll() served
  };
  struct Group {
    int64_t generation = 0;
    std::map<uint64_t, Member> members;  // by member id = join order
    std::map<uint64_t, std::vector<TopicPartition>> assignment;
    std::map<TopicPartition, int64_t> committed;
  };

  // All private helpers expect mu_ held.
  Topic& TopicLocked(const std::string& name);  // creates with the default partitions
  void RebalanceLocked(Group& group);
  void TrimLocked(Partition& partition);

  const Options options_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;  // notified on every append, commit and rebalance
  std::map<std::string, Topic> topics_;
  std::map<std::string, Group> groups_;
  uint64_t next_member_id_ = 1;
  int failing_deliveries_ = 0;
  absl::Status failure_status_;
  std::function<void(const std::string&, const std::string&)> lag_read_hook_;
  int64_t data_loss_events_ = 0;
};

// The name the bus design uses for the fake.
using MemoryBus = MemoryBroker;

}  // namespace apmcov::bus
