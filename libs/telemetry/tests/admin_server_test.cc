#include "apmcov/telemetry/admin_server.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http_get.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace apmcov::telemetry {
namespace {

using ::testing::HasSubstr;
using testing::HttpGet;
using testing::HttpRequest;
using ::testing::Not;

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    server_ = std::make_unique<AdminServer>(registry_, "127.0.0.1", 0);
  }

  void StartServer() {
    absl::Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_NE(server_->port(), 0);
  }

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<AdminServer> server_;
};

TEST_F(AdminServerTest, MetricsServesTheRegistryInTextFormat) {
  auto& calls = prometheus::BuildCounter()
                    .Name("apmcov_collector_api_calls_total")
                    .Help("Datadog API calls.")
                    .Register(*registry_);
  calls.Add({{"endpoint", "spans"}, {"status", "200"}}).Increment(7);
  StartServer();

  testing::HttpReply reply = HttpGet(server_->port(), "/metrics");
  ASSERT_EQ(reply.error, "");
  EXPECT_EQ(reply.status, 200);
  EXPECT_THAT(reply.content_type, HasSubstr("text/plain"));
  EXPECT_THAT(reply.content_type, HasSubstr("version=0.0.4"));
  EXPECT_THAT(reply.body, HasSubstr("# TYPE apmcov_collector_api_calls_total counter"));
  EXPECT_THAT(reply.body,
              HasSubstr("apmcov_collector_api_calls_total{endpoint=\"spans\",status=\"200\"} 7"));

  // Values are read at scrape time, not at start.
  calls.Add({{"endpoint", "spans"}, {"status", "200"}}).Increment(3);
  reply = HttpGet(server_->port(), "/metrics");
  EXPECT_THAT(reply.body,
              HasSubstr("apmcov_collector_api_calls_total{endpoint=\"spans\",status=\"200\"} 10"));
}

TEST_F(AdminServerTest, ScrapeHooksRunBeforeEachScrape) {
  auto& lag = prometheus::BuildGauge()
                  .Name("apmcov_analyzer_consumer_lag_messages")
                  .Help("Lag.")
                  .Register(*registry_)
                  .Add({{"partition", "0"}});
  std::atomic<int> scrapes{0};
  server_->AddScrapeHook([&] { lag.Set(100 * ++scrapes); });
  StartServer();
  EXPECT_THAT(HttpGet(server_->port(), "/metrics").body,
              HasSubstr("apmcov_analyzer_consumer_lag_messages{partition=\"0\"} 100"));
  EXPECT_THAT(HttpGet(server_->port(), "/metrics").body,
              HasSubstr("apmcov_analyzer_consumer_lag_messages{partition=\"0\"} 200"));
}

TEST_F(AdminServerTest, RunScrapeHooksRefreshesWithoutAScrape) {
  std::atomic<int> runs{0};
  server_->AddScrapeHook([&] { ++runs; });
  server_->RunScrapeHooks();  // what the DogStatsD exporter calls before each collect
  server_->RunScrapeHooks();
  EXPECT_EQ(runs.load(), 2);
  StartServer();
  HttpGet(server_->port(), "/metrics");
  EXPECT_EQ(runs.load(), 3);
}

TEST_F(AdminServerTest, ProcessMetricsAreExposed) {
  server_->EnableProcessMetrics("apmcov-analyzer", "1.2.3");
  StartServer();
  testing::HttpReply reply = HttpGet(server_->port(), "/metrics");
  EXPECT_EQ(reply.status, 200);
  EXPECT_THAT(reply.body,
              HasSubstr("apmcov_build_info{service=\"apmcov-analyzer\",version=\"1.2.3\"} 1"));
  EXPECT_THAT(reply.body, HasSubstr("# TYPE apmcov_process_start_time_seconds gauge"));
  EXPECT_THAT(reply.body, HasSubstr("# TYPE apmcov_process_resident_memory_bytes gauge"));

  // Start time is within the last day and not in the future; RSS is plausible (> 1 MiB).
  auto value_of = [&](const std::string& name) {
    size_t pos = reply.body.find("\n" + name + " ");
    EXPECT_NE(pos, std::string::npos) << name;
    return pos == std::string::npos ? -1.0 : std::stod(reply.body.substr(pos + name.size() + 2));
  };
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double start = value_of("apmcov_process_start_time_seconds");
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 86400);
  EXPECT_GT(value_of("apmcov_process_resident_memory_bytes"), 1024.0 * 1024.0);
}

