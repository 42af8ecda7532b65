// Rows the analyzer writes and reads through the CoverageStore port (design §4). Plain value
// types with no I/O: the libpqxx adapter and the in-memory fake map them to the same tables.
//
// Times are Unix nanoseconds; the store keeps microseconds (PostgreSQL timestamptz), so a value
// read back is truncated to the microsecond. Trace and span ids are unsigned 64-bit values.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace apmcov::store {

// Truncates a Unix-nanosecond time to the microsecond, as the store keeps it.
inline int64_t TruncateToMicros(int64_t unix_nanos) {
  int64_t r = unix_nanos % 1000;
  if (r < 0) r += 1000;
  return unix_nanos - r;
}

// One catalog service definition of a snapshot (topic `catalog`). Table `services`.
struct CatalogServiceRecord {
  std::string snapshot_id;
  std::string name;
  std::string team, application, tier, lifecycle, type;
  std::vector<std::string> languages, tags, envs;
  std::string infra;
  bool customer_facing = false;
  std::string schema_version;
  std::string links_json = "[]";  // a JSON array
  std::string description;
  int64_t synced_at_ns = 0;  // when the snapshot was taken; orders snapshots
  bool operator==(const CatalogServiceRecord&) const = default;
};

// The end marker of a catalog snapshot: exactly `count` services carry `snapshot_id`.
struct CatalogSnapshotEndRecord {
  std::string snapshot_id;
  uint32_t count = 0;
  int64_t synced_at_ns = 0;
  bool operator==(const CatalogSnapshotEndRecord&) const = default;
};

// What APM says about one (service, env), from the inventory topic or from spans.
// Stored by a merge that is commutative and idempotent (see CoverageStore::Apply).
struct ApmObservationRecord {
  std::string service;
  std::string env;  // "*" when unknown (APM service list)
  bool traced = false;
  bool usm = false;
  uint64_t span_count = 0;  // from the spans aggregate over the lookback; 0 when not counted
  std::vector<std::string> languages;
  std::vector<std::string> infra_hints;  // kubernetes, ecs, serverless, host
  int64_t last_seen_ns = 0;
  bool operator==(const ApmObservationRecord&) const = default;
};

// A row of `apm_services` as stored.
struct ApmServiceRow {
  std::string service, env;
  int64_t first_seen_ns = 0, last_seen_ns = 0;
  uint64_t span_count = 0;
  std::vector<std::string> languages;    // sorted, distinct
  std::vector<std::string> infra_hints;  // sorted, distinct
  bool traced = false;
  bool usm_only = false;                  // USM saw it, and nothing ever said it was traced
  std::optional<int64_t> last_traced_ns;  // latest last_seen of a traced observation
  bool usm_seen = false;                  // some observation had usm
  bool operator==(const ApmServiceRow&) const = default;
};

// A row of `services` as stored.
struct ServiceRow {
  CatalogServiceRecord catalog;  // catalog.snapshot_id: the last snapshot that listed it
  int64_t first_seen_ns = 0;
  int64_t last_synced_ns = 0;
  std::optional<int64_t> removed_at_ns;
  bool operator==(const ServiceRow&) const = default;
};

// A span of a broken trace, for the trace view (table `trace_spans`).
struct TraceSpanRecord {
  uint64_t span_id = 0;
  uint64_t parent_id = 0;
  std::string service, resource, kind, type;
  int64_t start_ns = 0;
  int64_t duration_ns = 0;
  std::string target;
  bool operator==(const TraceSpanRecord&) const = default;
};

// One gap of a broken trace (table `trace_gaps`, key (trace_id, span_id, kind)).
struct TraceGapRecord {
  uint64_t span_id = 0;
  std::string kind;  // uninstrumented_hop, uninstrumented_callee, propagation_break,
                     // missing_root, orphan_span
  std::string from_service;
  std::optional<std::string> to_service;
  std::string peer;
  std::string detail;
  bool operator==(const TraceGapRecord&) const = default;
};

