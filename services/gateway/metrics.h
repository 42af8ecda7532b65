// The gateway's request metrics (prometheus-cpp), registered in the service's registry:
//   apmcov_http_requests_total{route,method,status}
//   apmcov_http_request_duration_seconds{route,method} (histogram)
//   apmcov_grpc_requests_total{method,code}
//   apmcov_grpc_request_duration_seconds{method} (histogram)
// `route` is the route template ("/api/services/{name}"), never the raw path, so label
// cardinality stays bounded. Thread-safe.
#pragma once

#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace apmcov::gateway {

class GatewayMetrics {
 public:
  explicit GatewayMetrics(prometheus::Registry& registry);
  ~GatewayMetrics();
  void ObserveHttp(const std::string& route, const std::string& method, int status, double seconds);
  void ObserveGrpc(const std::string& method, const std::string& code, double seconds);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apmcov::gateway
