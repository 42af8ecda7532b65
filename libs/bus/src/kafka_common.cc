#include "kafka_common.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "apmcov/base/log.h"
#include "apmcov/base/status.h"

namespace apmcov::bus {

namespace {

const std::set<std::string>& ProtectedProperties() {
  static const std::set<std::string> names = {"bootstrap.servers",
                                              "metadata.broker.list",
                                              "client.id",
                                              "enable.idempotence",
                                              "acks",
                                              "request.required.acks",
                                              "enable.auto.commit",
                                              "enable.auto.offset.store",
                                              "auto.offset.reset",
                                              "enable.partition.eof",
                                              "group.id",
                                              "partitioner",
                                              "dr_msg_cb"};
  return names;
}

}  // namespace

absl::Status KafkaConfig::Validate() const {
  if (absl::StripAsciiWhitespace(AbslView(brokers)).empty()) {
    return absl::InvalidArgumentError("KAFKA_BROKERS is empty; want host:port[,host:port...]");
  }
  for (absl::string_view item : absl::StrSplit(AbslView(brokers), ',')) {
    absl::string_view entry = absl::StripAsciiWhitespace(item);
    if (size_t scheme = entry.find("://"); scheme != absl::string_view::npos) {
      entry.remove_prefix(scheme + 3);
    }
    size_t colon = entry.rfind(':');
    int port = 0;
    if (entry.empty() || colon == absl::string_view::npos || colon == 0 ||
        !absl::SimpleAtoi(entry.substr(colon + 1), &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("KAFKA_BROKERS: '", item, "' is not host:port with a port in 1..65535"));
    }
  }
  if (client_id.empty()) return absl::InvalidArgumentError("kafka client id is empty");
  if (request_timeout.count() <= 0) {
    return absl::InvalidArgumentError("kafka request timeout must be positive");
  }
  for (const auto& [name, value] : properties) {
    if (name.empty()) return absl::InvalidArgumentError("kafka property with an empty name");
    if (ProtectedProperties().count(name) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kafka property '", name, "' is set by the bus adapter and cannot be overridden"));
    }
  }
  return absl::OkStatus();
}

namespace kafka_internal {
namespace {

const Logger& RdLog() {
  static const Logger log("bus.kafka.librdkafka");
  return log;
}

void LogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  LogLevel l = level <= 3   ? LogLevel::kError
               : level <= 4 ? LogLevel::kWarn
               : level <= 6 ? LogLevel::kInfo
                            : LogLevel::kDebug;
  if (!RdLog().Enabled(l)) return;
  RdLog().Log(l, buf, {{"facility", fac}, {"client", rd_kafka_name(rk)}});
}

absl::Status Set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    return absl::InvalidArgumentError(absl::StrCat("kafka property ", name, ": ", errstr));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusCode StatusCodeFor(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return absl::StatusCode::kOk;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return absl::StatusCode::kUnavailable;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
      return absl::StatusCode::kDeadlineExceeded;
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__UNKNOWN_GROUP:
      return absl::StatusCode::kNotFound;
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
      return absl::StatusCode::kDataLoss;
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
      return absl::StatusCode::kAborted;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_COMMIT_OFFSET_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_GROUP_ID:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
      return absl::StatusCode::kInvalidArgument;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
      return absl::StatusCode::kPermissionDenied;
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR__DESTROY:
      return absl::StatusCode::kFailedPrecondition;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status KafkaStatus(rd_kafka_resp_err_t err, std::string_view context) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::Status(StatusCodeFor(err),
                      absl::StrCat(AbslView(context), ": ", rd_kafka_err2str(err), " (",
                                   rd_kafka_err2name(err), ")"));
}

absl::StatusOr<ConfPtr> MakeConf(const KafkaConfig& config,
                                 const std::vector<std::pair<std::string, std::string>>& defaults) {
  APMCOV_RETURN_IF_ERROR(config.Validate());
  ConfPtr conf(rd_kafka_conf_new());
  APMCOV_RETURN_IF_ERROR(Set(conf.get(), "bootstrap.servers", config.brokers));
  APMCOV_RETURN_IF_ERROR(Set(conf.get(), "client.id", config.client_id));
  for (const auto& [name, value] : defaults) APMCOV_RETURN_IF_ERROR(Set(conf.get(), name, value));
  for (const auto& [name, value] : config.properties) {
    APMCOV_RETURN_IF_ERROR(Set(conf.get(), name, value));
  }
  rd_kafka_conf_set_log_cb(conf.get(), &LogCallback);
  return conf;
}

absl::StatusOr<HandlePtr> MakeHandle(rd_kafka_type_t type, ConfPtr conf) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("creating the kafka client: ", errstr));
  }
  (void)conf.release();  // owned by rk now
  return HandlePtr(rk);
}

absl::StatusOr<std::vector<int32_t>> TopicPartitions(rd_kafka_t* rk, const std::string& topic,
                                                     std::chrono::milliseconds timeout) {
  if (topic.empty()) return absl::InvalidArgumentError("topic name is empty");
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  if (rkt == nullptr) {
    return KafkaStatus(rd_kafka_last_error(), absl::StrCat("topic handle for ", topic));
  }
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, static_cast<int>(timeout.count()));
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaStatus(err, absl::StrCat("metadata of ", topic));
  }
  std::vector<int32_t> out;
  absl::Status status = absl::NotFoundError(absl::StrCat("topic ", topic, " not in metadata"));
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = KafkaStatus(t.err, absl::StrCat("metadata of ", topic));
    } else {
      for (int p = 0; p < t.partition_cnt; ++p) out.push_back(t.partitions[p].id);
      status = absl::OkStatus();
    }
  }
  rd_kafka_metadata_destroy(md);
  if (!status.ok()) return status;
  if (out.empty()) return absl::NotFoundError(absl::StrCat("topic ", topic, " has no partitions"));
  return out;
}

std::vector<TopicPartition> ToTopicPartitions(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  for (int i = 0; i < list->cnt; ++i)
    out.push_back({list->elems[i].topic, list->elems[i].partition});
  return out;
}

}  // namespace kafka_internal
}  // namespace apmcov::bus
