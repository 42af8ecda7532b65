// apmcov: the gateway's command-line client for scripts and CI (design §8). Exit codes: 0 when
// every condition holds (or the command succeeded), 1 when one fails, 2 when the gateway could
// not be asked or the command line is wrong (with the usage).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "apmcov/base/time.h"
#include "args.h"
#include "gate.h"
#include "gateway_client.h"
#include "render.h"

namespace {

using namespace apmcov::cli;  // NOLINT: the binary's own namespace
namespace v1 = apmcov::v1;

constexpr int kPass = 0;
constexpr int kFail = 1;
constexpr int kCouldNotAsk = 2;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int CouldNotAsk(const absl::Status& s) {
  std::cerr << "apmcov: could not ask the gateway: " << s.message() << "\n";
  return kCouldNotAsk;
}

int Run(const Invocation& inv) {
  GatewayClient client(inv.gateway, inv.token, std::chrono::milliseconds(inv.timeout_ms));
  const CheckOptions& c = inv.check;
  if (inv.command == "check") {
    CheckData data;
    auto stats = client.GetStats();
    if (!stats.ok()) return CouldNotAsk(stats.status());
    data.stats = *std::move(stats);
    auto services = client.ListAllServices(c.team, c.env, "");
    if (!services.ok()) return CouldNotAsk(services.status());
    data.services = *std::move(services);
    if (c.no_regression_since_ns) {
      auto history = client.GetCoverageHistory(RegressionDimension(c),
                                               apmcov::FormatRfc3339(*c.no_regression_since_ns));
      if (!history.ok()) return CouldNotAsk(history.status());
      data.history = *std::move(history);
    }
    const CheckResult result = EvaluateCheck(c, data);
    std::cout << RenderCheck(result, inv.format);
    return result.passed() ? kPass : kFail;
  }
  if (inv.command == "report") {
    auto stats = client.GetStats();
    if (!stats.ok()) return CouldNotAsk(stats.status());
    auto services = client.ListAllServices(c.team, c.env, "");
    if (!services.ok()) return CouldNotAsk(services.status());
    const bool scoped = !c.team.empty() || !c.env.empty();
    std::string scope = c.team.empty() ? "" : absl::StrCat("team ", c.team);
    if (!c.env.empty()) absl::StrAppend(&scope, scope.empty() ? "" : ", ", "env ", c.env);
    std::cout << RenderReport(*stats, *services, scoped ? scope : "all services", scoped,
                              inv.format);
    return kPass;
  }
  if (inv.command == "services") {
    auto services = client.ListAllServices(c.team, c.env, inv.apm);
    if (!services.ok()) return CouldNotAsk(services.status());
    std::cout << RenderServices(*services, inv.format);
    return kPass;
  }
  // sync
  auto id = client.TriggerSync();
  if (!id.ok()) return CouldNotAsk(id.status());
  v1::SyncJobView queued;
  queued.set_id(*id);
  queued.set_state("queued");
  if (!inv.wait) {
    std::cout << RenderSyncJob(queued, inv.format);
    return kPass;
  }
  if (inv.format == Format::kText) std::cout << RenderSyncJob(queued, inv.format) << std::flush;
  auto job = client.WaitSyncJob(*id, std::chrono::milliseconds(inv.wait_timeout_ms),
                                [&](const v1::SyncJobView& j) {
                                  if (inv.format == Format::kText) {
                                    std::cout << RenderSyncJob(j, inv.format) << std::flush;
                                  }
                                });
  if (!job.ok()) return CouldNotAsk(job.status());
  if (inv.format != Format::kText) std::cout << RenderSyncJob(*job, inv.format);
  return job->state() == "failed" ? kFail : kPass;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto inv = ParseArgs(
      args,
      [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
      },
      NowNs());
  if (!inv.ok()) {
    std::cerr << "apmcov: " << inv.status().message() << "\n\n" << Usage();
    return kCouldNotAsk;
  }
  if (inv->command == "help") {
    std::cout << Usage();
    return kPass;
  }
  return Run(*inv);
}
