#include "apmcov/coverage/gap_detector.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"

namespace apmcov::coverage {
namespace {

constexpr uint32_t kNil = std::numeric_limits<uint32_t>::max();
constexpr uint8_t kComputed = 0x80;

// The first DNS label of a target, port dropped; a URL's scheme, credentials and path are
// ignored ("http://payments.internal:8443/x" → "payments").
std::string_view FirstLabel(std::string_view target) {
  if (auto scheme = target.find("://"); scheme != std::string_view::npos) {
    target.remove_prefix(scheme + 3);
    if (auto at = target.find('@'); at != std::string_view::npos && at < target.find('/')) {
      target.remove_prefix(at + 1);
    }
  }
  const auto end = target.find_first_of(".:/");
  return end == std::string_view::npos ? target : target.substr(0, end);
}

// The first eight bytes of `name` as a big-endian integer, zero-padded: names whose prefixes
// differ are ordered as their prefixes are.
uint64_t NamePrefix(std::string_view name) {
  uint64_t prefix = 0;
  const size_t n = std::min<size_t>(name.size(), 8);
  for (size_t i = 0; i < n; ++i) {
    prefix |= uint64_t{static_cast<uint8_t>(name[i])} << (56 - 8 * i);
  }
  return prefix;
}

size_t Mix(uint64_t id) { return static_cast<size_t>((id * 0x9E3779B97F4A7C15ull) >> 17); }

}  // namespace

uint32_t GapDetector::Lookup(uint64_t span_id) const {
  for (size_t h = Mix(span_id) & table_mask_;; h = (h + 1) & table_mask_) {
    if (table_[h].stamp != table_stamp_) return kNil;
    if (table_[h].span_id == span_id) return table_[h].index;
  }
}

std::string_view GapKindName(GapKind kind) {
  switch (kind) {
    case GapKind::kMissingRoot:
      return "missing_root";
    case GapKind::kOrphanSpan:
      return "orphan_span";
    case GapKind::kPropagationBreak:
      return "propagation_break";
    case GapKind::kUninstrumentedCallee:
      return "uninstrumented_callee";
    case GapKind::kUninstrumentedHop:
      return "uninstrumented_hop";
  }
  return "unknown";
}

std::string_view DependencyKindName(DependencyKind kind) {
  switch (kind) {
    case DependencyKind::kCall:
      return "call";
    case DependencyKind::kDb:
      return "db";
    case DependencyKind::kMessaging:
      return "messaging";
  }
  return "unknown";
}

std::string_view PeerKindName(PeerKind kind) {
  switch (kind) {
    case PeerKind::kService:
      return "service";
    case PeerKind::kDatastore:
      return "datastore";
    case PeerKind::kQueue:
      return "queue";
    case PeerKind::kExternal:
      return "external";
  }
  return "unknown";
}

std::string FormatGapDetail(const Gap& gap) {
  switch (gap.kind) {
    case GapKind::kUninstrumentedHop:
      return absl::StrCat("next hop reported by ", AbslView(gap.via_service));
    case GapKind::kOrphanSpan:
      return absl::StrCat("parent ", gap.missing_parent_id, " not in trace");
    case GapKind::kMissingRoot:
      return "no span with parent id 0";
    case GapKind::kUninstrumentedCallee:
    case GapKind::kPropagationBreak:
      break;
  }
  return "";
}

GapDetector::GapDetector(StringPool& pool, DetectorOptions options)
    : pool_(pool), options_(std::move(options)) {
  for (const std::string& v : options_.extra_whole_trace_retention) {
    if (!v.empty()) extra_retention_.insert(v);
  }
}

void GapDetector::SetDirectory(const ServiceDirectory& directory) {
  directory_ = directory;
  flags_.clear();
  resolution_.clear();
}

uint8_t GapDetector::FlagsSlow(StrId id) {
  if (id >= flags_.size()) flags_.resize(pool_.size(), 0);
  uint8_t& f = flags_[id];
  if (f == 0) {
    const absl::string_view s = AbslView(pool_.View(id));
    f = kComputed;
    if (directory_.catalog.contains(s)) f |= kFlagCatalog;
    if (directory_.instrumented.contains(s)) f |= kFlagInstrumented;
    if (directory_.apm_names.contains(s)) f |= kFlagApmName;
    if (s == "flat_sampled" || s == "diversity_sampling" || extra_retention_.contains(s)) {
      f |= kFlagWholeTraceRetention;
    }
  }
  return f;
}

uint8_t GapDetector::KindClassSlow(StrId id) {
  if (id >= kind_class_.size()) kind_class_.resize(pool_.size(), 0);
  uint8_t& c = kind_class_[id];
  if (c == 0) {
    const std::string_view s = pool_.View(id);
    if (s.empty()) {
      c = kKindUnset;
    } else if (s == "client" || s == "producer") {
      c = kKindClient;
    } else if (s == "server" || s == "consumer") {
      c = kKindServer;
    } else {
      c = kKindOther;
    }
  }
  return c;
}

uint8_t GapDetector::TypeClassSlow(StrId id) {
  if (id >= type_class_.size()) type_class_.resize(pool_.size(), 0);
  uint8_t& c = type_class_[id];
  if (c == 0) {
    const std::string_view s = pool_.View(id);
    if (s == "web" || s == "http" || s == "rpc" || s == "grpc") {
      c = kTypeServerish;
    } else if (s == "db" || s == "sql" || s == "cache" || s == "redis" || s == "memcached") {
      c = kTypeDatastore;
    } else if (s == "queue" || s == "kafka") {
      c = kTypeQueue;
    } else {
      c = kTypeOther;
    }
  }
  return c;
}

const GapDetector::Resolution& GapDetector::ResolveSlow(StrId target) {
  if (target >= resolution_.size()) resolution_.resize(pool_.size());
  Resolution& r = resolution_[target];
  if (r.state != 0) return r;
  const std::string_view t = pool_.View(target);
  const std::string_view label = FirstLabel(t);
  const uint8_t tf = Flags(target);
  if (tf & kFlagCatalog) {
    r = {target, 1};
  } else if (!label.empty() && directory_.catalog.contains(AbslView(label))) {
    r = {pool_.Intern(label), 1};
  } else if (tf & kFlagApmName) {
    r = {target, 2};
  } else if (!label.empty() && directory_.apm_names.contains(AbslView(label))) {
    r = {pool_.Intern(label), 2};
  } else {
    r = {target, 3};
  }
  // pool_.Intern may have grown the pool, never this vector: `r` is still valid.
  return r;
}

std::string_view GapDetector::Resolve(std::string_view target) {
  const StrId id = pool_.Intern(target);
  const Resolution& r = ResolveId(id);
  return r.state == 1 ? pool_.View(r.name) : std::string_view();
}

void GapDetector::AddEdge(TraceVerdict* v, StrId from, StrId to, DependencyKind kind,
                          PeerKind to_kind, int64_t seen_ns) {
  // Nearly every edge of a trace is new: a bit per hashed key says when one cannot be met yet,
  // and only a set bit costs the scan.
  const uint64_t key = (uint64_t{from} << 32 | to) + static_cast<uint64_t>(kind);
  const uint64_t bit = uint64_t{1} << ((key * 0x9E3779B97F4A7C15ull) >> 58);
  const bool maybe_seen = (edge_bits_ & bit) != 0;
  edge_bits_ |= bit;
  for (size_t i = 0; maybe_seen && i < edge_keys_.size(); ++i) {
    const EdgeKey& k = edge_keys_[i];
    if (k.from == from && k.to == to && k.kind == kind) {
      DependencyEdge& e = v->dependencies[i];
      ++e.count;
      e.last_seen_ns = std::max(e.last_seen_ns, seen_ns);
      return;
    }
  }
  edge_keys_.push_back({from, to, kind});
  v->dependencies.push_back({pool_.View(from), pool_.View(to), kind, to_kind, 1, seen_ns});
}

GapDetector::Outcome GapDetector::Judge(const AssembledTrace& trace, TraceVerdict* v) {
  v->trace_id_lo = trace.trace_id_lo;
  v->trace_id_hi = trace.trace_id_hi;
  v->forced = trace.forced;
  v->env = {};
  v->has_root = false;
  v->root_service = {};
  v->started_ns = 0;
  v->duration_ns = 0;
  v->span_count = static_cast<uint32_t>(trace.spans.size());
  v->services.clear();
  v->missing_services.clear();
  v->gap_kinds.clear();
  v->gaps.clear();
  v->spans.clear();
  v->dependencies.clear();
  edge_keys_.clear();
  edge_bits_ = 0;

  const std::span<const SpanRecord> spans = trace.spans;
  const size_t n = spans.size();
  for (const SpanRecord& s : spans) {
    if (!(Flags(s.retained_by) & kFlagWholeTraceRetention)) {
      ++counters_.traces_skipped_retention;
      return Outcome::kSkippedRetention;
    }
  }
  ++counters_.traces_judged;
  if (n == 0) return Outcome::kJudged;

  nodes_.assign(n, Node{});
  // An open-addressing table span id → index, at most a quarter full: at half full, the probe
  // loops' exits (a second slot now and then) were mispredicted often enough to cost 6%.
  size_t cap = 16;
  while (cap < 4 * n) cap <<= 1;
  // Slots of an earlier trace are empty by their stamp: the table is cleared only when it
  // grows or the stamp wraps.
  if (table_.size() < cap || ++table_stamp_ == 0) {
    table_.assign(std::max(cap, table_.size()), TableSlot{});
    table_stamp_ = 1;
  }
  table_mask_ = cap - 1;
  for (uint32_t i = 0; i < n; ++i) {
    size_t h = Mix(spans[i].span_id) & table_mask_;
    while (table_[h].stamp == table_stamp_) h = (h + 1) & table_mask_;
    table_[h] = {spans[i].span_id, i, table_stamp_};
  }

  int64_t min_start = std::numeric_limits<int64_t>::max();
  int64_t max_end = std::numeric_limits<int64_t>::min();
  uint32_t earliest = 0;
  uint32_t root = kNil;
  for (uint32_t i = 0; i < n; ++i) {
    const SpanRecord& s = spans[i];
    if (s.start_ns < min_start) {  // ties keep the smaller span id (spans are sorted by id)
      min_start = s.start_ns;
      earliest = i;
    }
    max_end = std::max(max_end, s.end_ns());
    if (s.parent_id == 0) {
      if (root == kNil || s.start_ns < spans[root].start_ns) root = i;
    } else {
      nodes_[i].parent = Lookup(s.parent_id);
    }
    // A client span that is not a datastore or queue call and whose target resolves to a
    // catalog service is subject to the table of design §6. Decided without a branch per test:
    // in span-id order clients and servers alternate at random (the empty target resolves to
    // nothing, so it is looked up like any other).
    nodes_[i].kind_class = KindClass(s.kind);
    nodes_[i].type_class = TypeClassOf(s.type);
    const uint8_t tc = nodes_[i].type_class;
    const bool call = (nodes_[i].kind_class == kKindClient) & (s.target != kEmptyStr) &
                      (s.db_system == kEmptyStr) & (s.messaging_system == kEmptyStr) &
                      (tc != kTypeDatastore) & (tc != kTypeQueue);
    const Resolution& r = ResolveId(s.target);
    nodes_[i].resolved = (call & (r.state == 1)) ? r.name : kEmptyStr;
  }
  v->started_ns = min_start;
  v->duration_ns = max_end - min_start;
  if (root != kNil) {
    v->has_root = true;
    v->root_service = pool_.View(spans[root].service);
    v->env = pool_.View(spans[root].env);
  } else {
    v->env = pool_.View(spans[earliest].env);
  }

  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t p = nodes_[i].parent;
    if (p == kNil) continue;
    // Without a branch each: whether a child matches is a coin toss for the predictor.
    Node& parent = nodes_[p];
    ++parent.child_count;
    parent.first_child = std::min(parent.first_child, i);  // kNil is the largest index
    parent.has_target_child |=
        (parent.resolved != kEmptyStr) & (spans[i].service == parent.resolved);
  }

