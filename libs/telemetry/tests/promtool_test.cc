// Runs Prometheus' own linter (`promtool check metrics`, Debian package `prometheus`) over
// what the admin server serves, so the exposition stays valid for real scrapers.
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "apmcov/telemetry/admin_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http_get.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "prometheus/summary.h"

namespace apmcov::telemetry {
namespace {

constexpr const char* kPromtool = "/usr/bin/promtool";

struct LintResult {
  int exit_code = -1;
  std::string output;
};

// Feeds `exposition` to `promtool check metrics` on stdin.
LintResult Lint(const std::string& exposition) {
  char path[] = "/tmp/apmcov-promtool-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  if (fd < 0) return {};
  close(fd);
  {
    std::ofstream out(path);
    out << exposition;
  }
  const std::string cmd = std::string(kPromtool) + " check metrics < " + path + " 2>&1";
  LintResult result;
  FILE* pipe = popen(cmd.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  if (pipe != nullptr) {
    char buf[512];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
    int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  unlink(path);
  return result;
}

class PromtoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kPromtool, X_OK) != 0) {
      GTEST_FAIL() << kPromtool << " is missing: apt-get install prometheus";
    }
  }
};

TEST_F(PromtoolTest, ServedMetricsPassTheLinter) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("apmcov_collector_api_calls_total")
      .Help("Datadog API calls by endpoint and HTTP status.")
      .Register(*registry)
      .Add({{"endpoint", "spans"}, {"status", "200"}})
      .Increment(12);
  prometheus::BuildCounter()
      .Name("apmcov_collector_rate_limit_wait_seconds_total")
      .Help("Time spent waiting for Datadog rate limits, in seconds.")
      .Register(*registry)
      .Add({})
      .Increment(3.5);
  auto& coverage = prometheus::BuildGauge()
                       .Name("apmcov_coverage_ratio")
                       .Help("Instrumented catalog services over catalog services.")
                       .Register(*registry);
  coverage.Add({{"dimension", "team"}, {"key", "payments"}}).Set(0.75);
  coverage.Add({{"dimension", "env"}, {"key", "prod"}}).Set(0.5);
  auto& latency = prometheus::BuildHistogram()
                      .Name("apmcov_http_request_duration_seconds")
                      .Help("Gateway request latency, in seconds.")
                      .Register(*registry)
                      .Add({{"route", "/api/stats"}},
                           prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.025, 0.1, 1});
  latency.Observe(0.002);
  latency.Observe(0.2);
  prometheus::BuildSummary()
      .Name("apmcov_analyzer_batch_seconds")
      .Help("Analyzer batch processing time, in seconds.")
      .Register(*registry)
      .Add({}, prometheus::Summary::Quantiles{{0.5, 0.05}, {0.99, 0.001}})
      .Observe(0.01);

  AdminServer server(registry, "127.0.0.1", 0);
  server.EnableProcessMetrics("apmcov-gateway", "0.1.0");
  ASSERT_TRUE(server.Start().ok());
  testing::HttpReply reply = testing::HttpGet(server.port(), "/metrics");
  ASSERT_EQ(reply.status, 200) << reply.error;
  ASSERT_THAT(reply.body, ::testing::HasSubstr("apmcov_http_request_duration_seconds_bucket"));

  LintResult lint = Lint(reply.body);
  EXPECT_EQ(lint.exit_code, 0) << lint.output;
  EXPECT_EQ(lint.output, "") << "promtool reported problems:\n" << lint.output;
}

// The linter does catch problems: a counter without `_total` must be reported, so a silent
// pass above means something.
TEST_F(PromtoolTest, LinterReportsABadlyNamedCounter) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("apmcov_bad_requests")
      .Help("A counter missing its _total suffix.")
      .Register(*registry)
      .Add({})
      .Increment();
  AdminServer server(registry, "127.0.0.1", 0);
  ASSERT_TRUE(server.Start().ok());
  testing::HttpReply reply = testing::HttpGet(server.port(), "/metrics");
  ASSERT_EQ(reply.status, 200) << reply.error;
  LintResult lint = Lint(reply.body);
  EXPECT_NE(lint.exit_code, 0);
  EXPECT_THAT(
      lint.output,
      ::testing::HasSubstr("apmcov_bad_requests counter metrics should have \"_total\" suffix"));
}

}  // namespace
}  // namespace apmcov::telemetry
