#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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
    // The value Produce() handed over (librdkafka neither copied nor frees it).
    delete static_cast<std::string*>(m->_private);
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

  // Enqueues one record. The value is handed to librdkafka without a copy: it moves into a
  // string the delivery report deletes (the message's opaque). `headers`: a template copied
  // into the record (librdkafka owns the copy), or null. Waits up to kEnqueueTimeout for room.
  absl::Status Produce(rd_kafka_topic_t* rkt, const std::string& topic,
                       std::optional<int32_t> partition, const std::string& key,
                       std::string&& value, const rd_kafka_headers_t* headers) {
    if (partition.has_value() && *partition < 0) {
      return absl::InvalidArgumentError(absl::StrCat("publish: negative partition ", *partition));
    }
    auto owned = std::make_unique<std::string>(std::move(value));
    const auto deadline = std::chrono::steady_clock::now() + kEnqueueTimeout;
    for (;;) {
      rd_kafka_headers_t* copy = headers != nullptr ? rd_kafka_headers_copy(headers) : nullptr;
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk.get(), RD_KAFKA_V_RKT(rkt),
          RD_KAFKA_V_PARTITION(partition.value_or(RD_KAFKA_PARTITION_UA)),
          RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
          RD_KAFKA_V_VALUE(owned->data(), owned->size()), RD_KAFKA_V_HEADERS(copy),
          RD_KAFKA_V_OPAQUE(owned.get()), RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {  // the message owns the headers and the value
        (void)owned.release();
        break;
      }
      if (copy != nullptr) rd_kafka_headers_destroy(copy);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || std::chrono::steady_clock::now() >= deadline) {
        return KafkaStatus(err, absl::StrCat("publish to ", topic));
      }
      rd_kafka_poll(rk.get(), 10);  // serve delivery reports to make room
    }
    // Serve delivery reports now and then so they never pile up between flushes.
    if (published.fetch_add(1, std::memory_order_relaxed) % 1024 == 0) rd_kafka_poll(rk.get(), 0);
    return absl::OkStatus();
  }
};

namespace {

struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
};
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;

// librdkafka's native headers for `headers` (null when there are none).
HeadersPtr NativeHeaders(const Headers& headers) {
  if (headers.empty()) return nullptr;
  HeadersPtr out(rd_kafka_headers_new(headers.size()));
  for (const auto& [name, value] : headers) {
    rd_kafka_header_add(out.get(), name.data(), static_cast<ssize_t>(name.size()), value.data(),
                        static_cast<ssize_t>(value.size()));
  }
  return out;
}

absl::StatusOr<TopicPtr> TopicHandle(rd_kafka_t* rk, const std::string& topic) {
  if (topic.empty()) return absl::InvalidArgumentError("publish: topic name is empty");
  TopicPtr t(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  if (!t) {
    return KafkaStatus(rd_kafka_last_error(), absl::StrCat("publish to ", topic));
  }
  return t;
}

}  // namespace

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
      // Their delivery reports (purged) free the values handed over.
      rd_kafka_purge(impl_->rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_flush(impl_->rk.get(), 1000);
    }
  }
}

absl::Status KafkaPublisher::Publish(OutgoingMessage message) {
  APMCOV_ASSIGN_OR_RETURN(TopicPtr rkt, TopicHandle(impl_->rk.get(), message.topic));
  HeadersPtr headers = NativeHeaders(message.headers);
  return impl_->Produce(rkt.get(), message.topic, message.partition, message.key,
                        std::move(message.value), headers.get());
}

absl::Status KafkaPublisher::PublishBatch(OutgoingBatch batch) {
  APMCOV_ASSIGN_OR_RETURN(TopicPtr rkt, TopicHandle(impl_->rk.get(), batch.topic));
  // Written once; each record gets librdkafka's copy.
  HeadersPtr headers = NativeHeaders(batch.headers);
  for (OutgoingRecord& r : batch.records) {
    APMCOV_RETURN_IF_ERROR(impl_->Produce(rkt.get(), batch.topic, r.partition, r.key,
                                          std::move(r.value), headers.get()));
  }
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
