// Test and benchmark support (target apmcov::base_testing; not for services): one child
// process, started by fork + exec and stopped by its PID. The one place tests and benchmarks
// fork: KafkaDevProcess and DdsimProcess are built on it.
//
// Contract: Start() execs options.argv[0] with options.argv, in the parent's environment with
// options.env set over it (NAME=value). Its stdout is inherited, discarded, or a pipe the
// parent reads with ReadLine() (kept open while the child runs, so the child never writes to
// a closed pipe). The child asks for SIGTERM when the thread that started it exits
// (PR_SET_PDEATHSIG), so a crashed test leaves nothing behind: start it from a thread that
// lives as long as the child should (the main thread). The destructor stops exactly that
// child, SIGTERM then SIGKILL after stop_timeout, and reaps it. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace apmcov::testing {

class ChildProcess {
 public:
  enum class Output { kInherit, kDiscard, kPipe };
  struct Options {
    std::vector<std::string> argv;  // argv[0]: the binary's path
    std::vector<std::string> env;   // NAME=value, set or replaced in the child's environment
    Output stdout_to = Output::kInherit;
    std::chrono::milliseconds stop_timeout{5000};
  };

  // FailedPrecondition when argv[0] is not executable; Internal when fork or pipe fails.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(Options options);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The next line the child wrote to its stdout (Output::kPipe), without the newline; it
  // blocks until one comes. NotFound when the child closed its stdout (or exited) first.
  absl::StatusOr<std::string> ReadLine();
  // The child's wait status once it has exited (it is reaped then); nullopt while it runs.
  // Never blocks.
  std::optional<int> Exited();

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::chrono::milliseconds stop_timeout_{5000};
  FILE* stdout_ = nullptr;
};

}  // namespace apmcov::testing
