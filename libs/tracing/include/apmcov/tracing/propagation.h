// Trace context propagation codecs (design §12): pure functions that read and write the
// Datadog headers and the W3C Trace Context headers over a generic string carrier, so HTTP
// headers, gRPC metadata and Kafka record headers (apmcov::bus::Headers) all use the same code.
//
//   Datadog:  x-datadog-trace-id      low 64 bits, decimal
//             x-datadog-parent-id     decimal
//             x-datadog-sampling-priority   integer (-1, 0, 1, 2)
//             x-datadog-origin        optional
//             x-datadog-tags          "_dd.p.tid=<16 hex>,_dd.p.dm=-3" (only _dd.p.* keys)
//   W3C:      traceparent             00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>
//             tracestate              dd=s:<priority>;p:<16 hex parent>;o:<origin>;t.tid:<hex>;
//                                     t.dm:-3, then other vendors' members, forwarded as is
//
// Extraction precedence, as Datadog's tracers do by default (extract styles "datadog,
// tracecontext"): valid Datadog headers win. When W3C headers are also valid and name the
// same trace, the W3C parent id is used if it differs (a W3C-only hop, such as a proxy, sat
// between the two services), with the Datadog parent kept in `_dd.parent_id`, and the other
// vendors' tracestate members are kept. When they name another trace, the W3C headers are
// ignored. Without valid Datadog headers, valid W3C headers are used.
//
// Malformed input is ignored, never thrown or crashed on: an invalid trace or parent id voids
// that style (a W3C trace id whose low 64 bits are zero is invalid here: Datadog's trace_id
// is those 64 bits, and the Agent drops spans whose trace_id is 0); a bad sampling priority,
// x-datadog-tags list or tracestate entry is dropped on its own and the rest kept; values longer
// than the limits below are ignored. Header names are matched case-insensitively by the carrier
// adapters. All functions are thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apmcov/tracing/span_data.h"

namespace apmcov::tracing {

// What crosses a process boundary: the caller's trace and span, and the trace-level state
// every process of the trace shares.
struct SpanContext {
  TraceId trace_id;
  uint64_t span_id = 0;                  // the sender's span: the parent of the next span
  std::optional<int> sampling_priority;  // absent: the receiver decides
  std::string origin;                    // x-datadog-origin / tracestate o:
  // Propagated trace tags, `_dd.p.*` keys except `_dd.p.tid` (that is trace_id.high).
  std::vector<std::pair<std::string, std::string>> trace_tags;
  // Extraction only: the last Datadog parent when a W3C-only hop sat in between (hex).
  std::string datadog_parent_hex;
  // tracestate members of other vendors, "k1=v1,k2=v2", forwarded unchanged.
  std::string foreign_tracestate;

  bool valid() const { return trace_id.valid() && span_id != 0; }
};

// Header names.
inline constexpr std::string_view kDatadogTraceIdHeader = "x-datadog-trace-id";
inline constexpr std::string_view kDatadogParentIdHeader = "x-datadog-parent-id";
inline constexpr std::string_view kDatadogSamplingPriorityHeader = "x-datadog-sampling-priority";
inline constexpr std::string_view kDatadogOriginHeader = "x-datadog-origin";
inline constexpr std::string_view kDatadogTagsHeader = "x-datadog-tags";
inline constexpr std::string_view kTraceparentHeader = "traceparent";
inline constexpr std::string_view kTracestateHeader = "tracestate";

// Limits: x-datadog-tags longer than this is ignored (Datadog's default), so is a tracestate
// longer than the W3C maximum of 32 members or this many bytes.
inline constexpr size_t kMaxDatadogTagsBytes = 512;
inline constexpr size_t kMaxTracestateBytes = 1024;

// The carrier: a lookup by lowercase header name (nullopt when absent) and a setter.
using HeaderReader = std::function<std::optional<std::string_view>(std::string_view lower_name)>;
using HeaderWriter = std::function<void(std::string_view lower_name, std::string_view value)>;

enum class PropagationStyle { kDatadog, kW3c };

// The context the headers carry, or nullopt when neither style is present and valid.
std::optional<SpanContext> Extract(const HeaderReader& headers);
// One style only (tests, and callers that must not mix styles).
std::optional<SpanContext> ExtractStyle(const HeaderReader& headers, PropagationStyle style);

// Writes both styles for `context` (an invalid context writes nothing).
void Inject(const SpanContext& context, const HeaderWriter& headers);
void InjectStyle(const SpanContext& context, const HeaderWriter& headers, PropagationStyle style);

// Carrier adapters. Lookup is case-insensitive; with repeated names the last one wins (as
// bus::IncomingMessage::Header does). The writer replaces existing entries of the same name
// (case-insensitively) instead of adding a second one. The carrier must outlive the adapter.
using HeaderList = std::vector<std::pair<std::string, std::string>>;  // = bus::Headers
HeaderReader ReadFrom(const HeaderList& headers);
HeaderWriter WriteTo(HeaderList* headers);
HeaderReader ReadFrom(const std::map<std::string, std::string>& headers);
HeaderWriter WriteTo(std::map<std::string, std::string>* headers);

}  // namespace apmcov::tracing
