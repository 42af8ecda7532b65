#include "apmcov/coverage/span_batch_decoder.h"

#include <google/protobuf/stubs/common.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"

namespace apmcov::coverage {
namespace {

// Wire types of the protobuf encoding.
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

// A cursor over one message's bytes; `base` is where the whole batch starts (for offsets in
// error messages).
class Reader {
 public:
  Reader(const char* p, const char* end, const char* base) : p_(p), end_(end), base_(base) {}

  bool done() const { return p_ >= end_; }
  size_t offset() const { return static_cast<size_t>(p_ - base_); }

  bool Varint(uint64_t* v) {
    if (p_ < end_ && static_cast<uint8_t>(*p_) < 0x80) {  // tags and most lengths: one byte
      *v = static_cast<uint8_t>(*p_++);
      return true;
    }
    uint64_t result = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      const auto byte = static_cast<uint8_t>(*p_++);
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;  // truncated, or longer than 10 bytes
  }

  // A field tag: a varint of at most 5 bytes whose value fits 32 bits. protobuf's parser reads
  // tags the same way but drops the bits above 32 of a 5-byte tag, so that a tag it would read
  // as another field than ours is refused here rather than read differently.
  bool Tag(uint64_t* v) {
    const char* start = p_;
    return Varint(v) && p_ - start <= 5 && *v <= UINT32_MAX;
  }

  bool Fixed64(uint64_t* v) {
    if (end_ - p_ < 8) return false;
    std::memcpy(v, p_, 8);  // little-endian on every target we build for
    p_ += 8;
    return true;
  }

