// The tracer (design §12): starts spans with Datadog semantics, gathers the finished spans
// of each trace chunk, and hands every complete chunk of a kept trace to a TraceExporter.
//
//   tracing::Tracer tracer(options, &exporter, clock);           // or &exporter = nullptr: off
//   auto ctx = tracing::Extract(tracing::ReadFrom(request_headers));
//   tracing::Span server = tracer.StartSpan("http.request",
//       {.resource = "GET /api/services", .type = "web", .kind = tracing::kinds::kServer,
//        .parent = ctx ? &*ctx : nullptr});
//   tracing::ActiveSpanScope active(server);                     // logs and children see it
//   {
//     tracing::Span db = tracer.StartSpan("postgres.query",
//         {.type = "sql", .kind = tracing::kinds::kClient});     // child of the active span
//     db.SetTag(tracing::tags::kDbSystem, "postgresql");
//   }                                                            // finished on destruction
//   tracing::Inject(server.context(), tracing::WriteTo(&outgoing_headers));
//
// Chunks: the spans of one trace started in this process through one local root (a span
// without a local parent) form a chunk; it goes to the exporter when its last open span
// finishes, from the thread that finished it. The chunk root carries the trace-level tags:
// `_dd.p.tid` (the high 64 bits of a 128-bit id), `_dd.p.dm` and the other propagated
// `_dd.p.*` tags, `_sampling_priority_v1`, `_dd.rule_psr` or `_dd.agent_psr`, `language`
// and `process_id`; every span carries `env` and `version` when set (unified service tags).
//
// Sampling is decided once per trace: by the Sampler at a root, or taken from the extracted
// priority. Spans of a dropped trace (priority <= 0) still have ids and propagate their
// context (so the next process drops too), but record nothing and are never exported.
// With no exporter the tracer is off: spans are empty handles, context() is invalid, and
// nothing is injected; every call is then a few instructions.
//
// Thread safety: Tracer is thread-safe. A Span is used by one thread at a time (move it to
// hand it over); its children may finish on other threads. ActiveSpanScope is per thread.
// Lifetime: the tracer and its exporter must outlive every span.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "apmcov/base/clock.h"
#include "apmcov/base/log.h"
#include "apmcov/tracing/propagation.h"
#include "apmcov/tracing/sampler.h"

namespace apmcov::tracing {

struct TracerOptions {
  std::string service;          // DD_SERVICE
  std::string env;              // DD_ENV
  std::string version;          // DD_VERSION
  Sampler sampler = Sampler();  // DD_TRACE_SAMPLE_RATE
  // 128-bit trace ids (dd-trace's default: high = unix seconds << 32). false: 64-bit ids.
  bool trace_id_128 = true;
  // Random 64-bit ids, never 0. Tests pass a deterministic source.
  std::function<uint64_t()> id_source;
  // Partial flush (DD_TRACE_PARTIAL_FLUSH_MIN_SPANS): once this many spans of a trace chunk
  // have finished while others are still open, they are exported as a chunk of their own, so
  // that a long operation (a sync making thousands of calls) holds a bounded number of
  // finished spans rather than all of them until its root ends. 0 turns it off.
  size_t partial_flush_min_spans = 500;
};

class TraceExporter;  // exporter.h

namespace internal {
struct SpanState;
// Returns a span's state to SpanMemory() (span_data.h), where it came from.
struct SpanStateDelete {
  void operator()(SpanState* state) const;
};
using SpanStatePtr = std::unique_ptr<SpanState, SpanStateDelete>;
}  // namespace internal

// A span in progress: a move-only handle that finishes the span when destroyed (or on
// Finish()). A default-constructed Span is empty: every method is a no-op.
class Span {
 public:
  Span();
  ~Span();
  Span(Span&& other) noexcept;
  Span& operator=(Span&& other) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  // False for an empty span and for spans of a dropped trace.
  bool recording() const;
  // The context to inject into outgoing requests (invalid for an empty span).
  SpanContext context() const;
  TraceId trace_id() const;
  uint64_t span_id() const;

