#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "apmcov/bus/kafka.h"
#include "kafka_common.h"

namespace apmcov::bus {

using kafka_internal::HandlePtr;
using kafka_internal::KafkaStatus;
using kafka_internal::PartitionListPtr;

struct KafkaLagProbe::Impl {
  KafkaConfig config;
  std::mutex mu;
  HandlePtr meta;                           // no group: metadata and watermarks
  std::map<std::string, HandlePtr> groups;  // group.id set, never subscribed: committed offsets

  absl::StatusOr<rd_kafka_t*> GroupHandle(const std::string& group) {
    auto it = groups.find(group);
    if (it != groups.end()) return it->second.get();
    APMCOV_ASSIGN_OR_RETURN(
        auto conf,
        kafka_internal::MakeConf(config, {{"group.id", group}, {"enable.auto.commit", "false"}}));
    APMCOV_ASSIGN_OR_RETURN(HandlePtr rk,
                            kafka_internal::MakeHandle(RD_KAFKA_CONSUMER, std::move(conf)));
    rd_kafka_t* raw = rk.get();
    groups[group] = std::move(rk);
    return raw;
  }

  absl::StatusOr<std::pair<int64_t, int64_t>> Watermarks(const std::string& topic,
                                                         int32_t partition) {
    int64_t low = 0, high = 0;
    APMCOV_RETURN_IF_ERROR(KafkaStatus(
        rd_kafka_query_watermark_offsets(meta.get(), topic.c_str(), partition, &low, &high,
                                         static_cast<int>(config.request_timeout.count())),
        absl::StrCat("watermarks of ", topic, "/", partition)));
    return std::make_pair(low, high);
  }
};

absl::StatusOr<std::unique_ptr<KafkaLagProbe>> KafkaLagProbe::Create(const KafkaConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  APMCOV_ASSIGN_OR_RETURN(auto conf, kafka_internal::MakeConf(config, {}));
  APMCOV_ASSIGN_OR_RETURN(impl->meta,
                          kafka_internal::MakeHandle(RD_KAFKA_CONSUMER, std::move(conf)));
  return std::unique_ptr<KafkaLagProbe>(new KafkaLagProbe(std::move(impl)));
}

KafkaLagProbe::KafkaLagProbe(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaLagProbe::~KafkaLagProbe() = default;

absl::StatusOr<std::pair<int64_t, int64_t>> KafkaLagProbe::Watermarks(const std::string& topic,
                                                                      int32_t partition) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->Watermarks(topic, partition);
}

absl::StatusOr<std::vector<PartitionLag>> KafkaLagProbe::PartitionLags(const std::string& group,
                                                                       const std::string& topic) {
  if (group.empty()) return absl::InvalidArgumentError("lag: group id is empty");
  std::lock_guard<std::mutex> lock(impl_->mu);
  APMCOV_ASSIGN_OR_RETURN(
      std::vector<int32_t> partitions,
      kafka_internal::TopicPartitions(impl_->meta.get(), topic, impl_->config.request_timeout));
  APMCOV_ASSIGN_OR_RETURN(rd_kafka_t * rk, impl_->GroupHandle(group));
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (int32_t p : partitions) rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
  std::string context = absl::StrCat("committed offsets of group ", group);
  APMCOV_RETURN_IF_ERROR(KafkaStatus(
      rd_kafka_committed(rk, list.get(), static_cast<int>(impl_->config.request_timeout.count())),
      context));
  std::vector<PartitionLag> out;
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    APMCOV_RETURN_IF_ERROR(KafkaStatus(p.err, absl::StrCat(context, " ", topic, "/", p.partition)));
    APMCOV_ASSIGN_OR_RETURN(auto marks, impl_->Watermarks(topic, p.partition));
    out.push_back({p.partition, p.offset >= 0 ? p.offset : -1, marks.first, marks.second});
  }
  return out;
}

}  // namespace apmcov::bus
