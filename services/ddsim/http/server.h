// ddsim's HTTP/1.1 server: libmicrohttpd in front of DdsimApi. Binds address:port (IPv4;
// port 0 picks a free one, port() tells which), serves every path through DdsimApi::Handle
// with one thread per connection (at most `max_connections`, keep-alive), sends each body
// without copying it, and honours the response's injected delay and dropped-connection
// faults. Why libmicrohttpd and not Pistache here: docs/decisions.md ("ddsim's HTTP server").
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
  DdsimServer(DdsimApi& api, std::string address, uint16_t port, unsigned max_connections = 128);
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
  unsigned max_connections_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apmcov::ddsim
