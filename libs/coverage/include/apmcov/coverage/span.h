// Compact span domain of the analyzer core: interned strings and a fixed-size SpanRecord, so
// assembly and detection touch no heap per span.
//
// Ownership: a StringPool owns every string a SpanRecord, an AssembledTrace or a TraceVerdict
// refers to. Interned strings are never freed and never move, so a std::string_view obtained
// from View() stays valid for the pool's lifetime (the analyzer keeps one pool per process;
// the interned vocabulary — services, envs, resources, targets — is bounded in practice).
//
// Threads: a StringPool may be shared. Intern() and Find() take a lock (a SpanInterner in
// front of the pool keeps them off the hot path); View() and size() take none: the id → view
// table is append-only in segments that never move, so a thread may View() any id it received
// through a synchronising hand-off (a queue, a mutex) from the thread that interned it. The
// analyzer's decode thread interns; its assembly thread reads the ids of decoded spans and
// interns the few names the detector derives. A SpanInterner is for one thread.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace apmcov::coverage {

// Index of an interned string; 0 is always the empty string.
using StrId = uint32_t;
inline constexpr StrId kEmptyStr = 0;

// Interns strings into stable, contiguous chunks. Intern() is O(1) amortised; View() is O(1)
// and lock-free (see the header comment for threads).
class StringPool {
 public:
  StringPool();
  StringPool(const StringPool&) = delete;
  StringPool& operator=(const StringPool&) = delete;

  // The id of `s`, adding it on first sight. Intern("") == kEmptyStr.
  StrId Intern(std::string_view s);
  // The id of `s` when already interned, else kEmptyStr (never adds).
  StrId Find(std::string_view s) const;
  // The string of `id`; `id` must come from this pool (see threads above).
  std::string_view View(StrId id) const {
    // Segment k holds ids [2^k - 1, 2^(k+1) - 1): the table grows without moving an entry.
    const uint64_t n = uint64_t{id} + 1;
    const int k = std::bit_width(n) - 1;
    return segments_[static_cast<size_t>(k)][n - (uint64_t{1} << k)];
  }

  // Distinct strings, "" included: every id handed out so far is below it.
  size_t size() const { return size_.load(std::memory_order_acquire); }
  size_t bytes() const;  // memory held, approximately

 private:
  struct ViewHash {
    size_t operator()(std::string_view s) const;
  };
  static constexpr size_t kSegments = 33;  // enough for every StrId
  void Append(std::string_view stored);    // under mu_

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<char[]>> chunks_;
  size_t chunk_used_ = 0;
  size_t chunk_size_ = 0;
  size_t string_bytes_ = 0;  // all chunks
  std::array<std::unique_ptr<std::string_view[]>, kSegments> segments_;
  std::atomic<size_t> size_{0};
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

// Interns spans through two caches in front of the pool: the last two strings per field (runs
// of spans from one trace or one service, the common case in a SpanBatch) and a direct-mapped
// table keyed by a hash of the whole string (with word loads only), so the pool's locked
// lookup runs only on a miss. Holds the pool by reference; one thread.
class SpanInterner {
 public:
  // Lookup()'s answer for a string the caches do not hold (never an id).
  static constexpr StrId kUnknown = UINT32_MAX;

  explicit SpanInterner(StringPool& pool) : pool_(pool) {}
  SpanRecord Intern(const SpanFields& f);
  // One field of a span (trusted text: interned on a miss).
  StrId InternField(SpanField field, std::string_view s) {
    uint64_t hash = 0;
    const StrId id = Lookup(field, s, &hash);
    return id != kUnknown ? id : Insert(field, s, hash);
  }
  // The id of `s` when the caches hold it, without a lock and, for names up to 16 bytes,
  // without reading pool memory; else kUnknown, with `*hash` set for Insert(). A decoder checks a
  // string it has not met before (UTF-8) between the two, so text seen before is never checked
  // again. Always inlined: the span decoder calls it for each of its eleven fields, and GCC
  // left five of those calls out of line (4% more instructions in decoding).
  [[gnu::always_inline]] StrId Lookup(SpanField field, std::string_view s, uint64_t* hash) {
    if (s.empty()) return kEmptyStr;
    const Key k = KeyOf(s);
    Recent& recent = recent_[static_cast<size_t>(field)];
    if (recent[0].Holds(k, s)) return recent[0].id;
    if (recent[1].Holds(k, s)) {
      std::swap(recent[0], recent[1]);
      return recent[0].id;
    }
    const uint64_t h = TextHash(k, s);
    const Entry& slot = table_[Index(h)];
    if (slot.Holds(k, s)) {
      Remember(recent, slot);
      return slot.id;
    }
    *hash = h;
    return kUnknown;
  }
  // Interns `s` after a Lookup() miss that gave `hash`, and caches it.
  StrId Insert(SpanField field, std::string_view s, uint64_t hash);

