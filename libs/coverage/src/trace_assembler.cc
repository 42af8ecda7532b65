#include "apmcov/coverage/trace_assembler.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <random>

namespace apmcov::coverage {
namespace {

// a + b without overflow (b >= 0).
int64_t SaturatingAdd(int64_t a, int64_t b) {
  return a > std::numeric_limits<int64_t>::max() - b ? std::numeric_limits<int64_t>::max() : a + b;
}

}  // namespace

TraceAssembler::TraceAssembler(AssemblerOptions options) : options_(options) {
  if (options_.grace_ns < 0) options_.grace_ns = 0;
  if (options_.max_traces_in_flight == 0) options_.max_traces_in_flight = 1;
  if (options_.max_spans_in_flight == 0) options_.max_spans_in_flight = 1;
}

uint64_t TraceAssembler::SlotIndex::NewSeed() {
  std::random_device random;
  return uint64_t{random()} << 32 | random();
}

void TraceAssembler::SlotIndex::Place(uint64_t entry) {
  const size_t mask = table_.size() - 1;
  size_t i = Home(static_cast<uint32_t>(entry >> 32));
  while (table_[i] != 0) i = (i + 1) & mask;
  table_[i] = entry;
}

void TraceAssembler::SlotIndex::Insert(uint64_t lo, uint32_t slot) {
  if (2 * (size_ + 1) > table_.size()) {  // grow: at most half full
    std::vector<uint64_t> old(table_.size() * 2);
    old.swap(table_);
    --shift_;
    for (uint64_t e : old) {
      if (e != 0) Place(e);
    }
  }
  Place(uint64_t{Tag(lo)} << 32 | (uint64_t{slot} + 1));
  ++size_;
}

void TraceAssembler::SlotIndex::Erase(uint64_t lo, uint32_t slot) {
  const uint32_t tag = Tag(lo);
  const uint64_t entry = uint64_t{tag} << 32 | (uint64_t{slot} + 1);
  const size_t mask = table_.size() - 1;
  size_t hole = Home(tag);
  while (table_[hole] != entry) hole = (hole + 1) & mask;
  // Move back every entry of the run after the hole that may sit there: one whose home is not
  // cyclically within (hole, j].
  for (size_t j = (hole + 1) & mask; table_[j] != 0; j = (j + 1) & mask) {
    const size_t home = Home(static_cast<uint32_t>(table_[j] >> 32));
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    table_[hole] = table_[j];
    hole = j;
  }
  table_[hole] = 0;
  --size_;
}

uint32_t TraceAssembler::NewTrace(uint64_t lo, int32_t partition, int64_t offset) {
  uint32_t slot;
  if (!free_traces_.empty()) {
    slot = free_traces_.back();
    free_traces_.pop_back();
  } else {
    slot = static_cast<uint32_t>(traces_.size());
    traces_.emplace_back();
  }
  Trace& t = traces_[slot];
  t.lo = lo;
  t.hi = 0;
  t.last_end_ns = std::numeric_limits<int64_t>::min();
  t.first_offset = offset;
  t.head = t.tail = kNil;
  t.tail_fill = 0;
  t.span_count = 0;
  t.partition = partition;
  t.arrival = arrivals_++;
  t.live = true;
  const QueueEntry entry{slot, t.generation, offset};
  oldest_.push_back(entry);
  Partition& p = partitions_[partition];
  p.arrivals.push_back(entry);
  ++p.live;
  Tidy(p);
  return slot;
}

int64_t TraceAssembler::Deadline(const Trace& t) const {
  return SaturatingAdd(t.last_end_ns, options_.grace_ns);
}

void TraceAssembler::File(Partition& p, int64_t deadline, DueEntry e) {
  const int64_t key = deadline >> kDueShift;
  if (p.last_bucket == nullptr || p.last_key != key) {
    p.last_key = key;
    p.last_bucket = &p.due[key];
  }
  p.last_bucket->push_back(e);
  ++p.filed;
}

void TraceAssembler::Tidy(Partition& p) {
  const size_t limit = 2 * p.live + 1024;
  auto stale = [this](const auto& e) { return !IsLive(e); };
  if (p.arrivals.size() > limit) std::erase_if(p.arrivals, stale);
  if (p.filed > limit) {
    p.filed = 0;
    p.last_bucket = nullptr;
    for (auto it = p.due.begin(); it != p.due.end();) {
      std::erase_if(it->second, stale);
      p.filed += it->second.size();
      it = it->second.empty() ? p.due.erase(it) : std::next(it);
    }
  }
}

template <int kWrite>
void TraceAssembler::PrefetchChunk(uint32_t chunk) const {
  const char* first = reinterpret_cast<const char*>(&slab_[size_t{chunk} * kChunkSpans]);
  for (size_t line = 0; line < kChunkSpans * sizeof(SpanRecord); line += 64) {
    __builtin_prefetch(first + line, kWrite);
  }
}

uint32_t TraceAssembler::NewChunk() {
  uint32_t chunk;
  if (free_chunk_ != kNil) {
    chunk = free_chunk_;
    free_chunk_ = chunk_next_[chunk];
    // Free chunks were read when their trace was finalised, most of them long enough ago to be
    // out of cache: a span written into one waited for its line. Ask for the chunk taken three
    // allocations from now (a trace of a dozen spans takes three in a row), for writing.
    uint32_t ahead = free_chunk_;
    for (int k = 1; k < kChunksAhead && ahead != kNil; ++k) ahead = chunk_next_[ahead];
    if (ahead != kNil) PrefetchChunk</*kWrite=*/1>(ahead);
  } else {
    chunk = static_cast<uint32_t>(chunk_next_.size());
    chunk_next_.push_back(kNil);
    slab_.resize(slab_.size() + kChunkSpans);
  }
  chunk_next_[chunk] = kNil;
  return chunk;
}

void TraceAssembler::Add(const SpanRecord& span, int32_t partition, int64_t offset,
                         TraceSink sink) {
  uint32_t slot = last_slot_;
  if (slot == kNil || !traces_[slot].live || traces_[slot].generation != last_generation_ ||
      traces_[slot].lo != span.trace_id_lo) {
    slot = index_.Find(span.trace_id_lo, [this](uint32_t s) { return traces_[s].lo; });
    if (slot == kNil) {
      if (!forced_.empty()) {  // only after the caps forced a trace out
        if (auto f = forced_.find(span.trace_id_lo); f != forced_.end()) {
          f->second.deadline =
              std::max(f->second.deadline, SaturatingAdd(span.end_ns(), options_.grace_ns));
          ++counters_.forced_tail_spans_dropped;
          return;
        }
      }
      auto p = partitions_.find(partition);
      if (p != partitions_.end() && p->second.watermark != std::numeric_limits<int64_t>::min() &&
          SaturatingAdd(span.end_ns(), options_.grace_ns) <= p->second.watermark) {
        ++counters_.late_spans_dropped;
        return;
      }
      slot = NewTrace(span.trace_id_lo, partition, offset);
      index_.Insert(span.trace_id_lo, slot);
    }
    last_slot_ = slot;
    last_generation_ = traces_[slot].generation;
  }
  Trace& t = traces_[slot];
  if (t.tail == kNil || t.tail_fill == kChunkSpans) {
    const uint32_t chunk = NewChunk();
    if (t.tail == kNil) {
      t.head = chunk;
    } else {
      chunk_next_[t.tail] = chunk;
    }
    t.tail = chunk;
    t.tail_fill = 0;
  }
  slab_[size_t{t.tail} * kChunkSpans + t.tail_fill++] = span;
  ++t.span_count;
  if (t.hi == 0) t.hi = span.trace_id_hi;
  t.last_end_ns = std::max(t.last_end_ns, span.end_ns());
  if (t.span_count == 1) File(partitions_[t.partition], Deadline(t), {slot, t.generation});
  ++spans_in_flight_;
  ++counters_.spans_added;
  // Over a cap only. The global queue's dead entries are dropped where traces end: by a
  // watermark (OnWatermark), a revoked partition, or here from its front.
  if (OverCap()) EnforceCaps(sink);
}

void TraceAssembler::EnforceCaps(TraceSink sink) {
  while (OverCap()) {
    while (!oldest_.empty() && !IsLive(oldest_.front())) oldest_.pop_front();
    if (oldest_.empty()) return;  // unreachable: something is in flight
    const uint32_t slot = oldest_.front().slot;
    oldest_.pop_front();
    RememberForced(traces_[slot]);
    Finalise(slot, /*forced=*/true, /*deliver=*/true, sink);
  }
}

void TraceAssembler::RememberForced(const Trace& t) {
  const size_t limit = std::min(options_.max_traces_in_flight, kMaxForcedRemembered);
  forced_[t.lo] = {t.partition, Deadline(t)};
  forced_order_.push_back(t.lo);
  while (forced_.size() > limit) {
    const uint64_t oldest = forced_order_.front();
    forced_order_.pop_front();
    forced_.erase(oldest);  // a no-op for an id forgotten by a watermark already
  }
  if (forced_order_.size() > 2 * forced_.size() + 1024) {
    std::erase_if(forced_order_, [this](uint64_t id) { return !forced_.contains(id); });
  }
}

void TraceAssembler::ForgetForced(int32_t partition, int64_t watermark_ns) {
  if (forced_.empty()) return;
  absl::erase_if(forced_, [&](const auto& entry) {
    return entry.second.partition == partition && entry.second.deadline <= watermark_ns;
  });
  if (forced_.empty()) forced_order_.clear();
}

void TraceAssembler::CompactGlobalQueue() {
  std::erase_if(oldest_, [this](const QueueEntry& e) { return !IsLive(e); });
}

void TraceAssembler::FreeTrace(uint32_t slot) {
  Trace& t = traces_[slot];
  // Return the span chain to the free list in one splice.
  if (t.head != kNil) {
    chunk_next_[t.tail] = free_chunk_;
    free_chunk_ = t.head;
  }
  spans_in_flight_ -= t.span_count;
  index_.Erase(t.lo, slot);
  if (auto p = partitions_.find(t.partition); p != partitions_.end()) --p->second.live;
  t.live = false;
  ++t.generation;
  t.head = t.tail = kNil;
  t.tail_fill = 0;
  t.span_count = 0;
  free_traces_.push_back(slot);
}

void TraceAssembler::Finalise(uint32_t slot, bool forced, bool deliver, TraceSink sink) {
  Trace& t = traces_[slot];
  if (!deliver) {
    ++counters_.traces_replayed;
    FreeTrace(slot);
    return;
  }
  // Collect (span id, slab index) chunk by chunk, sort, copy each distinct span once; the
  // trace's chunks are in cache after the first pass.
  order_.clear();
  for (uint32_t c = t.head; c != kNil; c = chunk_next_[c]) {
    const uint32_t first = c * kChunkSpans;
    const uint32_t fill = c == t.tail ? t.tail_fill : kChunkSpans;
    for (uint32_t i = first; i < first + fill; ++i) order_.emplace_back(slab_[i].span_id, i);
  }
  std::sort(order_.begin(), order_.end());
  scratch_.clear();
  for (size_t k = 0; k < order_.size(); ++k) {
    if (k > 0 && order_[k].first == order_[k - 1].first) {
      ++counters_.duplicate_spans;
      continue;
    }
    scratch_.push_back(slab_[order_[k].second]);
  }
  AssembledTrace out;
  out.trace_id_lo = t.lo;
  out.trace_id_hi = t.hi;
  out.partition = t.partition;
  out.forced = forced;
  out.spans = std::span<const SpanRecord>(scratch_.data(), scratch_.size());
  ++counters_.traces_finalised;
  if (forced) ++counters_.traces_forced;
  FreeTrace(slot);
  sink(out);
}

void TraceAssembler::Prefetch(uint32_t slot) const {
  const Trace& t = traces_[slot];
  for (uint32_t c = t.head; c != kNil; c = chunk_next_[c]) PrefetchChunk</*kWrite=*/0>(c);
}

void TraceAssembler::OnWatermark(int32_t partition, int64_t watermark_ns, TraceSink sink) {
  Partition& p = partitions_[partition];
  if (watermark_ns <= p.watermark) return;
  p.watermark = watermark_ns;
  const bool deliver = watermark_ns > p.applied;
  // Read the buckets this watermark reaches: an entry still live is final, or refiled by its
  // grown deadline (into a later bucket, or kept in the watermark's own bucket).
  final_.clear();
  const int64_t reach = watermark_ns >> kDueShift;
  while (!p.due.empty() && p.due.begin()->first <= reach) {
    auto bucket = p.due.begin();
    std::vector<DueEntry> entries = std::move(bucket->second);
    const int64_t key = bucket->first;
    if (p.last_bucket == &bucket->second) p.last_bucket = nullptr;
    p.due.erase(bucket);
    p.filed -= entries.size();
    std::vector<DueEntry> kept;  // the watermark's own bucket, not final yet
    for (const DueEntry& e : entries) {
      if (!IsLive(e)) continue;
      const int64_t deadline = Deadline(traces_[e.slot]);
      if (deadline <= watermark_ns) {
        final_.push_back(e.slot);
      } else if ((deadline >> kDueShift) == key) {
        kept.push_back(e);
      } else {
        File(p, deadline, e);
      }
    }
    if (!kept.empty()) {
      p.filed += kept.size();
      p.due.emplace(key, std::move(kept));
      break;  // only the watermark's own bucket keeps entries: every later one is beyond
    }
  }
  // Oldest first, as the traces arrived.
  std::sort(final_.begin(), final_.end(),
            [this](uint32_t a, uint32_t b) { return traces_[a].arrival < traces_[b].arrival; });
  // Finalising is bound by reading cold span chunks: prefetch a few traces ahead.
  constexpr size_t kAhead = 3;
  for (size_t k = 0; k < final_.size(); ++k) {
    if (deliver && k + kAhead < final_.size()) Prefetch(final_[k + kAhead]);
    Finalise(final_[k], /*forced=*/false, deliver, sink);
  }
  ForgetForced(partition, watermark_ns);
  std::deque<QueueEntry>& q = p.arrivals;
  while (!q.empty() && !IsLive(q.front())) q.pop_front();
  Tidy(p);
  while (!oldest_.empty() && !IsLive(oldest_.front())) oldest_.pop_front();
  if (oldest_.size() > 2 * index_.size() + 1024) CompactGlobalQueue();
}

void TraceAssembler::SetAppliedWatermark(int32_t partition, int64_t watermark_ns) {
  Partition& p = partitions_[partition];
  p.applied = std::max(p.applied, watermark_ns);
}

int64_t TraceAssembler::LatestWatermark(int32_t partition) const {
  auto it = partitions_.find(partition);
  return it == partitions_.end() ? std::numeric_limits<int64_t>::min()
                                 : std::max(it->second.watermark, it->second.applied);
}

int64_t TraceAssembler::SafeCommitOffset(int32_t partition, int64_t next_offset) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return next_offset;
  std::deque<QueueEntry>& q = it->second.arrivals;
  while (!q.empty() && !IsLive(q.front())) q.pop_front();
  if (q.empty()) return next_offset;
  return std::min(next_offset, q.front().offset);
}

