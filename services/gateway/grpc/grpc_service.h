// CoverageGrpcService: apmcov.v1.CoverageService (protos/apmcov/v1/coverage_service.proto), a
// thin adapter over the same QueryService and SyncTrigger as the REST API, so both answer the
// same. absl status codes map 1:1 onto gRPC codes (INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE,
// ...). A call whose deadline has already passed answers DEADLINE_EXCEEDED without touching the
// store. Every string field of a request is checked like a REST parameter (UTF-8, no NUL,
// bounded; INVALID_ARGUMENT naming the field). A server fault (INTERNAL, UNAVAILABLE, ...)
// answers "internal error; request id <id>" (also in the x-request-id trailer) and logs the
// detail with that id. TriggerSync requires `authorization: Bearer <token>` metadata when a
// token is configured (UNAUTHENTICATED otherwise, constant-time comparison) and shares the REST
// sync rate limit (RESOURCE_EXHAUSTED beyond it). WatchSyncJobs polls sync_jobs every
// `watch_interval` and streams each job whose row changed (first the current state) until the
// client cancels, the server stops, nothing changed for `watch_idle` or the stream is
// `watch_max_duration` old (then it ends OK; a client watches again if it still cares); at
// most `max_watch_streams` run at once (RESOURCE_EXHAUSTED beyond).
//
// Traced (design §12): every call is a server span `grpc.server` (resource
// "apmcov.v1.CoverageService/<Method>", rpc.service, grpc.status.code), child of the caller's
// Datadog or W3C context read from the request metadata, active while the method runs.
//
// GrpcServer owns the grpc::Server: server reflection is on (grpcurl works); request size,
// concurrent streams per connection, keepalive and idle connections are bounded by
// GrpcServerOptions. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "apmcov/tracing/tracer.h"
#include "apmcov/v1/coverage_service.grpc.pb.h"
#include "metrics.h"
#include "query/query_service.h"
#include "rest/token_bucket.h"
#include "sync_trigger.h"

namespace grpc {
class Server;
}

namespace apmcov::gateway {

struct GrpcServiceOptions {
  std::string api_token;  // GATEWAY_API_TOKEN; empty = TriggerSync unguarded
  std::chrono::milliseconds watch_interval{500};
  int max_watch_streams = 16;                               // GRPC_MAX_WATCH_STREAMS
  std::chrono::milliseconds watch_idle{600'000};            // GRPC_WATCH_IDLE_SECONDS
  std::chrono::milliseconds watch_max_duration{3'600'000};  // GRPC_WATCH_MAX_SECONDS
  TokenBucket* sync_limit = nullptr;  // shared with REST; null = unlimited. Not owned.
  tracing::Tracer* tracer = nullptr;  // null: not traced. Not owned.
};

class CoverageGrpcService final : public v1::CoverageService::Service {
 public:
  CoverageGrpcService(QueryService& queries, SyncTrigger& sync, GatewayMetrics& metrics,
                      GrpcServiceOptions options = {});
  void Stop() { stopping_ = true; }
  // WatchSyncJobs streams running now.
  int open_watches() const { return open_watches_.load(); }

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
  grpc::Status ListRecommendations(grpc::ServerContext*, const v1::ListRecommendationsRequest*,
                                   v1::ListRecommendationsResponse*) override;
  grpc::Status GetServiceMap(grpc::ServerContext*, const v1::GetServiceMapRequest*,
                             v1::ServiceMap*) override;

 private:
  template <class F>
  grpc::Status Run(const char* method, grpc::ServerContext* ctx,
                   const google::protobuf::Message& request, F&& body);

  QueryService& queries_;
  SyncTrigger& sync_;
  GatewayMetrics& metrics_;
  GrpcServiceOptions options_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_watches_{0};
};

struct GrpcServerOptions {
  int max_receive_bytes = 1 << 20;                   // GRPC_MAX_RECEIVE_BYTES
  int max_concurrent_streams = 32;                   // GRPC_MAX_CONCURRENT_STREAMS, per connection
  std::chrono::milliseconds keepalive_time{60'000};  // GRPC_KEEPALIVE_SECONDS: server pings
  std::chrono::milliseconds keepalive_timeout{20'000};  // a ping unanswered this long: closed
  std::chrono::milliseconds min_client_ping_interval{30'000};  // more often: GOAWAY
  std::chrono::milliseconds max_connection_idle{900'000};      // GRPC_MAX_CONNECTION_IDLE_SECONDS
};

class GrpcServer {
 public:
  explicit GrpcServer(CoverageGrpcService& service, GrpcServerOptions options = {});
  ~GrpcServer();
  // Binds `address:port` (port 0 picks one). Unavailable when it cannot bind.
  absl::Status Start(const std::string& address, uint16_t port);
  void Stop();
  uint16_t port() const { return port_; }

 private:
  CoverageGrpcService& service_;
  GrpcServerOptions options_;
  std::unique_ptr<grpc::Server> server_;
  uint16_t port_ = 0;
};

}  // namespace apmcov::gateway
