// An embedded Kafka cluster for one machine (design §2 "kafka-dev"), built on librdkafka's mock
// cluster: real Kafka wire protocol on 127.0.0.1, brokers 1..N, topics created at start.
//
// Contract:
//  - Create() returns a running cluster whose Bootstraps() any Kafka client can use; the
//    cluster stops when the object is destroyed.
//  - Brokers are numbered 1..broker_count. BrokerDown() disconnects a broker and refuses new
//    connections to it (partition leadership does NOT move: use SetLeader()); BrokerUp() undoes it.
//  - Listener ports are chosen by the kernel (librdkafka 2.0.2's mock has no fixed-port API).
//  - Thread-safe: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace apmcov::kafkadev {

struct TopicSpec {
  std::string name;
  int32_t partitions = 0;
};

// Parses "a,b:3" style items ("name" or "name:partitions"); a missing count means
// `default_partitions`. InvalidArgument naming the bad item otherwise.
absl::StatusOr<std::vector<TopicSpec>> ParseTopicSpecs(const std::vector<std::string>& items,
                                                       int32_t default_partitions);

class MockCluster {
 public:
  static absl::StatusOr<std::unique_ptr<MockCluster>> Create(int broker_count);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  // "127.0.0.1:port,127.0.0.1:port,..."
  std::string Bootstraps() const;
  int broker_count() const { return broker_count_; }

  // AlreadyExists when the topic was created before; InvalidArgument for a bad name or count.
  absl::Status CreateTopic(const TopicSpec& topic);
  absl::Status BrokerDown(int32_t broker_id);
  absl::Status BrokerUp(int32_t broker_id);
  // Moves the leader of one partition (e.g. away from a broker taken down).
  absl::Status SetLeader(const std::string& topic, int32_t partition, int32_t broker_id);

  // One line: "brokers=3 up=1,2 down=3 topics=apmcov.spans:6,..." (topics created here only).
  std::string StatusLine() const;

 private:
  MockCluster(rd_kafka_s* rk, rd_kafka_mock_cluster_s* cluster, int broker_count);
  absl::Status CheckBroker(int32_t broker_id) const;

  rd_kafka_s* rk_;
  rd_kafka_mock_cluster_s* cluster_;
  int broker_count_;
  mutable std::mutex mu_;
  std::map<int32_t, bool> broker_up_;
  std::map<std::string, int32_t> topics_;
};

}  // namespace apmcov::kafkadev
