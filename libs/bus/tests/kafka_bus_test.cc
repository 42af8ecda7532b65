// The bus contract suite against the Kafka adapter and kafka-dev (label integration), plus
// adapter-specific behaviour. Brokers: KAFKA_BROKERS, or an apmcov-kafka-dev this test starts
// (found through APMCOV_BINARY_DIR) and stops by PID. The broker-outage test always starts a
// kafka-dev of its own.
#include <librdkafka/rdkafka.h>

#include <cstdlib>
#include <thread>

#include "apmcov/bus/kafka.h"
#include "apmcov/bus/testing/kafka_dev_process.h"
#include "bus_contract.h"

namespace apmcov::bus {
namespace {

using testing::KafkaDevProcess;

// Set once by KafkaEnvironment::SetUp.
std::string g_brokers;
std::string g_control;  // empty when KAFKA_BROKERS came from outside

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
  }
  void TearDown() override { process_.reset(); }

 private:
  std::unique_ptr<KafkaDevProcess> process_;
};

const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new KafkaEnvironment);

KafkaConfig Config() { return KafkaConfig{g_brokers, "apmcov-bus-test", {}}; }

struct KafkaBackend {
  static constexpr const char* kName = "kafka";

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

std::string Control(const KafkaDevProcess& cluster, const std::string& command) {
  auto reply = testing::KafkaDevControl(cluster.control_address(), command);
  EXPECT_TRUE(reply.ok()) << reply.status();
  return reply.value_or("");
}

// With every broker down nothing is acknowledged: Flush() says DeadlineExceeded and the
// messages stay queued; once the brokers are back the same messages are delivered (idempotent
// producer: once each). On a private kafka-dev: taking every broker down must not disturb the
// suites that share KAFKA_BROKERS.
TEST(KafkaAdapterTest, FlushWaitsOutBrokerOutage) {
  auto started = KafkaDevProcess::Start();
  ASSERT_TRUE(started.ok()) << "cannot start a private kafka-dev: " << started.status();
  const KafkaDevProcess& cluster = **started;
  const KafkaConfig config{cluster.bootstraps(), "apmcov-bus-test", {}};
  auto pub = KafkaPublisher::Create(config);
  ASSERT_TRUE(pub.ok());
  const std::string topic = contract::UniqueName("outage");
  ASSERT_EQ((*pub)->PartitionCount(topic).value_or(0), 4);
  for (int b = 1; b <= 3; ++b) ASSERT_EQ(Control(cluster, absl::StrCat("broker-down ", b)), "ok");
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*pub)->Publish({topic, "", "x", {}, i % 4}).ok());
  absl::Status s = (*pub)->Flush(std::chrono::milliseconds(1500));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  for (int b = 1; b <= 3; ++b) ASSERT_EQ(Control(cluster, absl::StrCat("broker-up ", b)), "ok");
  const auto start = std::chrono::steady_clock::now();
  s = (*pub)->Flush(std::chrono::seconds(30));
  EXPECT_TRUE(s.ok()) << s;
  std::cerr << "delivered "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count()
            << " ms after the brokers came back\n";
  EXPECT_EQ((*pub)->delivered(), 100);
  auto probe = KafkaLagProbe::Create(config);
  int64_t stored = 0;
  for (int32_t p = 0; p < 4; ++p) stored += (*probe)->Watermarks(topic, p).value().second;
  EXPECT_EQ(stored, 100);
}

}  // namespace
}  // namespace apmcov::bus

// What kafka-dev (librdkafka 2.0.2's mock cluster) does and does not do, measured; quoted in
// docs/kafka-dev.md. Each test prints its observation on stderr.
namespace apmcov::bus {
namespace {

class KafkaDevBehaviourTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (g_control.empty())
      GTEST_SKIP() << "describes kafka-dev; KAFKA_BROKERS may be another Kafka";
    pub_ = KafkaPublisher::Create(Config()).value();
    probe_ = KafkaLagProbe::Create(Config()).value();
  }
  std::unique_ptr<KafkaPublisher> pub_;
  std::unique_ptr<KafkaLagProbe> probe_;
};

TEST_F(KafkaDevBehaviourTest, PartitionKeepsAboutFiveMiBAndDropsOlderSilently) {
  const std::string topic = contract::UniqueName("retention");
  ASSERT_EQ(pub_->PartitionCount(topic).value_or(0), 4);
  constexpr size_t kSize = 64 * 1024;
  constexpr int kCount = 320;  // 20 MiB
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(pub_->Publish({topic, "", contract::RandomBytes(kSize, i), {}, 0}).ok());
  }
  ASSERT_TRUE(pub_->Flush(std::chrono::seconds(60)).ok());  // no error: the drop is silent
  auto [low, high] = probe_->Watermarks(topic, 0).value();
  const double retained_mib = static_cast<double>((high - low) * kSize) / (1024.0 * 1024.0);
  std::cerr << "retention: wrote " << kCount << " x 64 KiB; low=" << low << " high=" << high
            << " retained=" << retained_mib << " MiB\n";
  EXPECT_EQ(high, kCount);
  EXPECT_GT(retained_mib, 4.0);
  EXPECT_LE(retained_mib, 6.0);
}

// 150k small messages in one partition are all kept: the limit that matters is bytes (any
// count limit of the mock applies to produce batches, not to messages).
TEST_F(KafkaDevBehaviourTest, SmallMessagesAreLimitedByBytesNotByCount) {
  const std::string topic = contract::UniqueName("retention-count");
  ASSERT_EQ(pub_->PartitionCount(topic).value_or(0), 4);
  constexpr int kCount = 150000;
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(pub_->Publish({topic, "", "tiny", {}, 0}).ok());
  ASSERT_TRUE(pub_->Flush(std::chrono::seconds(60)).ok());
  auto [low, high] = probe_->Watermarks(topic, 0).value();
  std::cerr << "retention by count: wrote " << kCount << " x 4 B; low=" << low << " high=" << high
            << " retained=" << high - low << " messages\n";
  EXPECT_EQ(high, kCount);
  EXPECT_EQ(low, 0);
}

