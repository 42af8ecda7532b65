// Reading what a MemoryBroker holds, for the collector's tests: a fresh consumer group reads
// the topics to the end of every partition (the broker reports each end, as Kafka's partition
// EOF does), so a test never waits for quiet.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apmcov/bus/memory_bus.h"

namespace apmcov::collector {

// Which assigned partitions reported their end.
struct EndTracker {
  bool assigned = false;
  std::set<bus::TopicPartition> owned, ended;
  bus::RebalanceListener Listener() {
    bus::RebalanceListener l;
    l.on_assigned = [this](const std::vector<bus::TopicPartition>& tps) {
      assigned = true;
      owned.insert(tps.begin(), tps.end());
    };
    l.on_revoked = [this](const std::vector<bus::TopicPartition>& tps) {
      for (const auto& tp : tps) owned.erase(tp), ended.erase(tp);
    };
    l.on_end_of_partition = [this](const bus::TopicPartition& tp, int64_t) { ended.insert(tp); };
    return l;
  }
  bool AtEnd() const {
    return assigned && std::includes(ended.begin(), ended.end(), owned.begin(), owned.end());
  }
};

inline std::string FreshGroup() {
  static std::atomic<int> n{0};
  return absl::StrCat("test-reader-", ++n);
}

// Everything `topics` hold, by topic, partition then offset.
inline std::vector<bus::IncomingMessage> ReadToEnd(bus::MemoryBroker& broker,
                                                   const std::vector<std::string>& topics) {
  auto sub = broker.NewSubscriber(FreshGroup());
  EndTracker tracker;
  EXPECT_TRUE(sub->Subscribe(topics, tracker.Listener()).ok());
  std::vector<bus::IncomingMessage> out;
  while (!tracker.AtEnd()) {
    const size_t ended = tracker.ended.size();
    auto batch = sub->Poll(100'000, std::chrono::seconds(10));
    // A poll may bring only a partition's end (one end a poll, as on Kafka): that is progress.
    if (!batch.ok() || (batch->empty() && tracker.ended.size() == ended && !tracker.AtEnd())) {
      ADD_FAILURE() << "cannot read " << absl::StrJoin(topics, ",")
                    << " to its end: " << batch.status();
      break;
    }
    for (auto& m : *batch) out.push_back(std::move(m));
  }
  sub->Close();
  std::stable_sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
    return std::tie(x.topic, x.partition, x.offset) < std::tie(y.topic, y.partition, y.offset);
  });
  return out;
}

}  // namespace apmcov::collector
