// Helpers shared by the coverage unit tests: terse span construction.
#pragma once

#include <cstdint>
#include <string_view>

#include "apmcov/coverage/span.h"

namespace apmcov::coverage::testing {

inline constexpr int64_t kSec = 1'000'000'000;

// A whole-trace-retained span of `service` in env prod starting at `start_s` seconds, lasting
// one second. Callers adjust the other fields.
inline SpanFields Fields(uint64_t trace, uint64_t id, uint64_t parent, std::string_view service,
                         int64_t start_s = 1000) {
  SpanFields f;
  f.trace_id_lo = trace;
  f.span_id = id;
  f.parent_id = parent;
  f.service = service;
  f.env = "prod";
  f.resource = "GET /";
  f.start_ns = start_s * kSec;
  f.duration_ns = kSec;
  f.retained_by = "flat_sampled";
  return f;
}

inline SpanFields Client(SpanFields f, std::string_view target) {
  f.kind = "client";
  f.target = target;
  f.type = "http";
  return f;
}

inline SpanFields Server(SpanFields f) {
  f.kind = "server";
  f.type = "web";
  return f;
}

}  // namespace apmcov::coverage::testing
