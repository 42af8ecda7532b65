#include "apmcov/tracing/tracer.h"

#include <unistd.h>

#include <memory_resource>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_set>

#include "apmcov/tracing/exporter.h"

namespace apmcov::tracing {
namespace internal {

// The spans of one trace chunk being built in this process, and the trace-level state that
// propagates with it. Shared by its spans; the last one to finish exports the chunk.
struct Segment {
  TraceExporter* exporter = nullptr;
  size_t partial_flush_min_spans = 0;  // TracerOptions::partial_flush_min_spans
  TraceId trace_id;
  SamplingDecision decision;
  std::string origin;
  std::vector<std::pair<std::string, std::string>> trace_tags;  // _dd.p.* (not tid)
  std::string foreign_tracestate;

  std::mutex mu;
  size_t open = 0;
  TraceChunk finished;
};

struct SpanState {
  std::shared_ptr<Segment> segment;
  const Clock* clock = nullptr;
  SpanData data;  // ids always; the rest only when the trace is kept
  bool finished = false;
  std::vector<SpanContext> links;
};

void SpanStateDelete::operator()(SpanState* state) const {
  std::pmr::polymorphic_allocator<>(SpanMemory()).delete_object(state);
}

}  // namespace internal

namespace {

using internal::Segment;
using internal::SpanState;

thread_local const SpanState* t_active = nullptr;

uint64_t RandomId() {
  thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    std::seed_seq seq{
        rd(), rd(), rd(), rd(),
        static_cast<unsigned>(std::hash<std::thread::id>{}(std::this_thread::get_id()))};
    return std::mt19937_64(seq);
  }());
  uint64_t v;
  do {
    v = rng();
  } while (v == 0);
  return v;
}

// Trace-level tags on `span`, the chunk's root: what the Agent and the next reader of the
// trace need from every chunk.
void AddChunkRootTags(const Segment& seg, SpanData& span) {
  if (seg.trace_id.high != 0) span.SetMeta(tags::kTraceIdHigh, seg.trace_id.HighHex());
  for (const auto& [k, v] : seg.trace_tags) span.SetMeta(k, v);
  if (!seg.origin.empty()) span.SetMeta(tags::kOrigin, seg.origin);
  span.SetMeta(tags::kLanguage, "cpp");
  span.SetMetric(tags::kSamplingPriority, seg.decision.priority);
  if (!seg.decision.decision_maker.empty()) {  // decided here, not taken from the caller
    span.SetMetric(seg.decision.by_rule ? tags::kRuleSampleRate : tags::kAgentSampleRate,
                   seg.decision.rate);
  }
  span.SetMetric(tags::kProcessId, static_cast<double>(::getpid()));
}

// A chunk that does not hold its local root (spans started after the root's chunk was sent)
// gets the trace-level tags on its own root: the span whose parent is not in the chunk.
void EnsureChunkRootTags(const Segment& seg, TraceChunk& chunk) {
  for (const SpanData& s : chunk) {
    if (s.metrics.find(tags::kSamplingPriority) != s.metrics.end()) return;
  }
  std::unordered_set<uint64_t> ids;
  for (const SpanData& s : chunk) ids.insert(s.span_id);
  for (SpanData& s : chunk) {
    if (ids.count(s.parent_id) == 0) {
      AddChunkRootTags(seg, s);
      return;
    }
  }
}

}  // namespace

Span::Span() = default;
Span::Span(internal::SpanStatePtr state) : state_(std::move(state)) {}
Span::Span(Span&& other) noexcept = default;
Span::~Span() { Finish(); }

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    Finish();
    state_ = std::move(other.state_);
  }
  return *this;
}

bool Span::recording() const {
  return state_ != nullptr && state_->segment->decision.keep() && !state_->finished;
}

TraceId Span::trace_id() const { return state_ ? state_->data.trace_id : TraceId{}; }
uint64_t Span::span_id() const { return state_ ? state_->data.span_id : 0; }

