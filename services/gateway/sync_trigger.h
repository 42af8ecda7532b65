// SyncTrigger: asks the collector for a sync (design §3 `commands` topic). Publishes one
// SyncRequest protobuf, key "sync", headers content-type/type, to `<prefix>commands` through the
// bus Publisher port, waits for the broker's acknowledgement, and returns the job id it chose
// (a random UUID v4) so the caller can follow the job in sync_jobs.
//
// Traced (design §12): a producer span `kafka.produce` (child of the thread's active span, the
// REST or gRPC request) around the publish, its context injected into the record's headers
// (Datadog and W3C) so the collector's sync continues the trace.
//
// Thread-safe when the Publisher is (the port's contract says it is).
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "apmcov/base/clock.h"
#include "apmcov/bus/bus.h"
#include "apmcov/tracing/tracer.h"

namespace apmcov::gateway {

class SyncTrigger {
 public:
  SyncTrigger(bus::Publisher& publisher, const Clock& clock, const std::string& topic_prefix,
              std::chrono::milliseconds flush_timeout = std::chrono::seconds(5),
              tracing::Tracer& tracer = tracing::DisabledTracer());

  // Unavailable when the request could not be delivered.
  absl::StatusOr<std::string> Trigger(const std::string& requested_by);

  const std::string& topic() const { return topic_; }

 private:
  bus::Publisher& publisher_;
  const Clock& clock_;
  std::string topic_;
  std::chrono::milliseconds flush_timeout_;
  tracing::Tracer& tracer_;
};

// A random RFC 4122 version 4 UUID, lowercase.
std::string NewJobId();

}  // namespace apmcov::gateway
