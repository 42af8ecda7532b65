// Record mapping: what the analyzer stores for what it consumes (design §4, §5). Decoded events
// of the catalog, apm-inventory and sync-jobs topics become store records, judged traces
// become broken-trace, dependency and judgement records, and the services named in spans
// become APM observations. Pure: no I/O and no clock; a message's own time comes in for the
// records whose event carries none.
//
// An event that cannot become a record (a missing key field, an unknown state, links that are
// not JSON) is InvalidArgument whose message is the dead letter's reason.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "apmcov/coverage/gap_detector.h"
#include "apmcov/coverage/span.h"
#include "apmcov/store/records.h"
#include "apmcov/v1/events.pb.h"

namespace apmcov::analyzer {

// `synced_at`, else `message_time_ns`. links_json "" becomes "[]".
absl::StatusOr<store::CatalogServiceRecord> CatalogServiceRecordFrom(
    const v1::CatalogService& service, int64_t message_time_ns);

absl::StatusOr<store::CatalogSnapshotEndRecord> SnapshotEndRecordFrom(
    const v1::CatalogSnapshotEnd& end, int64_t message_time_ns);

// env "" becomes "*"; last seen: `last_seen`, else `observed_at`, else `message_time_ns`.
absl::StatusOr<store::ApmObservationRecord> ApmObservationRecordFrom(
    const v1::ApmObservation& observation, int64_t message_time_ns);

// updated_at: the event's, else its finish, else its start, else `message_time_ns`. A
// succeeded or partial job without a finish time finished at updated_at (its coverage
// snapshot is taken then).
absl::StatusOr<store::SyncJobRecord> SyncJobRecordFrom(const v1::SyncJob& job,
                                                       int64_t message_time_ns);

// Whether a job in this state is finished with data worth a coverage snapshot.
bool SnapshotWorthy(const store::SyncJobRecord& job);

// Appends the dependency edges of a judged trace (`trace_id`: its lower 64 bits) to `out`: every
// judged trace adds a few, so a batch holds tens of thousands of sightings of a few hundred
// edges, whose names `out` keeps once.
void AppendDependencyRecords(const coverage::TraceVerdict& verdict, uint64_t trace_id,
                             store::DependencyObservations& out);

// A broken trace (verdict.broken()) with its gaps and spans, detected at `detected_at_ns`.
store::BrokenTraceRecord BrokenTraceRecordFrom(const coverage::TraceVerdict& verdict,
                                               const coverage::StringPool& pool,
                                               int64_t detected_at_ns);

// Judged traces per (hour of their start, root service), with how many were broken: the
// denominators of the sampled broken rates (design §7.1).
class JudgementCounts {
 public:
  void Add(const coverage::TraceVerdict& verdict);
  // Appends the counts to `out` and starts again from nothing.
  void MoveTo(std::vector<store::TraceJudgementCount>& out);

 private:
  std::map<std::pair<int64_t, std::string>, store::TraceJudgementCount> counts_;
};

// "At least one of its spans was seen" (design §5): each (service, env) named by a span is
// traced, with the languages and infra hints its spans carry, last seen at its latest start.
class SpanSightings {
 public:
  // Spans are interned records: their strings are looked up in `pool` (it must outlive this).
  explicit SpanSightings(const coverage::StringPool& pool) : pool_(pool) {}
  // False for a span without a service, or whose (service, env) was already seen since the
  // last MoveTo(). No allocation once a (service, env) was seen: the analyzer's hot path.
  bool Add(const coverage::SpanRecord& span);
  // The services seen since the last MoveTo().
  std::vector<std::string> services() const;
  // Appends one observation per (service, env), languages and hints sorted, and starts again.
  void MoveTo(std::vector<store::ApmObservationRecord>& out);

 private:
  struct Seen {
    int64_t last_seen_ns = 0;
    std::vector<coverage::StrId> languages;
    std::vector<coverage::StrId> infra_hints;  // kEmptyStr stands for "host"
  };
  const coverage::StringPool& pool_;
  absl::flat_hash_map<std::pair<coverage::StrId, coverage::StrId>, Seen> seen_;
};

}  // namespace apmcov::analyzer
