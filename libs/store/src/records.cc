#include "apmcov/store/records.h"

#include "absl/hash/hash.h"

namespace apmcov::store {

size_t DependencyObservations::EdgeHash::operator()(const EdgeView& v) const {
  return absl::HashOf(v[0], v[1], v[2], v[3]);
}

DependencyObservations::DependencyObservations(
    std::initializer_list<DependencyObservation> observations) {
  for (const DependencyObservation& o : observations) push_back(o);
}

DependencyObservations& DependencyObservations::operator=(
    std::initializer_list<DependencyObservation> observations) {
  clear();
  for (const DependencyObservation& o : observations) push_back(o);
  return *this;
}

void DependencyObservations::Add(std::string_view from_service, std::string_view to_name,
                                 std::string_view kind, std::string_view to_kind, uint64_t trace_id,
                                 int64_t seen_at_ns) {
  auto it = index_.find(EdgeView{from_service, to_name, kind, to_kind});
  if (it == index_.end()) {
    edges_.push_back(
        {std::string(from_service), std::string(to_name), std::string(kind), std::string(to_kind)});
    it = index_.emplace(edges_.back(), static_cast<uint32_t>(edges_.size() - 1)).first;
  }
  sightings_.push_back({it->second, trace_id, seen_at_ns});
}

void DependencyObservations::clear() {
  edges_.clear();
  sightings_.clear();
  index_.clear();
}

void DependencyObservations::Reindex() {
  index_.clear();
  for (size_t i = 0; i < edges_.size(); ++i)
    index_.try_emplace(edges_[i], static_cast<uint32_t>(i));
}

DependencyObservation DependencyObservations::operator[](size_t i) const {
  const Sighting& s = sightings_[i];
  const Edge& e = edges_[s.edge];
  return {e.from_service, e.to_name, e.kind, e.to_kind, s.trace_id, s.seen_at_ns};
}

}  // namespace apmcov::store
