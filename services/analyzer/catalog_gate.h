// Catalog gate (design §3; "catalog before judging" in app.h). catalog, apm-inventory and
// spans are different topics with no order among them, so a span watermark of job J waits
// here, in order per `spans` partition, until this member knows J's catalog snapshot is
// complete (its end marker and every member stored: seen in an Apply result, or in the store
// when another replica applied it) and its position on each apm-inventory partition it owns
// has reached the end offset seen when J's first watermark arrived. A watermark goes anyway
// once a later watermark of its partition may go (a newer complete snapshot), or once it has
// waited catalog_wait (a sync whose catalog failed publishes no end marker). Watermarks
// without a job id wait for nothing and, like any watermark that may go, take the ones
// waiting before them along: watermarks of a partition are applied in order.
//
// Pure: the caller reads the store and Kafka, applies what is released and passes the time in;
// the gate only decides. What it remembers of jobs is bounded (the last 1000, and every job a
// watermark waits for). Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "apmcov/bus/bus.h"
#include "offset_tracker.h"

namespace apmcov::analyzer {

class CatalogGate {
 public:
  // A span watermark as received.
  struct Watermark {
    int64_t offset = 0;  // of the watermark message in its spans partition
    int64_t watermark_ns = 0;
    std::string job_id;
    int64_t received_ns = 0;                             // when it arrived: the wait counts from it
    std::vector<std::pair<int64_t, int64_t>> intervals;  // complete read intervals it carries
    bool legacy = false;  // no read interval at all: everything before it was read
  };

  enum class Why {
    kReady,        // its job's catalog is complete and the inventory consumed (or no job)
    kOvertaken,    // a later watermark of the partition is ready: a newer complete catalog
    kWaitExpired,  // waited catalog_wait
  };

  struct Released {
    Watermark watermark;
    Why why = Why::kReady;
    // kWaitExpired: whether the job's catalog was complete (only the inventory was missing),
    // and whether this is the job's first expiry (to warn once per job).
    bool catalog_complete = false;
    bool first_expiry = false;
  };

  // A job a watermark waits for, reported once per job.
  struct Waiting {
    std::string job_id;
    int32_t partition = 0;
    bool catalog_complete = false;
  };

  explicit CatalogGate(std::chrono::nanoseconds catalog_wait) : catalog_wait_(catalog_wait) {}

  // --- what is known of the jobs' catalogs ---

  // An end marker names the job of its snapshot (at most 1000 are remembered).
  void OnSnapshotEnd(const std::string& snapshot_id, const std::string& job_id);
  // A snapshot became complete in this process: its job's catalog is complete (the job named
  // by its end marker, else the job whose id the snapshot id is). Watermarks may come later.
  void OnSnapshotComplete(const std::string& snapshot_id);
  // True at the first watermark of `job` only: the caller then reads the apm-inventory end
  // offsets (SetInventoryEnds) and looks in the store (SnapshotsToLookUp).
  bool FirstWatermarkOf(const std::string& job);
  // apm-inventory partition → its end offset when the job's first watermark arrived, and the
  // group's committed offsets then (a position this member has not consumed to yet).
  void SetInventoryEnds(const std::string& job, std::map<bus::TopicPartition, int64_t> ends,
                        std::map<bus::TopicPartition, int64_t> committed);
  // The snapshot ids under which the store may hold `job`'s complete catalog (the collector's
  // snapshot id is the job id; end markers may name others): none when it is known complete
  // or was looked up less than a second before `now_ns`.
  std::vector<std::string> SnapshotsToLookUp(const std::string& job, int64_t now_ns);
  // The store holds `job`'s complete catalog, applied by another replica or a run before a
  // restart: nothing is released until DirectoryRebuilt(), this directory may not hold it yet.
  void CompleteInStore(const std::string& job);
  bool directory_stale() const { return directory_stale_; }
  void DirectoryRebuilt() { directory_stale_ = false; }
  // Jobs that watermarks wait for and whose catalog is not known complete, in id order.
  std::vector<std::string> JobsWaitedFor() const;

  // --- watermarks ---

  void Add(int32_t partition, Watermark watermark);
  // What may go on `partition` at `now_ns`, in order: every watermark up to the last one that
  // is ready, then those at the front that waited catalog_wait. Call only with an up-to-date
  // directory (not directory_stale()).
  std::vector<Released> Release(int32_t partition, int64_t now_ns, const OffsetTracker& offsets);
  // Partitions with waiting watermarks.
  std::vector<int32_t> partitions() const;
  // Drops what waits on `partition` (revoked: the next owner reads it again, it was never
  // committed).
  void Revoke(int32_t partition);
  size_t waiting() const;
  // Partition → offset of its oldest waiting watermark (the commit never passes it).
  std::map<int32_t, int64_t> OldestWaitingOffsets() const;
  // Jobs waited for that were not reported before.
  std::vector<Waiting> NewlyWaiting();

 private:
  struct Job {
    bool catalog_complete = false;
    bool watermark_seen = false;
    bool expiry_reported = false;
    bool wait_reported = false;
    int64_t last_lookup_ns = INT64_MIN;
    std::map<bus::TopicPartition, int64_t> inventory_ends;
    std::map<bus::TopicPartition, int64_t> inventory_committed;
  };

  // The entry of `job`, created if new; the oldest entries no watermark waits for are dropped
  // beyond 1000 jobs.
  Job& JobEntry(const std::string& job);
  bool Waits(const std::string& job) const;
  bool Ready(const std::string& job, const OffsetTracker& offsets) const;

  const std::chrono::nanoseconds catalog_wait_;
  std::map<int32_t, std::deque<Watermark>> waiting_;  // spans partition → in arrival order
  std::map<std::string, Job> jobs_;
  std::deque<std::string> job_order_;                // to bound jobs_
  std::map<std::string, std::string> snapshot_job_;  // snapshot id → job id (end markers)
  bool directory_stale_ = false;
};

}  // namespace apmcov::analyzer
