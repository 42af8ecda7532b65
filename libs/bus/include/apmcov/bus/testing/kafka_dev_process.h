// Test and benchmark support: runs apmcov-kafka-dev as a child process (target
// apmcov::bus_testing; not for services).
//
// Contract: Start() returns once the child has written its bootstrap list and control port;
// the destructor stops exactly that child by PID (SIGTERM, then SIGKILL after 5 s) and removes
// its temporary directory. The child also gets SIGTERM when the thread that started it exits
// (PR_SET_PDEATHSIG, apmcov::testing::ChildProcess), so a crashed test leaves nothing behind:
// start it from a thread that lives as long as you need the cluster (the main thread). Not
// thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/base/testing/child_process.h"

namespace apmcov::bus::testing {

class KafkaDevProcess {
 public:
  // `binary` empty = DefaultBinary(). `args` are extra flags (e.g. {"--brokers", "1"}).
  static absl::StatusOr<std::unique_ptr<KafkaDevProcess>> Start(
      std::string binary = "", const std::vector<std::string>& args = {});
  ~KafkaDevProcess();
  KafkaDevProcess(const KafkaDevProcess&) = delete;
  KafkaDevProcess& operator=(const KafkaDevProcess&) = delete;

  const std::string& bootstraps() const { return bootstraps_; }
  const std::string& control_address() const { return control_; }
  pid_t pid() const;

  // $APMCOV_BINARY_DIR/services/kafka-dev/apmcov-kafka-dev (ctest sets APMCOV_BINARY_DIR);
  // empty when the variable is unset.
  static std::string DefaultBinary();

 private:
  KafkaDevProcess() = default;
  std::unique_ptr<apmcov::testing::ChildProcess> child_;
  std::string dir_;
  std::string bootstraps_;
  std::string control_;
};

// Sends one line to a kafka-dev control port ("127.0.0.1:port") and returns the reply line
// ("ok ..." or "error ..."). Unavailable when it cannot connect.
absl::StatusOr<std::string> KafkaDevControl(const std::string& address, const std::string& command);

}  // namespace apmcov::bus::testing
