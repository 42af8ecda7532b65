#include "ddsim/traffic/traffic.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "ddsim/world/cat.h"

namespace apmcov::ddsim {
namespace {

constexpr uint64_t kC1 = 0xBF58476D1CE4E5B9ULL;
constexpr uint64_t kC2 = 0x94D049BB133111EBULL;
constexpr int kIndexBits = 22;
constexpr int kMaxSpansPerTrace = 40;
constexpr int kMaxDepth = 5;

uint64_t MulInverse(uint64_t c) {
  uint64_t inv = c;  // Newton iteration: correct to 2^k bits after k doublings
  for (int i = 0; i < 6; ++i) inv *= 2 - c * inv;
  return inv;
}
uint64_t UnXorShift(uint64_t y, int s) {
  uint64_t x = y;
  for (int i = 0; i < 64 / s + 1; ++i) x = y ^ (x >> s);
  return x;
}
uint64_t TraceKey(uint64_t seed) { return MixSeed(seed, 0x7EACE); }

// Builds one trace. Owns the per-trace random stream and the decisions it records.
class TraceBuilder {
 public:
  TraceBuilder(const World& w, const TrafficOptions& o, int64_t bucket, uint32_t index,
               std::vector<Span>& out, std::vector<TraceTruth>& traces)
      : w_(w),
        o_(o),
        rng_(MixSeed(o.seed, static_cast<uint64_t>(bucket), index)),
        out_(out),
        traces_(traces),
        trace_index_(static_cast<uint32_t>(traces.size())) {
    truth_.trace_lo = EncodeTraceId(o.seed, bucket, index);
    start_ = bucket * kBucketNanos + static_cast<int64_t>(rng_.Below(kBucketNanos));
  }

  void Build() {
    if (rng_.Chance(o_.single_span_rate)) {
      BuildSingleSpan();  // falls back to a whole trace when the bucket has none yet
    } else {
      BuildTrace();
    }
    truth_.span_count = 0;
    for (const auto& s : spans_) {
      if (!s.dropped) ++truth_.span_count;
    }
    truth_.first_span = static_cast<uint32_t>(out_.size());
    for (auto& s : spans_) {
      if (s.dropped) continue;
      s.span.trace_index = trace_index_;
      out_.push_back(s.span);
    }
    traces_.push_back(std::move(truth_));
  }

 private:
  struct Pending {
    Span span;
    bool dropped = false;
  };
  enum Scenario { kHealthy = -1 };

  uint64_t NewSpanId() {
    uint64_t id;
    do id = rng_.Next();
    while (id == 0);
    return id;
  }

  size_t Add(uint32_t service, uint64_t parent, int64_t start, SpanKind kind) {
    Span s;
    s.trace_lo = truth_.trace_lo;
    s.trace_hi = truth_.trace_hi;
    s.span_id = NewSpanId();
    s.parent_id = parent;
    s.start_ns = start;
    s.service = service;
    s.env = truth_.env;
    s.kind = kind;
    s.retained_by = retention_;
    s.resource = static_cast<uint16_t>(rng_.Below(4));
    s.error = rng_.Chance(0.02);
    s.http_status = s.error ? 500 : 200;
    spans_.push_back({s, false});
    return spans_.size() - 1;
  }