  StringPool& pool() { return pool_; }

 private:
  static uint64_t Load64(const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  static uint32_t Load32(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  // A string's length and its first and last 8 bytes, read with word loads that overlap
  // rather than a byte loop (shorter strings are packed into `head`, every byte of them): two
  // strings of up to 16 bytes are equal when their keys are, longer ones when their keys and
  // middles are. Cached strings keep their key, so most compares touch no pool memory.
  struct Key {
    uint64_t head = 0;
    uint64_t tail = 0;
    size_t size = 0;
    // One branch for the three words, not one each: whether a cached name matches is a coin
    // toss for the predictor (resources, targets), and each compare mispredicted on its own.
    bool operator==(const Key& o) const {
      return ((head ^ o.head) | (tail ^ o.tail) | (size ^ o.size)) == 0;
    }
  };
  static Key KeyOf(std::string_view s) {
    const char* p = s.data();
    const size_t n = s.size();
    if (n >= 8) return {Load64(p), Load64(p + n - 8), n};
    if (n >= 4) return {Load32(p) | uint64_t{Load32(p + n - 4)} << 32, 0, n};
    if (n == 0) return {};
    return {uint64_t{static_cast<uint8_t>(p[0])} | uint64_t{static_cast<uint8_t>(p[n / 2])} << 8 |
                uint64_t{static_cast<uint8_t>(p[n - 1])} << 16,
            0, n};
  }
  // A hash of the whole string: of its key up to 16 bytes, of every word beyond, so that names
  // that differ only in the middle (http://svc-12.prod.svc.cluster.local/v1, svc-13) differ.
  // The words are folded with rotations and mixed by one multiply at the end, not one per
  // word: the table load waits for the hash, and a chain of multiplies per word made decoding
  // 15% slower. It picks a cache slot only (a collision costs a pool lookup, never a wrong id),
  // so it needs to spread names, not to resist crafted ones.
  static uint64_t TextHash(const Key& k, std::string_view s) {
    uint64_t x = k.head ^ std::rotl(k.tail, 29) ^ k.size * 0x9E3779B97F4A7C15ull;
    for (size_t i = 8; i + 8 < k.size; i += 8) {  // the middle words of a longer string
      x ^= std::rotl(Load64(s.data() + i), static_cast<int>(i) + 7);
    }
    const uint64_t h = x * 0xC2B2AE3D27D4EB4Full;
    return h ^ (h >> 29);
  }
  // A cached string: its key, its text in the pool and its id.
  struct Entry {
    Key key;
    const char* text = nullptr;
    StrId id = kEmptyStr;
    bool Holds(const Key& k, std::string_view s) const {
      if (!(k == key)) return false;
      for (size_t i = 8; i + 8 < k.size; i += 8) {  // past 16 bytes: the middle words too
        if (Load64(s.data() + i) != Load64(text + i)) return false;
      }
      return true;
    }
  };
  // The two strings of a field met last, most recent first: spans of a trace alternate
  // between two kinds (server, client), two types, a caller and a callee.
  using Recent = std::array<Entry, 2>;
  static void Remember(Recent& recent, const Entry& last) {
    recent[1] = recent[0];
    recent[0] = last;
  }
  // A direct-mapped table keyed by the hash's top bits (the low bits of a product depend on
  // the low bits of its factors only).
  static constexpr int kTableBits = 12;
  static constexpr size_t kTableSize = size_t{1} << kTableBits;
  static size_t Index(uint64_t hash) { return static_cast<size_t>(hash >> (64 - kTableBits)); }
  StringPool& pool_;
  std::vector<Entry> table_ = std::vector<Entry>(kTableSize);
  Recent recent_[static_cast<size_t>(SpanField::kCount)];
};

}  // namespace apmcov::coverage
