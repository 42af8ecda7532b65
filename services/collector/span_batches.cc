#include "span_batches.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <string>
#include <unordered_map>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"

namespace apmcov::collector {
namespace {

using google::protobuf::io::CodedOutputStream;

// Wire tags (field number << 3 | length-delimited) of SpanBatch's fields written here.
constexpr uint8_t kSpansTag = (1 << 3) | 2;
constexpr uint8_t kWindowIdTag = (3 << 3) | 2;
constexpr uint8_t kJobIdTag = (4 << 3) | 2;

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

size_t FieldBytes(size_t length) { return 1 + CodedOutputStream::VarintSize64(length) + length; }

uint8_t* WriteField(uint8_t tag, std::string_view bytes, uint8_t* out) {
  *out++ = tag;
  out = CodedOutputStream::WriteVarint64ToArray(bytes.size(), out);
  return out + bytes.copy(reinterpret_cast<char*>(out), bytes.size());
}

// v1::Span on the wire, written here without protobuf's reflection-free but general path: the
// parser's spans hold no unknown fields, and their strings came out of simdjson, which validated
// them as UTF-8 (protobuf checks every string again when it serialises; that check and the size
// pass were a third of the publishing time in the profile). Fields in number order, proto3
// defaults left out, exactly as SerializeToString writes them (the unit test compares bytes);
// operation (8) and host (14) are not published (span_batches.h).
enum class Wire { kFixed64, kString, kInt64, kBool };
struct FieldSpec {
  int number;
  Wire wire;
};
constexpr FieldSpec kSpanFields[] = {
    {1, Wire::kFixed64}, {2, Wire::kFixed64}, {3, Wire::kFixed64}, {4, Wire::kFixed64},
    {5, Wire::kString},  {6, Wire::kString},  {7, Wire::kString},  {8, Wire::kString},
    {9, Wire::kString},  {10, Wire::kString}, {11, Wire::kInt64},  {12, Wire::kInt64},
    {13, Wire::kString}, {14, Wire::kString}, {15, Wire::kString}, {16, Wire::kString},
    {17, Wire::kString}, {18, Wire::kString}, {19, Wire::kString}, {20, Wire::kBool},
};

// Whether v1::Span is still the message kSpanFields describes (checked once against its
// descriptor): a field added to it later falls back to protobuf's serialiser, never dropped.
bool SpanLayoutKnown() {
  static const bool known = [] {
    using FD = google::protobuf::FieldDescriptor;
    const google::protobuf::Descriptor* d = v1::Span::descriptor();
    if (d->field_count() != static_cast<int>(std::size(kSpanFields))) return false;
    for (const FieldSpec& f : kSpanFields) {
      const FD* fd = d->FindFieldByNumber(f.number);
      if (fd == nullptr || fd->is_repeated() || fd->has_presence()) return false;
      const FD::Type want = f.wire == Wire::kFixed64  ? FD::TYPE_FIXED64
                            : f.wire == Wire::kString ? FD::TYPE_STRING
                            : f.wire == Wire::kInt64  ? FD::TYPE_INT64
                                                      : FD::TYPE_BOOL;
      if (fd->type() != want) return false;
    }
    return true;
  }();
  return known;
}

size_t TagBytes(int number) { return number < 16 ? 1 : 2; }

size_t StringBytes(int number, const std::string& s) {
  return s.empty() ? 0 : TagBytes(number) + CodedOutputStream::VarintSize64(s.size()) + s.size();
}
size_t Fixed64Bytes(uint64_t v) { return v == 0 ? 0 : 1 + 8; }
size_t Int64Bytes(int number, int64_t v) {
  return v == 0 ? 0 : TagBytes(number) + CodedOutputStream::VarintSize64(static_cast<uint64_t>(v));
}

size_t SpanBytes(const v1::Span& s) {
  return Fixed64Bytes(s.trace_id()) + Fixed64Bytes(s.trace_id_high()) + Fixed64Bytes(s.span_id()) +
         Fixed64Bytes(s.parent_id()) + StringBytes(5, s.service()) + StringBytes(6, s.env()) +
         StringBytes(7, s.resource()) + StringBytes(9, s.type()) + StringBytes(10, s.kind()) +
         Int64Bytes(11, s.start_unix_nano()) + Int64Bytes(12, s.duration_ns()) +
         StringBytes(13, s.retained_by()) + StringBytes(15, s.language()) +
         StringBytes(16, s.target()) + StringBytes(17, s.db_system()) +
         StringBytes(18, s.messaging_system()) + StringBytes(19, s.infra_hint()) +
         (s.error() ? 2 + 1 : 0);
}

uint8_t* Tag(int number, int wire_type, uint8_t* out) {
  return CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(number << 3 | wire_type),
                                                 out);
}
uint8_t* Fixed64(int number, uint64_t v, uint8_t* out) {
  if (v == 0) return out;
  out = Tag(number, 1, out);
  return CodedOutputStream::WriteLittleEndian64ToArray(v, out);
}
uint8_t* String(int number, const std::string& v, uint8_t* out) {
  if (v.empty()) return out;
  out = Tag(number, 2, out);
  out = CodedOutputStream::WriteVarint64ToArray(v.size(), out);
  return out + v.copy(reinterpret_cast<char*>(out), v.size());
}
uint8_t* Int64(int number, int64_t v, uint8_t* out) {
  if (v == 0) return out;
  out = Tag(number, 0, out);
  return CodedOutputStream::WriteVarint64ToArray(static_cast<uint64_t>(v), out);
}

uint8_t* WriteSpan(const v1::Span& s, uint8_t* out) {
  out = Fixed64(1, s.trace_id(), out);
  out = Fixed64(2, s.trace_id_high(), out);
  out = Fixed64(3, s.span_id(), out);
  out = Fixed64(4, s.parent_id(), out);
  out = String(5, s.service(), out);
  out = String(6, s.env(), out);
  out = String(7, s.resource(), out);
  out = String(9, s.type(), out);
  out = String(10, s.kind(), out);
  out = Int64(11, s.start_unix_nano(), out);
  out = Int64(12, s.duration_ns(), out);
  out = String(13, s.retained_by(), out);
  out = String(15, s.language(), out);
  out = String(16, s.target(), out);
  out = String(17, s.db_system(), out);
  out = String(18, s.messaging_system(), out);
  out = String(19, s.infra_hint(), out);
  if (s.error()) {
    out = Tag(20, 0, out);
    *out++ = 1;
  }
  return out;
}

struct Trace {
  uint64_t trace_id = 0;
  size_t bytes = 0;        // the spans' fields
  uint32_t first = kNone;  // first span of the trace; the others follow through `next`
  uint32_t last = kNone;
};

bool HasUnknownFields(const google::protobuf::RepeatedPtrField<v1::Span>& spans) {
  for (const v1::Span& s : spans) {
    if (!s.GetReflection()->GetUnknownFields(s).empty()) return true;
  }
  return false;
}

}  // namespace