// A finalised trace with at least one gap (tables `broken_traces`, `trace_gaps`,
// `trace_spans`).
// The last Scorecards outcome sent to Datadog for one (rule, service) (design §13).
struct ScorecardOutcomeRow {
  std::string rule;     // rule name
  std::string service;  // dd-service
  std::string state;    // pass, fail, skip
  std::string remarks;
  int64_t sent_at_ns = 0;
  bool operator==(const ScorecardOutcomeRow&) const = default;
};

// A catalog service named by broken traces as the one that broke them: missing from their path
// (uninstrumented_hop, uninstrumented_callee) or the callee of a propagation_break.
struct BrokenTraceBlame {
  std::string service;
  int64_t broken_traces = 0;  // distinct traces
  bool operator==(const BrokenTraceBlame&) const = default;
};

struct BrokenTraceRecord {
  uint64_t trace_id = 0;  // lower 64 bits
  uint64_t trace_id_high = 0;
  std::string env;
  std::optional<std::string> root_service;  // none when rootless
  int64_t started_at_ns = 0;
  int64_t duration_ns = 0;
  int32_t span_count = 0;
  std::vector<std::string> services;          // sorted, distinct
  std::vector<std::string> missing_services;  // sorted, distinct
  std::vector<std::string> gap_kinds;         // sorted, distinct
  int64_t detected_at_ns = 0;
  std::vector<TraceGapRecord> gaps;
  std::vector<TraceSpanRecord> spans;
  bool operator==(const BrokenTraceRecord&) const = default;
};

// One edge seen in one trace: `from_service` called `to_name`. Table `dependencies` counts the
// distinct traces an edge was seen in, so replaying a trace never counts it twice.
struct DependencyObservation {
  std::string from_service;
  std::string to_name;
  std::string kind;     // call, db, messaging
  std::string to_kind;  // service, datastore, queue, external
  uint64_t trace_id = 0;
  int64_t seen_at_ns = 0;
  bool operator==(const DependencyObservation&) const = default;
};

// The dependency observations of one batch: each distinct edge's names once, and one (edge,
// trace, seen) sighting per edge and trace. A consumed batch judges tens of thousands of traces
// over a few hundred edges, and four strings per observation were most of the analyzer's page
// faults (bench/e2e/README.md). Reads as a sequence of DependencyObservation values, in the
// order they were added; writers aggregate by (from_service, to_name, kind), the last
// observation's to_kind winning.
class DependencyObservations {
 public:
  struct Edge {
    std::string from_service, to_name, kind, to_kind;
    bool operator==(const Edge&) const = default;
  };
  struct Sighting {
    uint32_t edge = 0;  // into edges()
    uint64_t trace_id = 0;
    int64_t seen_at_ns = 0;
    bool operator==(const Sighting&) const = default;
  };

  DependencyObservations() = default;
  DependencyObservations(std::initializer_list<DependencyObservation> observations);
  DependencyObservations& operator=(std::initializer_list<DependencyObservation> observations);

  void Add(std::string_view from_service, std::string_view to_name, std::string_view kind,
           std::string_view to_kind, uint64_t trace_id, int64_t seen_at_ns);
  void push_back(const DependencyObservation& o) {
    Add(o.from_service, o.to_name, o.kind, o.to_kind, o.trace_id, o.seen_at_ns);
  }
  void clear();

  size_t size() const { return sightings_.size(); }
  bool empty() const { return sightings_.empty(); }
  DependencyObservation operator[](size_t i) const;
  const std::vector<Edge>& edges() const { return edges_; }
  // Rewrites every edge's text in place (validate.cc strips NULs) and re-indexes the edges, so
  // that an edge added afterwards is found by its new text. Two edges that became equal stay
  // two: the writers aggregate by text.
  template <typename F>
  void RewriteEdges(F&& rewrite) {
    for (Edge& e : edges_) rewrite(e);
    Reindex();
  }
  const std::vector<Sighting>& sightings() const { return sightings_; }

  // The observations one by one, as values.
  class const_iterator {
   public:
    using value_type = DependencyObservation;
    using difference_type = std::ptrdiff_t;
    const_iterator() = default;
    const_iterator(const DependencyObservations* of, size_t i) : of_(of), i_(i) {}
    DependencyObservation operator*() const { return (*of_)[i_]; }
    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    const_iterator operator++(int) { return {of_, i_++}; }
    bool operator==(const const_iterator& o) const { return i_ == o.i_; }

