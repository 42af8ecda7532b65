// Test and benchmark support (target apmcov::datadog_testing; not for services): runs
// apmcov-ddsim, the simulated Datadog API (services/ddsim), as a child process.
//
// Contract: Start() runs the binary with `args` (e.g. {"serve", "--http-port=0", ...}; port 0
// so that runs never collide) and returns once ddsim printed the port it serves HTTP on
// (its first stdout line, {"ddsim_port":N}). The destructor stops exactly that child by PID
// (SIGTERM, then SIGKILL after 5 s); it also gets SIGTERM when the thread that started it exits
// (apmcov::testing::ChildProcess), so start it from a thread that lives as long as you need it
// (the main thread). Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "apmcov/base/testing/child_process.h"

namespace apmcov::datadog::testing {

class DdsimProcess {
 public:
  // `binary` empty = DefaultBinary(). FailedPrecondition when it cannot be found or run;
  // Internal when it stops before naming its port.
  static absl::StatusOr<std::unique_ptr<DdsimProcess>> Start(const std::vector<std::string>& args,
                                                             std::string binary = "");

  int port() const { return port_; }
  // http://127.0.0.1:<port>, the base URL of its API.
  std::string url() const;
  pid_t pid() const { return child_->pid(); }

  // $APMCOV_BINARY_DIR/services/ddsim/apmcov-ddsim (ctest sets APMCOV_BINARY_DIR); empty when
  // the variable is unset.
  static std::string DefaultBinary();

 private:
  DdsimProcess() = default;
  std::unique_ptr<apmcov::testing::ChildProcess> child_;
  int port_ = 0;
};

}  // namespace apmcov::datadog::testing
