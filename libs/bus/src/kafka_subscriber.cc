#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "apmcov/base/log.h"
#include "apmcov/base/status.h"
#include "apmcov/bus/kafka.h"
#include "kafka_common.h"

namespace apmcov::bus {

using kafka_internal::HandlePtr;
using kafka_internal::KafkaStatus;
using kafka_internal::PartitionListPtr;

namespace {

const Logger& Log() {
  static const Logger log("bus.kafka.subscriber");
  return log;
}

IncomingMessage Convert(const rd_kafka_message_t* m) {
  IncomingMessage out;
  out.topic = rd_kafka_topic_name(m->rkt);
  out.partition = m->partition;
  out.offset = m->offset;
  if (m->key != nullptr) out.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) out.value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers != nullptr) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      out.headers.emplace_back(name, value != nullptr
                                         ? std::string(static_cast<const char*>(value), size)
                                         : std::string());
    }
  }
  rd_kafka_timestamp_type_t type;
  out.timestamp_ms = rd_kafka_message_timestamp(m, &type);
  return out;
}

}  // namespace

struct KafkaSubscriber::Impl {
  KafkaConfig config;
  std::string group_id;
  HandlePtr rk;
  RebalanceListener listener;
  std::atomic<int64_t> data_loss{0};
  std::optional<absl::Status> pending;
  // Where a partition found out of range restarts (its low watermark then), until the next
  // rebalance: re-assigning after a later loss on another partition must not put this one
  // back at the lost offset it has not moved past yet.
  std::map<std::pair<std::string, int32_t>, int64_t> restart_floor;
  // The partitions this member owns: Commit() refuses the others.
  std::set<TopicPartition> owned;
  // The batch Poll() is gathering, so that a revoke served inside it takes back the messages
  // of the partitions it revokes (they belong to the next owner now).
  std::vector<IncomingMessage>* polling = nullptr;
  bool subscribed = false;
  bool closed = false;

  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    std::vector<TopicPartition> tps = kafka_internal::ToTopicPartitions(partitions);
    self->restart_floor.clear();
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->Assign(rk, partitions);
      Log().Info("partitions assigned",
                 {{"group", self->group_id}, {"count", static_cast<int64_t>(tps.size())}});
      self->owned.insert(tps.begin(), tps.end());
      if (self->listener.on_assigned) self->listener.on_assigned(tps);
    } else {
      size_t withdrawn = 0;
      if (self->polling != nullptr) {
        const std::set<TopicPartition> gone(tps.begin(), tps.end());
        withdrawn = std::erase_if(*self->polling, [&](const IncomingMessage& m) {
          return gone.contains(TopicPartition{m.topic, m.partition});
        });
      }
      Log().Info("partitions revoked", {{"group", self->group_id},
                                        {"count", static_cast<int64_t>(tps.size())},
                                        {"messages_withdrawn", static_cast<int64_t>(withdrawn)}});
      // The listener may still commit what it processed of them.
      if (self->listener.on_revoked) self->listener.on_revoked(tps);
      for (const TopicPartition& tp : tps) self->owned.erase(tp);
      rd_kafka_assign(rk, nullptr);
    }
  }

  // Starts each partition at its committed offset, or at the beginning when it has none. Done
  // here (not by auto.offset.reset) so that auto.offset.reset=error reports only real
  // out-of-range offsets.
  void Assign(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* partitions) {
    PartitionListPtr list(rd_kafka_topic_partition_list_copy(partitions));
    for (int i = 0; i < list->cnt; ++i) list->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    ResolveStartOffsets(rk, list.get());
    if (rd_kafka_resp_err_t e = rd_kafka_assign(rk, list.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Log().Error("assign failed", {{"group", group_id}, {"error", rd_kafka_err2str(e)}});
    }
  }

  // Entries with a negative offset get the group's committed offset, or BEGINNING when there
  // is none.
  void ResolveStartOffsets(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* list) {
    PartitionListPtr lookup(rd_kafka_topic_partition_list_new(list->cnt));
    for (int i = 0; i < list->cnt; ++i) {
      if (list->elems[i].offset < 0) {
        rd_kafka_topic_partition_list_add(lookup.get(), list->elems[i].topic,
                                          list->elems[i].partition);
      }
    }
    if (lookup->cnt == 0) return;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 0; attempt < 3; ++attempt) {
      err = rd_kafka_committed(rk, lookup.get(), static_cast<int>(config.request_timeout.count()));
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Log().Error("cannot read committed offsets; librdkafka will fetch them",
                  {{"group", group_id}, {"error", rd_kafka_err2str(err)}});
    }
    for (int i = 0; i < list->cnt; ++i) {
      rd_kafka_topic_partition_t& p = list->elems[i];
      p.err = RD_KAFKA_RESP_ERR_NO_ERROR;
      if (p.offset >= 0) continue;
      const rd_kafka_topic_partition_t* found =
          rd_kafka_topic_partition_list_find(lookup.get(), p.topic, p.partition);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR || found == nullptr) {
        p.offset = RD_KAFKA_OFFSET_STORED;  // let librdkafka fetch it
      } else if (found->err != RD_KAFKA_RESP_ERR_NO_ERROR || found->offset < 0) {
        p.offset = RD_KAFKA_OFFSET_BEGINNING;
      } else {
        p.offset = found->offset;
      }
    }
  }

  // Offset out of range: count it, log it, resume at the earliest retained message.
  absl::Status OnOutOfRange(const rd_kafka_message_t* m) {
    data_loss.fetch_add(1);
    std::string topic = m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "";
    std::string reason = rd_kafka_message_errstr(m);
    Log().Error("consumer offset out of range: messages were lost to retention",
                {{"group", group_id},
                 {"topic", topic},
                 {"partition", static_cast<int64_t>(m->partition)},
                 {"offset", static_cast<int64_t>(m->offset)},
                 {"error", reason}});
    // Restart the partition at the low watermark by assigning again: a partition stopped by
    // auto.offset.reset=error ignores rd_kafka_seek() in librdkafka 2.0.2 (observed with
    // kafka-dev). Other partitions keep their positions.
    int64_t low = 0, high = 0;
    const int timeout_ms = static_cast<int>(config.request_timeout.count());
    rd_kafka_resp_err_t werr = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    if (!topic.empty()) {
      werr = rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), m->partition, &low, &high,
                                              timeout_ms);
    }
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (werr == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_assignment(rk.get(), &raw) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      PartitionListPtr current(raw);
      rd_kafka_position(rk.get(), current.get());
      restart_floor[{topic, m->partition}] = low;
      for (int i = 0; i < current->cnt; ++i) {
        rd_kafka_topic_partition_t& p = current->elems[i];
        auto floor = restart_floor.find({p.topic, p.partition});
        if (floor != restart_floor.end() && p.offset < floor->second) p.offset = floor->second;
      }
      ResolveStartOffsets(rk.get(), current.get());  // partitions not fetched yet
      if (rd_kafka_resp_err_t e = rd_kafka_assign(rk.get(), current.get());
          e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        Log().Error("re-assign after data loss failed", {{"error", rd_kafka_err2str(e)}});
      }
    } else {
      Log().Error("cannot find the earliest offset after data loss",
                  {{"topic", topic}, {"error", rd_kafka_err2str(werr)}});
    }
    return absl::DataLossError(absl::StrCat("offset ", m->offset, " of ", topic, "/", m->partition,
                                            " is out of range (", reason,
                                            "): resuming at the earliest retained message"));
  }
};

