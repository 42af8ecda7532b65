// Small helpers shared by the collector's translation units.
#pragma once

#include <chrono>
#include <cstdint>

#include "apmcov/base/log.h"
#include "google/protobuf/timestamp.pb.h"

namespace apmcov::collector::internal {

inline const Logger& Log() {
  static const Logger log("collector");
  return log;
}

// The checkpoint's key in collector-state.
inline constexpr char kSource[] = "datadog";

inline void SetTs(int64_t unix_nanos, google::protobuf::Timestamp* ts) {
  ts->set_seconds(unix_nanos / 1'000'000'000);
  ts->set_nanos(static_cast<int32_t>(unix_nanos % 1'000'000'000));
}

inline int64_t ToNanos(std::chrono::seconds s) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(s).count();
}

}  // namespace apmcov::collector::internal