  void SetTag(std::string_view key, std::string_view value);
  void SetMetric(std::string_view key, double value);
  void SetResource(std::string_view resource);
  void SetType(std::string_view type);
  // Marks the span failed with a message (meta error.message; error.type when given).
  void SetError(std::string_view message, std::string_view type = {});
  // A span link (to a span of this or another trace that caused this one, such as each
  // producer of a consumed batch): sent as meta `_dd.span_links`, a JSON array of
  // {"trace_id": 32 hex, "span_id": 16 hex[, "flags": 1|0 when the priority is known]}, the
  // form the Agent reads from v0.4 payloads. Invalid contexts are ignored.
  void AddLink(const SpanContext& linked);
  // Ends the span now (idempotent). Its chunk is exported once every span of it ended.
  void Finish();

 private:
  friend class Tracer;
  friend class ActiveSpanScope;
  explicit Span(internal::SpanStatePtr state);
  void WriteLinks();
  internal::SpanStatePtr state_;
};

struct StartOptions {
  std::string_view resource;  // default: the span's name
  std::string_view type;
  std::string_view kind;     // span.kind: kinds::kServer, kClient, ...
  std::string_view service;  // default: the tracer's service
  // An extracted (remote) parent. When null, the thread's active span is the parent; with
  // neither (or with `root`), the span starts a new trace.
  const SpanContext* parent = nullptr;
  bool root = false;
  std::optional<int64_t> start_ns;  // default: the clock's now
};

class Tracer {
 public:
  // `exporter` null: tracing is off. `clock` gives start times and durations.
  Tracer(TracerOptions options, TraceExporter* exporter, const Clock& clock);
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  bool enabled() const { return exporter_ != nullptr; }
  const TracerOptions& options() const { return options_; }

  Span StartSpan(std::string_view name, const StartOptions& options = {});
  // A child of `parent` in the same chunk, whatever span is active on this thread.
  Span StartChild(const Span& parent, std::string_view name, const StartOptions& options = {});

 private:
  friend struct internal::SpanState;
  uint64_t NewId() const;
  Span Start(std::string_view name, const StartOptions& options,
             const internal::SpanState* local_parent);

  const TracerOptions options_;
  TraceExporter* const exporter_;
  const Clock& clock_;
};

// A tracer that is off (no exporter): what components use when they are given none.
Tracer& DisabledTracer();

// Makes `span` the active span of this thread until the scope ends (then the previous one is
// active again). Scopes nest and must end in reverse order, on the thread that made them.
// The span must outlive the scope. While it is active, log lines of this thread carry its ids
// (libs/base SetThreadLogSpan: dd.trace_id, dd.span_id). An empty span changes nothing.
// This thread's active span, to make it active on a helper thread that works inside it (a
// prefetch, say). It refers to the span without owning it: valid while the span lives.
class ActiveSpanRef {
 private:
  friend class ActiveSpanScope;
  friend ActiveSpanRef CurrentActiveSpan();
  const internal::SpanState* state_ = nullptr;
};
ActiveSpanRef CurrentActiveSpan();

class ActiveSpanScope {
 public:
  explicit ActiveSpanScope(const Span& span);
  explicit ActiveSpanScope(ActiveSpanRef span);
  ~ActiveSpanScope();
  ActiveSpanScope(const ActiveSpanScope&) = delete;
  ActiveSpanScope& operator=(const ActiveSpanScope&) = delete;

 private:
  void Enter(const internal::SpanState* state);
  const internal::SpanState* previous_;
  LogSpanIds log_ids_;
  const LogSpanIds* previous_log_ = nullptr;
  bool set_ = false;
};

// The ids of this thread's active span, for log correlation (dd.trace_id, dd.span_id);
// nullopt when none is active.
struct ActiveIds {
  TraceId trace_id;
  uint64_t span_id = 0;
};
std::optional<ActiveIds> CurrentSpanIds();

}  // namespace apmcov::tracing
