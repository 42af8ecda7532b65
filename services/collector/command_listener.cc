#include "command_listener.h"

#include <algorithm>
#include <set>
#include <utility>

#include "apmcov/base/status.h"
#include "apmcov/bus/dead_letter.h"
#include "app.h"
#include "internal.h"

namespace apmcov::collector {
namespace {

using internal::Log;

// The SyncRequest `m` holds, or why it holds none (the dead letter's reason).
absl::StatusOr<v1::SyncRequest> DecodeCommand(const bus::IncomingMessage& m) {
  std::string type;
  for (const auto& [k, v] : m.headers) {
    if (k == "type") type = v;
  }
  if (!type.empty() && type != "apmcov.v1.SyncRequest") {
    return absl::InvalidArgumentError("not a SyncRequest: type " + type);
  }
  v1::SyncRequest req;
  if (!req.ParseFromString(m.value)) {
    return absl::InvalidArgumentError("not a SyncRequest: the bytes do not parse");
  }
  return req;
}

}  // namespace

// ---- CommandCommits ----

void CommandCommits::Consumed(const bus::IncomingMessage& m) {
  int64_t& next = consumed_[{m.topic, m.partition}];
  next = std::max(next, m.offset + 1);
}

void CommandCommits::Request(const bus::IncomingMessage& m, std::string job_id) {
  Consumed(m);
  awaiting_.push_back({{m.topic, m.partition}, m.offset, std::move(job_id), std::nullopt, ""});
}

void CommandCommits::NotARequest(const bus::IncomingMessage& m, std::string reason) {
  Consumed(m);
  awaiting_.push_back({{m.topic, m.partition}, m.offset, "", m, std::move(reason)});
}

bool CommandCommits::DeadLetter(const DeadLetterFn& dead_letter) {
  bool any = false;
  for (Awaiting& a : awaiting_) {
    if (!a.bad) continue;
    if (!dead_letter(*a.bad, a.reason).ok()) continue;
    a.bad.reset();
    a.job_id.clear();
    any = true;
  }
  return any;
}

std::map<bus::TopicPartition, int64_t> CommandCommits::ToCommit(const RecordedFn& recorded) const {
  std::map<bus::TopicPartition, int64_t> commit = consumed_;
  for (const Awaiting& a : awaiting_) {
    const bool settled = !a.bad && (a.job_id.empty() || recorded(a.job_id));
    if (settled) continue;
    auto it = commit.find(a.tp);
    it->second = std::min(it->second, a.offset);  // never past an unsettled command
  }
  for (auto it = commit.begin(); it != commit.end();) {
    auto c = committed_.find(it->first);
    it = c != committed_.end() && c->second >= it->second ? commit.erase(it) : std::next(it);
  }
  return commit;
}

void CommandCommits::Committed(const std::map<bus::TopicPartition, int64_t>& offsets) {
  for (const auto& [tp, offset] : offsets) committed_[tp] = offset;
  while (!awaiting_.empty()) {
    const Awaiting& a = awaiting_.front();
    auto c = committed_.find(a.tp);
    if (c == committed_.end() || c->second <= a.offset) break;
    awaiting_.pop_front();
  }
}

void CommandCommits::Revoke(const std::vector<bus::TopicPartition>& tps) {
  const std::set<bus::TopicPartition> gone(tps.begin(), tps.end());
  std::erase_if(awaiting_, [&](const Awaiting& a) { return gone.contains(a.tp); });
  for (const auto& tp : tps) {
    consumed_.erase(tp);
    committed_.erase(tp);
  }
}

// ---- leadership ----

void App::OnCommandsAssigned(const std::vector<bus::TopicPartition>& tps) {
  bool lead = false;
  for (const auto& tp : tps) lead |= tp.topic == topics_.commands && tp.partition == 0;
  {
    std::lock_guard lock(mu_);
    if (lead && !leader_) {
      Log().Info("leading: this collector owns partition 0 of the commands topic",
                 {{"topic", topics_.commands}});
    }
    leader_ = lead;
    ports_.metrics.SetLeader(lead);
    ports_.metrics.SetStandby(!lead);
  }
  cv_.notify_all();
}

void App::OnCommandsRevoked(const std::vector<bus::TopicPartition>& tps) {
  bool lost = false;
  for (const auto& tp : tps) lost |= tp.topic == topics_.commands && tp.partition == 0;
  ports_.metrics.SetStandby(false);  // rejoining: neither role is settled until assigned
  if (!lost) return;
  {
    std::lock_guard lock(mu_);
    if (!leader_) return;
    // Until the next assignment says otherwise another collector may lead: a running sync
    // stops at its next page (publishing what it read), and requests not started yet are
    // left to the next leader, which reads them again from the uncommitted offsets.
    leader_ = false;
    checkpoint_current_ = false;
    sync_at_lead_ = sync_at_lead_ || running_sync_;  // a sync cut short runs again
    checkpoint_status_ = absl::OkStatus();
    for (const v1::SyncRequest& r : pending_) awaited_jobs_.erase(r.job_id());
    pending_.clear();
    request_parents_.clear();
    ports_.metrics.SetLeader(false);
    Log().Info("leadership released in a rebalance: standing by until reassigned",
               {{"topic", topics_.commands}});
  }
  cv_.notify_all();
}

// ---- the loop ----

void App::CommandLoop() {
  CommandCommits commits;
  bool subscribed = false;
  if (ports_.commands != nullptr) {
    // The listener runs inside Poll() and Close(), on this thread.
    bus::RebalanceListener listener;
    listener.on_assigned = [this](const std::vector<bus::TopicPartition>& tps) {
      OnCommandsAssigned(tps);
    };
    listener.on_revoked = [&, this](const std::vector<bus::TopicPartition>& tps) {
      commits.Revoke(tps);
      OnCommandsRevoked(tps);
    };
    absl::Status s = ports_.commands->Subscribe({topics_.commands}, std::move(listener));
    if (!s.ok()) {
      Log().Error("cannot subscribe to the commands topic", {{"error", StdView(s.message())}});
    }
    subscribed = s.ok();
  }
  auto last_probe = std::chrono::steady_clock::now() - std::chrono::hours(1);
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    if (std::chrono::steady_clock::now() - last_probe > std::chrono::seconds(10)) {
      (void)ProbeKafka();
      last_probe = std::chrono::steady_clock::now();
    }
    if (!subscribed) {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(500));
      continue;
    }
    absl::StatusOr<std::vector<bus::IncomingMessage>> batch =
        ports_.commands->Poll(100, std::chrono::milliseconds(500));
    if (!batch.ok()) {
      Log().Warn("reading commands failed", {{"error", StdView(batch.status().message())}});
      continue;
    }
    for (const bus::IncomingMessage& m : *batch) {
      if (absl::StatusOr<v1::SyncRequest> req = DecodeCommand(m); req.ok()) {
        std::optional<tracing::SpanContext> parent;
        if (tracer().enabled()) parent = tracing::Extract(tracing::ReadFrom(m.headers));
        commits.Request(m, Request(*req, parent));
      } else {
        commits.NotARequest(m, std::string(req.status().message()));
      }
    }
    // Dead letters first (flushed below with the job states), then what is settled.
    const bool dead_lettered =
        commits.DeadLetter([this](const bus::IncomingMessage& m, const std::string& reason) {
          absl::Status s = DeadLetterCommand(m, reason);
          if (!s.ok()) {
            Log().Warn("cannot dead-letter a command; retrying",
                       {{"offset", m.offset}, {"error", StdView(s.message())}});
          }
          return s;
        });
    const std::map<bus::TopicPartition, int64_t> commit =
        commits.ToCommit([this](const std::string& job_id) { return JobRecorded(job_id); });
    // Nothing to commit (an earlier request still waits for its sync): dead letters of this
    // round are still flushed now, not whenever that sync starts.
    if (commit.empty() && !dead_lettered) continue;
    // The job states and dead letters a commit relies on must be durable first. A sync that
    // keeps publishing can make this wait time out: the commit is then tried next round.
    if (absl::Status s = ports_.publisher.Flush(std::chrono::seconds(2)); !s.ok()) {
      Log().Warn("command offsets wait for the producer's flush",
                 {{"error", StdView(s.message())}});
      continue;
    }
    if (commit.empty()) continue;
    if (absl::Status s = ports_.commands->Commit(commit); !s.ok()) {
      Log().Warn("cannot commit command offsets", {{"error", StdView(s.message())}});
      continue;
    }
    commits.Committed(commit);
  }
  if (ports_.commands != nullptr) ports_.commands->Close();
}

absl::Status App::DeadLetterCommand(const bus::IncomingMessage& m, const std::string& reason) {
  const v1::DeadLetter dl =
      bus::MakeDeadLetter(m, reason, "apmcov-collector", ports_.clock.NowUnixNanos());
  Log().Warn("command sent to the dead-letter topic",
             {{"topic", m.topic}, {"offset", m.offset}, {"error", reason}});
  return Publish(topics_.dlq, m.key, dl);
}

}  // namespace apmcov::collector
