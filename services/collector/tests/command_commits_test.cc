// The collector's commit rule for the commands topic on its own: what may be committed with
// requests waiting for their sync and messages waiting for their dead letter.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "command_listener.h"

namespace apmcov::collector {
namespace {

using ::testing::IsEmpty;
using Offsets = std::map<bus::TopicPartition, int64_t>;

const bus::TopicPartition kCommands{"apmcov.commands", 0};

bus::IncomingMessage Command(int64_t offset, int32_t partition = 0) {
  bus::IncomingMessage m;
  m.topic = kCommands.topic;
  m.partition = partition;
  m.offset = offset;
  return m;
}

struct Jobs {
  std::set<std::string> recorded;
  CommandCommits::RecordedFn Fn() const {
    return [this](const std::string& id) { return recorded.contains(id); };
  }
};

absl::Status Sent(const bus::IncomingMessage&, const std::string&) { return absl::OkStatus(); }

TEST(CommandCommitsTest, ARequestIsCommittedOnlyOnceItsJobIsRecorded) {
  CommandCommits commits;
  Jobs jobs;
  commits.Request(Command(0), "job-a");
  commits.Request(Command(1), "job-b");
  // Never past a request whose job is not recorded yet: a crash now replays both.
  EXPECT_EQ(commits.ToCommit(jobs.Fn()), (Offsets{{kCommands, 0}}));
  jobs.recorded.insert("job-a");
  EXPECT_EQ(commits.ToCommit(jobs.Fn()), (Offsets{{kCommands, 1}}));  // not past job-b's
  jobs.recorded.insert("job-b");
  const Offsets all = commits.ToCommit(jobs.Fn());
  EXPECT_EQ(all, (Offsets{{kCommands, 2}}));
  commits.Committed(all);
  EXPECT_THAT(commits.ToCommit(jobs.Fn()), IsEmpty()) << "committed already";
}

TEST(CommandCommitsTest, AMessageThatIsNotARequestIsCommittedOnceDeadLettered) {
  CommandCommits commits;
  Jobs jobs;
  commits.NotARequest(Command(0), "not a SyncRequest: type apmcov.v1.Nope");
  EXPECT_EQ(commits.ToCommit(jobs.Fn()), (Offsets{{kCommands, 0}}));
  std::vector<std::pair<int64_t, std::string>> tried;
  auto failing = [&](const bus::IncomingMessage& m, const std::string& reason) {
    tried.emplace_back(m.offset, reason);
    return absl::UnavailableError("dlq down");
  };
  EXPECT_FALSE(commits.DeadLetter(failing));
  EXPECT_EQ(commits.ToCommit(jobs.Fn()), (Offsets{{kCommands, 0}}))
      << "committed before its dead letter";
  EXPECT_TRUE(commits.DeadLetter(Sent));
  EXPECT_EQ(commits.ToCommit(jobs.Fn()), (Offsets{{kCommands, 1}}));
  EXPECT_FALSE(commits.DeadLetter(Sent)) << "dead-lettered twice";
  ASSERT_EQ(tried.size(), 1u);
  EXPECT_EQ(tried[0],
            (std::pair<int64_t, std::string>{0, "not a SyncRequest: type apmcov.v1.Nope"}));
}

TEST(CommandCommitsTest, ARevokedPartitionIsForgotten) {
  CommandCommits commits;
  Jobs jobs;
  const bus::TopicPartition other{kCommands.topic, 1};
  commits.Request(Command(4), "job-a");
  commits.Request(Command(7, 1), "job-b");
  jobs.recorded = {"job-b"};
  EXPECT_EQ(commits.ToCommit(jobs.Fn()), (Offsets{{kCommands, 4}, {other, 8}}));
  commits.Revoke({kCommands});
  EXPECT_EQ(commits.ToCommit(jobs.Fn()), (Offsets{{other, 8}}));
}

TEST(CommandCommitsTest, CommittedCommandsAreDropped) {
  CommandCommits commits;
  Jobs jobs{{"job-a"}};
  commits.Request(Command(0), "job-a");
  commits.Committed(commits.ToCommit(jobs.Fn()));
  jobs.recorded.clear();  // a job forgotten after its commit changes nothing
  EXPECT_THAT(commits.ToCommit(jobs.Fn()), IsEmpty());
  commits.Request(Command(1), "job-b");
  EXPECT_THAT(commits.ToCommit(jobs.Fn()), IsEmpty());
  jobs.recorded.insert("job-b");
  EXPECT_EQ(commits.ToCommit(jobs.Fn()), (Offsets{{kCommands, 2}}));
}

}  // namespace
}  // namespace apmcov::collector
