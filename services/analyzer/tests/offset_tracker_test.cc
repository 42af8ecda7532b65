// The offset tracker on its own: positions, and what may be committed with traces in flight
// and watermarks waiting for their job's catalog.
#include "offset_tracker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace apmcov::analyzer {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Offsets = std::map<bus::TopicPartition, int64_t>;

const std::string kSpans = "t.spans";
const bus::TopicPartition kCatalog{"t.catalog", 0};
const bus::TopicPartition kSpans0{kSpans, 0};
const bus::TopicPartition kSpans1{kSpans, 1};

// A spans partition with no trace in flight: everything consumed is safe.
int64_t NothingInFlight(int32_t, int64_t next) { return next; }

TEST(OffsetTrackerTest, PositionsOnlyMoveForward) {
  OffsetTracker t;
  t.Assign({kCatalog});
  EXPECT_EQ(t.Next(kCatalog), std::nullopt);
  t.Consumed(kCatalog, 4);
  t.Consumed(kCatalog, 2);  // a replayed message
  EXPECT_EQ(t.Next(kCatalog), 5);
  EXPECT_EQ(t.Position(kCatalog), 5);
}

TEST(OffsetTrackerTest, EveryOwnedPartitionIsCommittedAtItsPositionOnce) {
  OffsetTracker t;
  t.Assign({kCatalog, kSpans0});
  t.Consumed(kCatalog, 9);
  t.Consumed(kSpans0, 3);
  const Offsets first = t.ToCommit(kSpans, NothingInFlight, {});
  EXPECT_EQ(first, (Offsets{{kCatalog, 10}, {kSpans0, 4}}));
  t.Committed(first);
  EXPECT_EQ(t.committed(), first);
  EXPECT_THAT(t.ToCommit(kSpans, NothingInFlight, {}), IsEmpty()) << "nothing moved";
  t.Consumed(kCatalog, 10);
  EXPECT_EQ(t.ToCommit(kSpans, NothingInFlight, {}), (Offsets{{kCatalog, 11}}));
}

TEST(OffsetTrackerTest, SpansAreCommittedNoFurtherThanTracesInFlightAndWaitingWatermarks) {
  OffsetTracker t;
  t.Assign({kCatalog, kSpans0, kSpans1});
  t.Consumed(kCatalog, 50);
  t.Consumed(kSpans0, 99);
  t.Consumed(kSpans1, 99);
  // Partition 0: a trace in flight since offset 40. Partition 1: a watermark at 70 waits for
  // its job's catalog, and a trace in flight since 80.
  auto in_flight = [](int32_t partition, int64_t next) -> int64_t {
    return partition == 0 ? std::min<int64_t>(next, 40) : std::min<int64_t>(next, 80);
  };
  const Offsets to_commit = t.ToCommit(kSpans, in_flight, {{1, 70}});
  EXPECT_EQ(to_commit, (Offsets{{kCatalog, 51}, {kSpans0, 40}, {kSpans1, 70}}));
  // A watermark waiting on a catalog partition number does not hold the catalog back.
  EXPECT_EQ(t.ToCommit(kSpans, NothingInFlight, {{0, 5}}).at(kCatalog), 51);
}

TEST(OffsetTrackerTest, ARevokedPartitionIsForgottenAndNeverCommitted) {
  OffsetTracker t;
  t.Assign({kSpans0, kSpans1});
  t.Consumed(kSpans0, 1);
  t.Consumed(kSpans1, 1);
  t.Committed({{kSpans0, 2}});
  t.Revoke({kSpans0});
  EXPECT_FALSE(t.Owns(kSpans0));
  EXPECT_EQ(t.Position(kSpans0), std::nullopt);
  EXPECT_EQ(t.committed(), Offsets{});
  EXPECT_EQ(t.ToCommit(kSpans, NothingInFlight, {}), (Offsets{{kSpans1, 2}}));
  EXPECT_THAT(t.OwnedPartitions(kSpans), ElementsAre(1));
}

TEST(OffsetTrackerTest, AGroupsCommitGivesAPositionUntilSomethingIsConsumed) {
  OffsetTracker t;
  t.Assign({kCatalog, kSpans0, kSpans1});
  EXPECT_THAT(t.WithoutPosition(), ElementsAre(kCatalog, kSpans0, kSpans1));
  t.LearnCommitted(kCatalog, 30);
  t.LearnCommitted(kSpans0, -1);  // the group has none
  t.Consumed(kSpans1, 0);
  EXPECT_THAT(t.WithoutPosition(), ElementsAre(kSpans0));
  EXPECT_EQ(t.Position(kCatalog), 30);
  t.LearnCommitted(kCatalog, 12);  // a commit is known already
  EXPECT_EQ(t.Position(kCatalog), 30);
  t.Consumed(kCatalog, 31);
  EXPECT_EQ(t.Position(kCatalog), 32);
  EXPECT_EQ(t.Position(kSpans1), 1);
}

}  // namespace
}  // namespace apmcov::analyzer