TEST_F(AdminServerTest, HealthzIsOk) {
  StartServer();
  testing::HttpReply reply = HttpGet(server_->port(), "/healthz");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "ok\n");
}

TEST_F(AdminServerTest, ReadyzOkWhenEveryCheckPasses) {
  int calls = 0;
  server_->AddReadinessCheck({"postgres", [&] {
                                ++calls;
                                return absl::OkStatus();
                              }});
  server_->AddReadinessCheck({"kafka", [] { return absl::OkStatus(); }});
  StartServer();
  testing::HttpReply reply = HttpGet(server_->port(), "/readyz");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "ready\n");
  EXPECT_EQ(calls, 1);
}

TEST_F(AdminServerTest, ReadyzNamesTheFailingCheck) {
  std::atomic<bool> kafka_up{false};
  server_->AddReadinessCheck({"postgres", [] { return absl::OkStatus(); }});
  server_->AddReadinessCheck({"kafka", [&] {
                                return kafka_up ? absl::OkStatus()
                                                : absl::UnavailableError("broker unreachable");
                              }});
  StartServer();
  testing::HttpReply reply = HttpGet(server_->port(), "/readyz");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body, "not ready: kafka: broker unreachable\n");
  EXPECT_THAT(reply.body, Not(HasSubstr("postgres")));

  kafka_up = true;  // checks run on every request
  reply = HttpGet(server_->port(), "/readyz");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "ready\n");
}

TEST_F(AdminServerTest, ReadyzListsEveryFailureAndSurvivesThrowingChecks) {
  server_->AddReadinessCheck(
      {"kafka", [] { return absl::UnavailableError("broker unreachable"); }});
  server_->AddReadinessCheck(
      {"postgres", []() -> absl::Status { throw std::runtime_error("connection reset"); }});
  StartServer();
  testing::HttpReply reply = HttpGet(server_->port(), "/readyz");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body,
            "not ready: kafka: broker unreachable; postgres: check threw: connection reset\n");
}

TEST_F(AdminServerTest, ChecksAddedAfterStartApply) {
  StartServer();
  EXPECT_EQ(HttpGet(server_->port(), "/readyz").status, 200);
  server_->AddReadinessCheck({"store", [] { return absl::UnavailableError("migrating"); }});
  EXPECT_EQ(HttpGet(server_->port(), "/readyz").body, "not ready: store: migrating\n");
}

TEST_F(AdminServerTest, UnknownPathIs404AndOtherMethods405) {
  StartServer();
  EXPECT_EQ(HttpGet(server_->port(), "/nope").status, 404);
  EXPECT_EQ(HttpGet(server_->port(), "/metrics/extra").status, 404);
  EXPECT_EQ(HttpGet(server_->port(), "/").status, 404);
  EXPECT_EQ(HttpRequest("POST", server_->port(), "/healthz").status, 405);
  // The query string does not change the route.
  EXPECT_EQ(HttpGet(server_->port(), "/healthz?verbose=1").status, 200);
}

TEST_F(AdminServerTest, StopIsFastIdempotentAndClosesThePort) {
  StartServer();
  const uint16_t port = server_->port();
  ASSERT_EQ(HttpGet(port, "/healthz").status, 200);
  const auto t0 = std::chrono::steady_clock::now();
  server_->Stop();
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(elapsed, std::chrono::seconds(1));
  server_->Stop();
  testing::HttpReply reply = HttpGet(port, "/healthz");
  EXPECT_EQ(reply.status, 0);
  EXPECT_NE(reply.error, "");
}

TEST_F(AdminServerTest, StopBeforeStartAndDoubleStart) {
  server_->Stop();
  StartServer();
  EXPECT_EQ(server_->Start().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(AdminServerTest, PortInUseIsUnavailable) {
  StartServer();
  AdminServer second(registry_, "127.0.0.1", server_->port());
  absl::Status s = second.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(std::to_string(server_->port())));
}

TEST_F(AdminServerTest, BadAddressIsAnError) {
  AdminServer bad(registry_, "not an address!", 0);
  absl::Status s = bad.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("not an address!"));
}

}  // namespace
}  // namespace apmcov::telemetry
