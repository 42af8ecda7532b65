#include "apmcov/tracing/msgpack_v04.h"

#include <cstring>
#include <msgpack.hpp>

namespace apmcov::tracing {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

void PackString(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

// Always a float64: msgpack-cxx's pack_double writes integral values as integers, and the
// v0.4 format has metrics as float64.
void PackFloat64(msgpack::sbuffer& buffer, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  char out[9];
  out[0] = static_cast<char>(0xcb);
  for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
  buffer.write(out, sizeof out);
}

void PackSpan(msgpack::sbuffer& buffer, Packer& p, const SpanData& s) {
  p.pack_map(12);
  PackString(p, "trace_id");
  p.pack_uint64(s.trace_id.low);
  PackString(p, "span_id");
  p.pack_uint64(s.span_id);
  PackString(p, "parent_id");
  p.pack_uint64(s.parent_id);
  PackString(p, "service");
  PackString(p, s.service);
  PackString(p, "name");
  PackString(p, s.name);
  PackString(p, "resource");
  PackString(p, s.resource);
  PackString(p, "type");
  PackString(p, s.type);
  PackString(p, "start");
  p.pack_int64(s.start_ns);
  PackString(p, "duration");
  p.pack_int64(s.duration_ns);
  PackString(p, "error");
  p.pack_int32(s.error);
  PackString(p, "meta");
  p.pack_map(static_cast<uint32_t>(s.meta.size()));
  for (const auto& [k, v] : s.meta) {
    PackString(p, k);
    PackString(p, v);
  }
  PackString(p, "metrics");
  p.pack_map(static_cast<uint32_t>(s.metrics.size()));
  for (const auto& [k, v] : s.metrics) {
    PackString(p, k);
    PackFloat64(buffer, v);
  }
}

}  // namespace

std::string EncodeChunkV04(const TraceChunk& chunk) {
  msgpack::sbuffer buffer(256 * (chunk.size() + 1));
  Packer p(buffer);
  p.pack_array(static_cast<uint32_t>(chunk.size()));
  for (const SpanData& s : chunk) PackSpan(buffer, p, s);
  return std::string(buffer.data(), buffer.size());
}

std::string AssemblePayloadV04(const std::vector<const std::string*>& encoded_chunks) {
  size_t size = 5;
  for (const std::string* c : encoded_chunks) size += c->size();
  msgpack::sbuffer buffer(size);
  Packer p(buffer);
  p.pack_array(static_cast<uint32_t>(encoded_chunks.size()));
  std::string out(buffer.data(), buffer.size());
  out.reserve(size);
  for (const std::string* c : encoded_chunks) out += *c;
  return out;
}

std::string EncodeTracesV04(const std::vector<TraceChunk>& chunks) {
  std::vector<std::string> encoded;
  encoded.reserve(chunks.size());
  for (const TraceChunk& c : chunks) encoded.push_back(EncodeChunkV04(c));
  std::vector<const std::string*> pointers;
  pointers.reserve(encoded.size());
  for (const std::string& e : encoded) pointers.push_back(&e);
  return AssemblePayloadV04(pointers);
}

}  // namespace apmcov::tracing
