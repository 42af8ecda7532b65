// The admin HTTP server every service runs on ADMIN_PORT: /metrics (Prometheus text format of
// the service's registry), /healthz (alive) and /readyz (every named readiness check passes;
// 503 naming the failing check otherwise). Pistache stays private to the .cc file.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace prometheus {
class Registry;
}

namespace apmcov::telemetry {

// A readiness check: OK when the dependency it names is reachable. Called from the admin
// server's thread; must be quick (cache the last result if the probe is slow).
struct ReadinessCheck {
  std::string name;  // "kafka", "postgres", ...
  std::function<absl::Status()> check;
};

class AdminServer {
 public:
  // `registry` must outlive the server. port 0 picks a free port (see port()).
  AdminServer(std::shared_ptr<prometheus::Registry> registry, std::string bind_address,
              uint16_t port);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void AddReadinessCheck(ReadinessCheck check);
  absl::Status Start();
  void Stop();
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apmcov::telemetry
