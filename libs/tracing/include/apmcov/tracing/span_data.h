// What a finished span is, with Datadog's semantics (the Agent's v0.4 span, design §12), and
// the tag names the tracker puts on its spans. Plain values: no locking, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory_resource>
#include <string>
#include <string_view>
#include <vector>

namespace apmcov::tracing {

// A 128-bit trace id. Datadog carries the low 64 bits in a span's `trace_id` and the high 64
// bits as 16 lowercase hex digits in the chunk root's meta `_dd.p.tid`; W3C carries all 32
// hex digits in `traceparent`. high == 0 is a 64-bit id. Zero (both halves) is invalid.
struct TraceId {
  uint64_t high = 0;
  uint64_t low = 0;

  bool valid() const { return high != 0 || low != 0; }
  std::string Hex() const;      // 32 lowercase hex digits
  std::string HighHex() const;  // 16 lowercase hex digits (the `_dd.p.tid` value)
  bool operator==(const TraceId&) const = default;
};

// Parses 1..16 lowercase hex digits into *out; false for anything else (uppercase too).
bool ParseLowerHex64(std::string_view text, uint64_t* out);
// Parses a decimal uint64 (digits only, no sign, no overflow) into *out; false otherwise.
bool ParseDecimalU64(std::string_view text, uint64_t* out);
// 16 lowercase hex digits, zero-padded.
std::string Hex16(uint64_t value);

// Datadog sampling priorities (the `_sampling_priority_v1` metric and the propagated value).
inline constexpr int kUserReject = -1;
inline constexpr int kAutoReject = 0;
inline constexpr int kAutoKeep = 1;
inline constexpr int kUserKeep = 2;

// The memory spans are made of (a SpanData's strings and tags; the tracer's span and chunk
// state): a pool of tracing's own (thread-safe, process-wide, never freed), so that the tracer
// neither takes its blocks from the heap the traced code works in nor hands them back to it.
// Measured (README, performance): freeing a sync's spans into the common heap slowed the
// sync's own code by a few percent, the tracer's code taking under 0.3% of the samples. The
// pool keeps what it was given: its size is the peak of spans alive at once (bounded by
// partial flush and the exporter's queue).
std::pmr::memory_resource* SpanMemory();
// The bytes SpanMemory() holds from the heap: its pools (kept for the next spans once the
// last ones are gone) and any block too large for them while in use. Exported as
// apmcov_tracing_span_memory_bytes.
size_t SpanMemoryBytes();

// Orders tags by their text, whatever string type holds it (lookups by std::string,
// string_view or a literal never build a key).
struct TagLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a < b; }
};

// One finished span, as the Agent's v0.4 intake takes it. Its strings live in SpanMemory()
// (every constructor puts them there; moves keep them there), so copies and moves between
// spans never change pools. Tags are looked up by any string type (TagLess).
struct SpanData {
  using String = std::pmr::string;
  using Meta = std::pmr::map<String, String, TagLess>;
  using Metrics = std::pmr::map<String, double, TagLess>;

  SpanData()
      : service(SpanMemory()),
        name(SpanMemory()),
        resource(SpanMemory()),
        type(SpanMemory()),
        meta(SpanMemory()),
        metrics(SpanMemory()) {}
  // A copy in SpanMemory() too (a pmr container's own copy takes the default resource).
  SpanData(const SpanData& o)
      : trace_id(o.trace_id),
        span_id(o.span_id),
        parent_id(o.parent_id),
        service(o.service, SpanMemory()),
        name(o.name, SpanMemory()),
        resource(o.resource, SpanMemory()),
        type(o.type, SpanMemory()),
        start_ns(o.start_ns),
        duration_ns(o.duration_ns),
        error(o.error),
        meta(o.meta, SpanMemory()),
        metrics(o.metrics, SpanMemory()) {}
  SpanData(SpanData&&) noexcept = default;
  SpanData& operator=(const SpanData&) = default;
  SpanData& operator=(SpanData&&) = default;

  // Sets a tag (meta) or a metric, replacing any value it had.
  void SetMeta(std::string_view key, std::string_view value);
  void SetMetric(std::string_view key, double value);
  // A tag's value; empty when it has none.
  std::string_view MetaOr(std::string_view key, std::string_view otherwise = {}) const;

  TraceId trace_id;  // only trace_id.low goes in the span; high is meta `_dd.p.tid` on the root
  uint64_t span_id = 0;
  uint64_t parent_id = 0;  // 0 for a trace's root
  String service;
  String name;           // the operation, e.g. "http.request", "kafka.produce"
  String resource;       // e.g. "GET /api/services", "apmcov.spans"
  String type;           // e.g. "web", "http", "rpc", "sql", "queue", "custom"
  int64_t start_ns = 0;  // since the Unix epoch
  int64_t duration_ns = 0;
  int32_t error = 0;  // 1 when the operation failed
  Meta meta;
  Metrics metrics;
};

// The spans of one trace that one process finished together (Datadog's "trace chunk"); the
// first span is the chunk's root (the span that started it in this process).
using TraceChunk = std::vector<SpanData>;

// Tag names (meta keys) and values the tracker uses. Peer tags (design §12) go on client and
// producer spans so that the product, reading its own traces, finds each call's target.
namespace tags {
inline constexpr std::string_view kSpanKind = "span.kind";
inline constexpr std::string_view kEnv = "env";
inline constexpr std::string_view kVersion = "version";
inline constexpr std::string_view kLanguage = "language";
inline constexpr std::string_view kTraceIdHigh = "_dd.p.tid";
inline constexpr std::string_view kDecisionMaker = "_dd.p.dm";
inline constexpr std::string_view kOrigin = "_dd.origin";
inline constexpr std::string_view kParentIdFromW3c = "_dd.parent_id";
inline constexpr std::string_view kErrorMessage = "error.message";
inline constexpr std::string_view kErrorType = "error.type";
inline constexpr std::string_view kSpanLinks = "_dd.span_links";  // JSON (Span::AddLink)
// Peer tags.
inline constexpr std::string_view kPeerService = "peer.service";
inline constexpr std::string_view kOutHost = "out.host";
inline constexpr std::string_view kDbSystem = "db.system";
inline constexpr std::string_view kMessagingSystem = "messaging.system";
inline constexpr std::string_view kMessagingDestination = "messaging.destination.name";
inline constexpr std::string_view kRpcService = "rpc.service";
// Metrics.
inline constexpr std::string_view kSamplingPriority = "_sampling_priority_v1";
inline constexpr std::string_view kRuleSampleRate = "_dd.rule_psr";
inline constexpr std::string_view kAgentSampleRate = "_dd.agent_psr";
inline constexpr std::string_view kProcessId = "process_id";
}  // namespace tags

// span.kind values.
namespace kinds {
inline constexpr std::string_view kServer = "server";
inline constexpr std::string_view kClient = "client";
inline constexpr std::string_view kProducer = "producer";
inline constexpr std::string_view kConsumer = "consumer";
inline constexpr std::string_view kInternal = "internal";
}  // namespace kinds

}  // namespace apmcov::tracing
