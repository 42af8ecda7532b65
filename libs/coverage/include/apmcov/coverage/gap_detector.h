// GapDetector: judges one finalised trace per design §6 and derives its dependency edges.
//
// Contract (design §6, implemented literally):
// - Whole-trace retention: a trace is judged only when every span's retained_by is
//   flat_sampled, diversity_sampling or one of DetectorOptions::extra_whole_trace_retention
//   (WHOLE_TRACE_RETENTION); otherwise Judge() returns kSkippedRetention (counted) and the
//   verdict holds only ids. Dependencies are derived from judged traces only.
// - Spans arrive deduplicated and sorted by span id (AssembledTrace guarantees it).
// - Client span: span.kind client or producer. Server span: span.kind server or consumer, or
//   no span.kind, type web/http/rpc/grpc and a parent span of another service.
// - A client span's target (SpanRecord::target, already the first present attribute) resolves
//   to catalog service T when it equals a catalog name, or when its first DNS label (port
//   dropped; a URL's scheme and path are ignored) does: `payments.internal:8443` → payments.
//   Only catalog services resolve; shadow names and unresolved names are dependencies only.
// - Datastore/queue spans (db.system, messaging.system, or type db, sql, cache, redis,
//   memcached, queue, kafka) are dependencies, never gaps.
// - For each remaining client span resolving to T, over its children (spans whose parent id is
//   its span id): any child of service T → healthy; children, none of T → uninstrumented_hop;
//   no child and T not instrumented → uninstrumented_callee; no child and T instrumented →
//   propagation_break. to_service = T, peer = the raw target.
// - missing_root: no span with parent id 0; recorded on the earliest span by start time (ties:
//   smallest span id). orphan_span: each span whose parent id is non-zero and matches no span.
//   Both have no to_service and an empty peer.
// - Broken = at least one gap. missing_services = sorted distinct T of uninstrumented_callee
//   and uninstrumented_hop gaps. services = sorted distinct span services (filled for broken
//   traces only, like spans: healthy traces need only their dependencies).
// - Dependency edges (for the `dependencies` table), one per distinct (from, to, kind) in the
//   trace with a count:
//     datastore span → (service, target or db.system or type, db, datastore);
//     queue span → (service, target or messaging.system or type, messaging, queue);
//     client span with a target → resolved catalog T: (service, T, call, service);
//       unresolved but naming a service seen in APM (shadow): (service, that name, call,
//       service); anything else: (service, raw target, call, external);
//     server span whose parent is of another service and is not a client span (no client edge
//       covers that hop): (parent service, service, call, service).
// - Strings in a verdict are views into the StringPool, valid for the pool's lifetime.
// - Not thread-safe; Judge() reuses the verdict's capacity (pass the same object each time to
//   avoid allocating per trace).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "apmcov/coverage/span.h"
#include "apmcov/coverage/trace_assembler.h"

namespace apmcov::coverage {

// Declared in alphabetical order of their names, so sorting by value sorts by name.
enum class GapKind : uint8_t {
  kMissingRoot = 0,
  kOrphanSpan = 1,
  kPropagationBreak = 2,
  kUninstrumentedCallee = 3,
  kUninstrumentedHop = 4,
};
inline constexpr size_t kGapKindCount = 5;
// "missing_root", "orphan_span", "propagation_break", "uninstrumented_callee",
// "uninstrumented_hop": the values of trace_gaps.kind.
std::string_view GapKindName(GapKind kind);

enum class DependencyKind : uint8_t { kCall, kDb, kMessaging };
enum class PeerKind : uint8_t { kService, kDatastore, kQueue, kExternal };
std::string_view DependencyKindName(DependencyKind kind);  // call, db, messaging
std::string_view PeerKindName(PeerKind kind);              // service, datastore, queue, external

struct Gap {
  GapKind kind = GapKind::kOrphanSpan;
  uint64_t span_id = 0;
  std::string_view from_service;
  bool has_to_service = false;  // false → to_service is SQL NULL
  std::string_view to_service;
  std::string_view peer;           // the raw target ("" for missing_root / orphan_span)
  std::string_view via_service;    // uninstrumented_hop: the service of the first child
  uint64_t missing_parent_id = 0;  // orphan_span: the parent id that matched no span
};
// The trace_gaps.detail text: "next hop reported by <C>", "parent <id> not in trace",
// "no span with parent id 0", or "" for the others.
std::string FormatGapDetail(const Gap& gap);

struct DependencyEdge {
  std::string_view from_service;
  std::string_view to_name;
  DependencyKind kind = DependencyKind::kCall;
  PeerKind to_kind = PeerKind::kExternal;
  uint32_t count = 0;        // occurrences in this trace
  int64_t last_seen_ns = 0;  // latest start of those spans
};

// Everything the broken_traces, trace_gaps, trace_spans and dependencies tables need.
struct TraceVerdict {
  uint64_t trace_id_lo = 0;
  uint64_t trace_id_hi = 0;
  bool forced = false;                             // from a cap-forced (possibly incomplete) trace
  std::string_view env;                            // the root span's env, else the earliest span's
  bool has_root = false;                           // false → root_service is NULL
  std::string_view root_service;                   // the earliest span with parent id 0
  int64_t started_ns = 0;                          // earliest start
  int64_t duration_ns = 0;                         // latest end − earliest start
  uint32_t span_count = 0;                         // distinct spans
  std::vector<std::string_view> services;          // sorted, distinct; only when broken
  std::vector<std::string_view> missing_services;  // sorted, distinct
  std::vector<GapKind> gap_kinds;                  // sorted, distinct
  std::vector<Gap> gaps;                           // in span-id order
  std::vector<SpanRecord> spans;                   // filled only when broken (for trace_spans)
  std::vector<DependencyEdge> dependencies;

