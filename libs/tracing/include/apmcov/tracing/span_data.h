// What a finished span is, with Datadog's semantics (the Agent's v0.4 span, design §12), and
// the tag names the tracker puts on its spans. Plain values: no locking, no I/O.
#pragma once

#include <cstdint>
#include <map>
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

// One finished span, as the Agent's v0.4 intake takes it.
struct SpanData {
  TraceId trace_id;  // only trace_id.low goes in the span; high is meta `_dd.p.tid` on the root
  uint64_t span_id = 0;
  uint64_t parent_id = 0;  // 0 for a trace's root
  std::string service;
  std::string name;      // the operation, e.g. "http.request", "kafka.produce"
  std::string resource;  // e.g. "GET /api/services", "apmcov.spans"
  std::string type;      // e.g. "web", "http", "rpc", "sql", "queue", "custom"
  int64_t start_ns = 0;  // since the Unix epoch
  int64_t duration_ns = 0;
  int32_t error = 0;  // 1 when the operation failed
  std::map<std::string, std::string> meta;
  std::map<std::string, double> metrics;
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