  for (uint32_t i = 0; i < n; ++i) {
    const SpanRecord& s = spans[i];
    if (s.parent_id != 0 && nodes_[i].parent == kNil) {
      Gap g;
      g.kind = GapKind::kOrphanSpan;
      g.span_id = s.span_id;
      g.from_service = pool_.View(s.service);
      g.missing_parent_id = s.parent_id;
      v->gaps.push_back(g);
    }
    if ((nodes_[i].resolved != kEmptyStr) & !nodes_[i].has_target_child) {  // one branch, rare
      Gap g;
      g.span_id = s.span_id;
      g.from_service = pool_.View(s.service);
      g.has_to_service = true;
      g.to_service = pool_.View(nodes_[i].resolved);
      g.peer = pool_.View(s.target);
      if (nodes_[i].child_count > 0) {
        g.kind = GapKind::kUninstrumentedHop;
        g.via_service = pool_.View(spans[nodes_[i].first_child].service);
      } else if (Flags(nodes_[i].resolved) & kFlagInstrumented) {
        g.kind = GapKind::kPropagationBreak;
      } else {
        g.kind = GapKind::kUninstrumentedCallee;
      }
      v->gaps.push_back(g);
    }

    // Dependencies.
    const uint8_t tc = nodes_[i].type_class;
    const uint8_t kc = nodes_[i].kind_class;
    if (s.db_system != kEmptyStr || tc == kTypeDatastore) {
      const StrId to = s.target != kEmptyStr      ? s.target
                       : s.db_system != kEmptyStr ? s.db_system
                                                  : s.type;
      AddEdge(v, s.service, to, DependencyKind::kDb, PeerKind::kDatastore, s.start_ns);
    } else if (s.messaging_system != kEmptyStr || tc == kTypeQueue) {
      const StrId to = s.target != kEmptyStr             ? s.target
                       : s.messaging_system != kEmptyStr ? s.messaging_system
                                                         : s.type;
      AddEdge(v, s.service, to, DependencyKind::kMessaging, PeerKind::kQueue, s.start_ns);
    } else if (kc == kKindClient && s.target != kEmptyStr) {
      const Resolution& r = ResolveId(s.target);
      AddEdge(v, s.service, r.name, DependencyKind::kCall,
              r.state == 3 ? PeerKind::kExternal : PeerKind::kService, s.start_ns);
    } else if (const uint32_t p = nodes_[i].parent;
               p != kNil && spans[p].service != s.service && nodes_[p].kind_class != kKindClient &&
               (kc == kKindServer || (kc == kKindUnset && tc == kTypeServerish))) {
      AddEdge(v, spans[p].service, s.service, DependencyKind::kCall, PeerKind::kService,
              s.start_ns);
    }
  }

