// The bus contract suite against the Kafka adapter and kafka-dev (label integration), plus
// adapter-specific behaviour. Brokers: KAFKA_BROKERS, or an apmcov-kafka-dev this test starts
// (found through APMCOV_BINARY_DIR) and stops by PID.
#include <cstdlib>

#include "apmcov/bus/kafka.h"
#include "apmcov/bus/testing/kafka_dev_process.h"
#include "bus_contract.h"

namespace apmcov::bus {
namespace {

using testing::KafkaDevProcess;

// Set once by KafkaEnvironment::SetUp.
std::string g_brokers;
std::string g_control;       // empty when KAFKA_BROKERS came from outside
bool g_own_cluster = false;  // started here: fault injection cannot disturb other tests

class KafkaEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (const char* b = std::getenv("KAFKA_BROKERS"); b != nullptr && *b != '\0') {
      g_brokers = b;
      if (const char* c = std::getenv("KAFKA_DEV_CONTROL"); c != nullptr) g_control = c;
      return;
    }
    auto started = KafkaDevProcess::Start();
    ASSERT_TRUE(started.ok()) << "KAFKA_BROKERS is unset and kafka-dev could not be started: "
                              << started.status();
    process_ = std::move(*started);
    g_brokers = process_->bootstraps();
    g_control = process_->control_address();
    g_own_cluster = true;
  }
  void TearDown() override { process_.reset(); }

 private:
  std::unique_ptr<KafkaDevProcess> process_;
};

const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new KafkaEnvironment);

KafkaConfig Config() { return KafkaConfig{g_brokers, "apmcov-bus-test", {}}; }

struct KafkaBackend {
  static constexpr const char* kName = "kafka";
  std::unique_ptr<KafkaLagProbe> probe;

  std::unique_ptr<Publisher> NewPublisher() {
    auto p = KafkaPublisher::Create(Config());
    EXPECT_TRUE(p.ok()) << p.status();
    return std::move(p).value();
  }
  std::unique_ptr<Subscriber> NewSubscriber(const std::string& group) {
    auto s = KafkaSubscriber::Create(Config(), group);
    EXPECT_TRUE(s.ok()) << s.status();
    return std::move(s).value();
  }
  std::unique_ptr<LagProbe> NewLagProbe() {
    auto p = KafkaLagProbe::Create(Config());
    EXPECT_TRUE(p.ok()) << p.status();
    return std::move(p).value();
  }
  std::pair<int64_t, int64_t> Watermarks(const std::string& topic, int32_t partition) {
    if (!probe) probe = KafkaLagProbe::Create(Config()).value();
    auto w = probe->Watermarks(topic, partition);
    EXPECT_TRUE(w.ok()) << w.status();
    return w.value_or(std::make_pair(-1, -1));
  }
  static std::chrono::milliseconds JoinTimeout() { return std::chrono::seconds(20); }
};

}  // namespace

namespace contract {
INSTANTIATE_TYPED_TEST_SUITE_P(Kafka, BusContractTest, KafkaBackend);
}  // namespace contract

namespace {

TEST(KafkaAdapterTest, BadConfigIsRejectedBeforeConnecting) {
  auto p = KafkaPublisher::Create(KafkaConfig{"nohost", "c", {}});
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  auto s = KafkaSubscriber::Create(Config(), "");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  auto bad_prop = KafkaPublisher::Create(KafkaConfig{g_brokers, "c", {{"no.such.property", "1"}}});
  EXPECT_EQ(bad_prop.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad_prop.status().message()), ::testing::HasSubstr("no.such.property"));
}

TEST(KafkaAdapterTest, UnreachableClusterFailsFlushWithDeadline) {
  // Port 1 on loopback refuses connections: nothing can be acknowledged.
  auto pub =
      KafkaPublisher::Create(KafkaConfig{"127.0.0.1:1", "c", {{"message.timeout.ms", "1500"}}});
  ASSERT_TRUE(pub.ok());
  ASSERT_TRUE((*pub)->Publish({"t", "k", "v", {}, {}}).ok());
  absl::Status s = (*pub)->Flush(std::chrono::milliseconds(300));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  // After message.timeout.ms the message fails for good and the next Flush reports it.
  s = (*pub)->Flush(std::chrono::seconds(10));
  EXPECT_FALSE(s.ok());
  EXPECT_EQ((*pub)->delivery_failures(), 1);
}

// kafka-dev (librdkafka's mock) creates a topic on ANY metadata request, even a consumer's
// with allow.auto.create.topics=false: a probe of an unknown topic creates it and reports 0.
// (Against Apache Kafka with auto-creation off, GroupLag returns NotFound instead.)
TEST(KafkaAdapterTest, KafkaDevAutoCreatesTopicsOnConsumerMetadata) {
  if (g_control.empty()) GTEST_SKIP() << "KAFKA_BROKERS may not be kafka-dev";
  auto probe = KafkaLagProbe::Create(Config());
  ASSERT_TRUE(probe.ok());
  const std::string topic = contract::UniqueName("never");
  auto lag = (*probe)->GroupLag(contract::UniqueName("group"), topic);
  ASSERT_TRUE(lag.ok()) << lag.status();
  EXPECT_EQ(*lag, 0);
  EXPECT_EQ((*probe)->Watermarks(topic, 3).value_or(std::make_pair(-1, -1)),
            (std::pair<int64_t, int64_t>(0, 0)));
}

}  // namespace
}  // namespace apmcov::bus

namespace apmcov::bus {
namespace {

std::string Control(const std::string& command) {
  auto reply = testing::KafkaDevControl(g_control, command);
  EXPECT_TRUE(reply.ok()) << reply.status();
  return reply.value_or("");
}

// With every broker down nothing is acknowledged: Flush() says DeadlineExceeded and the
// messages stay queued; once the brokers are back the same messages are delivered (idempotent
// producer: once each).
TEST(KafkaAdapterTest, FlushWaitsOutBrokerOutage) {
  if (!g_own_cluster) GTEST_SKIP() << "needs a kafka-dev of its own (KAFKA_BROKERS is set)";
  auto pub = KafkaPublisher::Create(Config());
  ASSERT_TRUE(pub.ok());
  const std::string topic = contract::UniqueName("outage");
  ASSERT_EQ((*pub)->PartitionCount(topic).value_or(0), 4);
  for (int b = 1; b <= 3; ++b) ASSERT_EQ(Control(absl::StrCat("broker-down ", b)), "ok");
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*pub)->Publish({topic, "", "x", {}, i % 4}).ok());
  absl::Status s = (*pub)->Flush(std::chrono::milliseconds(1500));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  for (int b = 1; b <= 3; ++b) ASSERT_EQ(Control(absl::StrCat("broker-up ", b)), "ok");
  const auto start = std::chrono::steady_clock::now();
  s = (*pub)->Flush(std::chrono::seconds(30));
  EXPECT_TRUE(s.ok()) << s;
  std::cerr << "delivered "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count()
            << " ms after the brokers came back\n";
  EXPECT_EQ((*pub)->delivered(), 100);
  auto probe = KafkaLagProbe::Create(Config());
  int64_t stored = 0;
  for (int32_t p = 0; p < 4; ++p) stored += (*probe)->Watermarks(topic, p).value().second;
  EXPECT_EQ(stored, 100);
}

}  // namespace
}  // namespace apmcov::bus
