// Offset tracker: where this member stands on each partition it owns, and what it may commit
// (app.h contract). It keeps the partitions owned, the next offset after the last message
// consumed from each and the offset last committed, and works out the safe commit point: the
// position, lowered on `spans` partitions to the oldest span of a trace still being assembled
// and to the oldest span watermark still waiting for its job's catalog (were that committed
// and the process crashed, nothing would deliver the watermark again, and a trace whose spans
// all precede it could wait for the next window's watermark, or at the end of a sync, forever;
// re-reading a few span batches after a crash is the cheaper risk, replays change nothing).
// Pure: no I/O. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "apmcov/bus/bus.h"

namespace apmcov::analyzer {

class OffsetTracker {
 public:
  void Assign(const std::vector<bus::TopicPartition>& tps);
  // Forgets the partitions with their positions and commits (the new owner's now).
  void Revoke(const std::vector<bus::TopicPartition>& tps);
  const std::set<bus::TopicPartition>& owned() const { return owned_; }
  bool Owns(const bus::TopicPartition& tp) const { return owned_.contains(tp); }
  // The partitions of `topic` owned, in order.
  std::vector<int32_t> OwnedPartitions(const std::string& topic) const;

  // Message `offset` of `tp` was consumed (positions only move forward).
  void Consumed(const bus::TopicPartition& tp, int64_t offset);
  // The offset after the last message consumed from `tp`, if any was.
  std::optional<int64_t> Next(const bus::TopicPartition& tp) const;
  // Where this member stands on `tp`: Next(), else the committed offset, else unknown.
  std::optional<int64_t> Position(const bus::TopicPartition& tp) const;
  // Owned partitions with no position yet (nothing consumed, no commit known).
  std::vector<bus::TopicPartition> WithoutPosition() const;
  // The group's commit read from the bus for a partition without a position; ignored when
  // negative (none) or when a commit is already known.
  void LearnCommitted(const bus::TopicPartition& tp, int64_t offset);

  // The offsets to commit now, each owned partition with a position whose safe point moved:
  // the position, for `spans_topic` partitions at most `spans_safe(partition, position)` and
  // at most the offset of the watermark waiting there (`waiting_watermarks`: partition →
  // offset of its oldest waiting watermark).
  std::map<bus::TopicPartition, int64_t> ToCommit(
      const std::string& spans_topic, const std::function<int64_t(int32_t, int64_t)>& spans_safe,
      const std::map<int32_t, int64_t>& waiting_watermarks) const;
  // The bus accepted the commit of `offsets`.
  void Committed(const std::map<bus::TopicPartition, int64_t>& offsets);
  const std::map<bus::TopicPartition, int64_t>& committed() const { return committed_; }

 private:
  std::set<bus::TopicPartition> owned_;
  std::map<bus::TopicPartition, int64_t> next_;
  std::map<bus::TopicPartition, int64_t> committed_;
};

}  // namespace apmcov::analyzer
