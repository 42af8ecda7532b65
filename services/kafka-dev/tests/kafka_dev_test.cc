// kafka-dev: the mock cluster wrapper, its control protocol and the control port.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "control_server.h"
#include "mock_cluster.h"

namespace apmcov::kafkadev {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Producer {
  rd_kafka_t* rk = nullptr;
  explicit Producer(const std::string& brokers) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof(err));
    rd_kafka_conf_set(conf, "message.timeout.ms", "20000", err, sizeof(err));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  }
  ~Producer() { rd_kafka_destroy(rk); }
  // Partition count of `topic` from metadata, -1 on error.
  int Partitions(const std::string& topic, int* brokers) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    int n = -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = md->topics[0].partition_cnt;
      }
      *brokers = md->broker_cnt;
      rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
  }
  char value[1] = {'v'};
  rd_kafka_resp_err_t Produce(const std::string& topic) {
    return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_VALUE(value, 1),
                             RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END);
  }
};

TEST(ParseTopicSpecsTest, NamesAndCounts) {
  auto specs = ParseTopicSpecs({"a", "b.c:3", "d_e-f:12"}, 6);
  ASSERT_TRUE(specs.ok());
  ASSERT_EQ(specs->size(), 3u);
  EXPECT_EQ((*specs)[0].partitions, 6);
  EXPECT_EQ((*specs)[1].name, "b.c");
  EXPECT_EQ((*specs)[1].partitions, 3);
  EXPECT_EQ((*specs)[2].partitions, 12);
  EXPECT_THAT(std::string(ParseTopicSpecs({"x:0"}, 6).status().message()), HasSubstr("'x:0'"));
  EXPECT_THAT(std::string(ParseTopicSpecs({"x:abc"}, 6).status().message()),
              HasSubstr("partitions"));
  EXPECT_THAT(std::string(ParseTopicSpecs({"bad name"}, 6).status().message()),
              HasSubstr("[a-zA-Z0-9._-]"));
  EXPECT_FALSE(ParseTopicSpecs({":3"}, 6).ok());
}

TEST(MockClusterTest, TopicsCreatedAtStartHaveTheirPartitions) {
  auto cluster = MockCluster::Create(3);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->CreateTopic({"apmcov.spans", 6}).ok());
  ASSERT_TRUE((*cluster)->CreateTopic({"extra", 2}).ok());
  EXPECT_EQ((*cluster)->CreateTopic({"extra", 2}).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ((*cluster)->CreateTopic({"x", 0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MockCluster::Create(0).status().code(), absl::StatusCode::kInvalidArgument);

  Producer p((*cluster)->Bootstraps());
  int brokers = 0;
  EXPECT_EQ(p.Partitions("apmcov.spans", &brokers), 6);
  EXPECT_EQ(brokers, 3);
  EXPECT_EQ(p.Partitions("extra", &brokers), 2);
  // Topics that nobody created are auto-created with 4 partitions on first metadata request.
  EXPECT_EQ(p.Partitions("auto.created", &brokers), 4);
}

TEST(ControlCommandTest, RepliesOkOrErrorWithReason) {
  auto cluster = MockCluster::Create(3);
  ASSERT_TRUE(cluster.ok());
  MockCluster& c = **cluster;
  EXPECT_EQ(ExecuteControlCommand(c, "status"), "ok brokers=3 up=1,2,3 down= topics=");
  EXPECT_EQ(ExecuteControlCommand(c, "create-topic t1 3"), "ok");
  EXPECT_THAT(ExecuteControlCommand(c, "create-topic t1 3"), HasSubstr("already exists"));
  EXPECT_EQ(ExecuteControlCommand(c, "broker-down 2"), "ok");
  EXPECT_EQ(ExecuteControlCommand(c, "status"), "ok brokers=3 up=1,3 down=2 topics=t1:3");
  EXPECT_EQ(ExecuteControlCommand(c, "broker-up 2\r"), "ok");
  EXPECT_EQ(ExecuteControlCommand(c, "set-leader t1 0 3"), "ok");
  EXPECT_THAT(ExecuteControlCommand(c, "set-leader t1 7 3"), StartsWith("error partition 7"));
  EXPECT_THAT(ExecuteControlCommand(c, "broker-down 4"), StartsWith("error broker id 4"));
  EXPECT_THAT(ExecuteControlCommand(c, "broker-down x"), HasSubstr("not a number"));
  EXPECT_THAT(ExecuteControlCommand(c, "broker-down"), StartsWith("error usage"));
  EXPECT_THAT(ExecuteControlCommand(c, "reboot"), StartsWith("error unknown command 'reboot'"));
  EXPECT_EQ(ExecuteControlCommand(c, "bootstrap"), "ok " + c.Bootstraps());
  EXPECT_THAT(ExecuteControlCommand(c, ""), StartsWith("error empty"));
}

TEST(ControlServerTest, AnswersLinesOverTcp) {
  auto cluster = MockCluster::Create(1);
  ASSERT_TRUE(cluster.ok());
  ControlServer server(**cluster);
  ASSERT_TRUE(server.Start(0).ok());
  ASSERT_NE(server.port(), 0);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(server.port());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string cmds = "broker-down 1\nstatus\n";
  ASSERT_EQ(::write(fd, cmds.data(), cmds.size()), static_cast<ssize_t>(cmds.size()));
  std::string got;
  char buf[256];
  while (std::count(got.begin(), got.end(), '\n') < 2) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  EXPECT_EQ(got, "ok\nok brokers=1 up= down=1 topics=\n");
  server.Stop();
}

// The fault-injection path later tests rely on: a broker taken down stops acknowledging
// produce requests; brought back up, the queued messages are delivered.
TEST(MockClusterTest, BrokerDownBlocksDeliveryUntilUp) {
  auto cluster = MockCluster::Create(1);
  ASSERT_TRUE(cluster.ok());
  ASSERT_TRUE((*cluster)->CreateTopic({"t", 1}).ok());
  Producer p((*cluster)->Bootstraps());
  int brokers = 0;
  ASSERT_EQ(p.Partitions("t", &brokers), 1);
  ASSERT_EQ(p.Produce("t"), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_flush(p.rk, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);

  ASSERT_TRUE((*cluster)->BrokerDown(1).ok());
  ASSERT_EQ(p.Produce("t"), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(rd_kafka_flush(p.rk, 1500), RD_KAFKA_RESP_ERR__TIMED_OUT);
  EXPECT_EQ(rd_kafka_outq_len(p.rk), 1);
  ASSERT_TRUE((*cluster)->BrokerUp(1).ok());
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(rd_kafka_flush(p.rk, 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::cerr << "delivered "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count()
            << " ms after broker-up\n";
}

}  // namespace
}  // namespace apmcov::kafkadev