SpanContext Span::context() const {
  SpanContext ctx;
  if (state_ == nullptr) return ctx;
  const Segment& seg = *state_->segment;
  ctx.trace_id = seg.trace_id;
  ctx.span_id = state_->data.span_id;
  ctx.sampling_priority = seg.decision.priority;
  ctx.origin = seg.origin;
  ctx.trace_tags = seg.trace_tags;
  ctx.foreign_tracestate = seg.foreign_tracestate;
  return ctx;
}

void Span::SetTag(std::string_view key, std::string_view value) {
  if (recording()) state_->data.SetMeta(key, value);
}

void Span::SetMetric(std::string_view key, double value) {
  if (recording()) state_->data.SetMetric(key, value);
}

void Span::SetResource(std::string_view resource) {
  if (recording()) state_->data.resource.assign(resource);
}

void Span::SetType(std::string_view type) {
  if (recording()) state_->data.type.assign(type);
}

void Span::SetError(std::string_view message, std::string_view type) {
  if (!recording()) return;
  state_->data.error = 1;
  state_->data.SetMeta(tags::kErrorMessage, message);
  if (!type.empty()) state_->data.SetMeta(tags::kErrorType, type);
}

void Span::AddLink(const SpanContext& linked) {
  if (!recording() || !linked.valid()) return;
  state_->links.push_back(linked);
}

void Span::WriteLinks() {
  std::string json = "[";
  for (const SpanContext& l : state_->links) {
    if (json.size() > 1) json.push_back(',');
    json += "{\"trace_id\":\"" + l.trace_id.Hex() + "\",\"span_id\":\"" + Hex16(l.span_id) + "\"";
    if (l.sampling_priority) json += *l.sampling_priority > 0 ? ",\"flags\":1" : ",\"flags\":0";
    json.push_back('}');
  }
  json.push_back(']');
  state_->data.SetMeta(tags::kSpanLinks, json);
}

void Span::Finish() {
  if (state_ == nullptr || state_->finished) return;
  if (!state_->links.empty() && recording()) WriteLinks();
  SpanState& st = *state_;
  st.finished = true;
  Segment& seg = *st.segment;
  const bool keep = seg.decision.keep();
  if (keep) st.data.duration_ns = std::max<int64_t>(0, st.clock->NowUnixNanos() - st.data.start_ns);
  TraceChunk chunk;
  {
    std::lock_guard<std::mutex> lock(seg.mu);
    if (keep) seg.finished.push_back(std::move(st.data));
    const bool last = --seg.open == 0;
    if (!keep) return;
    const bool partial = !last && seg.partial_flush_min_spans > 0 &&
                         seg.finished.size() >= seg.partial_flush_min_spans;
    if (!last && !partial) return;
    chunk.swap(seg.finished);
  }
  EnsureChunkRootTags(seg, chunk);
  seg.exporter->Export(std::move(chunk));  // never blocks; a full queue drops and counts
}

Tracer::Tracer(TracerOptions options, TraceExporter* exporter, const Clock& clock)
    : options_(std::move(options)), exporter_(exporter), clock_(clock) {}

Tracer::~Tracer() = default;

uint64_t Tracer::NewId() const {
  if (options_.id_source) {
    uint64_t v = options_.id_source();
    return v != 0 ? v : 1;
  }
  return RandomId();
}

Span Tracer::StartSpan(std::string_view name, const StartOptions& options) {
  return Start(name, options, nullptr);
}

Span Tracer::StartChild(const Span& parent, std::string_view name, const StartOptions& options) {
  return Start(name, options, parent.state_.get());
}

