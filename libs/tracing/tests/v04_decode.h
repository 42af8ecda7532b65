// Test helper: decodes a v0.4 trace payload with msgpack-cxx's object API, checking the msgpack
// type of every field the Agent reads (uint ids, int start/duration/error, str → str meta,
// str → float64 metrics). Written from the Agent's documented format, not from the encoder.
#pragma once

#include <msgpack.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "apmcov/tracing/span_data.h"

namespace apmcov::tracing::testing {

inline std::string Str(const msgpack::object& o, std::string_view what) {
  if (o.type != msgpack::type::STR) throw std::runtime_error(std::string(what) + " is not a str");
  return std::string(o.via.str.ptr, o.via.str.size);
}

inline uint64_t Uint(const msgpack::object& o, std::string_view what) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) {
    throw std::runtime_error(std::string(what) + " is not a positive integer");
  }
  return o.via.u64;
}

inline int64_t Int(const msgpack::object& o, std::string_view what) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) return static_cast<int64_t>(o.via.u64);
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
  throw std::runtime_error(std::string(what) + " is not an integer");
}

// Throws std::runtime_error (or a msgpack exception) on anything unexpected.
inline std::vector<TraceChunk> DecodeV04(std::string_view payload) {
  msgpack::object_handle handle = msgpack::unpack(payload.data(), payload.size());
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY) throw std::runtime_error("payload is not an array");
  std::vector<TraceChunk> out;
  for (uint32_t t = 0; t < root.via.array.size; ++t) {
    const msgpack::object& trace = root.via.array.ptr[t];
    if (trace.type != msgpack::type::ARRAY) throw std::runtime_error("trace is not an array");
    TraceChunk chunk;
    for (uint32_t i = 0; i < trace.via.array.size; ++i) {
      const msgpack::object& span = trace.via.array.ptr[i];
      if (span.type != msgpack::type::MAP) throw std::runtime_error("span is not a map");
      SpanData s;
      int seen = 0;
      for (uint32_t k = 0; k < span.via.map.size; ++k) {
        const std::string key = Str(span.via.map.ptr[k].key, "span key");
        const msgpack::object& v = span.via.map.ptr[k].val;
        ++seen;
        if (key == "trace_id") {
          s.trace_id.low = Uint(v, key);
        } else if (key == "span_id") {
          s.span_id = Uint(v, key);
        } else if (key == "parent_id") {
          s.parent_id = Uint(v, key);
        } else if (key == "service") {
          s.service = Str(v, key);
        } else if (key == "name") {
          s.name = Str(v, key);
        } else if (key == "resource") {
          s.resource = Str(v, key);
        } else if (key == "type") {
          s.type = Str(v, key);
        } else if (key == "start") {
          s.start_ns = Int(v, key);
        } else if (key == "duration") {
          s.duration_ns = Int(v, key);
        } else if (key == "error") {
          s.error = static_cast<int32_t>(Int(v, key));
        } else if (key == "meta") {
          if (v.type != msgpack::type::MAP) throw std::runtime_error("meta is not a map");
          for (uint32_t m = 0; m < v.via.map.size; ++m) {
            s.SetMeta(Str(v.via.map.ptr[m].key, "meta key"),
                      Str(v.via.map.ptr[m].val, "meta value"));
          }
        } else if (key == "metrics") {
          if (v.type != msgpack::type::MAP) throw std::runtime_error("metrics is not a map");
          for (uint32_t m = 0; m < v.via.map.size; ++m) {
            const msgpack::object& mv = v.via.map.ptr[m].val;
            if (mv.type != msgpack::type::FLOAT64) {
              throw std::runtime_error("metric value is not a float64");
            }
            s.SetMetric(Str(v.via.map.ptr[m].key, "metric key"), mv.via.f64);
          }
        } else {
          throw std::runtime_error("unexpected span key " + key);
        }
      }
      if (seen != 12) throw std::runtime_error("a span has " + std::to_string(seen) + " keys");
      // The high 64 bits of a 128-bit id travel in the chunk root's meta.
      auto tid = s.meta.find(std::string(tags::kTraceIdHigh));
      if (tid != s.meta.end()) ParseLowerHex64(tid->second, &s.trace_id.high);
      chunk.push_back(std::move(s));
    }
    // Every span of the chunk belongs to the trace its root names.
    uint64_t high = 0;
    for (const SpanData& s : chunk) high = std::max(high, s.trace_id.high);
    for (SpanData& s : chunk) s.trace_id.high = high;
    out.push_back(std::move(chunk));
  }
  return out;
}

// Field-by-field equality with a readable difference (empty when equal).
inline std::string SpanDifference(const SpanData& want, const SpanData& got) {
  std::string d;
  auto check = [&d](bool same, std::string_view field) {
    if (!same) d += std::string(field) + " ";
  };
  check(want.trace_id == got.trace_id, "trace_id");
  check(want.span_id == got.span_id, "span_id");
  check(want.parent_id == got.parent_id, "parent_id");
  check(want.service == got.service, "service");
  check(want.name == got.name, "name");
  check(want.resource == got.resource, "resource");
  check(want.type == got.type, "type");
  check(want.start_ns == got.start_ns, "start");
  check(want.duration_ns == got.duration_ns, "duration");
  check(want.error == got.error, "error");
  check(want.meta == got.meta, "meta");
  check(want.metrics == got.metrics, "metrics");
  return d;
}

}  // namespace apmcov::tracing::testing
