// The ground truth of what ddsim received as an Agent (design §12: the tracker's own traces are
// judged like any other). ddsim did not decide these traces, so their truth is ddsim's own
// reading of design §6, written here from the design's text and sharing no code with the
// product's detector (libs/coverage), so that one bug cannot hide in both:
//
//  - spans are grouped by trace (lower 64 bits) and deduplicated by span id;
//  - a client span (span.kind client or producer) that is not a dependency (db.system,
//    messaging.system, or type db/sql/cache/redis/memcached/queue/kafka) names its target by
//    the first of peer.service, peer.hostname, out.host, net.peer.name, server.address,
//    network.destination.name, the host of http.url, rpc.service,
//    messaging.destination.name; the target resolves to catalog service T when it equals a
//    catalog name or its first DNS label (port dropped) does;
//  - children of service T: healthy; children, none of T: uninstrumented_hop; no children:
//    uninstrumented_callee when T is not instrumented, else propagation_break;
//  - missing_root on the earliest span when no span has parent id 0; orphan_span for each
//    span whose parent is not 0 and not in the trace.
//
// Received traces are retained whole (retained_by flat_sampled), so every one is judged.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ddsim/intake/received.h"

namespace apmcov::ddsim {

struct ReceivedGap {
  std::string kind;  // design §6 spelling
  uint64_t span_id = 0;
  std::string from_service;
  std::string to_service;  // "" for missing_root / orphan_span
  std::string peer;        // the raw target; "" for missing_root / orphan_span
};

struct ReceivedTraceTruth {
  uint64_t trace_lo = 0, trace_hi = 0;
  int64_t start_ns = 0;      // earliest span start
  std::string env;           // the root's, else the earliest span's
  std::string root_service;  // "" when rootless
  size_t span_count = 0;
  std::vector<std::string> services;  // distinct, sorted
  std::vector<ReceivedGap> gaps;
  std::vector<std::string> missing_services;  // sorted, distinct
};

// What the truth needs to know about each received service over [from, to).
struct ReceivedServiceFacts {
  bool before_to = false;      // a span of it started before `to` (the APM list lists it)
  std::set<std::string> envs;  // envs of its spans starting in [from, to)
  bool seen_in_range = false;  // a span of it started in [from, to)
  std::string infra;           // inferred from those spans' tags (kubernetes, ecs, ...)
};

struct ReceivedTruth {
  std::vector<ReceivedTraceTruth> traces;  // traces whose earliest span starts in [from, to)
  std::map<std::string, ReceivedServiceFacts> services;
};

// `is_catalog(name)`: a catalog service (generated or ddsim's own entries);
// `is_instrumented(name)`: instrumented by the truth's definition.
ReceivedTruth JudgeReceived(const ReceivedStore& store, int64_t from_ns, int64_t to_ns,
                            const std::function<bool(const std::string&)>& is_catalog,
                            const std::function<bool(const std::string&)>& is_instrumented);

// Received services with a span that started before `to_ns` (the APM list's view).
std::set<std::string> ReceivedServicesBefore(const ReceivedStore& store, int64_t to_ns);

}  // namespace apmcov::ddsim
