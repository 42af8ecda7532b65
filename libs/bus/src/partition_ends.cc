#include "apmcov/bus/partition_ends.h"

#include <algorithm>
#include <vector>

namespace apmcov::bus {

RebalanceListener PartitionEnds::Listener() const {
  RebalanceListener l;
  l.on_assigned = [state = state_](const std::vector<TopicPartition>& tps) {
    state->assigned = true;
    state->owned.insert(tps.begin(), tps.end());
  };
  l.on_revoked = [state = state_](const std::vector<TopicPartition>& tps) {
    for (const TopicPartition& tp : tps) {
      state->owned.erase(tp);
      state->ended.erase(tp);
    }
  };
  l.on_end_of_partition = [state = state_](const TopicPartition& tp, int64_t) {
    state->ended.insert(tp);
  };
  return l;
}

bool PartitionEnds::AllEnded() const {
  return state_->assigned && std::includes(state_->ended.begin(), state_->ended.end(),
                                           state_->owned.begin(), state_->owned.end());
}

}  // namespace apmcov::bus
