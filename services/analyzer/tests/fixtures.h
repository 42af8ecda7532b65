// Builders shared by the analyzer's unit and integration tests: spans and sync jobs as the
// collector publishes them.
#pragma once

#include <cstdint>
#include <string>

#include "apmcov/v1/events.pb.h"
#include "google/protobuf/util/time_util.h"

namespace apmcov::analyzer::testing {

inline constexpr int64_t kSec = 1'000'000'000;
inline constexpr int64_t kT0 = 1'763'700'000 * kSec;  // event time of the tests' spans

// A 1 ms span of `service` in prod (Go on Kubernetes, kept by flat sampling); `target` is the
// peer a client span calls.
inline v1::Span MakeSpan(uint64_t trace, uint64_t id, uint64_t parent, const std::string& service,
                         const std::string& kind, int64_t start, const std::string& target = "") {
  v1::Span s;
  s.set_trace_id(trace);
  s.set_span_id(id);
  s.set_parent_id(parent);
  s.set_service(service);
  s.set_env("prod");
  s.set_resource("GET /" + service);
  s.set_type("web");
  s.set_kind(kind);
  s.set_start_unix_nano(start);
  s.set_duration_ns(1'000'000);
  s.set_retained_by("flat_sampled");
  s.set_language("go");
  s.set_infra_hint("kubernetes");
  s.set_target(target);
  return s;
}

// A SyncJob event as the collector publishes it: `state`, `spans` published, started at
// `started_ns` and finished at `finished_ns` (no time set when 0).
inline v1::SyncJob MakeJob(const std::string& id, v1::SyncState state, uint64_t spans = 0,
                           int64_t started_ns = 0, int64_t finished_ns = 0) {
  v1::SyncJob job;
  job.set_id(id);
  job.set_state(state);
  job.set_spans(spans);
  using google::protobuf::util::TimeUtil;
  if (started_ns != 0) *job.mutable_started_at() = TimeUtil::NanosecondsToTimestamp(started_ns);
  if (finished_ns != 0) *job.mutable_finished_at() = TimeUtil::NanosecondsToTimestamp(finished_ns);
  return job;
}

}  // namespace apmcov::analyzer::testing
