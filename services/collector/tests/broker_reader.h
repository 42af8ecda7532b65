// Reading what a MemoryBroker holds, for the collector's tests: a fresh consumer group reads
// the topics to the end of every partition (the broker reports each end, as Kafka's partition
// EOF does), so a test never waits for quiet.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apmcov/bus/memory_bus.h"
#include "apmcov/bus/partition_ends.h"

namespace apmcov::collector {

inline std::string FreshGroup() {
  static std::atomic<int> n{0};
  return absl::StrCat("test-reader-", ++n);
}

// Everything `topics` hold, by topic, partition then offset.
inline std::vector<bus::IncomingMessage> ReadToEnd(bus::MemoryBroker& broker,
                                                   const std::vector<std::string>& topics) {
  auto sub = broker.NewSubscriber(FreshGroup());
  bus::PartitionEnds ends;
  EXPECT_TRUE(sub->Subscribe(topics, ends.Listener()).ok());
  std::vector<bus::IncomingMessage> out;
  while (!ends.AllEnded()) {
    const size_t ended = ends.ended();
    auto batch = sub->Poll(100'000, std::chrono::seconds(10));
    // A poll may bring only a partition's end (one end a poll, as on Kafka): that is progress.
    if (!batch.ok() || (batch->empty() && ends.ended() == ended && !ends.AllEnded())) {
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
