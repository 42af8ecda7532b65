// ddsim's HTTP server: Pistache in front of DdsimApi. Binds address:port (port 0 picks a
// free one; port() tells which), serves every path through DdsimApi::Handle on `threads`
// worker threads, honours the response's injected delay and dropped-connection faults.
// Start() once, Stop() once (also done by the destructor). The api must outlive the server.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "ddsim/http/api.h"

namespace apmcov::ddsim {

class DdsimServer {
 public:
  DdsimServer(DdsimApi& api, std::string address, uint16_t port, int threads);
  ~DdsimServer();
  DdsimServer(const DdsimServer&) = delete;
  DdsimServer& operator=(const DdsimServer&) = delete;

  // Binds and starts serving in background threads. Unavailable when the port is taken.
  absl::Status Start();
  void Stop();
  uint16_t port() const { return port_; }

 private:
  struct Impl;
  DdsimApi& api_;
  std::string address_;
  uint16_t port_;
  int threads_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apmcov::ddsim