   private:
    const DependencyObservations* of_ = nullptr;
    size_t i_ = 0;
  };
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, sightings_.size()}; }

  bool operator==(const DependencyObservations& o) const {
    return edges_ == o.edges_ && sightings_ == o.sightings_;
  }

 private:
  // Edge → its index in edges_, looked up with views (no string built per observation).
  using EdgeView = std::array<std::string_view, 4>;
  static EdgeView View(const Edge& e) { return {e.from_service, e.to_name, e.kind, e.to_kind}; }
  static const EdgeView& View(const EdgeView& v) { return v; }
  struct EdgeHash {
    using is_transparent = void;
    size_t operator()(const EdgeView& v) const;
    size_t operator()(const Edge& e) const { return (*this)(View(e)); }
  };
  struct EdgeEq {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return View(a) == View(b);
    }
  };
  void Reindex();
  std::vector<Edge> edges_;
  std::vector<Sighting> sightings_;
  absl::flat_hash_map<Edge, uint32_t, EdgeHash, EdgeEq> index_;
};

// A row of `dependencies` as stored.
struct DependencyRow {
  std::string from_service, to_name, kind, to_kind;
  int64_t last_seen_ns = 0;
  int64_t count = 0;  // distinct traces the edge was seen in
  bool operator==(const DependencyRow&) const = default;
};

// The state of one sync job (topic `sync-jobs`). Table `sync_jobs`.
struct SyncJobRecord {
  std::string id;
  std::string trigger = "schedule";  // schedule, manual
  std::string state;                 // queued, running, succeeded, partial, failed
  std::optional<int64_t> started_at_ns, finished_at_ns;
  int64_t api_calls = 0, pages = 0, spans = 0, rate_limited_ms = 0;
  std::string error;
  int64_t updated_at_ns = 0;  // orders records of one job: an older record never wins
  int64_t sampled_seconds = 0, skipped_seconds = 0;  // span time read whole / skipped (§7.1)
  // Read back only: traces of the job cut at a read interval's edge, added by EdgeCutCount.
  int64_t edge_cut_traces = 0;
  bool operator==(const SyncJobRecord&) const = default;
};

// One row of a coverage snapshot (table `coverage_snapshots`).
struct CoverageRow {
  int64_t taken_at_ns = 0;
  std::string dimension;  // overall, team, env, infra, language, tier, lifecycle
  std::string key;
  int32_t total = 0;
  int32_t instrumented = 0;
  bool operator==(const CoverageRow&) const = default;
};

// Judged traces that started in one hour with one root service ("" when rootless), and how
// many of them were broken (table `trace_judgements`): the denominators of the sampled
// broken-rate estimates (design §7.1). Added to what is stored.
struct TraceJudgementCount {
  int64_t hour_ns = 0;  // a whole hour, Unix nanoseconds
  std::string root_service;
  int64_t judged = 0;
  int64_t broken = 0;
  bool operator==(const TraceJudgementCount&) const = default;
};

// Traces of a sync job left unjudged because a read interval's edge cut them: added to
// sync_jobs.edge_cut_traces (a row is created if the job is not known yet).
struct EdgeCutCount {
  std::string job_id;
  int64_t traces = 0;
  bool operator==(const EdgeCutCount&) const = default;
};

// The highest span watermark applied for one partition (table `partition_watermarks`).
struct PartitionWatermark {
  std::string topic;
  int32_t partition = 0;
  int64_t watermark_ns = 0;  // Unix nanoseconds, kept exactly
  // The read intervals known with it, as [from, to) pairs (from0, to0, from1, to1, ...): what
  // judging the traces still in flight needs after a restart. Replaced with the watermark.
  std::vector<int64_t> read_intervals;
  bool operator==(const PartitionWatermark&) const = default;
};

// The message a dead letter stands for (table `dead_letters`, keyed by topic, partition,
// offset), and why it was set aside.
struct DeadLetterKey {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string error;  // kept from the first claim; not part of the key
  bool operator==(const DeadLetterKey&) const = default;
};

}  // namespace apmcov::store
