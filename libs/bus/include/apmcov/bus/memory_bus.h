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
//    earliest retained message.
// Thread-safe. The broker must outlive every publisher, subscriber and probe made from it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
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
  // The next `count` deliveries fail: Publish() accepts them, they are never stored, and the
  // next Flush() reports Unavailable (fault injection for publisher tests).
  void FailNextDeliveries(int count);

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
  std::condition_variable cv_;  // notified on every append and every rebalance
  std::map<std::string, Topic> topics_;
  std::map<std::string, Group> groups_;
  uint64_t next_member_id_ = 1;
  int failing_deliveries_ = 0;
  int64_t data_loss_events_ = 0;
};

// The name the bus design uses for the fake.
using MemoryBus = MemoryBroker;

}  // namespace apmcov::bus
