// Which of a subscriber's assigned partitions have reported their end (RebalanceListener's
// on_end_of_partition, Kafka's partition EOF): what a reader needs to read topics to their end
// and stop, with no quiet period to wait out (the collector's checkpoint, tests reading what
// a broker holds). The listener it makes records into state it shares, so the listener may
// outlive this object. One thread: the subscriber's callbacks run inside its Poll().
#pragma once

#include <cstddef>
#include <memory>
#include <set>

#include "apmcov/bus/bus.h"

namespace apmcov::bus {

class PartitionEnds {
 public:
  // The listener to Subscribe() with: records assignments, revocations and ends.
  RebalanceListener Listener() const;

  // Whether the group assigned this member anything yet (an empty assignment counts).
  bool assigned() const { return state_->assigned; }
  // Partitions owned now, and how many of them reported their end.
  size_t owned() const { return state_->owned.size(); }
  size_t ended() const { return state_->ended.size(); }
  // Assigned, and every partition owned reported its end (true for an empty assignment).
  bool AllEnded() const;

 private:
  struct State {
    bool assigned = false;
    std::set<TopicPartition> owned, ended;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace apmcov::bus
