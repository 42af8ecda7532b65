#include "gateway_client.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"

namespace apmcov::cli {
namespace {

absl::Status FromGrpc(const grpc::Status& s, std::string_view call) {
  std::string message = s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    message = absl::StrCat("gateway unreachable (", message, ")");
  }
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(std::string(call), ": ", message));
}

bool Finished(const std::string& state) {
  return state == "succeeded" || state == "partial" || state == "failed";
}

}  // namespace

GatewayClient::GatewayClient(const std::string& target, std::string token,
                             std::chrono::milliseconds timeout)
    : channel_(grpc::CreateChannel(target, grpc::InsecureChannelCredentials())),
      stub_(v1::CoverageService::NewStub(channel_)),
      token_(std::move(token)),
      timeout_(timeout) {}

void GatewayClient::Prepare(grpc::ClientContext& ctx, bool with_token) const {
  ctx.set_deadline(std::chrono::system_clock::now() + timeout_);
  if (with_token && !token_.empty()) ctx.AddMetadata("authorization", "Bearer " + token_);
}

absl::StatusOr<v1::Stats> GatewayClient::GetStats() {
  grpc::ClientContext ctx;
  Prepare(ctx, false);
  v1::Stats out;
  grpc::Status s = stub_->GetStats(&ctx, v1::GetStatsRequest(), &out);
  if (!s.ok()) return FromGrpc(s, "GetStats");
  return out;
}

absl::StatusOr<std::vector<v1::ServiceSummary>> GatewayClient::ListAllServices(
    const std::string& team, const std::string& env, const std::string& apm) {
  std::vector<v1::ServiceSummary> out;
  v1::ListServicesRequest req;
  req.set_team(team);
  req.set_env(env);
  req.set_apm(apm);
  req.set_sort("name");
  req.set_page_size(1000);
  for (int page = 0; page < 10'000; ++page) {
    grpc::ClientContext ctx;
    Prepare(ctx, false);
    v1::ListServicesResponse resp;
    grpc::Status s = stub_->ListServices(&ctx, req, &resp);
    if (!s.ok()) return FromGrpc(s, "ListServices");
    for (auto& svc : *resp.mutable_services()) out.push_back(std::move(svc));
    if (resp.next_page_token().empty()) return out;
    req.set_page_token(resp.next_page_token());
  }
  return absl::InternalError("ListServices: the pages do not end");
}

absl::StatusOr<v1::CoverageHistoryResponse> GatewayClient::GetCoverageHistory(
    const std::string& by, const std::string& since) {
  grpc::ClientContext ctx;
  Prepare(ctx, false);
  v1::GetCoverageHistoryRequest req;
  req.set_by(by);
  req.set_since(since);
  v1::CoverageHistoryResponse out;
  grpc::Status s = stub_->GetCoverageHistory(&ctx, req, &out);
  if (!s.ok()) return FromGrpc(s, "GetCoverageHistory");
  return out;
}

absl::StatusOr<std::string> GatewayClient::TriggerSync() {
  grpc::ClientContext ctx;
  Prepare(ctx, true);
  v1::TriggerSyncRequest req;
  req.set_requested_by("apmcov-cli");
  v1::TriggerSyncResponse out;
  grpc::Status s = stub_->TriggerSync(&ctx, req, &out);
  if (!s.ok()) return FromGrpc(s, "TriggerSync");
  return out.job_id();
}

absl::StatusOr<v1::SyncJobView> GatewayClient::WaitSyncJob(
    const std::string& id, std::chrono::milliseconds timeout,
    const std::function<void(const v1::SyncJobView&)>& on_update) {
  const auto deadline = std::chrono::system_clock::now() + timeout;
  v1::SyncJobView last;
  last.set_id(id);
  // A watch ends when the gateway's idle or maximum time passes: watch again until done.
  while (std::chrono::system_clock::now() < deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline);
    v1::WatchSyncJobsRequest req;
    req.set_job_id(id);
    auto reader = stub_->WatchSyncJobs(&ctx, req);
    v1::SyncJobView job;
    while (reader->Read(&job)) {
      if (job.id() != id) continue;
      if (job.state() != last.state() || job.spans() != last.spans()) on_update(job);
      last = job;
      if (Finished(job.state())) {
        ctx.TryCancel();
        (void)reader->Finish();
        return last;
      }
    }
    grpc::Status s = reader->Finish();
    if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) break;
    if (!s.ok()) return FromGrpc(s, "WatchSyncJobs");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("sync job ", id, " did not finish in time (last state: ",
                   last.state().empty() ? "queued" : last.state(), ")"));
}

}  // namespace apmcov::cli
