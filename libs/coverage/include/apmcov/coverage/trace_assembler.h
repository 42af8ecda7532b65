// TraceAssembler: groups spans into traces and finalises them on event-time watermarks
// (design §3), with bounded memory and a safe Kafka commit offset per partition.
//
// Contract:
// - Traces are keyed by the lower 64 bits of the trace id (the `spans` topic key), so a trace
//   lives in one partition; watermarks are tracked per partition (the collector sends every
//   watermark to every partition). The upper 64 bits are kept from whichever span carries them.
// - A trace is final once its partition's watermark W satisfies W >= last span end +
//   grace_ns (TRACE_GRACE_SECONDS). OnWatermark() hands every trace of that partition that
//   became final to the sink, oldest first, with its spans deduplicated by span id and sorted
//   by span id (duplicates are counted).
// - Bounded memory: when more than max_traces_in_flight traces or max_spans_in_flight spans
//   are held, the oldest trace (by first arrival) is finalised at once, flagged `forced`, and
//   counted in counters().traces_forced: never dropped silently. Its id is remembered until
//   the watermark passes its deadline (last end + grace, extended by what arrives later), so
//   that its spans still to come are dropped and counted (forced_tail_spans_dropped) instead
//   of opening a second, partial trace: a trace is judged once, from the spans it had when
//   forced. At most min(max_traces_in_flight, kMaxForcedRemembered) ids are remembered, the
//   oldest forgotten first; a restart or a revoked partition forgets them (its tails are then
//   judged as traces of their own, as before).
// - A span that would open a new trace although it ended more than grace_ns before the
//   partition's current watermark violates the watermark contract (its trace was judged
//   already); it is dropped and counted in late_spans_dropped rather than judged alone.
// - Replays: after a restart or rebalance the analyzer re-reads from its committed offset.
//   Traces finalised by a watermark <= SetAppliedWatermark()'s value were judged (and written)
//   before; a replay may hold only part of them, so they are dropped (counted in
//   traces_replayed) instead of being judged again. The analyzer must persist
//   LatestWatermark(p) in the same DB transaction as the effects, and restore it with
//   SetAppliedWatermark(p, w) when it is assigned partition p.
// - SafeCommitOffset(p, next) is the offset the analyzer may commit for partition p: `next`
//   (the offset after the last consumed message) unless a trace still in flight holds a span
//   from p, then that trace's oldest span offset, so a restart re-reads every span of every
//   unfinalised trace.
// - The sink runs synchronously inside Add()/OnWatermark(); the AssembledTrace's span view is
//   valid only during the call. The sink must not call back into the assembler.
// - Steady state allocates nothing per span: spans live in one slab with a free list.
// - A watermark's cost is the traces it finalises, not the traces in flight: traces are filed
//   by deadline (see Partition::due), so short span windows cost no scan of every trace.
// - Not thread-safe: one assembler per consumer thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <span>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "apmcov/coverage/huge_page_allocator.h"
#include "apmcov/coverage/span.h"

namespace apmcov::coverage {

struct AssemblerOptions {
  int64_t grace_ns = int64_t{120} * 1'000'000'000;  // TRACE_GRACE_SECONDS
  size_t max_traces_in_flight = 1'000'000;
  size_t max_spans_in_flight = 4'000'000;
};

// Every counter is cumulative since construction.
struct AssemblerCounters {
  uint64_t spans_added = 0;         // accepted by Add()
  uint64_t duplicate_spans = 0;     // dropped at finalisation (same span id in one trace)
  uint64_t late_spans_dropped = 0;  // violated the watermark contract (see above)
  uint64_t traces_finalised = 0;    // handed to the sink, forced ones included
  uint64_t traces_forced = 0;       // finalised early by the memory cap
  uint64_t traces_replayed = 0;     // final at an already-applied watermark: not judged again
  uint64_t traces_revoked = 0;      // dropped by RevokePartition()
  // Arrived for a trace forced out before (see above): dropped, not judged.
  uint64_t forced_tail_spans_dropped = 0;
};

// One finalised trace as handed to the sink.
struct AssembledTrace {
  uint64_t trace_id_lo = 0;
  uint64_t trace_id_hi = 0;  // the first non-zero upper half seen on its spans, else 0
  int32_t partition = 0;
  bool forced = false;                // finalised by the memory cap, possibly incomplete
  std::span<const SpanRecord> spans;  // distinct span ids, sorted by span id
};

using TraceSink = absl::FunctionRef<void(const AssembledTrace&)>;

class TraceAssembler {
 public:
  explicit TraceAssembler(AssemblerOptions options = {});
  TraceAssembler(const TraceAssembler&) = delete;
  TraceAssembler& operator=(const TraceAssembler&) = delete;

