// Compact span domain of the analyzer core: interned strings and a fixed-size SpanRecord, so
// assembly and detection touch no heap per span.
//
// Ownership: a StringPool owns every string a SpanRecord, an AssembledTrace or a TraceVerdict
// refers to. Interned strings are never freed and never move, so a std::string_view obtained
// from View() stays valid for the pool's lifetime (the analyzer keeps one pool per process;
// the interned vocabulary — services, envs, resources, targets — is bounded in practice).
// Not thread-safe: one pool per consumer thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace apmcov::coverage {

// Index of an interned string; 0 is always the empty string.
using StrId = uint32_t;
inline constexpr StrId kEmptyStr = 0;

// Interns strings into stable, contiguous chunks. Intern() is O(1) amortised; View() is O(1).
class StringPool {
 public:
  StringPool();
  StringPool(const StringPool&) = delete;
  StringPool& operator=(const StringPool&) = delete;

  // The id of `s`, adding it on first sight. Intern("") == kEmptyStr.
  StrId Intern(std::string_view s);
  // The id of `s` when already interned, else kEmptyStr (never adds).
  StrId Find(std::string_view s) const;
  // The string of `id`; `id` must come from this pool.
  std::string_view View(StrId id) const { return views_[id]; }

  size_t size() const { return views_.size(); }  // distinct strings, "" included
  size_t bytes() const;                          // memory held, approximately

 private:
  struct ViewHash {
    size_t operator()(std::string_view s) const;
  };
  std::vector<std::unique_ptr<char[]>> chunks_;
  size_t chunk_used_ = 0;
  size_t chunk_size_ = 0;
  size_t string_bytes_ = 0;  // all chunks
  std::vector<std::string_view> views_;
  absl::flat_hash_map<std::string_view, StrId, ViewHash> index_;
};

// One span, reduced to what assembly, detection, coverage and the trace view need. 96 bytes,
// trivially copyable. Strings are ids in the StringPool the span was interned into.
struct SpanRecord {
  uint64_t trace_id_lo = 0;  // lower 64 bits: the assembly key (the `spans` topic key)
  uint64_t trace_id_hi = 0;  // upper 64 bits (_dd.p.tid); 0 when unknown (Datadog sets it on
                             // the first span of a chunk only, so it may vary within a trace)
  uint64_t span_id = 0;
  uint64_t parent_id = 0;  // 0 = root
  int64_t start_ns = 0;    // Unix nanoseconds
  int64_t duration_ns = 0;
  StrId service = kEmptyStr;
  StrId env = kEmptyStr;
  StrId resource = kEmptyStr;
  StrId type = kEmptyStr;         // web, http, db, ...
  StrId kind = kEmptyStr;         // span.kind as sent: server, client, producer, consumer, ...
  StrId retained_by = kEmptyStr;  // flat_sampled, diversity_sampling, retention_filter, ...
  StrId target = kEmptyStr;       // first present target attribute of design §6, raw
  StrId db_system = kEmptyStr;
  StrId messaging_system = kEmptyStr;
  StrId language = kEmptyStr;
  StrId infra_hint = kEmptyStr;  // kubernetes, ecs, serverless or "" (host)
  bool error = false;

  // End time; saturates instead of overflowing.
  int64_t end_ns() const {
    return duration_ns > 0 && start_ns > INT64_MAX - duration_ns ? INT64_MAX
                                                                 : start_ns + duration_ns;
  }
};

// The same span with plain strings: what decoders produce and tests write. Views must stay
// valid until Intern() returns.
struct SpanFields {
  uint64_t trace_id_lo = 0;
  uint64_t trace_id_hi = 0;
  uint64_t span_id = 0;
  uint64_t parent_id = 0;
  int64_t start_ns = 0;
  int64_t duration_ns = 0;
  std::string_view service;
  std::string_view env;
  std::string_view resource;
  std::string_view type;
  std::string_view kind;
  std::string_view retained_by;
  std::string_view target;
  std::string_view db_system;
  std::string_view messaging_system;
  std::string_view language;
  std::string_view infra_hint;
  bool error = false;
};

// The interned string fields of a SpanRecord, one last-value cache each.
enum class SpanField : uint8_t {
  kService,
  kEnv,
  kResource,
  kType,
  kKind,
  kRetainedBy,
  kTarget,
  kDbSystem,
  kMessagingSystem,
  kLanguage,
  kInfraHint,
  kCount
};

// Interns spans through two caches in front of the pool: the last string per field (runs of
// spans from one trace or one service, the common case in a SpanBatch) and a direct-mapped
// table keyed by a cheap hash of the whole string, so the pool's full hash lookup runs only
// on a miss. Holds the pool by reference.
class SpanInterner {
 public:
  explicit SpanInterner(StringPool& pool) : pool_(pool) {}
  SpanRecord Intern(const SpanFields& f);
  // One field of a span being decoded (SpanBatch wire bytes → SpanRecord without copies).
  StrId InternField(SpanField field, std::string_view s) {
    Last& last = last_[static_cast<size_t>(field)];
    if (s.empty()) return kEmptyStr;
    if (SameText(s, last.text)) return last.id;
    return Cached(last, s);
  }
  // Equality of two strings without a library call: interned strings are short.
  static bool SameText(std::string_view a, std::string_view b) {
    const size_t n = a.size();
    if (n != b.size()) return false;
    if (n < 8) {
      for (size_t i = 0; i < n; ++i) {
        if (a[i] != b[i]) return false;
      }
      return true;
    }
    uint64_t x, y;
    for (size_t i = 0; i + 8 <= n; i += 8) {
      std::memcpy(&x, a.data() + i, 8);
      std::memcpy(&y, b.data() + i, 8);
      if (x != y) return false;
    }
    std::memcpy(&x, a.data() + n - 8, 8);  // the tail, overlapping
    std::memcpy(&y, b.data() + n - 8, 8);
    return x == y;
  }
  StringPool& pool() { return pool_; }

 private:
  struct Last {
    std::string_view text;  // a view into the pool
    StrId id = kEmptyStr;
  };
  StrId Cached(Last& last, std::string_view s);
  static constexpr size_t kTableSize = 4096;  // power of two
  StringPool& pool_;
  std::vector<Last> table_ = std::vector<Last>(kTableSize);
  Last last_[static_cast<size_t>(SpanField::kCount)];
};

}  // namespace apmcov::coverage
