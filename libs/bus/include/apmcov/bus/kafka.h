// The Kafka adapter of the bus ports (librdkafka; kept out of this header). Works against
// Apache Kafka and kafka-dev alike (design §3).
//
//  - KafkaPublisher: idempotent producer (enable.idempotence=true, acks=all), linger.ms=5,
//    lz4 compression, murmur2 partitioner (PartitionForKey()). Values are handed to librdkafka
//    without a copy (freed by their delivery report); a batch's headers are built once and
//    copied by librdkafka to each record. Delivery reports are counted;
//    Flush() returns OK only when everything published before it was acknowledged, otherwise
//    DeadlineExceeded (still in flight) or the error of the first failed delivery.
//  - KafkaSubscriber: a consumer-group member with enable.auto.commit=false and
//    enable.auto.offset.store=false: offsets move only by Commit() (synchronous). On assignment
//    it reads the group's committed offsets itself and starts partitions without one at the
//    beginning; it runs with auto.offset.reset=error so that an out-of-range offset (data lost
//    to retention) is never skipped silently: Poll() returns DataLoss, counts it, and seeks the
//    partition to the earliest retained message. enable.partition.eof=true: librdkafka's
//    partition EOF events become RebalanceListener::on_end_of_partition (skipped when unset).
//    session.timeout.ms defaults to 10 s (not librdkafka's 45 s): kafka-dev only removes a member
//    that left after its session timeout, so a restarted consumer would otherwise wait 45 s for its
//    partitions.
//  - KafkaLagProbe: committed offsets of any group (through a consumer handle with that
//    group.id that never subscribes) against the watermarks of a topic.
// Errors: librdkafka codes become absl::Status (transport and broker availability: Unavailable;
// timeouts: DeadlineExceeded; unknown topic or partition: NotFound; out of range: DataLoss;
// rebalancing: Aborted; bad configuration: InvalidArgument).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/bus/bus.h"

namespace apmcov::bus {

// Connection settings shared by the three adapters.
struct KafkaConfig {
  std::string brokers;  // KAFKA_BROKERS: "host:port[,host:port...]"
  std::string client_id = "apmcov";
  // Extra librdkafka properties (e.g. "linger.ms", "batch.num.messages", "security.protocol").
  // Properties the bus contracts depend on (enable.idempotence, acks, enable.auto.commit,
  // enable.auto.offset.store, auto.offset.reset, enable.partition.eof, group.id, partitioner,
  // bootstrap.servers, client.id) cannot be overridden here.
  std::map<std::string, std::string> properties;
  std::chrono::milliseconds request_timeout{10000};  // for metadata, commits and offset lookups

  // InvalidArgument naming the first bad field.
  absl::Status Validate() const;
};

class KafkaPublisher : public Publisher {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaPublisher>> Create(const KafkaConfig& config);
  ~KafkaPublisher() override;  // waits up to 5 s for messages in flight

  absl::Status Publish(OutgoingMessage message) override;
  absl::Status PublishBatch(OutgoingBatch batch) override;
  absl::Status Flush(std::chrono::milliseconds timeout) override;
  absl::StatusOr<int32_t> PartitionCount(const std::string& topic) override;

  int64_t delivered() const;          // acknowledged messages since creation
  int64_t delivery_failures() const;  // failed deliveries since creation

  struct Impl;

 private:
  explicit KafkaPublisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class KafkaSubscriber : public Subscriber {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaSubscriber>> Create(const KafkaConfig& config,
                                                                 const std::string& group_id);
  ~KafkaSubscriber() override;  // Close()

  absl::Status Subscribe(const std::vector<std::string>& topics,
                         RebalanceListener listener = {}) override;
  absl::StatusOr<std::vector<IncomingMessage>> Poll(size_t max_messages,
                                                    std::chrono::milliseconds timeout) override;
  absl::Status Commit(const std::map<TopicPartition, int64_t>& next_offsets) override;
  absl::StatusOr<std::map<TopicPartition, int64_t>> Committed(
      const std::vector<TopicPartition>& partitions) override;
  void Close() override;

  int64_t data_loss_events() const;  // offset-out-of-range events since creation

  struct Impl;

 private:
  explicit KafkaSubscriber(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class KafkaLagProbe : public LagProbe {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaLagProbe>> Create(const KafkaConfig& config);
  ~KafkaLagProbe() override;

  absl::StatusOr<std::vector<PartitionLag>> PartitionLags(const std::string& group,
                                                          const std::string& topic) override;
  absl::StatusOr<std::pair<int64_t, int64_t>> Watermarks(const std::string& topic,
                                                         int32_t partition) override;

  struct Impl;

 private:
  explicit KafkaLagProbe(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace apmcov::bus
