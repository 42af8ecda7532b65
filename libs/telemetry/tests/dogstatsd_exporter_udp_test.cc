// The DogStatsD exporter against a real UDP listener on 127.0.0.1: the background thread, a
// FlushNow(), the final flush on Stop(), and a scrape-style hook run before each collection.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <string>

#include "apmcov/telemetry/dogstatsd_exporter.h"
#include "gtest/gtest.h"
#include "udp_listener.h"

namespace apmcov::telemetry {
namespace {

using testing::UdpListener;

DogStatsdExporterOptions OptionsFor(uint16_t port, std::chrono::milliseconds interval) {
  DogStatsdExporterOptions options;
  options.sink.enabled = true;
  options.sink.host = "127.0.0.1";
  options.sink.port = port;
  options.sink.constant_tags = {{"service", "apmcov-test"}, {"env", "ci"}};
  options.interval = interval;
  return options;
}

TEST(DogStatsdExporterUdpTest, FlushNowAndStopSendDeltasGaugesAndHistograms) {
  UdpListener listener;
  ASSERT_TRUE(listener.ok());
  auto registry = std::make_shared<prometheus::Registry>();
  auto& calls = prometheus::BuildCounter()
                    .Name("apmcov_calls_total")
                    .Help("h")
                    .Register(*registry)
                    .Add({{"status", "200"}});
  // Its service label repeats the constant tag: sent once.
  auto& lag = prometheus::BuildGauge()
                  .Name("apmcov_lag")
                  .Help("h")
                  .Register(*registry)
                  .Add({{"service", "apmcov-test"}});
  auto& latency = prometheus::BuildHistogram()
                      .Name("apmcov_latency_seconds")
                      .Help("h")
                      .Register(*registry)
                      .Add({}, prometheus::Histogram::BucketBoundaries{1});
  calls.Increment(4);
  lag.Set(12);
  latency.Observe(0.5);

  auto exporter = DogStatsdExporter::Create(OptionsFor(listener.port(), std::chrono::hours(1)),
                                            registry);  // no timed flush
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  (*exporter)->Start();
  (*exporter)->FlushNow();
  EXPECT_EQ(listener.Drain(), (std::multiset<std::string>{
                                  "apmcov_calls_total:4|c|#status:200,service:apmcov-test,env:ci",
                                  "apmcov_lag:12|g|#service:apmcov-test,env:ci",
                                  "apmcov_latency_seconds.count:1|c|#service:apmcov-test,env:ci",
                                  "apmcov_latency_seconds.sum:0.5|c|#service:apmcov-test,env:ci",
                              }));

  calls.Increment(2);
  (*exporter)->Stop();  // the final flush carries what happened since the last one
  EXPECT_EQ(listener.Drain(), (std::multiset<std::string>{
                                  "apmcov_calls_total:2|c|#status:200,service:apmcov-test,env:ci",
                                  "apmcov_lag:12|g|#service:apmcov-test,env:ci",
                              }));
  (*exporter)->Stop();  // idempotent: nothing more
  EXPECT_TRUE(listener.Drain(100).empty());
  EXPECT_EQ((*exporter)->flushes(), 2u);
  EXPECT_EQ((*exporter)->sent(), 6u);
  EXPECT_EQ((*exporter)->send_errors(), 0u);
}

TEST(DogStatsdExporterUdpTest, BackgroundThreadFlushesOnItsIntervalAndRunsTheHook) {
  UdpListener listener;
  ASSERT_TRUE(listener.ok());
  auto registry = std::make_shared<prometheus::Registry>();
  auto& hooked = prometheus::BuildGauge().Name("hooked").Help("h").Register(*registry).Add({});
  std::atomic<int> hook_runs{0};
  std::unique_ptr<DogStatsdExporter> exporter =
      MaybeStartDogStatsd(OptionsFor(listener.port(), std::chrono::milliseconds(50)), registry,
                          [&] { hooked.Set(++hook_runs); });
  ASSERT_NE(exporter, nullptr);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::set<std::string> seen;
  // The listener reads while the exporter keeps sending every 50 ms.
  while (!seen.count("hooked:2|g|#service:apmcov-test,env:ci") &&
         std::chrono::steady_clock::now() < deadline) {
    std::string line = listener.Receive(100);
    if (!line.empty()) seen.insert(line);
  }
  EXPECT_TRUE(seen.count("hooked:1|g|#service:apmcov-test,env:ci")) << seen.size();
  EXPECT_TRUE(seen.count("hooked:2|g|#service:apmcov-test,env:ci")) << seen.size();
  const auto stop_started = std::chrono::steady_clock::now();
  exporter.reset();  // the destructor stops the thread promptly
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, std::chrono::seconds(1));
  EXPECT_GE(hook_runs.load(), 3);
}

TEST(DogStatsdExporterUdpTest, AnUnresolvableAgentGivesNoExporterAndAnError) {
  DogStatsdExporterOptions options = OptionsFor(8125, std::chrono::seconds(1));
  options.sink.host = "no-such-host.invalid";
  EXPECT_EQ(MaybeStartDogStatsd(options, std::make_shared<prometheus::Registry>()), nullptr);
  auto exporter = DogStatsdExporter::Create(options, std::make_shared<prometheus::Registry>());
  EXPECT_TRUE(absl::IsUnavailable(exporter.status())) << exporter.status();
}

}  // namespace
}  // namespace apmcov::telemetry
