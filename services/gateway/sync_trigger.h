// SyncTrigger: asks the collector for a sync (design §3 `commands` topic). Publishes one
// SyncRequest protobuf, key "sync", headers content-type/type, to `<prefix>commands` through the
// bus Publisher port, waits for the broker's acknowledgement, and returns the job id it chose
// (a random UUID v4) so the caller can follow the job in sync_jobs.
//
// Thread-safe when the Publisher is (the port's contract says it is).
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "apmcov/base/clock.h"
#include "apmcov/bus/bus.h"

namespace apmcov::gateway {

class SyncTrigger {
 public:
  SyncTrigger(bus::Publisher& publisher, const Clock& clock, const std::string& topic_prefix,
              std::chrono::milliseconds flush_timeout = std::chrono::seconds(5));

  // Unavailable when the request could not be delivered.
  absl::StatusOr<std::string> Trigger(const std::string& requested_by);

  const std::string& topic() const { return topic_; }

 private:
  bus::Publisher& publisher_;
  const Clock& clock_;
  std::string topic_;
  std::chrono::milliseconds flush_timeout_;
};

// A random RFC 4122 version 4 UUID, lowercase.
std::string NewJobId();

}  // namespace apmcov::gateway
