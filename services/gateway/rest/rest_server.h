// RestServer: serves RestApi over HTTP with Pistache 0.0.5 (Pistache stays in the .cc file).
// Adds the security headers to every response (Content-Security-Policy without inline scripts,
// X-Content-Type-Options: nosniff, Referrer-Policy, X-Frame-Options), enforces the request
// size and header/body time limits, and records apmcov_http_* metrics per route template.
// Traced (design §12): one server span `http.request` per request (resource "METHOD route"),
// child of the caller's Datadog or W3C context when its headers carry one, active while the
// API handles it (so a sync request's producer span and the log lines are inside it).
// Start() once, Stop() is idempotent (the destructor calls it).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "apmcov/tracing/tracer.h"
#include "metrics.h"
#include "rest/rest_api.h"

namespace apmcov::gateway {

struct RestServerOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 8080;  // 0 picks a free port
  int threads = 2;
  size_t max_request_bytes = 64 * 1024;
  std::chrono::milliseconds header_timeout{5000};
  std::chrono::milliseconds body_timeout{10000};
};

// The headers every response carries.
extern const char* const kContentSecurityPolicy;

class RestServer {
 public:
  RestServer(RestApi& api, GatewayMetrics& metrics, RestServerOptions options,
             tracing::Tracer& tracer = tracing::DisabledTracer());
  ~RestServer();
  RestServer(const RestServer&) = delete;
  RestServer& operator=(const RestServer&) = delete;

  // Unavailable when the port cannot be bound, InvalidArgument for a bad address.
  absl::Status Start();
  void Stop();
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apmcov::gateway
