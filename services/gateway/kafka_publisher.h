// KafkaPublisher: a bus::Publisher over librdkafka (idempotent producer, acks=all), for the
// gateway's one message kind (SyncRequest on `commands`). Kept local to the gateway until the
// shared libs/bus Kafka adapter lands; it follows the bus.h Publisher contract: Publish()
// enqueues, Flush() is OK only once everything before it is acknowledged, thread-safe.
// librdkafka stays in the .cc file.
#pragma once

#include <memory>
#include <string>

#include "apmcov/bus/bus.h"

namespace apmcov::gateway {

class KafkaPublisher final : public bus::Publisher {
 public:
  // InvalidArgument when the configuration is rejected.
  static absl::StatusOr<std::unique_ptr<KafkaPublisher>> Create(const std::string& brokers);
  ~KafkaPublisher() override;

  absl::Status Publish(bus::OutgoingMessage message) override;
  absl::Status Flush(std::chrono::milliseconds timeout) override;
  absl::StatusOr<int32_t> PartitionCount(const std::string& topic) override;

 private:
  KafkaPublisher() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apmcov::gateway
