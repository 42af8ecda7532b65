// The gateway's gRPC API as `apmcov` uses it: blocking calls with a deadline, list calls
// walked over every page, the bearer token sent as `authorization` metadata when set. Any
// failure (unreachable, deadline, a gRPC error) comes back as a Status naming the call.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "apmcov/v1/coverage_service.grpc.pb.h"

namespace apmcov::cli {

class GatewayClient {
 public:
  GatewayClient(const std::string& target, std::string token, std::chrono::milliseconds timeout);

  absl::StatusOr<v1::Stats> GetStats();
  // Every service matching the filters (deprecated ones left out), over all pages.
  absl::StatusOr<std::vector<v1::ServiceSummary>> ListAllServices(const std::string& team,
                                                                  const std::string& env,
                                                                  const std::string& apm);
  absl::StatusOr<v1::CoverageHistoryResponse> GetCoverageHistory(const std::string& by,
                                                                 const std::string& since);
  absl::StatusOr<std::string> TriggerSync();
  // Follows job `id` until it is succeeded, partial or failed (or `timeout` passes: then
  // DeadlineExceeded); `on_update` sees each state.
  absl::StatusOr<v1::SyncJobView> WaitSyncJob(
      const std::string& id, std::chrono::milliseconds timeout,
      const std::function<void(const v1::SyncJobView&)>& on_update);

 private:
  void Prepare(grpc::ClientContext& ctx, bool with_token) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CoverageService::Stub> stub_;
  std::string token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace apmcov::cli
