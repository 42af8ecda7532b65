// Per-bucket tallies of the spans aggregate, kept so that a bucket is counted once per shape.
//
// Generated traffic is a pure function of the world and the bucket index, so what one bucket
// contributes to an aggregate of a given shape (query text, group-by facets and their
// `missing` values) never changes. The collector asks for the same shape every sync over the
// whole lookback (design §7.2: its inventory), which without this regenerated and re-counted
// every bucket of that hour each time (5 s, the aggregate budget, at 100k spans/s). Spans the
// Agent intake received are not memoised: they keep arriving.
//
// A Piece splits a bucket's counts by the second its spans start in: index 0 the bucket's own
// second, 1 the next (a trace starts in its bucket and ends before the next one does).
// Thread-safe. Bounded: at most `max_buckets` pieces per shape (the oldest buckets go first)
// and `max_shapes` shapes (the least recently used goes first).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace apmcov::ddsim {

class AggregateMemo {
 public:
  using Key = std::vector<std::string>;  // one value per group-by facet
  using Tallies = absl::flat_hash_map<Key, std::array<int64_t, 2>>;
  struct Piece {
    // (group key, spans) for spans starting in the bucket's second [0] and the next one [1].
    // The keys are shared by every piece of the shape; the piece keeps them alive.
    std::array<std::vector<std::pair<std::shared_ptr<const Key>, int64_t>>, 2> by_second;
  };

  AggregateMemo(size_t max_buckets, size_t max_shapes)
      : max_buckets_(max_buckets), max_shapes_(max_shapes) {}

  // The stored piece of `bucket` for `shape`, or nullptr.
  std::shared_ptr<const Piece> Find(const std::string& shape, int64_t bucket);
  // Stores `tallies` as the piece of `bucket` for `shape` and returns it.
  std::shared_ptr<const Piece> Store(const std::string& shape, int64_t bucket,
                                     const Tallies& tallies);

  size_t pieces();  // stored pieces over all shapes (tests, stats)

 private:
  struct Shape {
    absl::flat_hash_map<Key, std::shared_ptr<const Key>> keys;  // interned group keys
    std::map<int64_t, std::shared_ptr<const Piece>> pieces;     // by bucket index
    uint64_t last_used = 0;
  };

  const size_t max_buckets_;
  const size_t max_shapes_;
  std::mutex mu_;
  std::map<std::string, Shape> shapes_;
  uint64_t uses_ = 0;
};

}  // namespace apmcov::ddsim
