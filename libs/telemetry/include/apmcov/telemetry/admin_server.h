// The admin HTTP server every service runs on ADMIN_PORT: /metrics (Prometheus text format of
// the service's registry), /healthz (alive) and /readyz (every named readiness check passes;
// 503 naming the failing check otherwise). Pistache stays private to the .cc file.
//
//   auto registry = std::make_shared<prometheus::Registry>();
//   telemetry::AdminServer admin(registry, "0.0.0.0", cfg.admin_port);
//   admin.EnableProcessMetrics("apmcov-analyzer", version);
//   admin.AddReadinessCheck({"postgres", [&] { return store.Ping(); }});
//   APMCOV_RETURN_IF_ERROR(admin.Start());
//   ...
//   admin.Stop();
//
// Routes (GET only; other methods on these paths answer 405, unknown paths 404):
//   /metrics  200, `text/plain; version=0.0.4`, after running every scrape hook.
//   /healthz  200 `ok` while the server runs.
//   /readyz   200 `ready`, or 503 `not ready: <check>: <message>[; <check>: <message>...]`
//             naming every failing check.
//
// Thread safety: AddReadinessCheck, AddScrapeHook and EnableProcessMetrics may be called at
// any time, from any thread; checks and hooks run on the server's single request thread.
// Start() once; Stop() is idempotent and fast (well under a second), and the destructor calls
// it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace prometheus {
class Registry;
}

namespace apmcov::telemetry {

// A readiness check: OK when the dependency it names is reachable. Called from the admin
// server's thread; must be quick (cache the last result if the probe is slow). An exception
// thrown by a check counts as a failure with the exception's message.
struct ReadinessCheck {
  std::string name;  // "kafka", "postgres", ...
  std::function<absl::Status()> check;
};

class AdminServer {
 public:
  // `registry` is shared with the caller, who registers the service's metrics in it.
  // `bind_address` is an IPv4 or IPv6 literal or a host name ("0.0.0.0", "127.0.0.1").
  // port 0 picks a free port (see port()).
  AdminServer(std::shared_ptr<prometheus::Registry> registry, std::string bind_address,
              uint16_t port);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void AddReadinessCheck(ReadinessCheck check);

  // Runs before every /metrics serialisation, on the server thread: refresh gauges that are
  // computed on demand (consumer lag, resident memory). Must be quick and must not throw.
  void AddScrapeHook(std::function<void()> hook);
  // Runs the scrape hooks now (thread-safe): what a push exporter (DogStatsD) calls before it
  // collects, so on-demand gauges are fresh there too and not only when /metrics is scraped.
  void RunScrapeHooks();

  // Registers the standard process metrics (see process_metrics.h) in the registry and
  // refreshes them on each scrape. Call at most once.
  void EnableProcessMetrics(std::string_view service, std::string_view version);

  // Binds and starts serving on a background thread. InvalidArgument for a bad address,
  // Unavailable when the port cannot be bound, FailedPrecondition when already started.
  absl::Status Start();
  // Stops serving and joins the thread. Idempotent; safe before Start().
  void Stop();
  // The bound port once Start() succeeded (the real one when constructed with 0), else the
  // requested port.
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apmcov::telemetry
