// The state of a MemoryCoverageStore: the tables of design §4 as ordered maps. Written by the
// store and read by MemoryReadModel, both under the store's mutex. Private to the library.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "apmcov/store/memory_store.h"

namespace apmcov::store {

struct MemoryCoverageStore::State {
  struct DeadLetter {
    bool published = false;
    int64_t claimed_at_ns = 0;  // wall clock, like the table's now() default
  };
  std::map<std::tuple<std::string, int32_t, int64_t>, DeadLetter> dead_letters;
  struct Snapshot {
    std::optional<uint32_t> expected;
    std::set<std::string> members;
    bool completed = false;
    int64_t synced_at_ns = 0;
  };
  struct Dependency {
    std::string to_kind;
    int64_t last_seen_ns = 0;
    int64_t count = 0;  // distinct traces (each counted once, see counted_traces)
  };
  std::map<std::string, ServiceRow> services;
  std::map<std::string, Snapshot> snapshots;
  std::map<std::pair<std::string, std::string>, ApmServiceRow> apm;
  std::map<uint64_t, BrokenTraceRecord> traces;
  std::map<std::tuple<std::string, std::string, std::string>, Dependency> dependencies;
  // Traces whose edges are counted (see the contract) → latest seen_at.
  std::map<uint64_t, int64_t> counted_traces;
  // Count keys of batches whose judgements and edge cuts were added → their at_ns.
  std::map<std::string, int64_t> counted_batches;
  std::map<std::string, SyncJobRecord> jobs;
  std::map<std::tuple<int64_t, std::string, std::string>, CoverageRow> coverage;
  std::map<std::pair<std::string, int32_t>, PartitionWatermark> watermarks;
  std::map<std::pair<int64_t, std::string>, TraceJudgementCount> judgements;
  std::map<std::pair<std::string, std::string>, ScorecardOutcomeRow> scorecard_outcomes;
};

}  // namespace apmcov::store