  if (root == kNil) {
    Gap g;
    g.kind = GapKind::kMissingRoot;
    g.span_id = spans[earliest].span_id;
    g.from_service = pool_.View(spans[earliest].service);
    v->gaps.push_back(g);
  }
  if (v->gaps.empty()) return Outcome::kJudged;

  std::sort(v->gaps.begin(), v->gaps.end(), [](const Gap& a, const Gap& b) {
    return a.span_id != b.span_id ? a.span_id < b.span_id : a.kind < b.kind;
  });
  uint8_t seen = 0;
  for (const Gap& g : v->gaps) {
    seen |= static_cast<uint8_t>(1u << static_cast<unsigned>(g.kind));
    ++counters_.gaps[static_cast<size_t>(g.kind)];
    if (g.kind == GapKind::kUninstrumentedCallee || g.kind == GapKind::kUninstrumentedHop) {
      v->missing_services.push_back(g.to_service);
    }
  }
  for (size_t k = 0; k < kGapKindCount; ++k) {
    if (seen & (1u << k)) v->gap_kinds.push_back(static_cast<GapKind>(k));
  }
  std::sort(v->missing_services.begin(), v->missing_services.end());
  v->missing_services.erase(std::unique(v->missing_services.begin(), v->missing_services.end()),
                            v->missing_services.end());
  // Distinct by id first (integer compares), then order the few names by their first eight
  // bytes as one integer, the whole names only on a tie (a library compare per pair was 2%).
  service_ids_.clear();
  for (const SpanRecord& s : spans) {
    if (s.service != kEmptyStr) service_ids_.push_back(s.service);
  }
  std::sort(service_ids_.begin(), service_ids_.end());
  service_ids_.erase(std::unique(service_ids_.begin(), service_ids_.end()), service_ids_.end());
  by_name_.clear();
  for (StrId id : service_ids_) {
    const std::string_view name = pool_.View(id);
    by_name_.push_back({NamePrefix(name), name});
  }
  std::sort(by_name_.begin(), by_name_.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second < b.second;
  });
  for (const auto& [prefix, name] : by_name_) v->services.push_back(name);
  v->spans.assign(spans.begin(), spans.end());
  ++counters_.traces_broken;
  return Outcome::kJudged;
}

}  // namespace apmcov::coverage
