#include "offset_tracker.h"

#include <algorithm>

namespace apmcov::analyzer {

void OffsetTracker::Assign(const std::vector<bus::TopicPartition>& tps) {
  owned_.insert(tps.begin(), tps.end());
}

void OffsetTracker::Revoke(const std::vector<bus::TopicPartition>& tps) {
  for (const auto& tp : tps) {
    owned_.erase(tp);
    next_.erase(tp);
    committed_.erase(tp);
  }
}

std::vector<int32_t> OffsetTracker::OwnedPartitions(const std::string& topic) const {
  std::vector<int32_t> out;
  for (const auto& tp : owned_) {
    if (tp.topic == topic) out.push_back(tp.partition);
  }
  return out;
}

void OffsetTracker::Consumed(const bus::TopicPartition& tp, int64_t offset) {
  int64_t& next = next_[tp];
  next = std::max(next, offset + 1);
}

std::optional<int64_t> OffsetTracker::Next(const bus::TopicPartition& tp) const {
  auto it = next_.find(tp);
  if (it == next_.end()) return std::nullopt;
  return it->second;
}

std::optional<int64_t> OffsetTracker::Position(const bus::TopicPartition& tp) const {
  if (auto it = next_.find(tp); it != next_.end()) return it->second;
  if (auto it = committed_.find(tp); it != committed_.end()) return it->second;
  return std::nullopt;
}

std::vector<bus::TopicPartition> OffsetTracker::WithoutPosition() const {
  std::vector<bus::TopicPartition> out;
  for (const auto& tp : owned_) {
    if (!next_.contains(tp) && !committed_.contains(tp)) out.push_back(tp);
  }
  return out;
}

void OffsetTracker::LearnCommitted(const bus::TopicPartition& tp, int64_t offset) {
  if (offset >= 0) committed_.try_emplace(tp, offset);
}

std::map<bus::TopicPartition, int64_t> OffsetTracker::ToCommit(
    const std::string& spans_topic, const std::function<int64_t(int32_t, int64_t)>& spans_safe,
    const std::map<int32_t, int64_t>& waiting_watermarks) const {
  std::map<bus::TopicPartition, int64_t> out;
  for (const auto& [tp, next] : next_) {
    if (!owned_.contains(tp)) continue;  // the bus refuses it anyway: the new owner's now
    int64_t safe = next;
    if (tp.topic == spans_topic) {
      safe = spans_safe(tp.partition, next);
      if (auto w = waiting_watermarks.find(tp.partition); w != waiting_watermarks.end()) {
        safe = std::min(safe, w->second);
      }
    }
    auto it = committed_.find(tp);
    if (it == committed_.end() || it->second != safe) out[tp] = safe;
  }
  return out;
}

void OffsetTracker::Committed(const std::map<bus::TopicPartition, int64_t>& offsets) {
  for (const auto& [tp, offset] : offsets) committed_[tp] = offset;
}

}  // namespace apmcov::analyzer