TEST_F(KafkaDevBehaviourTest, SameKeyIsNeverCompacted) {
  // The design's compacted topics (catalog, apm-inventory, sync-jobs, collector-state) are
  // plain topics on kafka-dev: every version of a key stays until retention drops it.
  const std::string topic = contract::UniqueName("compaction");
  ASSERT_EQ(pub_->PartitionCount(topic).value_or(0), 4);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(pub_->Publish({topic, "same-key", absl::StrCat("v", i), {}, {}}).ok());
  }
  ASSERT_TRUE(pub_->Flush(std::chrono::seconds(10)).ok());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int32_t p = PartitionForKey("same-key", 4);
  EXPECT_EQ(probe_->Watermarks(topic, p).value(), (std::pair<int64_t, int64_t>(0, 50)));
  auto sub = KafkaSubscriber::Create(Config(), contract::UniqueName("group")).value();
  ASSERT_TRUE(sub->Subscribe({topic}).ok());
  auto got = contract::Drain(*sub, 50, std::chrono::seconds(20));
  ASSERT_EQ(got.size(), 50u);
  EXPECT_EQ(got.front().value, "v0");
}

TEST_F(KafkaDevBehaviourTest, FirstGroupJoinTakesSeconds) {
  const std::string topic = contract::UniqueName("join");
  ASSERT_EQ(pub_->PartitionCount(topic).value_or(0), 4);
  auto sub = KafkaSubscriber::Create(Config(), contract::UniqueName("group")).value();
  bool assigned = false;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(sub->Subscribe({topic}, {nullptr, [&](const auto&) { assigned = true; }}).ok());
  while (!assigned && std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
    ASSERT_TRUE(sub->Poll(10, std::chrono::milliseconds(50)).ok());
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::cerr << "first join: partitions assigned " << ms << " ms after Subscribe()\n";
  EXPECT_TRUE(assigned);
  EXPECT_GE(ms, 1000);  // the mock's group join delay
}

TEST_F(KafkaDevBehaviourTest, AdminCreateTopicsDoesNotComplete) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", g_brokers.c_str(), err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  ASSERT_NE(rk, nullptr) << err;
  const std::string topic = contract::UniqueName("admin");
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), 3, 1, err, sizeof(err));
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(opts, 5000, err, sizeof(err));
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  const auto start = std::chrono::steady_clock::now();
  rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 15000);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::string outcome = "no result event";
  rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (ev != nullptr) {
    code = rd_kafka_event_error(ev);
    outcome = code != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2name(code) : "request ok";
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
      size_t n = 0;
      const rd_kafka_topic_result_t** res =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
      if (n == 1) code = rd_kafka_topic_result_error(res[0]);
      outcome = absl::StrCat("topic result ", rd_kafka_err2name(code));
    }
    rd_kafka_event_destroy(ev);
  }
  std::cerr << "admin CreateTopics: " << outcome << " after " << ms << " ms\n";
  EXPECT_NE(code, RD_KAFKA_RESP_ERR_NO_ERROR) << "CreateTopics works now: update docs/kafka-dev.md";
  rd_kafka_queue_destroy(q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_destroy(rk);
}

TEST_F(KafkaDevBehaviourTest, ReadCommittedStillDeliversAbortedTransactions) {
  const std::string topic = contract::UniqueName("txn");
  ASSERT_EQ(pub_->PartitionCount(topic).value_or(0), 4);
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", g_brokers.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "transactional.id", contract::UniqueName("txn-id").c_str(), err,
                    sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  ASSERT_NE(rk, nullptr) << err;
  auto check = [](rd_kafka_error_t* e, const char* what) {
    if (e == nullptr) return true;
    ADD_FAILURE() << what << ": " << rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
    return false;
  };
  char value[] = "aborted";
  char committed[] = "committed";
  bool ok = check(rd_kafka_init_transactions(rk, 15000), "init") &&
            check(rd_kafka_begin_transaction(rk), "begin");
  for (int i = 0; ok && i < 5; ++i) {
    ok = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                           RD_KAFKA_V_VALUE(value, sizeof(value) - 1),
                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                           RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR;
  }
  ok = ok && rd_kafka_flush(rk, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
       check(rd_kafka_abort_transaction(rk, 15000), "abort") &&
       check(rd_kafka_begin_transaction(rk), "begin 2") &&
       rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                         RD_KAFKA_V_VALUE(committed, sizeof(committed) - 1),
                         RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                         RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR &&
       check(rd_kafka_commit_transaction(rk, 15000), "commit");
  rd_kafka_destroy(rk);
  ASSERT_TRUE(ok);

  KafkaConfig cfg = Config();
  cfg.properties["isolation.level"] = "read_committed";
  auto sub = KafkaSubscriber::Create(cfg, contract::UniqueName("group")).value();
  ASSERT_TRUE(sub->Subscribe({topic}).ok());
  auto got = contract::Drain(*sub, 100, std::chrono::seconds(8));
  int aborted = 0;
  for (const IncomingMessage& m : got) aborted += m.value == "aborted";
  std::cerr << "read_committed: received " << got.size() << " messages, " << aborted
            << " of them from the aborted transaction\n";
  EXPECT_EQ(got.size() - static_cast<size_t>(aborted), 1u);
  EXPECT_EQ(aborted, 5) << "read_committed hides aborted messages now: update docs/kafka-dev.md";
}

}  // namespace
}  // namespace apmcov::bus
