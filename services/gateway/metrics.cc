#include "metrics.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace apmcov::gateway {

struct GatewayMetrics::Impl {
  prometheus::Family<prometheus::Counter>* http_requests;
  prometheus::Family<prometheus::Histogram>* http_duration;
  prometheus::Family<prometheus::Counter>* grpc_requests;
  prometheus::Family<prometheus::Histogram>* grpc_duration;
};

namespace {
const prometheus::Histogram::BucketBoundaries& Buckets() {
  static const prometheus::Histogram::BucketBoundaries b{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  return b;
}
}  // namespace

GatewayMetrics::GatewayMetrics(prometheus::Registry& registry) : impl_(std::make_unique<Impl>()) {
  impl_->http_requests = &prometheus::BuildCounter()
                              .Name("apmcov_http_requests_total")
                              .Help("HTTP requests by route template, method and status")
                              .Register(registry);
  impl_->http_duration = &prometheus::BuildHistogram()
                              .Name("apmcov_http_request_duration_seconds")
                              .Help("HTTP request latency by route template and method")
                              .Register(registry);
  impl_->grpc_requests = &prometheus::BuildCounter()
                              .Name("apmcov_grpc_requests_total")
                              .Help("gRPC requests by method and status code")
                              .Register(registry);
  impl_->grpc_duration = &prometheus::BuildHistogram()
                              .Name("apmcov_grpc_request_duration_seconds")
                              .Help("gRPC request latency by method")
                              .Register(registry);
}

GatewayMetrics::~GatewayMetrics() = default;

void GatewayMetrics::ObserveHttp(const std::string& route, const std::string& method, int status,
                                 double seconds) {
  impl_->http_requests
      ->Add({{"route", route}, {"method", method}, {"status", std::to_string(status)}})
      .Increment();
  impl_->http_duration->Add({{"route", route}, {"method", method}}, Buckets()).Observe(seconds);
}

void GatewayMetrics::ObserveGrpc(const std::string& method, const std::string& code,
                                 double seconds) {
  impl_->grpc_requests->Add({{"method", method}, {"code", code}}).Increment();
  impl_->grpc_duration->Add({{"method", method}}, Buckets()).Observe(seconds);
}

}  // namespace apmcov::gateway
