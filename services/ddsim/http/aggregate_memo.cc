#include "ddsim/http/aggregate_memo.h"

#include <algorithm>

namespace apmcov::ddsim {

std::shared_ptr<const AggregateMemo::Piece> AggregateMemo::Find(const std::string& shape,
                                                                int64_t bucket) {
  std::lock_guard lock(mu_);
  auto s = shapes_.find(shape);
  if (s == shapes_.end()) return nullptr;
  s->second.last_used = ++uses_;
  auto p = s->second.pieces.find(bucket);
  return p == s->second.pieces.end() ? nullptr : p->second;
}

std::shared_ptr<const AggregateMemo::Piece> AggregateMemo::Store(const std::string& shape,
                                                                 int64_t bucket,
                                                                 const Tallies& tallies) {
  std::lock_guard lock(mu_);
  if (!shapes_.contains(shape) && shapes_.size() >= max_shapes_ && max_shapes_ > 0) {
    auto lru = std::min_element(shapes_.begin(), shapes_.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    shapes_.erase(lru);
  }
  Shape& s = shapes_[shape];
  s.last_used = ++uses_;
  auto piece = std::make_shared<Piece>();
  for (const auto& [key, counts] : tallies) {
    std::shared_ptr<const Key>& interned = s.keys[key];
    if (interned == nullptr) interned = std::make_shared<const Key>(key);
    for (size_t h = 0; h < 2; ++h) {
      if (counts[h] > 0) piece->by_second[h].emplace_back(interned, counts[h]);
    }
  }
  auto [it, inserted] = s.pieces.insert_or_assign(bucket, std::move(piece));
  while (s.pieces.size() > max_buckets_ && s.pieces.size() > 1) {
    s.pieces.erase(s.pieces.begin() == it ? std::next(s.pieces.begin()) : s.pieces.begin());
  }
  return it->second;
}

size_t AggregateMemo::pieces() {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [name, s] : shapes_) n += s.pieces.size();
  return n;
}

}  // namespace apmcov::ddsim
