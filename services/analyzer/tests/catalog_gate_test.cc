// The catalog gate on its own: which watermarks go, when, and why, with the time from a
// ManualClock and the positions from an OffsetTracker. No bus, no store.
#include "catalog_gate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apmcov/base/clock.h"
#include "offset_tracker.h"

namespace apmcov::analyzer {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Why = CatalogGate::Why;

constexpr int32_t kPartition = 0;
const bus::TopicPartition kInventory{"t.apm-inventory", 0};

class CatalogGateTest : public ::testing::Test {
 protected:
  // A watermark of `job` at `offset` of the spans partition, received now.
  void Add(int64_t offset, const std::string& job, int32_t partition = kPartition) {
    CatalogGate::Watermark w;
    w.offset = offset;
    w.watermark_ns = 1000 + offset;
    w.job_id = job;
    w.received_ns = clock_.NowUnixNanos();
    gate_.Add(partition, std::move(w));
  }

  // The offsets released on `partition` now, with why.
  std::vector<std::pair<int64_t, Why>> Release(int32_t partition = kPartition) {
    std::vector<std::pair<int64_t, Why>> out;
    for (const auto& r : gate_.Release(partition, clock_.NowUnixNanos(), offsets_)) {
      out.emplace_back(r.watermark.offset, r.why);
    }
    return out;
  }

  void Complete(const std::string& snapshot, const std::string& job) {
    gate_.OnSnapshotEnd(snapshot, job);
    gate_.OnSnapshotComplete(snapshot);
  }

  ManualClock clock_;
  OffsetTracker offsets_;
  CatalogGate gate_{std::chrono::seconds(30)};
};

TEST_F(CatalogGateTest, AWatermarkWithoutAJobGoesAtOnce) {
  Add(7, "");
  EXPECT_THAT(Release(), ElementsAre(std::pair<int64_t, Why>{7, Why::kReady}));
  EXPECT_EQ(gate_.waiting(), 0u);
  EXPECT_THAT(gate_.partitions(), IsEmpty());
}

TEST_F(CatalogGateTest, AWatermarkWaitsForItsJobsCompleteCatalog) {
  ASSERT_TRUE(gate_.FirstWatermarkOf("job-1"));
  Add(3, "job-1");
  EXPECT_THAT(Release(), IsEmpty());
  EXPECT_EQ(gate_.waiting(), 1u);
  // An end marker alone does not complete the snapshot; the completed snapshot names the job.
  gate_.OnSnapshotEnd("snap-9", "job-1");
  EXPECT_THAT(Release(), IsEmpty());
  gate_.OnSnapshotComplete("snap-9");
  EXPECT_THAT(Release(), ElementsAre(std::pair<int64_t, Why>{3, Why::kReady}));
  EXPECT_EQ(gate_.waiting(), 0u);
}

TEST_F(CatalogGateTest, ACompletedSnapshotWithoutEndMarkerJobIsTheJobOfTheSameId) {
  gate_.OnSnapshotComplete("job-2");  // the collector's snapshot id is its job id
  Add(1, "job-2");
  EXPECT_THAT(Release(), ElementsAre(std::pair<int64_t, Why>{1, Why::kReady}));
}

TEST_F(CatalogGateTest, AWatermarkWithoutAJobTakesTheWaitingOnesBeforeItAlong) {
  Add(1, "job-1");
  EXPECT_THAT(Release(), IsEmpty());
  Add(2, "");
  EXPECT_THAT(Release(), ElementsAre(std::pair<int64_t, Why>{1, Why::kOvertaken},
                                     std::pair<int64_t, Why>{2, Why::kReady}));
  EXPECT_EQ(gate_.waiting(), 0u);
}

TEST_F(CatalogGateTest, ALaterReadyWatermarkReleasesTheOlderOnesBeforeIt) {
  Add(1, "job-1");
  Add(2, "job-2");
  Add(3, "job-3");
  Complete("job-2", "job-2");  // job-2's catalog is newer than job-1's
  EXPECT_THAT(Release(), ElementsAre(std::pair<int64_t, Why>{1, Why::kOvertaken},
                                     std::pair<int64_t, Why>{2, Why::kReady}));
  EXPECT_EQ(gate_.waiting(), 1u);  // job-3 still waits
  EXPECT_EQ(gate_.OldestWaitingOffsets(), (std::map<int32_t, int64_t>{{kPartition, 3}}));
}

TEST_F(CatalogGateTest, TheWaitExpiresAfterCatalogWaitAndIsReportedOncePerJob) {
  Add(1, "job-1");
  clock_.Advance(std::chrono::seconds(10));
  Add(2, "job-1");
  clock_.Advance(std::chrono::seconds(19));  // 29 s for the first
  EXPECT_THAT(Release(), IsEmpty());
  clock_.Advance(std::chrono::seconds(1));  // 30 s for the first, 20 s for the second
  std::vector<CatalogGate::Released> released =
      gate_.Release(kPartition, clock_.NowUnixNanos(), offsets_);
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].watermark.offset, 1);
  EXPECT_EQ(released[0].why, Why::kWaitExpired);
  EXPECT_TRUE(released[0].first_expiry);
  EXPECT_FALSE(released[0].catalog_complete);
  clock_.Advance(std::chrono::seconds(10));
  released = gate_.Release(kPartition, clock_.NowUnixNanos(), offsets_);
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].watermark.offset, 2);
  EXPECT_EQ(released[0].why, Why::kWaitExpired);
  EXPECT_FALSE(released[0].first_expiry) << "job-1's expiry was already reported";
}