  // Adds a span read from `partition` at `offset` (offsets increase within a partition). May
  // finalise the oldest traces through `sink` when a cap is exceeded.
  void Add(const SpanRecord& span, int32_t partition, int64_t offset, TraceSink sink);

  // Advances `partition`'s watermark to `watermark_ns` (a lower value is ignored) and
  // finalises, through `sink`, every trace of that partition with last end + grace <= it.
  void OnWatermark(int32_t partition, int64_t watermark_ns, TraceSink sink);

  // The replay guard (see the header comment): traces becoming final at a watermark <= `ns`
  // are dropped and counted, not handed to the sink.
  void SetAppliedWatermark(int32_t partition, int64_t watermark_ns);

  // The highest watermark seen or restored for `partition` (INT64_MIN when none): what to
  // persist with the effects, so a restart restores at least what it had restored.
  int64_t LatestWatermark(int32_t partition) const;

  // The offset that is safe to commit for `partition` (see the header comment).
  int64_t SafeCommitOffset(int32_t partition, int64_t next_offset);

  // Forgets every in-flight trace of `partition` (rebalance: the new owner re-reads them from
  // the committed offset) and its watermarks. Returns how many traces were dropped.
  size_t RevokePartition(int32_t partition);

  // The most forced trace ids remembered at once (see the header comment): about 40 bytes each.
  static constexpr size_t kMaxForcedRemembered = 65'536;

  size_t traces_in_flight() const { return index_.size(); }
  // Forced traces whose later spans are still being dropped.
  size_t forced_remembered() const { return forced_.size(); }
  size_t spans_in_flight() const { return spans_in_flight_; }
  const AssemblerCounters& counters() const { return counters_; }
  // Bytes held by the assembler's own structures (slab, trace table, queues), not the pool.
  size_t MemoryBytes() const;

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  struct Trace {
    uint64_t lo = 0;
    uint64_t hi = 0;
    int64_t last_end_ns = 0;
    int64_t first_offset = 0;
    uint64_t arrival = 0;  // order of arrival: a watermark finalises oldest first
    uint32_t head = kNil;  // chunks of kChunkSpans slab slots, linked in arrival order
    uint32_t tail = kNil;
    uint32_t tail_fill = 0;  // spans in the tail chunk
    uint32_t span_count = 0;
    uint32_t generation = 0;  // bumped when the slot is freed: queue entries go stale
    int32_t partition = 0;
    bool live = false;
  };
  struct QueueEntry {
    uint32_t slot;
    uint32_t generation;
    int64_t offset;
  };
  struct DueEntry {
    uint32_t slot;
    uint32_t generation;
  };
  // Traces by the watermark that may finalise them: bucket k holds traces whose deadline
  // (last end + grace) was in [k << kDueShift, (k + 1) << kDueShift) when filed. Deadlines only
  // grow, so an entry is filed once and moved later only when found not yet final: a
  // watermark reads the traces it may finalise, not every trace in flight.
  static constexpr int kDueShift = 30;  // about a second of event time per bucket
  using DueBuckets = std::map<int64_t, std::vector<DueEntry>>;
  struct Partition {
    std::deque<QueueEntry> arrivals;  // live traces of this partition, oldest first (lazy)
    size_t live = 0;                  // live traces of this partition
    DueBuckets due;
    size_t filed = 0;  // entries in `due`, stale ones included
    // The bucket filed into last (map nodes never move, even when the map does), or null.
    int64_t last_key = 0;
    std::vector<DueEntry>* last_bucket = nullptr;
    int64_t watermark = INT64_MIN;
    int64_t applied = INT64_MIN;
  };

  // trace_id_lo → trace slot, for the traces in flight: open addressing with linear probing,
  // at most half full. An entry is 32 bits of the id's hash and the slot + 1 (0: empty), 8
  // bytes: a lookup or an erase reads one cache line of the table (rarely two), where a map of
  // (id, slot) pairs read its control bytes and its slot, and missed on both with ten
  // thousand traces in flight. The id is confirmed on the trace, which the caller reads next
  // anyway. Erasing shifts the entries after it back, their home known from their hash bits:
  // no tombstones, no rebuilds but growth.
  class SlotIndex {
   public:
    // The slot whose trace has id `lo` (`lo_of(slot)` gives a slot's id), or kNil.
    template <class LoOf>
    uint32_t Find(uint64_t lo, LoOf lo_of) const {
      const uint32_t tag = Tag(lo);
      for (size_t i = Home(tag);; i = (i + 1) & (table_.size() - 1)) {
        const uint64_t e = table_[i];
        if (e == 0) return kNil;
        if (static_cast<uint32_t>(e >> 32) == tag && lo_of(static_cast<uint32_t>(e) - 1) == lo) {
          return static_cast<uint32_t>(e) - 1;
        }
      }
    }
    void Insert(uint64_t lo, uint32_t slot);  // `lo` must not be in the index
    void Erase(uint64_t lo, uint32_t slot);   // `lo` must be in the index, at `slot`
    size_t size() const { return size_; }
    size_t MemoryBytes() const { return table_.capacity() * sizeof(uint64_t); }