absl::StatusOr<std::unique_ptr<KafkaSubscriber>> KafkaSubscriber::Create(
    const KafkaConfig& config, const std::string& group_id) {
  if (group_id.empty()) return absl::InvalidArgumentError("kafka subscriber: group id is empty");
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->group_id = group_id;
  APMCOV_ASSIGN_OR_RETURN(
      auto conf, kafka_internal::MakeConf(config, {
                                                      {"group.id", group_id},
                                                      {"enable.auto.commit", "false"},
                                                      {"enable.auto.offset.store", "false"},
                                                      {"auto.offset.reset", "error"},
                                                      // on_end_of_partition (ignored unset).
                                                      {"enable.partition.eof", "true"},
                                                      // Kafka's pre-3.0 default: kafka-dev only
                                                      // drops a departed member after this.
                                                      {"session.timeout.ms", "10000"},
                                                      {"heartbeat.interval.ms", "1000"},
                                                      // Prefetch 16 MiB, not librdkafka's 64:
                                                      // more than an analyzer poll ahead (5,000
                                                      // span batches of ~2 KB); the analyzer's
                                                      // VmHWM at 0.9-1M spans in flight was then
                                                      // 380-407 MB, not 467-493
                                                      // (bench/e2e/README.md).
                                                      {"queued.max.messages.kbytes", "16384"},
                                                  }));
  rd_kafka_conf_set_opaque(conf.get(), impl.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::OnRebalance);
  APMCOV_ASSIGN_OR_RETURN(impl->rk, kafka_internal::MakeHandle(RD_KAFKA_CONSUMER, std::move(conf)));
  rd_kafka_poll_set_consumer(impl->rk.get());
  return std::unique_ptr<KafkaSubscriber>(new KafkaSubscriber(std::move(impl)));
}