TEST_F(CatalogGateTest, ACompleteCatalogStillWaitsForTheInventoryPublishedBeforeTheSpans) {
  offsets_.Assign({kInventory, {"t.apm-inventory", 1}});
  ASSERT_TRUE(gate_.FirstWatermarkOf("job-1"));
  // Partition 0 ended at 5; partition 1 at 0 (empty) and another member's partition 2 at 9
  // are not waited for.
  gate_.SetInventoryEnds(
      "job-1", {{kInventory, 5}, {{"t.apm-inventory", 1}, 0}, {{"t.apm-inventory", 2}, 9}}, {});
  Complete("job-1", "job-1");
  Add(4, "job-1");
  offsets_.Consumed(kInventory, 3);  // position 4
  EXPECT_THAT(Release(), IsEmpty());
  offsets_.Consumed(kInventory, 4);  // position 5: consumed up to the end seen
  EXPECT_THAT(Release(), ElementsAre(std::pair<int64_t, Why>{4, Why::kReady}));
}

TEST_F(CatalogGateTest, TheGroupsCommitCountsAsConsumedInventory) {
  offsets_.Assign({kInventory});
  gate_.FirstWatermarkOf("job-1");
  gate_.SetInventoryEnds("job-1", {{kInventory, 5}}, {{kInventory, 5}});
  Complete("job-1", "job-1");
  Add(1, "job-1");
  EXPECT_THAT(Release(), ElementsAre(std::pair<int64_t, Why>{1, Why::kReady}));
}

TEST_F(CatalogGateTest, AJobIsLookedUpInTheStoreAtMostOnceASecondUnderEveryIdItMayHave) {
  Add(1, "job-1");
  gate_.OnSnapshotEnd("snap-a", "job-1");
  gate_.OnSnapshotEnd("snap-b", "job-2");
  EXPECT_THAT(gate_.JobsWaitedFor(), ElementsAre("job-1"));
  EXPECT_THAT(gate_.SnapshotsToLookUp("job-1", clock_.NowUnixNanos()),
              ElementsAre("job-1", "snap-a"));
  clock_.Advance(std::chrono::milliseconds(999));
  EXPECT_THAT(gate_.SnapshotsToLookUp("job-1", clock_.NowUnixNanos()), IsEmpty());
  clock_.Advance(std::chrono::milliseconds(1));
  EXPECT_THAT(gate_.SnapshotsToLookUp("job-1", clock_.NowUnixNanos()),
              ElementsAre("job-1", "snap-a"));

  // Found complete in the store: the directory must be rebuilt before anything goes.
  gate_.CompleteInStore("job-1");
  EXPECT_TRUE(gate_.directory_stale());
  EXPECT_THAT(gate_.JobsWaitedFor(), IsEmpty());
  clock_.Advance(std::chrono::seconds(5));
  EXPECT_THAT(gate_.SnapshotsToLookUp("job-1", clock_.NowUnixNanos()), IsEmpty());
  gate_.DirectoryRebuilt();
  EXPECT_FALSE(gate_.directory_stale());
  EXPECT_THAT(Release(), ElementsAre(std::pair<int64_t, Why>{1, Why::kReady}));
}

TEST_F(CatalogGateTest, PartitionsWaitApartAndARevokedOneIsForgotten) {
  Add(10, "job-1", 0);
  Add(20, "job-1", 1);
  Add(21, "", 1);
  EXPECT_THAT(gate_.partitions(), ElementsAre(0, 1));
  EXPECT_EQ(gate_.waiting(), 3u);
  EXPECT_EQ(gate_.OldestWaitingOffsets(), (std::map<int32_t, int64_t>{{0, 10}, {1, 20}}));
  gate_.Revoke(1);
  EXPECT_THAT(gate_.partitions(), ElementsAre(0));
  EXPECT_EQ(gate_.waiting(), 1u);
  EXPECT_THAT(Release(1), IsEmpty());
}

TEST_F(CatalogGateTest, EachWaitedForJobIsReportedOnce) {
  Add(1, "job-1", 0);
  Add(2, "job-1", 1);
  Add(3, "", 1);
  std::vector<CatalogGate::Waiting> first = gate_.NewlyWaiting();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].job_id, "job-1");
  EXPECT_EQ(first[0].partition, 0);
  EXPECT_FALSE(first[0].catalog_complete);
  Add(4, "job-2", 1);
  std::vector<CatalogGate::Waiting> second = gate_.NewlyWaiting();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].job_id, "job-2");
  EXPECT_THAT(gate_.NewlyWaiting(), IsEmpty());
}

TEST_F(CatalogGateTest, AJobsFirstWatermarkIsNotedOnceAndOldJobsAreForgotten) {
  EXPECT_TRUE(gate_.FirstWatermarkOf("old"));
  EXPECT_FALSE(gate_.FirstWatermarkOf("old"));
  Add(1, "waited");
  EXPECT_TRUE(gate_.FirstWatermarkOf("waited"));
  for (int i = 0; i < 1000; ++i) gate_.FirstWatermarkOf("job-" + std::to_string(i));
  EXPECT_TRUE(gate_.FirstWatermarkOf("old")) << "1002 jobs later, `old` is still remembered";
  EXPECT_FALSE(gate_.FirstWatermarkOf("waited")) << "a job a watermark waits for was forgotten";
}

}  // namespace
}  // namespace apmcov::analyzer
