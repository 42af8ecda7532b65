#include "mock_cluster.h"

// clang-format off
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
// clang-format on

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apmcov/base/log.h"
#include "apmcov/base/status.h"

namespace apmcov::kafkadev {
namespace {

const Logger& Log() {
  static const Logger log("kafka-dev.cluster");
  return log;
}

// Kafka's legal topic names: [a-zA-Z0-9._-], 1..249 characters.
bool ValidTopicName(const std::string& name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::Status FromError(rd_kafka_resp_err_t err, std::string_view what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  std::string msg = absl::StrCat(AbslView(what), ": ", rd_kafka_err2str(err));
  if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) return absl::AlreadyExistsError(msg);
  return absl::InternalError(msg);
}

}  // namespace

absl::StatusOr<std::vector<TopicSpec>> ParseTopicSpecs(const std::vector<std::string>& items,
                                                       int32_t default_partitions) {
  std::vector<TopicSpec> out;
  for (const std::string& item : items) {
    TopicSpec spec;
    size_t colon = item.rfind(':');
    spec.name = item.substr(0, colon);
    spec.partitions = default_partitions;
    if (colon != std::string::npos) {
      int32_t n = 0;
      if (!absl::SimpleAtoi(AbslView(std::string_view(item).substr(colon + 1)), &n) || n < 1 ||
          n > 10000) {
        return absl::InvalidArgumentError(
            absl::StrCat("topic '", item, "': partitions must be an integer in 1..10000"));
      }
      spec.partitions = n;
    }
    if (!ValidTopicName(spec.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("topic '", item, "': a name is 1..249 characters of [a-zA-Z0-9._-]"));
    }
    out.push_back(std::move(spec));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<MockCluster>> MockCluster::Create(int broker_count) {
  if (broker_count < 1 || broker_count > 64) {
    return absl::InvalidArgumentError("broker count must be in 1..64");
  }
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // This handle only hosts the cluster; log_level 4 hides its "no bootstrap.servers" notice.
  if (rd_kafka_conf_set(conf, "client.id", "apmcov-kafka-dev", errstr, sizeof(errstr)) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(errstr);
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("creating the librdkafka handle: ", errstr));
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, broker_count);
  if (cluster == nullptr) {
    rd_kafka_destroy(rk);
    return absl::InternalError("rd_kafka_mock_cluster_new failed");
  }
  return std::unique_ptr<MockCluster>(new MockCluster(rk, cluster, broker_count));
}

MockCluster::MockCluster(rd_kafka_s* rk, rd_kafka_mock_cluster_s* cluster, int broker_count)
    : rk_(rk), cluster_(cluster), broker_count_(broker_count) {
  for (int32_t id = 1; id <= broker_count; ++id) broker_up_[id] = true;
}

MockCluster::~MockCluster() {
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(rk_);
}

std::string MockCluster::Bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }

absl::Status MockCluster::CreateTopic(const TopicSpec& topic) {
  if (!ValidTopicName(topic.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("topic '", topic.name, "': a name is 1..249 characters of [a-zA-Z0-9._-]"));
  }
  if (topic.partitions < 1 || topic.partitions > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("topic '", topic.name, "': partitions must be in 1..10000"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (topics_.count(topic.name) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("topic '", topic.name, "' already exists"));
  }
  // Replication factor = broker count (at most 3), so a broker taken down leaves replicas.
  int rf = broker_count_ < 3 ? broker_count_ : 3;
  APMCOV_RETURN_IF_ERROR(
      FromError(rd_kafka_mock_topic_create(cluster_, topic.name.c_str(), topic.partitions, rf),
                absl::StrCat("creating topic '", topic.name, "'")));
  topics_[topic.name] = topic.partitions;
  Log().Info("topic created", {{"topic", topic.name}, {"partitions", topic.partitions}});
  return absl::OkStatus();
}

absl::Status MockCluster::CheckBroker(int32_t broker_id) const {
  if (broker_id < 1 || broker_id > broker_count_) {
    return absl::InvalidArgumentError(
        absl::StrCat("broker id ", broker_id, " is not in 1..", broker_count_));
  }
  return absl::OkStatus();
}

absl::Status MockCluster::BrokerDown(int32_t broker_id) {
  APMCOV_RETURN_IF_ERROR(CheckBroker(broker_id));
  std::lock_guard<std::mutex> lock(mu_);
  APMCOV_RETURN_IF_ERROR(FromError(rd_kafka_mock_broker_set_down(cluster_, broker_id),
                                   absl::StrCat("taking broker ", broker_id, " down")));
  broker_up_[broker_id] = false;
  Log().Info("broker down", {{"broker", broker_id}});
  return absl::OkStatus();
}

absl::Status MockCluster::BrokerUp(int32_t broker_id) {
  APMCOV_RETURN_IF_ERROR(CheckBroker(broker_id));
  std::lock_guard<std::mutex> lock(mu_);
  APMCOV_RETURN_IF_ERROR(FromError(rd_kafka_mock_broker_set_up(cluster_, broker_id),
                                   absl::StrCat("bringing broker ", broker_id, " up")));
  broker_up_[broker_id] = true;
  Log().Info("broker up", {{"broker", broker_id}});
  return absl::OkStatus();
}

absl::Status MockCluster::SetLeader(const std::string& topic, int32_t partition,
                                    int32_t broker_id) {
  APMCOV_RETURN_IF_ERROR(CheckBroker(broker_id));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end()) {
    return absl::NotFoundError(absl::StrCat("topic '", topic, "' was not created by kafka-dev"));
  }
  if (partition < 0 || partition >= it->second) {
    return absl::InvalidArgumentError(
        absl::StrCat("partition ", partition, " is not in 0..", it->second - 1));
  }
  return FromError(
      rd_kafka_mock_partition_set_leader(cluster_, topic.c_str(), partition, broker_id),
      absl::StrCat("moving the leader of ", topic, "/", partition));
}

std::string MockCluster::StatusLine() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int32_t> up, down;
  for (const auto& [id, is_up] : broker_up_) (is_up ? up : down).push_back(id);
  return absl::StrCat("brokers=", broker_count_, " up=", absl::StrJoin(up, ","),
                      " down=", absl::StrJoin(down, ","),
                      " topics=", absl::StrJoin(topics_, ",", absl::PairFormatter(":")));
}

}  // namespace apmcov::kafkadev
