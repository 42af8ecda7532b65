// The control port of kafka-dev: a line protocol on 127.0.0.1 so tests and scripts can inject
// faults (`echo "broker-down 2" | nc 127.0.0.1 PORT`). One command per line, one reply line
// per command: "ok[ <text>]" or "error <message>".
//
//   status                                   ok brokers=3 up=1,2 down=3 topics=a:6,b:6
//   bootstrap                                ok 127.0.0.1:p1,127.0.0.1:p2,...
//   broker-down <id> / broker-up <id>        ok
//   create-topic <name> <partitions>         ok
//   set-leader <topic> <partition> <broker>  ok
//   help                                     ok <the command list>
//
// Contract: Start() binds before it returns (port 0 = kernel's choice, see port()); Stop()
// (or the destructor) closes every connection and joins the thread. Many clients may be
// connected at once; commands run one at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "mock_cluster.h"

namespace apmcov::kafkadev {

// Runs one command line against `cluster` and returns the reply line (no newline).
std::string ExecuteControlCommand(MockCluster& cluster, std::string_view line);

class ControlServer {
 public:
  explicit ControlServer(MockCluster& cluster) : cluster_(cluster) {}
  ~ControlServer() { Stop(); }
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  absl::Status Start(uint16_t port);
  void Stop();
  uint16_t port() const { return port_; }

 private:
  void Run();

  MockCluster& cluster_;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace apmcov::kafkadev
