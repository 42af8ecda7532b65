// CoverageGrpcService: apmcov.v1.CoverageService (protos/apmcov/v1/coverage_service.proto), a
// thin adapter over the same QueryService and SyncTrigger as the REST API, so both answer the
// same. absl status codes map 1:1 onto gRPC codes (INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE,
// ...). A call whose deadline has already passed answers DEADLINE_EXCEEDED without touching the
// store. WatchSyncJobs polls sync_jobs every `watch_interval` and streams each job whose row
// changed (first the current state) until the client cancels or the server stops.
//
// GrpcServer owns the grpc::Server: server reflection is on (grpcurl works). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "apmcov/v1/coverage_service.grpc.pb.h"
#include "metrics.h"
#include "query/query_service.h"
#include "sync_trigger.h"

namespace grpc {
class Server;
}

namespace apmcov::gateway {

class CoverageGrpcService final : public v1::CoverageService::Service {
 public:
  CoverageGrpcService(QueryService& queries, SyncTrigger& sync, GatewayMetrics& metrics,
                      std::chrono::milliseconds watch_interval = std::chrono::milliseconds(500));
  void Stop() { stopping_ = true; }

  grpc::Status GetStats(grpc::ServerContext*, const v1::GetStatsRequest*, v1::Stats*) override;
  grpc::Status ListServices(grpc::ServerContext*, const v1::ListServicesRequest*,
                            v1::ListServicesResponse*) override;
  grpc::Status GetService(grpc::ServerContext*, const v1::GetServiceRequest*,
                          v1::ServiceDetail*) override;
  grpc::Status GetCoverage(grpc::ServerContext*, const v1::GetCoverageRequest*,
                           v1::CoverageResponse*) override;
  grpc::Status GetCoverageHistory(grpc::ServerContext*, const v1::GetCoverageHistoryRequest*,
                                  v1::CoverageHistoryResponse*) override;
  grpc::Status ListTraces(grpc::ServerContext*, const v1::ListTracesRequest*,
                          v1::ListTracesResponse*) override;
  grpc::Status GetTrace(grpc::ServerContext*, const v1::GetTraceRequest*,
                        v1::TraceDetail*) override;
  grpc::Status ListDependencies(grpc::ServerContext*, const v1::ListDependenciesRequest*,
                                v1::ListDependenciesResponse*) override;
  grpc::Status ListShadowServices(grpc::ServerContext*, const v1::ListShadowServicesRequest*,
                                  v1::ListShadowServicesResponse*) override;
  grpc::Status ListSyncJobs(grpc::ServerContext*, const v1::ListSyncJobsRequest*,
                            v1::ListSyncJobsResponse*) override;
  grpc::Status TriggerSync(grpc::ServerContext*, const v1::TriggerSyncRequest*,
                           v1::TriggerSyncResponse*) override;
  grpc::Status WatchSyncJobs(grpc::ServerContext*, const v1::WatchSyncJobsRequest*,
                             grpc::ServerWriter<v1::SyncJobView>*) override;

 private:
  template <class F>
  grpc::Status Run(const char* method, grpc::ServerContext* ctx, F&& body);

  QueryService& queries_;
  SyncTrigger& sync_;
  GatewayMetrics& metrics_;
  std::chrono::milliseconds watch_interval_;
  std::atomic<bool> stopping_{false};
};

class GrpcServer {
 public:
  explicit GrpcServer(CoverageGrpcService& service);
  ~GrpcServer();
  // Binds `address:port` (port 0 picks one). Unavailable when it cannot bind.
  absl::Status Start(const std::string& address, uint16_t port);
  void Stop();
  uint16_t port() const { return port_; }

 private:
  CoverageGrpcService& service_;
  std::unique_ptr<grpc::Server> server_;
  uint16_t port_ = 0;
};

}  // namespace apmcov::gateway