KafkaSubscriber::KafkaSubscriber(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaSubscriber::~KafkaSubscriber() { Close(); }

absl::Status KafkaSubscriber::Subscribe(const std::vector<std::string>& topics,
                                        RebalanceListener listener) {
  if (impl_->closed) return absl::FailedPreconditionError("subscribe: subscriber is closed");
  if (topics.empty()) return absl::InvalidArgumentError("subscribe: no topics given");
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (const std::string& t : topics) {
    if (t.empty()) return absl::InvalidArgumentError("subscribe: a topic name is empty");
    rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  impl_->listener = std::move(listener);
  APMCOV_RETURN_IF_ERROR(KafkaStatus(rd_kafka_subscribe(impl_->rk.get(), list.get()),
                                     absl::StrCat("subscribe group ", impl_->group_id)));
  impl_->subscribed = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<IncomingMessage>> KafkaSubscriber::Poll(
    size_t max_messages, std::chrono::milliseconds timeout) {
  if (impl_->closed) return absl::FailedPreconditionError("poll: subscriber is closed");
  if (!impl_->subscribed) return absl::FailedPreconditionError("poll: call Subscribe() first");
  if (impl_->pending.has_value()) {
    absl::Status s = *impl_->pending;
    impl_->pending.reset();
    return s;
  }
  std::vector<IncomingMessage> out;
  impl_->polling = &out;
  absl::Cleanup not_polling = [this] { impl_->polling = nullptr; };
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < max_messages) {
    int wait_ms = 0;
    if (out.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      wait_ms = static_cast<int>(left.count());
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(impl_->rk.get(), wait_ms);
    if (m == nullptr) {
      if (out.empty()) continue;  // woken by a rebalance or an event: wait out the deadline
      break;
    }
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      out.push_back(Convert(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    rd_kafka_resp_err_t err = m->err;
    if (err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
        err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
      absl::Status loss = impl_->OnOutOfRange(m);
      rd_kafka_message_destroy(m);
      if (out.empty()) return loss;
      impl_->pending = loss;
      return out;
    }
    if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      TopicPartition tp{m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "", m->partition};
      const int64_t end = m->offset;
      rd_kafka_message_destroy(m);
      // A revoke served earlier in this poll may have taken the partition away.
      if (!impl_->listener.on_end_of_partition || !impl_->owned.contains(tp)) continue;
      impl_->listener.on_end_of_partition(tp, end);
      return out;
    }
    std::string reason = rd_kafka_message_errstr(m);
    rd_kafka_message_destroy(m);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char buf[512];
      rd_kafka_fatal_error(impl_->rk.get(), buf, sizeof(buf));
      return absl::InternalError(absl::StrCat("fatal consumer error: ", buf));
    }
    // Transport and broker errors are retried inside librdkafka; report and go on.
    Log().Warn("consumer error",
               {{"group", impl_->group_id}, {"code", rd_kafka_err2name(err)}, {"error", reason}});
  }
  return out;
}

absl::Status KafkaSubscriber::Commit(const std::map<TopicPartition, int64_t>& next_offsets) {
  if (impl_->closed) return absl::FailedPreconditionError("commit: subscriber is closed");
  if (next_offsets.empty()) return absl::OkStatus();
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size())));
  for (const auto& [tp, offset] : next_offsets) {
    if (offset < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("commit: negative offset ", offset, " for ", tp.topic, "/", tp.partition));
    }
    if (!impl_->owned.contains(tp)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "commit: ", tp.topic, "/", tp.partition, " is not assigned to this member of group ",
          impl_->group_id, " (revoked in a rebalance?)"));
    }
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
  }
  std::string context = absl::StrCat("commit group ", impl_->group_id);
  APMCOV_RETURN_IF_ERROR(KafkaStatus(rd_kafka_commit(impl_->rk.get(), list.get(), 0), context));
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    APMCOV_RETURN_IF_ERROR(
        KafkaStatus(p.err, absl::StrCat(context, " ", p.topic, "/", p.partition)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<TopicPartition, int64_t>> KafkaSubscriber::Committed(
    const std::vector<TopicPartition>& partitions) {
  if (impl_->closed) return absl::FailedPreconditionError("committed: subscriber is closed");
  std::map<TopicPartition, int64_t> out;
  if (partitions.empty()) return out;
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const TopicPartition& tp : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
  }
  std::string context = absl::StrCat("committed offsets of group ", impl_->group_id);
  APMCOV_RETURN_IF_ERROR(
      KafkaStatus(rd_kafka_committed(impl_->rk.get(), list.get(),
                                     static_cast<int>(impl_->config.request_timeout.count())),
                  context));
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    APMCOV_RETURN_IF_ERROR(
        KafkaStatus(p.err, absl::StrCat(context, " ", p.topic, "/", p.partition)));
    if (p.offset >= 0) out[{p.topic, p.partition}] = p.offset;
  }
  return out;
}

void KafkaSubscriber::Close() {
  if (!impl_ || impl_->closed) return;
  // The revoke callback (and the listener's Commit()) runs inside rd_kafka_consumer_close().
  if (rd_kafka_resp_err_t err = rd_kafka_consumer_close(impl_->rk.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Log().Warn("consumer close", {{"group", impl_->group_id}, {"error", rd_kafka_err2str(err)}});
  }
  impl_->closed = true;
  impl_->rk.reset();
}

int64_t KafkaSubscriber::data_loss_events() const { return impl_->data_loss.load(); }

}  // namespace apmcov::bus
