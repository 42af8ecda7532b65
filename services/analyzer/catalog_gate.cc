#include "catalog_gate.h"

#include <algorithm>

namespace apmcov::analyzer {

void CatalogGate::OnSnapshotEnd(const std::string& snapshot_id, const std::string& job_id) {
  if (job_id.empty()) return;
  snapshot_job_[snapshot_id] = job_id;
  if (snapshot_job_.size() > 1000) snapshot_job_.erase(snapshot_job_.begin());
}

void CatalogGate::OnSnapshotComplete(const std::string& snapshot_id) {
  auto owner = snapshot_job_.find(snapshot_id);
  JobEntry(owner != snapshot_job_.end() ? owner->second : snapshot_id).catalog_complete = true;
}

bool CatalogGate::FirstWatermarkOf(const std::string& job) {
  Job& j = JobEntry(job);
  if (j.watermark_seen) return false;
  j.watermark_seen = true;
  return true;
}

void CatalogGate::SetInventoryEnds(const std::string& job,
                                   std::map<bus::TopicPartition, int64_t> ends,
                                   std::map<bus::TopicPartition, int64_t> committed) {
  Job& j = JobEntry(job);
  j.inventory_ends = std::move(ends);
  j.inventory_committed = std::move(committed);
}

std::vector<std::string> CatalogGate::SnapshotsToLookUp(const std::string& job, int64_t now_ns) {
  Job& j = JobEntry(job);
  if (j.catalog_complete) return {};
  if (j.last_lookup_ns != INT64_MIN && now_ns - j.last_lookup_ns < 1'000'000'000) return {};
  j.last_lookup_ns = now_ns;
  std::vector<std::string> ids{job};
  for (const auto& [snapshot, owner] : snapshot_job_) {
    if (owner == job && snapshot != job) ids.push_back(snapshot);
  }
  return ids;
}

void CatalogGate::CompleteInStore(const std::string& job) {
  JobEntry(job).catalog_complete = true;
  directory_stale_ = true;
}

std::vector<std::string> CatalogGate::JobsWaitedFor() const {
  std::vector<std::string> out;
  for (const auto& [job, j] : jobs_) {
    if (!j.catalog_complete && Waits(job)) out.push_back(job);
  }
  return out;
}

void CatalogGate::Add(int32_t partition, Watermark watermark) {
  if (!watermark.job_id.empty()) JobEntry(watermark.job_id);
  waiting_[partition].push_back(std::move(watermark));
}

std::vector<CatalogGate::Released> CatalogGate::Release(int32_t partition, int64_t now_ns,
                                                        const OffsetTracker& offsets) {
  std::vector<Released> out;
  auto qit = waiting_.find(partition);
  if (qit == waiting_.end()) return out;
  std::deque<Watermark>& q = qit->second;
  size_t ready_upto = 0;  // entries [0, ready_upto) may go
  for (size_t i = q.size(); i > 0; --i) {
    if (Ready(q[i - 1].job_id, offsets)) {
      ready_upto = i;
      break;
    }
  }
  for (size_t i = 0; i < ready_upto; ++i) {
    const Why why = Ready(q.front().job_id, offsets) ? Why::kReady : Why::kOvertaken;
    out.push_back({std::move(q.front()), why});
    q.pop_front();
  }
  while (!q.empty() && now_ns - q.front().received_ns >= catalog_wait_.count()) {
    Job& j = JobEntry(q.front().job_id);
    out.push_back(
        {std::move(q.front()), Why::kWaitExpired, j.catalog_complete, !j.expiry_reported});
    j.expiry_reported = true;
    q.pop_front();
  }
  if (q.empty()) waiting_.erase(qit);
  return out;
}

std::vector<int32_t> CatalogGate::partitions() const {
  std::vector<int32_t> out;
  for (const auto& [p, q] : waiting_) out.push_back(p);
  return out;
}

void CatalogGate::Revoke(int32_t partition) { waiting_.erase(partition); }

size_t CatalogGate::waiting() const {
  size_t n = 0;
  for (const auto& [p, q] : waiting_) n += q.size();
  return n;
}

std::map<int32_t, int64_t> CatalogGate::OldestWaitingOffsets() const {
  std::map<int32_t, int64_t> out;
  for (const auto& [p, q] : waiting_) {
    if (!q.empty()) out[p] = q.front().offset;
  }
  return out;
}

std::vector<CatalogGate::Waiting> CatalogGate::NewlyWaiting() {
  std::vector<Waiting> out;
  for (const auto& [partition, q] : waiting_) {
    for (const Watermark& w : q) {
      if (w.job_id.empty()) continue;
      Job& j = JobEntry(w.job_id);
      if (j.wait_reported) continue;
      j.wait_reported = true;
      out.push_back({w.job_id, partition, j.catalog_complete});
    }
  }
  return out;
}

CatalogGate::Job& CatalogGate::JobEntry(const std::string& job) {
  auto [it, inserted] = jobs_.try_emplace(job);
  if (!inserted) return it->second;
  job_order_.push_back(job);
  while (job_order_.size() > 1000) {
    const std::string old = job_order_.front();
    if (old == job || Waits(old)) break;  // bounded by catalog_wait anyway
    jobs_.erase(old);
    job_order_.pop_front();
  }
  return it->second;
}

bool CatalogGate::Waits(const std::string& job) const {
  for (const auto& [p, q] : waiting_) {
    for (const auto& w : q) {
      if (w.job_id == job) return true;
    }
  }
  return false;
}

bool CatalogGate::Ready(const std::string& job, const OffsetTracker& offsets) const {
  if (job.empty()) return true;
  auto it = jobs_.find(job);
  if (it == jobs_.end() || !it->second.catalog_complete) return false;
  for (const auto& [tp, end] : it->second.inventory_ends) {
    if (end <= 0 || !offsets.Owns(tp)) continue;  // empty, or another member's now
    int64_t position = offsets.Next(tp).value_or(-1);
    if (auto c = it->second.inventory_committed.find(tp);
        c != it->second.inventory_committed.end()) {
      position = std::max(position, c->second);
    }
    if (position < end) return false;
  }
  return true;
}

}  // namespace apmcov::analyzer
