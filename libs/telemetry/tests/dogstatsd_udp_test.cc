// The DogStatsD sink against a real UDP listener on 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <limits>
#include <set>
#include <string>
#include <thread>

#include "apmcov/telemetry/dogstatsd.h"
#include "gtest/gtest.h"
#include "udp_listener.h"

namespace apmcov::telemetry {
namespace {

using testing::UdpListener;

DogStatsdConfig ConfigFor(uint16_t port) {
  DogStatsdConfig cfg;
  cfg.enabled = true;
  cfg.host = "127.0.0.1";
  cfg.port = port;
  cfg.constant_tags = {{"service", "apmcov-collector"}, {"env", "test"}};
  return cfg;
}

TEST(DogStatsdUdpTest, ListenerReceivesEveryKindOfLine) {
  UdpListener listener;
  ASSERT_TRUE(listener.ok());
  absl::StatusOr<std::unique_ptr<DogStatsdSink>> sink =
      DogStatsdSink::Create(ConfigFor(listener.port()));
  ASSERT_TRUE(sink.ok()) << sink.status();
  ASSERT_TRUE((*sink)->enabled());

  (*sink)->Count("apmcov.collector.api_calls", 1, {{"endpoint", "spans"}, {"status", "200"}});
  (*sink)->Gauge("apmcov.analyzer.consumer_lag", 1500, {{"partition", "3"}});
  (*sink)->Distribution("apmcov.http.request_duration", 0.004);

  std::set<std::string> received;
  for (int i = 0; i < 3; ++i) received.insert(listener.Receive());
  EXPECT_EQ(received, (std::set<std::string>{
                          "apmcov.collector.api_calls:1|c|#endpoint:spans,status:200,"
                          "service:apmcov-collector,env:test",
                          "apmcov.analyzer.consumer_lag:1500|g|#partition:3,"
                          "service:apmcov-collector,env:test",
                          "apmcov.http.request_duration:0.004|d|#service:apmcov-collector,env:test",
                      }));
  EXPECT_EQ((*sink)->sent(), 3u);
  EXPECT_EQ((*sink)->send_errors(), 0u);
}

TEST(DogStatsdUdpTest, UnformattableValueIsCountedNotSent) {
  UdpListener listener;
  ASSERT_TRUE(listener.ok());
  auto sink = DogStatsdSink::Create(ConfigFor(listener.port()));
  ASSERT_TRUE(sink.ok()) << sink.status();
  (*sink)->Gauge("g", std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ((*sink)->send_errors(), 1u);
  EXPECT_EQ(listener.Receive(200), "");
}

TEST(DogStatsdUdpTest, RefusedDatagramsAreCountedNeverThrown) {
  uint16_t dead_port = 0;
  {
    UdpListener gone;  // bind to learn a free port, then close it: nobody listens there
    ASSERT_TRUE(gone.ok());
    dead_port = gone.port();
  }
  auto sink = DogStatsdSink::Create(ConfigFor(dead_port));
  ASSERT_TRUE(sink.ok()) << sink.status();
  // On loopback the ICMP "port unreachable" comes back at once and the next send on the
  // connected socket fails with ECONNREFUSED.
  for (int i = 0; i < 50 && (*sink)->send_errors() == 0; ++i) {
    (*sink)->Count("c", 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GT((*sink)->send_errors(), 0u);
}

}  // namespace
}  // namespace apmcov::telemetry