size_t TraceAssembler::RevokePartition(int32_t partition) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return 0;
  size_t dropped = 0;
  for (const QueueEntry& e : it->second.arrivals) {
    if (!IsLive(e)) continue;
    FreeTrace(e.slot);
    ++dropped;
  }
  partitions_.erase(it);
  ForgetForced(partition, std::numeric_limits<int64_t>::max());
  counters_.traces_revoked += dropped;
  CompactGlobalQueue();
  return dropped;
}

size_t TraceAssembler::MemoryBytes() const {
  return slab_.capacity() * sizeof(SpanRecord) + chunk_next_.capacity() * sizeof(uint32_t) +
         traces_.capacity() * sizeof(Trace) + free_traces_.capacity() * sizeof(uint32_t) +
         index_.MemoryBytes() + oldest_.size() * sizeof(QueueEntry) +
         scratch_.capacity() * sizeof(SpanRecord) +
         order_.capacity() * sizeof(std::pair<uint64_t, uint32_t>) +
         final_.capacity() * sizeof(uint32_t) +
         forced_.capacity() * (sizeof(uint64_t) + sizeof(Forced) + 1) +
         forced_order_.size() * sizeof(uint64_t) + [this] {
           size_t n = 0;
           for (const auto& [id, p] : partitions_) {
             n += p.arrivals.size() * sizeof(QueueEntry);
             // A bucket is a tree node (its value and about four pointers) and its entries.
             n += p.due.size() * (sizeof(DueBuckets::value_type) + 4 * sizeof(void*));
             for (const auto& [key, entries] : p.due) n += entries.capacity() * sizeof(DueEntry);
           }
           return n;
         }();
}

}  // namespace apmcov::coverage