Span Tracer::Start(std::string_view name, const StartOptions& options,
                   const SpanState* local_parent) {
  if (exporter_ == nullptr) return Span();
  const bool remote = options.parent != nullptr && options.parent->valid() && !options.root;
  if (local_parent == nullptr && !remote && !options.root) local_parent = t_active;

  // The span's state and its chunk's in SpanMemory() too: nothing a span holds comes from
  // (or goes back to) the traced code's heap.
  std::pmr::polymorphic_allocator<> memory(SpanMemory());
  internal::SpanStatePtr st(memory.new_object<SpanState>());
  st->clock = &clock_;
  bool chunk_root = false;
  if (local_parent != nullptr && local_parent->segment != nullptr) {
    st->segment = local_parent->segment;
    st->data.parent_id = local_parent->data.span_id;
  } else {
    auto seg = std::allocate_shared<Segment>(std::pmr::polymorphic_allocator<Segment>(memory));
    seg->exporter = exporter_;
    seg->partial_flush_min_spans = options_.partial_flush_min_spans;
    chunk_root = true;
    if (remote) {
      const SpanContext& p = *options.parent;
      seg->trace_id = p.trace_id;
      seg->origin = p.origin;
      seg->trace_tags = p.trace_tags;
      seg->foreign_tracestate = p.foreign_tracestate;
      if (p.sampling_priority) {
        seg->decision.priority = *p.sampling_priority;
        seg->decision.decision_maker.clear();
        seg->decision.rate = options_.sampler.rate();
        seg->decision.by_rule = options_.sampler.rule();
      } else {
        seg->decision = options_.sampler.Decide(seg->trace_id);
      }
      st->data.parent_id = p.span_id;
      if (!p.datadog_parent_hex.empty()) {
        st->data.SetMeta(tags::kParentIdFromW3c, p.datadog_parent_hex);
      }
    } else {
      seg->trace_id.low = NewId();
      if (options_.trace_id_128) {
        const uint64_t seconds = static_cast<uint64_t>(clock_.NowUnixNanos() / 1'000'000'000);
        seg->trace_id.high = seconds << 32;
      }
      seg->decision = options_.sampler.Decide(seg->trace_id);
    }
    // The decision maker travels with a kept trace (only the deciding process sets it).
    if (seg->decision.keep() && !seg->decision.decision_maker.empty()) {
      bool present = false;
      for (const auto& [k, v] : seg->trace_tags) present |= k == tags::kDecisionMaker;
      if (!present) {
        seg->trace_tags.emplace_back(std::string(tags::kDecisionMaker),
                                     seg->decision.decision_maker);
      }
    }
    st->segment = std::move(seg);
  }
  Segment& seg = *st->segment;
  st->data.trace_id = seg.trace_id;
  st->data.span_id = NewId();
  {
    std::lock_guard<std::mutex> lock(seg.mu);
    ++seg.open;
  }
  if (!seg.decision.keep()) return Span(std::move(st));

  SpanData& d = st->data;
  d.service.assign(options.service.empty() ? std::string_view(options_.service) : options.service);
  d.name.assign(name);
  d.resource.assign(options.resource.empty() ? name : options.resource);
  d.type.assign(options.type);
  d.start_ns = options.start_ns.value_or(clock_.NowUnixNanos());
  if (!options_.env.empty()) d.SetMeta(tags::kEnv, options_.env);
  if (!options_.version.empty() && std::string_view(d.service) == options_.service) {
    d.SetMeta(tags::kVersion, options_.version);
  }
  if (!options.kind.empty()) d.SetMeta(tags::kSpanKind, options.kind);
  if (chunk_root) AddChunkRootTags(seg, d);
  return Span(std::move(st));
}

Tracer& DisabledTracer() {
  static RealClock clock;
  static Tracer off(TracerOptions(), nullptr, clock);
  return off;
}

ActiveSpanRef CurrentActiveSpan() {
  ActiveSpanRef ref;
  ref.state_ = t_active;
  return ref;
}

ActiveSpanScope::ActiveSpanScope(const Span& span) : previous_(t_active) {
  Enter(span.state_.get());
}

ActiveSpanScope::ActiveSpanScope(ActiveSpanRef span) : previous_(t_active) { Enter(span.state_); }

void ActiveSpanScope::Enter(const SpanState* state) {
  if (state == nullptr) return;
  t_active = state;
  log_ids_.trace_id_low = state->data.trace_id.low;
  log_ids_.span_id = state->data.span_id;
  previous_log_ = SetThreadLogSpan(&log_ids_);
  set_ = true;
}

ActiveSpanScope::~ActiveSpanScope() {
  if (!set_) return;
  t_active = previous_;
  SetThreadLogSpan(previous_log_);
}

std::optional<ActiveIds> CurrentSpanIds() {
  if (t_active == nullptr) return std::nullopt;
  return ActiveIds{t_active->data.trace_id, t_active->data.span_id};
}

}  // namespace apmcov::tracing
