// ChildProcess against /bin/sh: what the child sees, what the parent reads, and that the
// destructor leaves no process behind. Real processes, so label integration.
#include "apmcov/base/testing/child_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <thread>

namespace apmcov::testing {
namespace {

using Output = ChildProcess::Output;

TEST(ChildProcessTest, TheChildSeesItsArgumentsAndTheEnvironmentSetOverTheParents) {
  ::setenv("APMCOV_CHILD_A", "parent", 1);
  ::setenv("APMCOV_CHILD_B", "parent", 1);
  auto child = ChildProcess::Start(
      {.argv = {"/bin/sh", "-c", "echo \"$0 $APMCOV_CHILD_A $APMCOV_CHILD_B\"", "first"},
       .env = {"APMCOV_CHILD_B=child"},
       .stdout_to = Output::kPipe});
  ASSERT_TRUE(child.ok()) << child.status();
  absl::StatusOr<std::string> line = (*child)->ReadLine();
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, "first parent child");
  EXPECT_EQ((*child)->ReadLine().status().code(), absl::StatusCode::kNotFound);
}

TEST(ChildProcessTest, TheDestructorStopsTheChildByItsPid) {
  pid_t pid = -1;
  {
    auto child = ChildProcess::Start(
        {.argv = {"/bin/sh", "-c", "echo up; exec sleep 60"}, .stdout_to = Output::kPipe});
    ASSERT_TRUE(child.ok()) << child.status();
    ASSERT_EQ((*child)->ReadLine().value_or(""), "up");
    pid = (*child)->pid();
    EXPECT_FALSE((*child)->Exited().has_value());
  }
  EXPECT_EQ(::kill(pid, 0), -1) << "pid " << pid << " still exists";
}

TEST(ChildProcessTest, AnExitIsSeenWithItsStatus) {
  auto child = ChildProcess::Start({.argv = {"/bin/sh", "-c", "exit 3"}});
  ASSERT_TRUE(child.ok()) << child.status();
  std::optional<int> status;
  for (int i = 0; i < 500 && !status; ++i) {
    status = (*child)->Exited();
    if (!status) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);
  EXPECT_EQ(ChildProcess::Start({.argv = {"/nonexistent/binary"}}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace apmcov::testing