  // A span kept alone by a retention filter, from a service (and env) that an earlier whole
  // trace of this bucket already showed, so single spans never add APM facts of their own.
  void BuildSingleSpan() {
    const TraceTruth* donor = nullptr;
    for (size_t k = traces_.size(); k-- > 0;) {
      if (traces_[k].judged && !traces_[k].services.empty()) {
        donor = &traces_[k];
        break;
      }
    }
    if (donor == nullptr) {
      BuildTrace();
      return;
    }
    truth_.judged = false;
    truth_.env = donor->env;
    const uint32_t svc = donor->services[rng_.Below(donor->services.size())];
    const size_t i = Add(svc, NewSpanId(), start_, SpanKind::kServer);
    spans_[i].span.retained_by = Retention::kRetentionFilter;
    spans_[i].span.duration_ns = rng_.Range(200'000, 20'000'000);
    truth_.start_ns = start_;
    truth_.services = {svc};
  }

  void BuildTrace() {
    truth_.env = 0;
    const double e = rng_.Uniform();
    if (e > 0.75) truth_.env = e > 0.95 ? 2 : 1;
    if (w_.reporting_by_env[truth_.env].empty()) truth_.env = 0;
    const auto& roots = w_.reporting_by_env[truth_.env];
    const uint32_t root = roots[rng_.Below(roots.size())];
    if (rng_.Chance(o_.trace128_rate)) {
      truth_.trace_hi = (static_cast<uint64_t>(start_ / kBucketNanos) << 32) | (rng_.Next() >> 32);
    }
    retention_ =
        rng_.Chance(o_.flat_sampled_rate) ? Retention::kFlatSampled : Retention::kDiversitySampling;
    scenario_ = kHealthy;
    double u = rng_.Uniform();
    for (int k = 0; k < kNumGapKinds; ++k) {
      if (u < o_.gap_rates[k]) {
        scenario_ = k;
        break;
      }
      u -= o_.gap_rates[k];
    }
    if (scenario_ == static_cast<int>(GapKind::kUninstrumentedCallee) && w_.not_traced.empty())
      scenario_ = kHealthy;
    if (scenario_ == static_cast<int>(GapKind::kUninstrumentedHop) && w_.propagates_only.empty())
      scenario_ = kHealthy;
    if (scenario_ == static_cast<int>(GapKind::kPropagationBreak) && w_.instrumented.empty())
      scenario_ = kHealthy;
    injected_ = scenario_ == kHealthy || scenario_ == static_cast<int>(GapKind::kMissingRoot);

    const size_t root_idx = spans_.size();
    Visit(root, 0, start_, 0, /*is_root=*/true);
    // Go and Node tracers use the trace id as the root span id.
    const uint8_t lang = w_.services[root].language;
    if (truth_.trace_hi == 0 && (lang == 1 || lang == 3)) {
      for (auto& p : spans_) {
        if (p.span.parent_id == spans_[root_idx].span.span_id) p.span.parent_id = truth_.trace_lo;
      }
      spans_[root_idx].span.span_id = truth_.trace_lo;
    }
    truth_.root_service = root;

    if (scenario_ == static_cast<int>(GapKind::kOrphanSpan)) {
      // Drop a client span that has a service child: the child loses its parent.
      const size_t pick = service_calls_[rng_.Below(service_calls_.size())];
      spans_[pick].dropped = true;
      for (auto& p : spans_) {
        if (!p.dropped && p.span.parent_id == spans_[pick].span.span_id) {
          truth_.gaps.push_back(
              {GapKind::kOrphanSpan, p.span.span_id, p.span.service, kNoService, ""});
        }
      }
    } else if (scenario_ == static_cast<int>(GapKind::kMissingRoot)) {
      spans_[root_idx].dropped = true;
      truth_.root_service = kNoService;
      const uint64_t root_id = spans_[root_idx].span.span_id;
      Pending* earliest = nullptr;
      for (auto& p : spans_) {
        if (p.dropped) continue;
        if (earliest == nullptr || p.span.start_ns < earliest->span.start_ns) earliest = &p;
      }
      if (earliest != nullptr) {
        // Readers see millisecond start times: make the earliest span unambiguous at that
        // precision by moving every other span 1.5 ms later (E's duration grows to match).
        for (auto& p : spans_) {
          if (!p.dropped && &p != earliest) p.span.start_ns += 1'500'000;
        }
        earliest->span.duration_ns += 1'500'000;
        truth_.gaps.push_back({GapKind::kMissingRoot, earliest->span.span_id,
                               earliest->span.service, kNoService, ""});
      }
      for (const auto& p : spans_) {
        if (!p.dropped && p.span.parent_id == root_id) {
          truth_.gaps.push_back(
              {GapKind::kOrphanSpan, p.span.span_id, p.span.service, kNoService, ""});
        }
      }
    }
    if (truth_.root_service == kNoService && spans_.size() == 1) {
      // A lone root cannot lose itself: keep it (healthy single-span trace).
      spans_[root_idx].dropped = false;
      truth_.root_service = root;
      truth_.gaps.clear();
    }

    truth_.start_ns = INT64_MAX;
    std::vector<uint32_t> svcs;
    for (const auto& p : spans_) {
      if (p.dropped) continue;
      truth_.start_ns = std::min(truth_.start_ns, p.span.start_ns);
      svcs.push_back(p.span.service);
    }
    auto by_name = [&](uint32_t a, uint32_t b) {
      return w_.services[a].name < w_.services[b].name;
    };
    std::sort(svcs.begin(), svcs.end(), by_name);
    svcs.erase(std::unique(svcs.begin(), svcs.end()), svcs.end());
    truth_.services = std::move(svcs);
    std::vector<uint32_t> missing;
    for (const auto& g : truth_.gaps) {
      if (g.kind == GapKind::kUninstrumentedCallee || g.kind == GapKind::kUninstrumentedHop) {
        missing.push_back(g.to_service);
      }
    }
    std::sort(missing.begin(), missing.end(), by_name);
    missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
    truth_.missing_services = std::move(missing);
  }

  int64_t Lat(int64_t lo, int64_t hi) { return rng_.Range(lo, hi); }

  size_t ClientSpan(uint32_t caller, uint64_t parent, int64_t start, const Dependency& d) {
    const SpanKind kind = d.kind == DepKind::kQueue ? SpanKind::kProducer : SpanKind::kClient;
    const size_t i = Add(caller, parent, start, kind);
    Span& s = spans_[i].span;
    s.target = d.index;
    s.target_kind = d.kind;
    s.target_form = d.form;
    return i;
  }

  // Emits the server span of `svc` and its outgoing calls; returns the server span's end.
  int64_t Visit(uint32_t svc, uint64_t parent, int64_t start, int depth, bool is_root) {
    const size_t me = Add(svc, parent, start, SpanKind::kServer);
    spans_[me].span.chunk_root = truth_.trace_hi != 0;
    const uint64_t my_id = spans_[me].span.span_id;
    int64_t cursor = start + Lat(20'000, 300'000);
    for (const Dependency& d : w_.services[svc].calls) {
      if (static_cast<int>(spans_.size()) >= kMaxSpansPerTrace - 3) break;
      if (!rng_.Chance(0.75)) continue;
      if (d.kind != DepKind::kService) {
        const size_t c = ClientSpan(svc, my_id, cursor, d);
        spans_[c].span.duration_ns = Lat(200'000, 5'000'000);
        cursor += spans_[c].span.duration_ns + Lat(5'000, 100'000);
        continue;
      }
      if (!w_.services[d.index].reports_spans() || !w_.RunsIn(d.index, truth_.env) ||
          depth >= kMaxDepth) {
        continue;
      }
      cursor = CallService(svc, my_id, cursor, d, d.index, depth);
    }
    if (!injected_ && (is_root || rng_.Chance(0.35))) {
      injected_ = true;
      cursor = Inject(svc, my_id, cursor, depth);
    }
    if (is_root && scenario_ == static_cast<int>(GapKind::kOrphanSpan) && service_calls_.empty()) {
      cursor = ForceServiceCall(svc, my_id, cursor, depth);
    }
    spans_[me].span.duration_ns = cursor + Lat(20'000, 500'000) - start;
    return start + spans_[me].span.duration_ns;
  }

  // A client span to `target_dep`, answered by service `callee` (a reporting service).
  int64_t CallService(uint32_t caller, uint64_t parent, int64_t cursor, const Dependency& d,
                      uint32_t callee, int depth) {
    const size_t c = ClientSpan(caller, parent, cursor, d);
    service_calls_.push_back(c);
    const int64_t child_end =
        Visit(callee, spans_[c].span.span_id, cursor + Lat(50'000, 400'000), depth + 1, false);
    const int64_t end = child_end + Lat(50'000, 400'000);
    spans_[c].span.duration_ns = end - cursor;
    return end + Lat(5'000, 100'000);
  }

  int64_t ForceServiceCall(uint32_t svc, uint64_t parent, int64_t cursor, int depth) {
    const auto& pool = w_.reporting_by_env[truth_.env];
    size_t at = rng_.Below(pool.size());
    if (pool[at] == svc) at = (at + 1) % pool.size();
    const uint32_t callee = pool[at];
    const Dependency d{DepKind::kService, callee, TargetForm::kPeerService};
    return CallService(svc, parent, cursor, d, callee, std::max(depth, kMaxDepth - 1));
  }

  // Picks a service callee of `svc` in `pool_filter`, else a random one from `pool`.
  template <typename Pred>
  uint32_t PickTarget(uint32_t svc, const std::vector<uint32_t>& pool, Pred pred,
                      TargetForm* form) {
    std::vector<const Dependency*> own;
    for (const auto& d : w_.services[svc].calls) {
      if (d.kind == DepKind::kService && pred(d.index)) own.push_back(&d);
    }
    if (!own.empty()) {
      const Dependency* d = own[rng_.Below(own.size())];
      *form = d->form;
      return d->index;
    }
    constexpr TargetForm kForms[] = {TargetForm::kPeerService, TargetForm::kPeerHostname,
                                     TargetForm::kOutHost, TargetForm::kHttpUrl,
                                     TargetForm::kRpcService};
    *form = kForms[rng_.Below(5)];
    return pool[rng_.Below(pool.size())];
  }

  int64_t Inject(uint32_t svc, uint64_t parent, int64_t cursor, int depth) {
    TargetForm form;
    const auto kind = static_cast<GapKind>(scenario_);
    switch (kind) {
      case GapKind::kUninstrumentedCallee:
      case GapKind::kPropagationBreak: {
        const bool callee_kind = kind == GapKind::kUninstrumentedCallee;
        const uint32_t t =
            callee_kind ? PickTarget(
                              svc, w_.not_traced,
                              [&](uint32_t i) {
                                auto st = w_.services[i].state;
                                return st == Instrumentation::kNotInstrumented ||
                                       st == Instrumentation::kUsmOnly;
                              },
                              &form)
                        : PickTarget(
                              svc, w_.instrumented,
                              [&](uint32_t i) {
                                return w_.services[i].state == Instrumentation::kInstrumented;
                              },
                              &form);
        const size_t c = ClientSpan(svc, parent, cursor, {DepKind::kService, t, form});
        spans_[c].span.duration_ns = Lat(300'000, 8'000'000);
        if (callee_kind && rng_.Chance(0.3)) {
          spans_[c].span.error = true;
          spans_[c].span.http_status = 502;
        }
        truth_.gaps.push_back(
            {kind, spans_[c].span.span_id, svc, t, TargetText(w_, spans_[c].span)});
        return cursor + spans_[c].span.duration_ns + Lat(5'000, 100'000);
      }
      case GapKind::kUninstrumentedHop: {
        const uint32_t t = PickTarget(
            svc, w_.propagates_only,
            [&](uint32_t i) { return w_.services[i].state == Instrumentation::kPropagatesOnly; },
            &form);
        // The hop forwards to one of its own reporting callees, or any reporting service.
        uint32_t next = kNoService;
        for (const auto& d : w_.services[t].calls) {
          if (d.kind == DepKind::kService && w_.services[d.index].reports_spans() &&
              w_.RunsIn(d.index, truth_.env)) {
            next = d.index;
            break;
          }
        }
        if (next == kNoService) {
          const auto& pool = w_.reporting_by_env[truth_.env];
          next = pool[rng_.Below(pool.size())];
        }
        const size_t before = spans_.size();
        const int64_t end = CallService(svc, parent, cursor, {DepKind::kService, t, form}, next,
                                        std::max(depth, kMaxDepth - 1));
        service_calls_.pop_back();  // not a healthy call: never the orphan candidate
        truth_.gaps.push_back(
            {kind, spans_[before].span.span_id, svc, t, TargetText(w_, spans_[before].span)});
        return end;
      }
      default:
        return cursor;
    }
  }

  const World& w_;
  const TrafficOptions& o_;
  Rng rng_;
  std::vector<Span>& out_;
  std::vector<TraceTruth>& traces_;
  uint32_t trace_index_;
  TraceTruth truth_;
  int64_t start_ = 0;
  Retention retention_ = Retention::kDiversitySampling;
  int scenario_ = kHealthy;
  bool injected_ = true;
  std::vector<Pending> spans_;
  std::vector<size_t> service_calls_;  // client spans answered by a span of their target
};

}  // namespace

std::string_view GapKindName(GapKind k) {
  switch (k) {
    case GapKind::kUninstrumentedHop:
      return "uninstrumented_hop";
    case GapKind::kUninstrumentedCallee:
      return "uninstrumented_callee";
    case GapKind::kPropagationBreak:
      return "propagation_break";
    case GapKind::kMissingRoot:
      return "missing_root";
    case GapKind::kOrphanSpan:
      return "orphan_span";
  }
  return "unknown";
}

std::string_view SpanKindName(SpanKind k) {
  switch (k) {
    case SpanKind::kServer:
      return "server";
    case SpanKind::kClient:
      return "client";
    case SpanKind::kProducer:
      return "producer";
    case SpanKind::kConsumer:
      return "consumer";
    case SpanKind::kInternal:
      return "internal";
  }
  return "internal";
}

std::string_view RetentionName(Retention r) {
  switch (r) {
    case Retention::kFlatSampled:
      return "flat_sampled";
    case Retention::kDiversitySampling:
      return "diversity_sampling";
    case Retention::kRetentionFilter:
      return "retention_filter";
  }
  return "";
}

uint64_t EncodeTraceId(uint64_t seed, int64_t bucket, uint32_t index) {
  uint64_t x = ((static_cast<uint64_t>(bucket) << kIndexBits) | index) ^ TraceKey(seed);
  x = (x ^ (x >> 30)) * kC1;
  x = (x ^ (x >> 27)) * kC2;
  return x ^ (x >> 31);
}

std::optional<DecodedTraceId> DecodeTraceId(uint64_t seed, uint64_t trace_lo) {
  static const uint64_t inv1 = MulInverse(kC1);
  static const uint64_t inv2 = MulInverse(kC2);
  uint64_t x = UnXorShift(trace_lo, 31);
  x *= inv2;
  x = UnXorShift(x, 27);
  x *= inv1;
  x = UnXorShift(x, 30);
  x ^= TraceKey(seed);
  const uint64_t bucket = x >> kIndexBits;
  if (bucket > (1ULL << 40)) return std::nullopt;  // beyond year ~36000: not ours
  return DecodedTraceId{static_cast<int64_t>(bucket),
                        static_cast<uint32_t>(x & ((1u << kIndexBits) - 1))};
}

std::string TargetText(const World& world, const Span& span) {
  switch (span.target_kind) {
    case DepKind::kService: {
      const std::string& n = world.services[span.target].name;
      switch (span.target_form) {
        case TargetForm::kPeerService:
        case TargetForm::kRpcService:
          return n;
        case TargetForm::kPeerHostname:
          return Cat(n, ".internal:8443");
        case TargetForm::kOutHost:
        case TargetForm::kHttpUrl:
          return Cat(n, ".internal");
      }
      return n;
    }
    case DepKind::kDatastore:
      return world.datastores[span.target].name;
    case DepKind::kQueue:
      return world.queues[span.target].name;
    case DepKind::kExternal:
      return world.externals[span.target].host;
  }
  return "";
}

std::shared_ptr<const Bucket> GenerateBucket(const World& world, const TrafficOptions& options,
                                             int64_t index) {
  auto b = std::make_shared<Bucket>();
  b->index = index;
  if (index * kBucketNanos < options.traffic_start_ns || options.spans_per_second <= 0) return b;
  Rng rng(MixSeed(options.seed, 0xB0C4E7, static_cast<uint64_t>(index)));
  const double whole = static_cast<double>(static_cast<int64_t>(options.spans_per_second));
  const size_t target =
      static_cast<size_t>(whole) + (rng.Chance(options.spans_per_second - whole) ? 1 : 0);
  b->spans.reserve(target + kMaxSpansPerTrace);
  for (uint32_t i = 0; b->spans.size() < target && i < (1u << kIndexBits); ++i) {
    TraceBuilder(world, options, index, i, b->spans, b->traces).Build();
  }
  return b;
}

}  // namespace apmcov::ddsim
