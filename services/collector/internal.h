// Small helpers shared by the collector's translation units.
#pragma once

#include <chrono>
#include <cstdint>

#include "apmcov/base/log.h"

namespace apmcov::collector::internal {

inline const Logger& Log() {
  static const Logger log("collector");
  return log;
}

// The checkpoint's key in collector-state.
inline constexpr char kSource[] = "datadog";

inline int64_t ToNanos(std::chrono::seconds s) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(s).count();
}

}  // namespace apmcov::collector::internal
