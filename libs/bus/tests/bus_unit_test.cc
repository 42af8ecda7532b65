// Pure parts of the bus: key partitioning, protobuf helpers, Kafka configuration and error
// mapping. No I/O.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "apmcov/bus/bus.h"
#include "apmcov/bus/kafka.h"
#include "apmcov/bus/proto.h"
#include "apmcov/v1/events.pb.h"
#include "kafka_common.h"

namespace apmcov::bus {
namespace {

using ::testing::HasSubstr;

TEST(TopicNamesTest, PrefixesEveryDesignTopic) {
  TopicNames names("dev.");
  EXPECT_EQ(names.spans, "dev.spans");
  EXPECT_EQ(names.All(), (std::vector<std::string>{"dev.catalog", "dev.apm-inventory", "dev.spans",
                                                   "dev.sync-jobs", "dev.commands",
                                                   "dev.collector-state", "dev.dlq"}));
  EXPECT_EQ(TopicNames().catalog, "apmcov.catalog");
}

TEST(PartitionForKeyTest, MatchesKafkaMurmur2) {
  // Reference hashes of Kafka's murmur2 (librdkafka's rdmurmur2.c unit test vectors, which
  // match the Java client). With partition_count = 2^31 - 1 the result is the hash & 0x7fffffff.
  constexpr int32_t kAll = 0x7fffffff;
  const std::string unaligned = "PreAmbleWillBeRemoved,ThePrePartThatIs";
  const std::vector<std::pair<std::string, uint32_t>> vectors = {{"kafka", 0xd067cf64},
                                                                 {"giberish123456789", 0x8f552b0c},
                                                                 {"1234", 0x9fc97b14},
                                                                 {"234", 0xe7c009ca},
                                                                 {"34", 0x873930da},
                                                                 {"4", 0x5a4b5ca1},
                                                                 {unaligned, 0x78424f1c},
                                                                 {unaligned.substr(1), 0x4a62b377},
                                                                 {unaligned.substr(2), 0xe0e4e09e},
                                                                 {unaligned.substr(3), 0x62b8b43f},
                                                                 {"", 0x106e08d9}};
  for (const auto& [key, hash] : vectors) {
    EXPECT_EQ(PartitionForKey(key, kAll), static_cast<int32_t>(hash & 0x7fffffff)) << key;
  }
  EXPECT_EQ(PartitionForKey("kafka", 10), 0);  // 0x5067cf64 = 1348980580
  EXPECT_EQ(PartitionForKey("giberish123456789", 1000), 820);
  std::set<int32_t> used;
  for (int i = 0; i < 1000; ++i) {
    int32_t p = PartitionForKey("service-" + std::to_string(i), 6);
    ASSERT_GE(p, 0);
    ASSERT_LT(p, 6);
    used.insert(p);
  }
  EXPECT_EQ(used.size(), 6u);
}

TEST(ProtoHelpersTest, HeadersAndParseErrors) {
  v1::SyncRequest req;
  req.set_requested_by("alice");
  auto out = MakeProtoMessage("apmcov.commands", "sync", req, std::nullopt, {{"x", "y"}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->headers, (Headers{{"content-type", "application/x-protobuf"},
                                   {"type", "apmcov.v1.SyncRequest"},
                                   {"x", "y"}}));
  IncomingMessage in;
  in.topic = out->topic;
  in.value = out->value;
  in.headers = out->headers;
  v1::SyncRequest back;
  ASSERT_TRUE(ParseProto(in, &back).ok());
  EXPECT_EQ(back.requested_by(), "alice");

  v1::SpanBatch other;
  absl::Status wrong_type = ParseProto(in, &other);
  EXPECT_EQ(wrong_type.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong_type.message()), HasSubstr("apmcov.v1.SyncRequest"));

  IncomingMessage garbage = in;
  garbage.value = "\xff\xff\xff";
  EXPECT_THAT(std::string(ParseProto(garbage, &back).message()), HasSubstr("does not parse"));

  IncomingMessage json = in;
  json.headers = {{"content-type", "application/json"}, {"type", "apmcov.v1.SyncRequest"}};
  EXPECT_THAT(std::string(ParseProto(json, &back).message()), HasSubstr("application/json"));
  json.headers.clear();
  EXPECT_THAT(std::string(ParseProto(json, &back).message()), HasSubstr("<missing>"));
}

TEST(KafkaConfigTest, ValidateNamesTheProblem) {
  KafkaConfig ok{"127.0.0.1:9092,kafka-1:9093", "c", {{"linger.ms", "10"}}};
  EXPECT_TRUE(ok.Validate().ok());
  EXPECT_THAT(std::string(KafkaConfig{"", "c", {}}.Validate().message()),
              HasSubstr("KAFKA_BROKERS"));
  EXPECT_THAT(std::string(KafkaConfig{"host", "c", {}}.Validate().message()), HasSubstr("'host'"));
  EXPECT_FALSE(KafkaConfig({"h:0", "c", {}}).Validate().ok());
  EXPECT_FALSE(KafkaConfig({"h:99999", "c", {}}).Validate().ok());
  EXPECT_FALSE(KafkaConfig({"h:1", "", {}}).Validate().ok());
  absl::Status s = KafkaConfig{"h:1", "c", {{"enable.auto.commit", "true"}}}.Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("enable.auto.commit"));
}

TEST(KafkaStatusTest, MapsLibrdkafkaErrors) {
  using kafka_internal::StatusCodeFor;
  EXPECT_EQ(StatusCodeFor(RD_KAFKA_RESP_ERR__TRANSPORT), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeFor(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeFor(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(StatusCodeFor(RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET), absl::StatusCode::kDataLoss);
  EXPECT_EQ(StatusCodeFor(RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE), absl::StatusCode::kDataLoss);
  EXPECT_EQ(StatusCodeFor(RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION), absl::StatusCode::kNotFound);
  EXPECT_EQ(StatusCodeFor(RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS), absl::StatusCode::kAborted);
  absl::Status s = kafka_internal::KafkaStatus(RD_KAFKA_RESP_ERR__TRANSPORT, "commit group g");
  EXPECT_THAT(std::string(s.message()), HasSubstr("commit group g: "));
  EXPECT_THAT(std::string(s.message()), HasSubstr("_TRANSPORT"));
}

}  // namespace
}  // namespace apmcov::bus
