// Shared fixture helpers of the gateway integration and browser tests: the representative world
// they read, written through CoverageStore::Apply as the analyzer writes the database (into a
// private database of libs/store's TestDatabase, or a MemoryCoverageStore), and a recording fake
// bus Publisher.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "apmcov/bus/bus.h"
#include "apmcov/store/coverage_store.h"

namespace apmcov::gateway::testing {

// Writes the representative world (see gateway_test_env.cc for the exact rows), its times
// relative to `now_ns`.
absl::Status SeedWorld(store::CoverageStore& store, int64_t now_ns);

// Writes `count` more catalog services bulk-00001.. (40 teams, tiers 0-2, every seventh
// customer-facing), every third of them traced an hour before `now_ns`: paging at scale.
absl::Status SeedBulkServices(store::CoverageStore& store, int64_t now_ns, int64_t count);

// Records what was published; Flush fails when `fail` is set. PartitionCount answers 1.
class RecordingPublisher final : public bus::Publisher {
 public:
  absl::Status Publish(bus::OutgoingMessage message) override;
  absl::Status Flush(std::chrono::milliseconds timeout) override;
  absl::StatusOr<int32_t> PartitionCount(const std::string& topic) override;
  std::vector<bus::OutgoingMessage> messages() const;
  bool fail = false;

 private:
  mutable std::mutex mu_;
  std::vector<bus::OutgoingMessage> messages_;
};

}  // namespace apmcov::gateway::testing
