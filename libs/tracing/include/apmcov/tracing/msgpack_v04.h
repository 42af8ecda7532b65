// The Datadog Agent's v0.4 trace payload (design §12, docs/datadog-api.md §14): a msgpack
// array of traces, each an array of span maps with the keys trace_id, span_id, parent_id
// (uint), service, name, resource, type (str), start, duration (int, ns), error (int), meta
// (map str → str) and metrics (map str → float64). Pure functions; no I/O.
#pragma once

#include <string>
#include <vector>

#include "apmcov/tracing/span_data.h"

namespace apmcov::tracing {

// One chunk as a msgpack array of span maps (an element of the payload's outer array).
std::string EncodeChunkV04(const TraceChunk& chunk);
// A payload from chunks already encoded by EncodeChunkV04 (so a sender can split by size).
std::string AssemblePayloadV04(const std::vector<const std::string*>& encoded_chunks);
// The whole payload for `chunks`.
std::string EncodeTracesV04(const std::vector<TraceChunk>& chunks);

}  // namespace apmcov::tracing
