// Command listener (design §3): the collector's member of the group `<prefix>collector` on the
// `commands` topic, which is both how sync requests arrive (the gateway writes them) and the
// leader election: the member that owns partition 0 of `commands` leads and syncs, the others
// stand by. App::CommandLoop (command_listener.cc) polls it on its own thread, hands each
// SyncRequest to App::Request, dead-letters what is not one, probes Kafka for readiness every
// 10 s, and commits by the rules below; App::OnCommandsAssigned/Revoked, run by the bus inside
// a poll, move leadership.
//
// CommandCommits is the commit rule, pure: a SyncRequest's offset is committed only once a
// sync recorded its job (published it past queued, flushed), so a crash before that replays
// the request; a message that is not a SyncRequest is committed once its dead letter is
// published; a partition's commit never passes a command not settled. Not thread-safe (the
// listener's thread only).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "apmcov/bus/bus.h"

namespace apmcov::collector {

class CommandCommits {
 public:
  using DeadLetterFn = std::function<absl::Status(const bus::IncomingMessage&, const std::string&)>;
  using RecordedFn = std::function<bool(const std::string& job_id)>;

  // A SyncRequest consumed, taken up as job `job_id`.
  void Request(const bus::IncomingMessage& message, std::string job_id);
  // A message consumed that is not a SyncRequest: it goes to the dead-letter topic for `reason`.
  void NotARequest(const bus::IncomingMessage& message, std::string reason);
  // Dead-letters each command that still needs it through `dead_letter`; one it fails for is
  // tried again at the next call. True when any was dead-lettered (publishers flush before a
  // commit: the caller flushes then even when nothing can be committed yet).
  bool DeadLetter(const DeadLetterFn& dead_letter);
  // The offsets that may be committed now: per partition the offset after the last command
  // consumed, but never past one not settled (a request whose job `recorded` does not know
  // yet, or a dead letter not sent); partitions already committed there are left out.
  std::map<bus::TopicPartition, int64_t> ToCommit(const RecordedFn& recorded) const;
  // The bus accepted the commit of `offsets`: the commands below them are done.
  void Committed(const std::map<bus::TopicPartition, int64_t>& offsets);
  // The partitions are another member's now: what was consumed of them is forgotten.
  void Revoke(const std::vector<bus::TopicPartition>& tps);

 private:
  // A consumed command whose offset cannot be committed yet.
  struct Awaiting {
    bus::TopicPartition tp;
    int64_t offset = 0;
    std::string job_id;                       // a request
    std::optional<bus::IncomingMessage> bad;  // not a request: to dead-letter
    std::string reason;
  };
  void Consumed(const bus::IncomingMessage& message);

  std::deque<Awaiting> awaiting_;
  std::map<bus::TopicPartition, int64_t> consumed_;  // next offset after the last consumed
  std::map<bus::TopicPartition, int64_t> committed_;
};

}  // namespace apmcov::collector
