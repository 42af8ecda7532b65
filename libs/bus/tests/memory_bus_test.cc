// The bus contract suite against MemoryBroker, plus fake-only behaviour.
#include "apmcov/bus/memory_bus.h"

#include "bus_contract.h"

namespace apmcov::bus {
namespace {

struct MemoryBackend {
  static constexpr const char* kName = "memory";
  // The same retention as a kafka-dev partition (about 5 MiB).
  MemoryBroker broker{MemoryBroker::Options{4, 5 * 1024 * 1024}};

  std::unique_ptr<Publisher> NewPublisher() { return broker.NewPublisher(); }
  std::unique_ptr<Subscriber> NewSubscriber(const std::string& group) {
    return broker.NewSubscriber(group);
  }
  std::unique_ptr<LagProbe> NewLagProbe() { return broker.NewLagProbe(); }
  static std::chrono::milliseconds JoinTimeout() { return std::chrono::seconds(5); }
};

}  // namespace

namespace contract {
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, BusContractTest, MemoryBackend);
}  // namespace contract

namespace {

TEST(MemoryBrokerTest, InjectedDeliveryFailureIsReportedByNextFlushOnly) {
  MemoryBroker broker;
  auto pub = broker.NewPublisher();
  broker.FailNextDeliveries(2);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pub->Publish({"t", "k", "v", {}, {}}).ok());
  absl::Status s = pub->Flush(std::chrono::seconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("2 message(s)"));
  EXPECT_TRUE(pub->Flush(std::chrono::seconds(1)).ok());
  int32_t p = PartitionForKey("k", 4);
  EXPECT_EQ(broker.Watermarks("t", p).value(), (std::pair<int64_t, int64_t>(0, 1)));
}

TEST(MemoryBrokerTest, ErrorsNameWhatIsWrong) {
  MemoryBroker broker;
  EXPECT_EQ(broker.CreateTopic("", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(broker.CreateTopic("t", 0).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(broker.CreateTopic("t", 2).ok());
  EXPECT_EQ(broker.CreateTopic("t", 2).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(broker.Watermarks("nope", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(broker.Watermarks("t", 2).status().code(), absl::StatusCode::kNotFound);
  auto pub = broker.NewPublisher();
  absl::Status s = pub->Publish({"t", "", "v", {}, 5});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("no partition 5"));
  EXPECT_EQ(broker.NewLagProbe()->GroupLag("g", "nope").status().code(),
            absl::StatusCode::kNotFound);
  auto sub = broker.NewSubscriber("g");
  EXPECT_EQ(sub->Poll(1, std::chrono::milliseconds(1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sub->Commit({{{"t", 0}, -1}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sub->Commit({{{"t", 9}, 1}}).code(), absl::StatusCode::kNotFound);
}

TEST(MemoryBrokerTest, UnkeyedMessagesSpreadRoundRobin) {
  MemoryBroker broker;
  auto pub = broker.NewPublisher();
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(pub->Publish({"t", "", "v", {}, {}}).ok());
  for (int32_t p = 0; p < 4; ++p) EXPECT_EQ(broker.Watermarks("t", p)->second, 2);
}

TEST(MemoryBrokerTest, DataLossIsCounted) {
  MemoryBroker broker(MemoryBroker::Options{1, 10});
  auto pub = broker.NewPublisher();
  auto sub = broker.NewSubscriber("g");
  ASSERT_TRUE(sub->Subscribe({"t"}).ok());
  ASSERT_TRUE(pub->Publish({"t", "", "0123456789", {}, {}}).ok());
  ASSERT_EQ(sub->Poll(10, std::chrono::seconds(1))->size(), 1u);
  ASSERT_TRUE(sub->Commit({{{"t", 0}, 1}}).ok());
  sub->Close();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pub->Publish({"t", "", "0123456789", {}, {}}).ok());
  EXPECT_EQ(broker.Watermarks("t", 0).value(), (std::pair<int64_t, int64_t>(3, 4)));
  auto again = broker.NewSubscriber("g");
  ASSERT_TRUE(again->Subscribe({"t"}).ok());
  EXPECT_EQ(again->Poll(10, std::chrono::seconds(1)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(broker.data_loss_events(), 1);
  auto rest = again->Poll(10, std::chrono::seconds(1));
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ(rest->front().offset, 3);
}

}  // namespace
}  // namespace apmcov::bus