  bool broken() const { return !gaps.empty(); }
};

// The service knowledge detection needs: catalog names (with whether each is instrumented,
// from the coverage computation) and other names seen in APM (shadow services).
struct ServiceDirectory {
  absl::flat_hash_set<std::string> catalog;       // non-deprecated and deprecated alike
  absl::flat_hash_set<std::string> instrumented;  // subset of catalog
  absl::flat_hash_set<std::string> apm_names;     // every service name seen in APM
};

struct DetectorOptions {
  // WHOLE_TRACE_RETENTION: retained_by values accepted besides flat_sampled and
  // diversity_sampling.
  std::vector<std::string> extra_whole_trace_retention;
};

struct DetectorCounters {
  uint64_t traces_judged = 0;
  uint64_t traces_skipped_retention = 0;
  uint64_t traces_broken = 0;
  uint64_t gaps[kGapKindCount] = {};  // indexed by GapKind
};

class GapDetector {
 public:
  enum class Outcome { kJudged, kSkippedRetention };

  GapDetector(StringPool& pool, DetectorOptions options = {});
  GapDetector(const GapDetector&) = delete;
  GapDetector& operator=(const GapDetector&) = delete;

  // Replaces the service knowledge (after a catalog snapshot or coverage recomputation).
  void SetDirectory(const ServiceDirectory& directory);

  // Judges `trace` into `*verdict` (cleared first).
  Outcome Judge(const AssembledTrace& trace, TraceVerdict* verdict);

  // The catalog service `target` resolves to, or "" (exposed for tests and the analyzer).
  std::string_view Resolve(std::string_view target);

  const DetectorCounters& counters() const { return counters_; }

 private:
  enum : uint8_t {
    kFlagCatalog = 1,
    kFlagInstrumented = 2,
    kFlagApmName = 4,
    kFlagWholeTraceRetention = 8,
  };
  // Per-string classification caches, indexed by StrId and filled lazily.
  enum SpanKindClass : uint8_t { kKindUnset = 1, kKindClient, kKindServer, kKindOther };
  enum TypeClass : uint8_t { kTypeOther = 1, kTypeServerish, kTypeDatastore, kTypeQueue };
  struct Resolution {
    StrId name = kEmptyStr;  // catalog T, or the shadow name, or kEmptyStr
    uint8_t state = 0;       // 0 unknown, 1 catalog, 2 shadow, 3 external
  };

  // Cached per-string classifications: the inline fast path, then the first computation.
  uint8_t Flags(StrId id) { return id < flags_.size() && flags_[id] ? flags_[id] : FlagsSlow(id); }
  uint8_t KindClass(StrId id) {
    return id < kind_class_.size() && kind_class_[id] ? kind_class_[id] : KindClassSlow(id);
  }
  uint8_t TypeClassOf(StrId id) {
    return id < type_class_.size() && type_class_[id] ? type_class_[id] : TypeClassSlow(id);
  }
  uint8_t FlagsSlow(StrId id);
  uint8_t KindClassSlow(StrId id);
  uint8_t TypeClassSlow(StrId id);
  const Resolution& ResolveId(StrId target) {
    return target < resolution_.size() && resolution_[target].state != 0 ? resolution_[target]
                                                                         : ResolveSlow(target);
  }
  const Resolution& ResolveSlow(StrId target);
  uint32_t Lookup(uint64_t span_id) const;  // index of the span with this id, or UINT32_MAX
  // Counts an edge from → to; names are looked up in the pool only for a new edge.
  void AddEdge(TraceVerdict* v, StrId from, StrId to, DependencyKind kind, PeerKind to_kind,
               int64_t seen_ns);

  StringPool& pool_;
  DetectorOptions options_;
  DetectorCounters counters_;
  std::vector<uint8_t> flags_;  // 0 = not computed yet
  std::vector<uint8_t> kind_class_;
  std::vector<uint8_t> type_class_;
  std::vector<Resolution> resolution_;
  absl::flat_hash_set<std::string> extra_retention_;
  ServiceDirectory directory_;
  // Scratch, reused across traces.
  struct Node {                    // per span of the trace being judged
    uint32_t parent = UINT32_MAX;  // index of the parent span, UINT32_MAX when absent
    StrId resolved = kEmptyStr;    // catalog T of a judged client span
    uint32_t child_count = 0;
    uint32_t first_child = UINT32_MAX;  // index of the first child (by span id)
    bool has_target_child = false;      // a child of service T
    uint8_t kind_class = 0;             // KindClass(kind), TypeClassOf(type): read by both
    uint8_t type_class = 0;             // passes, and kind_class by the children
  };
  std::vector<Node> nodes_;
  struct TableSlot {
    uint64_t span_id = 0;
    uint32_t index = 0;
    uint32_t stamp = 0;  // table_stamp_ when filled for the trace being judged, else empty
  };
  std::vector<TableSlot> table_;  // span id → index (open addressing)
  uint32_t table_stamp_ = 0;
  size_t table_mask_ = 0;
  std::vector<StrId> service_ids_;
  std::vector<std::pair<uint64_t, std::string_view>> by_name_;  // (name prefix, name)
  struct EdgeKey {  // the ids of v->dependencies[i], compared as integers
    StrId from;
    StrId to;
    DependencyKind kind;
  };
  std::vector<EdgeKey> edge_keys_;
  uint64_t edge_bits_ = 0;  // a bit per hashed EdgeKey of the trace's edges so far
};

}  // namespace apmcov::coverage
