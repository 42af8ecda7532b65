#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "apmcov/base/log.h"
#include "apmcov/base/process.h"
#include "apmcov/base/status.h"
#include "apmcov/bus/kafka.h"
#include "kafka_common.h"

namespace apmcov::bus {

using kafka_internal::HandlePtr;
using kafka_internal::KafkaStatus;

namespace {

const Logger& Log() {
  static const Logger log("bus.kafka.publisher");
  return log;
}

// How long Publish() waits for room when librdkafka's local queue is full.
constexpr std::chrono::seconds kEnqueueTimeout{30};

}  // namespace

struct KafkaPublisher::Impl {
  KafkaConfig config;
  HandlePtr rk;
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> failures{0};
  std::atomic<uint64_t> published{0};
  std::mutex mu;  // guards the two fields below
  int64_t failed_since_flush = 0;
  absl::Status first_failure;

  static void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      self->delivered.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    self->failures.fetch_add(1, std::memory_order_relaxed);
    std::string topic = m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "?";
    absl::Status s = KafkaStatus(m->err, absl::StrCat("delivery to ", topic, "/", m->partition));
    std::lock_guard<std::mutex> lock(self->mu);
    if (self->failed_since_flush++ == 0) {
      self->first_failure = s;
      Log().Error("delivery failed", {{"topic", topic},
                                      {"partition", static_cast<int64_t>(m->partition)},
                                      {"error", std::string(s.message())}});
    }
  }

  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* /*opaque*/) {
    auto code = static_cast<rd_kafka_resp_err_t>(err);
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
      char buf[512];
      rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
      Log().Error("fatal producer error", {{"error", buf}, {"code", rd_kafka_err2name(orig)}});
      return;
    }
    Log().Warn("producer error", {{"error", reason}, {"code", rd_kafka_err2name(code)}});
  }
};

absl::StatusOr<std::unique_ptr<KafkaPublisher>> KafkaPublisher::Create(const KafkaConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  APMCOV_ASSIGN_OR_RETURN(auto conf,
                          kafka_internal::MakeConf(config, {
                                                               {"enable.idempotence", "true"},
                                                               {"acks", "all"},
                                                               {"linger.ms", "5"},
                                                               {"compression.type", "lz4"},
                                                               {"partitioner", "murmur2_random"},
                                                           }));
  rd_kafka_conf_set_opaque(conf.get(), impl.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::OnDelivery);
  rd_kafka_conf_set_error_cb(conf.get(), &Impl::OnError);
  APMCOV_ASSIGN_OR_RETURN(impl->rk, kafka_internal::MakeHandle(RD_KAFKA_PRODUCER, std::move(conf)));
  return std::unique_ptr<KafkaPublisher>(new KafkaPublisher(std::move(impl)));
}

KafkaPublisher::KafkaPublisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaPublisher::~KafkaPublisher() {
  if (impl_ && impl_->rk) {
    if (rd_kafka_flush(impl_->rk.get(), 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Log().Warn("messages still in flight at shutdown",
                 {{"count", rd_kafka_outq_len(impl_->rk.get())}});
    }
  }
}

absl::Status KafkaPublisher::Publish(OutgoingMessage message) {
  if (message.topic.empty()) return absl::InvalidArgumentError("publish: topic name is empty");
  if (message.partition.has_value() && *message.partition < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("publish: negative partition ", *message.partition));
  }
  rd_kafka_t* rk = impl_->rk.get();
  const auto deadline = std::chrono::steady_clock::now() + kEnqueueTimeout;
  for (;;) {
    rd_kafka_headers_t* headers = nullptr;
    if (!message.headers.empty()) {
      headers = rd_kafka_headers_new(message.headers.size());
      for (const auto& [name, value] : message.headers) {
        rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                            static_cast<ssize_t>(value.size()));
      }
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(message.topic.c_str()),
        RD_KAFKA_V_PARTITION(message.partition.value_or(RD_KAFKA_PARTITION_UA)),
        RD_KAFKA_V_KEY(message.key.empty() ? nullptr : message.key.data(), message.key.size()),
        RD_KAFKA_V_VALUE(message.value.data(), message.value.size()), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;  // headers are owned by the message now
    if (headers != nullptr) rd_kafka_headers_destroy(headers);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || std::chrono::steady_clock::now() >= deadline) {
      return KafkaStatus(err, absl::StrCat("publish to ", message.topic));
    }
    rd_kafka_poll(rk, 10);  // serve delivery reports to make room
  }
  // Serve delivery reports now and then so they never pile up between flushes.
  if (impl_->published.fetch_add(1, std::memory_order_relaxed) % 1024 == 0) rd_kafka_poll(rk, 0);
  return absl::OkStatus();
}

absl::Status KafkaPublisher::Flush(std::chrono::milliseconds timeout) {
  // Once SIGTERM/SIGINT arrived a flush lasts at most kShutdownFlush from its start, so a
  // broker outage cannot hold the process past its grace period (design: exit within 10 s).
  constexpr std::chrono::milliseconds kShutdownFlush(2000);
  const auto start = std::chrono::steady_clock::now();
  rd_kafka_resp_err_t err;
  for (;;) {  // in slices, so a SIGTERM during a long flush is noticed
    const auto limit = ShutdownRequested() ? std::min(timeout, kShutdownFlush) : timeout;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        start + limit - std::chrono::steady_clock::now());
    const auto slice =
        std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(100));
    err = rd_kafka_flush(impl_->rk.get(), static_cast<int>(slice.count()));
    if (err != RD_KAFKA_RESP_ERR__TIMED_OUT || left <= slice) break;
  }
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    return absl::DeadlineExceededError(absl::StrCat("flush: ", rd_kafka_outq_len(impl_->rk.get()),
                                                    " message(s) still unacknowledged after ",
                                                    timeout.count(), " ms"));
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->failed_since_flush == 0) return absl::OkStatus();
  absl::Status s(impl_->first_failure.code(),
                 absl::StrCat(impl_->failed_since_flush,
                              " message(s) failed delivery since the last flush; first: ",
                              impl_->first_failure.message()));
  impl_->failed_since_flush = 0;
  impl_->first_failure = absl::OkStatus();
  return s;
}

absl::StatusOr<int32_t> KafkaPublisher::PartitionCount(const std::string& topic) {
  // A topic being auto-created can report LEADER_NOT_AVAILABLE or UNKNOWN_TOPIC for a moment.
  const auto deadline = std::chrono::steady_clock::now() + impl_->config.request_timeout;
  for (;;) {
    auto parts =
        kafka_internal::TopicPartitions(impl_->rk.get(), topic, impl_->config.request_timeout);
    if (parts.ok()) return static_cast<int32_t>(parts->size());
    bool transient = parts.status().code() == absl::StatusCode::kNotFound ||
                     parts.status().code() == absl::StatusCode::kUnavailable;
    if (!transient || std::chrono::steady_clock::now() >= deadline) return parts.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int64_t KafkaPublisher::delivered() const { return impl_->delivered.load(); }
int64_t KafkaPublisher::delivery_failures() const { return impl_->failures.load(); }

}  // namespace apmcov::bus
