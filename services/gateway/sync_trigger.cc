#include "sync_trigger.h"

#include <cstdio>
#include <random>

#include "apmcov/base/status.h"
#include "apmcov/bus/proto.h"
#include "apmcov/v1/events.pb.h"
#include "google/protobuf/util/time_util.h"

namespace apmcov::gateway {

std::string NewJobId() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   (static_cast<uint64_t>(std::random_device{}()) << 32));
  uint64_t hi = rng(), lo = rng();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

SyncTrigger::SyncTrigger(bus::Publisher& publisher, const Clock& clock,
                         const std::string& topic_prefix, std::chrono::milliseconds flush_timeout,
                         tracing::Tracer& tracer)
    : publisher_(publisher),
      clock_(clock),
      topic_(bus::TopicNames(topic_prefix).commands),
      flush_timeout_(flush_timeout),
      tracer_(tracer) {}

absl::StatusOr<std::string> SyncTrigger::Trigger(const std::string& requested_by) {
  v1::SyncRequest req;
  std::string id = NewJobId();
  req.set_job_id(id);
  req.set_requested_by(requested_by);
  int64_t now = clock_.NowUnixNanos();
  *req.mutable_requested_at() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(now);
  tracing::Span span = tracer_.StartSpan(
      "kafka.produce", {.resource = topic_, .type = "queue", .kind = tracing::kinds::kProducer});
  span.SetTag(tracing::tags::kMessagingSystem, "kafka");
  span.SetTag(tracing::tags::kMessagingDestination, topic_);
  span.SetTag("sync.job_id", id);
  bus::Headers trace_headers;
  tracing::Inject(span.context(), tracing::WriteTo(&trace_headers));
  // Partition 0: its owner is the leading collector (design §3), whatever the partition count.
  absl::StatusOr<bus::OutgoingMessage> msg =
      bus::MakeProtoMessage(topic_, "sync", req, 0, std::move(trace_headers));
  if (!msg.ok()) {
    span.SetError(StdView(msg.status().message()));
    return absl::InternalError(msg.status().message());
  }
  if (auto s = publisher_.Publish(*std::move(msg)); !s.ok()) {
    span.SetError(StdView(s.message()));
    return absl::UnavailableError(absl::StrCat("publishing the sync request: ", s.message()));
  }
  if (auto s = publisher_.Flush(flush_timeout_); !s.ok()) {
    span.SetError(StdView(s.message()));
    return absl::UnavailableError(absl::StrCat("delivering the sync request: ", s.message()));
  }
  return id;
}

}  // namespace apmcov::gateway