PageBatches EncodeSpanBatches(const google::protobuf::RepeatedPtrField<v1::Span>& spans,
                              std::string_view window_id, std::string_view job_id) {
  PageBatches out;
  const bool hand = SpanLayoutKnown() && !HasUnknownFields(spans);
  const auto n = static_cast<uint32_t>(spans.size());
  // Otherwise protobuf's serialiser writes copies without what is not published.
  std::vector<v1::Span> copies;
  if (!hand) {
    copies.assign(spans.begin(), spans.end());
    for (v1::Span& s : copies) {
      s.clear_operation();
      s.clear_host();
    }
  }
  std::vector<uint32_t> sizes(n), next(n, kNone);
  std::vector<Trace> traces;
  std::unordered_map<uint64_t, uint32_t> index;
  index.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    const v1::Span& span = spans[static_cast<int>(i)];
    out.last_start_unix_nano = std::max(out.last_start_unix_nano, span.start_unix_nano());
    // protobuf's ByteSizeLong caches the size for SerializeWithCachedSizesToArray.
    sizes[i] = static_cast<uint32_t>(hand ? SpanBytes(span) : copies[i].ByteSizeLong());
    auto [it, inserted] = index.try_emplace(span.trace_id(), static_cast<uint32_t>(traces.size()));
    if (inserted) traces.push_back({span.trace_id(), 0, i, i});
    Trace& t = traces[it->second];
    if (!inserted) {
      next[t.last] = i;
      t.last = i;
    }
    t.bytes += FieldBytes(sizes[i]);
  }
  const size_t trailer = (window_id.empty() ? 0 : FieldBytes(window_id.size())) +
                         (job_id.empty() ? 0 : FieldBytes(job_id.size()));
  out.records.resize(traces.size());
  for (size_t k = 0; k < traces.size(); ++k) {
    const Trace& t = traces[k];
    bus::OutgoingRecord& r = out.records[k];
    r.key = std::to_string(t.trace_id);
    r.value.resize(t.bytes + trailer);
    auto* p = reinterpret_cast<uint8_t*>(r.value.data());
    for (uint32_t i = t.first; i != kNone; i = next[i]) {
      *p++ = kSpansTag;
      p = CodedOutputStream::WriteVarint32ToArray(sizes[i], p);
      const v1::Span& span = spans[static_cast<int>(i)];
      p = hand ? WriteSpan(span, p) : copies[i].SerializeWithCachedSizesToArray(p);
    }
    // proto3: empty strings are not written.
    if (!window_id.empty()) p = WriteField(kWindowIdTag, window_id, p);
    if (!job_id.empty()) p = WriteField(kJobIdTag, job_id, p);
  }
  return out;
}

}  // namespace apmcov::collector
