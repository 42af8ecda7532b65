#include "kafka_publisher.h"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <mutex>

#include "apmcov/base/status.h"

namespace apmcov::gateway {

struct KafkaPublisher::Impl {
  rd_kafka_t* rk = nullptr;
  std::mutex mu;
  std::string last_error;  // first delivery failure since the last Flush
  std::atomic<int64_t> failed{0};

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    auto* self = static_cast<Impl*>(opaque);
    std::lock_guard lock(self->mu);
    if (self->last_error.empty()) self->last_error = rd_kafka_err2str(msg->err);
    self->failed++;
  }
};

absl::StatusOr<std::unique_ptr<KafkaPublisher>> KafkaPublisher::Create(const std::string& brokers) {
  std::unique_ptr<KafkaPublisher> p(new KafkaPublisher());
  p->impl_ = std::make_unique<Impl>();
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* k, const char* v) {
    return rd_kafka_conf_set(conf, k, v, err, sizeof err) == RD_KAFKA_CONF_OK;
  };
  if (!set("bootstrap.servers", brokers.c_str()) || !set("enable.idempotence", "true") ||
      !set("acks", "all") || !set("linger.ms", "1") || !set("message.timeout.ms", "10000")) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("KAFKA_BROKERS: ", err));
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &Impl::OnDelivery);
  rd_kafka_conf_set_opaque(conf, p->impl_.get());
  p->impl_->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!p->impl_->rk) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("kafka producer: ", err));
  }
  return p;
}

KafkaPublisher::~KafkaPublisher() {
  if (impl_ && impl_->rk) {
    rd_kafka_flush(impl_->rk, 2000);
    rd_kafka_destroy(impl_->rk);
  }
}

absl::Status KafkaPublisher::Publish(bus::OutgoingMessage m) {
  rd_kafka_headers_t* headers = rd_kafka_headers_new(m.headers.size());
  for (const auto& [k, v] : m.headers) {
    rd_kafka_header_add(headers, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                        static_cast<ssize_t>(v.size()));
  }
  const int32_t partition = m.partition.value_or(RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_producev(
      impl_->rk, RD_KAFKA_V_TOPIC(m.topic.c_str()), RD_KAFKA_V_PARTITION(partition),
      RD_KAFKA_V_KEY(m.key.data(), m.key.size()), RD_KAFKA_V_VALUE(m.value.data(), m.value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_headers_destroy(headers);
    return absl::UnavailableError(
        absl::StrCat("kafka produce to ", m.topic, ": ", rd_kafka_err2str(e)));
  }
  rd_kafka_poll(impl_->rk, 0);
  return absl::OkStatus();
}

absl::Status KafkaPublisher::Flush(std::chrono::milliseconds timeout) {
  rd_kafka_resp_err_t e = rd_kafka_flush(impl_->rk, static_cast<int>(timeout.count()));
  std::lock_guard lock(impl_->mu);
  if (!impl_->last_error.empty()) {
    std::string msg = std::move(impl_->last_error);
    impl_->last_error.clear();
    return absl::UnavailableError(absl::StrCat("kafka delivery failed: ", msg));
  }
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("kafka flush: ", rd_kafka_err2str(e)));
  }
  return absl::OkStatus();
}

absl::StatusOr<int32_t> KafkaPublisher::PartitionCount(const std::string& topic) {
  rd_kafka_topic_t* t = rd_kafka_topic_new(impl_->rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t e = rd_kafka_metadata(impl_->rk, 0, t, &md, 2000);
  rd_kafka_topic_destroy(t);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("kafka metadata: ", rd_kafka_err2str(e)));
  }
  int32_t n = 0;
  absl::Status status = absl::OkStatus();
  if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    n = md->topics[0].partition_cnt;
  } else {
    status = absl::NotFoundError(absl::StrCat("kafka topic ", topic, " not found"));
  }
  rd_kafka_metadata_destroy(md);
  if (!status.ok()) return status;
  return n;
}

}  // namespace apmcov::gateway