  bool Len(std::string_view* v) {
    uint64_t n;
    if (!Varint(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    *v = std::string_view(p_, n);
    p_ += n;
    return true;
  }

  bool Skip(uint32_t wire_type) {
    uint64_t ignored;
    std::string_view ignored_view;
    switch (wire_type) {
      case kVarint:
        return Varint(&ignored);
      case kFixed64:
        return Fixed64(&ignored);
      case kLen:
        return Len(&ignored_view);
      case kFixed32:
        if (end_ - p_ < 4) return false;
        p_ += 4;
        return true;
      default:
        return false;  // groups (3, 4) are not used by proto3, anything else is corrupt
    }
  }

 private:
  const char* p_;
  const char* end_;
  const char* base_;
};

absl::Status Corrupt(std::string_view what, size_t offset) {
  return absl::InvalidArgumentError(
      absl::StrCat("SpanBatch is not valid protobuf: ", AbslView(what), " at byte ", offset));
}

// proto3 strings are UTF-8 (protobuf's own parser rejects them otherwise, and PostgreSQL
// would); nearly all are ASCII, checked 8 bytes at a time.
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if ((w & 0x8080808080808080ull) != 0) break;
  }
  for (; i < s.size(); ++i) {
    if ((static_cast<uint8_t>(s[i]) & 0x80) != 0) {
      return google::protobuf::internal::IsStructurallyValidUTF8(s.data() + i,
                                                                 static_cast<int>(s.size() - i));
    }
  }
  return true;
}

// The tag bytes of the Span fields the decoder reads (field number << 3 | wire type).
constexpr uint64_t Tag(uint64_t number, WireType type) { return number << 3 | type; }

// Reads a string field at `r` and interns it through `field`'s cache into `*id`. UTF-8 is
// checked only for text the interner has not met before: what it holds was checked once.
enum class StringRead { kOk, kTruncated, kNotUtf8 };
inline StringRead ReadInterned(Reader& r, SpanInterner& interner, SpanField field, StrId* id) {
  std::string_view s;
  if (!r.Len(&s)) return StringRead::kTruncated;
  uint64_t hash = 0;
  StrId found = interner.Lookup(field, s, &hash);
  if (found == SpanInterner::kUnknown) {
    if (!ValidUtf8(s)) return StringRead::kNotUtf8;
    found = interner.Insert(field, s, hash);
  }
  *id = found;
  return StringRead::kOk;
}

absl::Status DecodeSpan(Reader r, SpanInterner& interner, SpanRecord* span) {
  while (!r.done()) {
    const size_t at = r.offset();
    uint64_t tag;
    if (!r.Tag(&tag)) return Corrupt("a truncated or over-long span field tag", at);
    StrId* target = nullptr;
    SpanField field = SpanField::kCount;
    uint64_t v = 0;
    // One jump over the tags of the schema; anything else (other wire types for a known
    // number, unknown numbers) goes to the generic skip below.
    switch (tag) {
      case Tag(1, kFixed64):
      case Tag(2, kFixed64):
      case Tag(3, kFixed64):
      case Tag(4, kFixed64):
        if (!r.Fixed64(&v)) return Corrupt("a truncated span id", at);
        if (tag == Tag(1, kFixed64)) {
          span->trace_id_lo = v;
        } else if (tag == Tag(2, kFixed64)) {
          span->trace_id_hi = v;
        } else if (tag == Tag(3, kFixed64)) {
          span->span_id = v;
        } else {
          span->parent_id = v;
        }
        continue;
      case Tag(11, kVarint):
      case Tag(12, kVarint):
      case Tag(20, kVarint):
        if (!r.Varint(&v)) return Corrupt("a truncated span varint", at);
        if (tag == Tag(11, kVarint)) {
          span->start_ns = static_cast<int64_t>(v);
        } else if (tag == Tag(12, kVarint)) {
          span->duration_ns = static_cast<int64_t>(v);
        } else {
          span->error = v != 0;
        }
        continue;
      case Tag(5, kLen):
        target = &span->service, field = SpanField::kService;
        break;
      case Tag(6, kLen):
        target = &span->env, field = SpanField::kEnv;
        break;
      case Tag(7, kLen):
        target = &span->resource, field = SpanField::kResource;
        break;
      case Tag(9, kLen):
        target = &span->type, field = SpanField::kType;
        break;
      case Tag(10, kLen):
        target = &span->kind, field = SpanField::kKind;
        break;
      case Tag(13, kLen):
        target = &span->retained_by, field = SpanField::kRetainedBy;
        break;
      case Tag(15, kLen):
        target = &span->language, field = SpanField::kLanguage;
        break;
      case Tag(16, kLen):
        target = &span->target, field = SpanField::kTarget;
        break;
      case Tag(17, kLen):
        target = &span->db_system, field = SpanField::kDbSystem;
        break;
      case Tag(18, kLen):
        target = &span->messaging_system, field = SpanField::kMessagingSystem;
        break;
      case Tag(19, kLen):
        target = &span->infra_hint, field = SpanField::kInfraHint;
        break;
      case Tag(8, kLen):
      case Tag(14, kLen): {
        std::string_view s;  // operation, host: not kept, but still proto3 strings
        if (!r.Len(&s)) return Corrupt("a truncated span string", at);
        if (!ValidUtf8(s)) {
          return Corrupt(absl::StrCat("invalid UTF-8 in span field ", tag >> 3), at);
        }
        continue;
      }
      default:
        break;
    }
    if (target != nullptr) {
      switch (ReadInterned(r, interner, field, target)) {
        case StringRead::kOk:
          continue;
        case StringRead::kTruncated:
          return Corrupt("a truncated span string", at);
        case StringRead::kNotUtf8:
          return Corrupt(absl::StrCat("invalid UTF-8 in span field ", tag >> 3), at);
      }
    }
    if ((tag >> 3) == 0) return Corrupt("a span field numbered 0", at);
    if (!r.Skip(static_cast<uint32_t>(tag & 7))) {
      return Corrupt(absl::StrCat("an unreadable span field ", tag >> 3), at);
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeInterval(Reader r, DecodedSpanBatch::Interval* out) {
  while (!r.done()) {
    const size_t at = r.offset();
    uint64_t tag, v;
    if (!r.Tag(&tag)) return Corrupt("a truncated or over-long read interval tag", at);
    const uint64_t number = tag >> 3;
    const auto wire = static_cast<uint32_t>(tag & 7);
    if (number == 0) return Corrupt("a read interval field numbered 0", at);
    if (wire == kVarint && number >= 1 && number <= 3) {
      if (!r.Varint(&v)) return Corrupt("a truncated read interval", at);
      if (number == 1) {
        out->from_unix_nano = static_cast<int64_t>(v);
      } else if (number == 2) {
        out->to_unix_nano = static_cast<int64_t>(v);
      } else {
        out->complete = v != 0;
      }
    } else if (!r.Skip(wire)) {
      return Corrupt(absl::StrCat("an unreadable read interval field ", number), at);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status DecodeSpanBatch(std::string_view wire, SpanInterner& interner, DecodedSpanBatch* out) {
  out->Clear();
  const char* base = wire.data();
  Reader r(base, base + wire.size(), base);
  while (!r.done()) {
    const size_t at = r.offset();
    uint64_t tag;
    if (!r.Tag(&tag)) return Corrupt("a truncated or over-long field tag", at);
    const uint64_t number = tag >> 3;
    const auto type = static_cast<uint32_t>(tag & 7);
    if (number == 0) return Corrupt("a field numbered 0", at);
    std::string_view bytes;
    if (type == kLen && (number == 1 || number == 3 || number == 4 || number == 5)) {
      if (!r.Len(&bytes)) return Corrupt("a truncated length-delimited field", at);
      const char* begin = bytes.data();
      if (number == 1) {
        out->spans.emplace_back();
        if (absl::Status s =
                DecodeSpan(Reader(begin, begin + bytes.size(), base), interner, &out->spans.back());
            !s.ok()) {
          return s;
        }
      } else if (number == 5) {
        out->read_intervals.emplace_back();
        if (absl::Status s = DecodeInterval(Reader(begin, begin + bytes.size(), base),
                                            &out->read_intervals.back());
            !s.ok()) {
          return s;
        }
      } else {
        if (!ValidUtf8(bytes)) return Corrupt(absl::StrCat("invalid UTF-8 in field ", number), at);
        if (number == 4) out->job_id.assign(bytes.data(), bytes.size());
      }
    } else if (type == kVarint && number == 2) {
      uint64_t v;
      if (!r.Varint(&v)) return Corrupt("a truncated watermark", at);
      out->watermark_unix_nano = static_cast<int64_t>(v);
    } else if (!r.Skip(type)) {
      return Corrupt(absl::StrCat("an unreadable field ", number), at);
    }
  }
  return absl::OkStatus();
}

}  // namespace apmcov::coverage