   private:
    uint32_t Tag(uint64_t lo) const {
      return static_cast<uint32_t>(((lo ^ seed_) * 0x9E3779B97F4A7C15ull) >> 32);
    }
    size_t Home(uint32_t tag) const { return tag >> shift_; }  // the tag's top bits
    void Place(uint64_t entry);

    std::vector<uint64_t> table_ = std::vector<uint64_t>(16);
    int shift_ = 28;  // 32 − log2(table size)
    size_t size_ = 0;
    uint64_t seed_ = NewSeed();  // per process: ids are not placed alike in every analyzer
    static uint64_t NewSeed();
  };

  // Whether the trace a queue or bucket entry names is still the one in its slot.
  template <class Entry>
  bool IsLive(const Entry& e) const {
    return traces_[e.slot].live && traces_[e.slot].generation == e.generation;
  }
  uint32_t NewTrace(uint64_t lo, int32_t partition, int64_t offset);
  int64_t Deadline(const Trace& t) const;
  static void File(Partition& p, int64_t deadline, DueEntry e);
  // Drops the stale entries of `p`'s queue and buckets once they outnumber its live traces
  // (traces forced out by the caps leave theirs behind until a watermark reaches them).
  void Tidy(Partition& p);
  uint32_t NewChunk();
  void Finalise(uint32_t slot, bool forced, bool deliver, TraceSink sink);
  void FreeTrace(uint32_t slot);
  bool OverCap() const {
    return index_.size() > options_.max_traces_in_flight ||
           spans_in_flight_ > options_.max_spans_in_flight;
  }
  void EnforceCaps(TraceSink sink);  // forces the oldest traces out while OverCap()
  // Remembers a trace forced out (its partition and deadline), forgetting the oldest past the
  // limit; ForgetForced drops those of `partition` whose deadline is <= `watermark_ns`.
  void RememberForced(const Trace& t);
  void ForgetForced(int32_t partition, int64_t watermark_ns);
  void CompactGlobalQueue();
  void Prefetch(uint32_t slot) const;  // hints the CPU to load a trace's span chunks
  // Hints the CPU to load a chunk's slab lines, to write them when kWrite is 1.
  template <int kWrite>
  void PrefetchChunk(uint32_t chunk) const;

  AssemblerOptions options_;
  AssemblerCounters counters_;
  std::vector<SpanRecord, HugePageAllocator<SpanRecord>> slab_;
  // Spans live in chunks of kChunkSpans consecutive slab slots, so a trace's spans are read
  // sequentially at finalisation; chunk_next_ links a trace's chunks, or the free chunks.
  static constexpr uint32_t kChunkSpans = 4;
  static constexpr int kChunksAhead = 3;  // free chunks prefetched ahead of their use
  std::vector<uint32_t> chunk_next_;
  uint32_t free_chunk_ = kNil;
  size_t spans_in_flight_ = 0;
  std::vector<Trace, HugePageAllocator<Trace>> traces_;
  std::vector<uint32_t> free_traces_;
  SlotIndex index_;  // trace_id_lo → slot
  // The trace the last span went to: a batch's spans are one trace's, so most spans skip the
  // index (valid while that slot is live in the same generation).
  uint32_t last_slot_ = kNil;
  uint32_t last_generation_ = 0;
  uint64_t arrivals_ = 0;          // traces opened so far
  std::deque<QueueEntry> oldest_;  // all live traces, oldest first (lazy)
  // Traces forced out whose spans may still arrive: id → (partition, deadline); the ids in the
  // order they were forced (lazy: an id no longer in the map is skipped) for the limit.
  struct Forced {
    int32_t partition = 0;
    int64_t deadline = 0;
  };
  absl::flat_hash_map<uint64_t, Forced> forced_;
  std::deque<uint64_t> forced_order_;
  absl::flat_hash_map<int32_t, Partition> partitions_;
  std::vector<SpanRecord> scratch_;  // a finalised trace's spans, deduplicated and sorted
  std::vector<std::pair<uint64_t, uint32_t>> order_;  // (span id, slab index)
  std::vector<uint32_t> final_;                       // slots a watermark finalises
};

}  // namespace apmcov::coverage
