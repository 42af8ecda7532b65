// Internal helpers shared by the Kafka adapters: status conversion and configuration.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/bus/kafka.h"

namespace apmcov::bus::kafka_internal {

// librdkafka error → absl::Status with `context` in front of the message.
absl::StatusCode StatusCodeFor(rd_kafka_resp_err_t err);
absl::Status KafkaStatus(rd_kafka_resp_err_t err, std::string_view context);

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

// A configuration with bootstrap.servers, client.id, logging into apmcov::Logger, then
// `defaults` (name, value), then config.properties. Validates `config` first.
absl::StatusOr<ConfPtr> MakeConf(const KafkaConfig& config,
                                 const std::vector<std::pair<std::string, std::string>>& defaults);

// Creates the handle; `conf` is consumed on success.
absl::StatusOr<HandlePtr> MakeHandle(rd_kafka_type_t type, ConfPtr conf);

// Partition ids of `topic` from a metadata request. NotFound when the topic does not exist
// (after auto-creation, if the handle allows it).
absl::StatusOr<std::vector<int32_t>> TopicPartitions(rd_kafka_t* rk, const std::string& topic,
                                                     std::chrono::milliseconds timeout);

std::vector<TopicPartition> ToTopicPartitions(const rd_kafka_topic_partition_list_t* list);

}  // namespace apmcov::bus::kafka_internal
