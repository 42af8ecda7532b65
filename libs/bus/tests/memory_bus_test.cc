// The bus contract suite against MemoryBroker, plus fake-only behaviour.
#include "apmcov/bus/memory_bus.h"

#include <limits>
#include <optional>
#include <utility>

#include "apmcov/bus/partition_ends.h"
#include "bus_contract.h"

namespace apmcov::bus {
namespace {

struct MemoryBackend {
  static constexpr const char* kName = "memory";
  // The same retention as a kafka-dev partition (about 5 MiB).
  std::optional<MemoryBroker> broker{std::in_place,
                                     MemoryBroker::Options{4, size_t{5} * 1024 * 1024}};

  std::unique_ptr<Publisher> NewPublisher() { return broker->NewPublisher(); }
  std::unique_ptr<Subscriber> NewSubscriber(const std::string& group) {
    return broker->NewSubscriber(group);
  }
  std::unique_ptr<LagProbe> NewLagProbe() { return broker->NewLagProbe(); }
  static std::chrono::milliseconds JoinTimeout() { return std::chrono::seconds(5); }
};

// The same broker with deliver_on_flush, as the services' unit tests use it.
struct DeliverOnFlushBackend : MemoryBackend {
  static constexpr const char* kName = "memory-deliver-on-flush";
  DeliverOnFlushBackend() {
    MemoryBroker::Options options{4, size_t{5} * 1024 * 1024};
    options.deliver_on_flush = true;
    broker.emplace(options);
  }
};

}  // namespace

namespace contract {
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, BusContractTest, MemoryBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(MemoryDeliverOnFlush, BusContractTest, DeliverOnFlushBackend);
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

// An injected outage: every delivery fails with the status given, is never stored, and each
// publisher's next Flush() says so once; then deliveries succeed again.
TEST(MemoryBrokerTest, InjectedFailureStatusIsWhatFlushReports) {
  MemoryBroker broker;
  auto a = broker.NewPublisher();
  auto b = broker.NewPublisher();
  broker.FailNextDeliveries(3, absl::UnavailableError("all brokers down"));
  ASSERT_TRUE(a->Publish({"t", "", "v", {}, 0}).ok());
  ASSERT_TRUE(b->Publish({"t", "", "v", {}, 0}).ok());
  ASSERT_TRUE(a->Publish({"t", "", "v", {}, 0}).ok());
  ASSERT_TRUE(b->Publish({"t", "", "v", {}, 0}).ok());  // the 4th: delivered
  absl::Status fa = a->Flush(std::chrono::seconds(1));
  EXPECT_EQ(fa.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(fa.message()), ::testing::HasSubstr("all brokers down"));
  EXPECT_THAT(std::string(fa.message()), ::testing::HasSubstr("2 message(s)"));
  absl::Status fb = b->Flush(std::chrono::seconds(1));
  EXPECT_THAT(std::string(fb.message()), ::testing::HasSubstr("1 message(s)"));
  EXPECT_EQ(broker.Watermarks("t", 0).value(), (std::pair<int64_t, int64_t>(0, 1)));

  broker.FailNextDeliveries(std::numeric_limits<int>::max(),
                            absl::DeadlineExceededError("broker unreachable"));
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(a->Publish({"t", "", "v", {}, 0}).ok());
  EXPECT_EQ(a->Flush(std::chrono::seconds(1)).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(broker.Watermarks("t", 0).value(), (std::pair<int64_t, int64_t>(0, 1)))
      << "a failed delivery was stored";
}

// A group's offsets moved by an admin (Kafka's AlterConsumerGroupOffsets): the lag probe and
// the next member see them; a group with members is refused.
TEST(MemoryBrokerTest, AlterGroupOffsetsMovesAnIdleGroup) {
  MemoryBroker broker;
  ASSERT_TRUE(broker.CreateTopic("t", 2).ok());
  auto pub = broker.NewPublisher();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(pub->Publish({"t", "", absl::StrCat(i), {}, 1}).ok());
  auto probe = broker.NewLagProbe();
  EXPECT_EQ(probe->GroupLag("g", "t").value_or(-1), 10);
  ASSERT_TRUE(broker.AlterGroupOffsets("g", {{{"t", 1}, 7}}).ok());
  EXPECT_EQ(probe->GroupLag("g", "t").value_or(-1), 3);
  EXPECT_EQ(broker.AlterGroupOffsets("g", {{{"t", 2}, 1}}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(broker.AlterGroupOffsets("g", {{{"t", 1}, -1}}).code(),
            absl::StatusCode::kInvalidArgument);

  auto member = broker.NewSubscriber("g");
  ASSERT_TRUE(member->Subscribe({"t"}).ok());
  auto got = member->Poll(100, std::chrono::seconds(1));
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ(got->front().offset, 7);
  absl::Status busy = broker.AlterGroupOffsets("g", {{{"t", 1}, 0}});
  EXPECT_EQ(busy.code(), absl::StatusCode::kFailedPrecondition) << busy;
  EXPECT_THAT(std::string(busy.message()), ::testing::HasSubstr("1 member(s)"));
}

// PartitionEnds: a member reads a topic to the end of every partition it owns, an empty one
// included, and knows it without waiting for quiet.
TEST(MemoryBrokerTest, PartitionEndsSaysWhenEveryOwnedPartitionWasReadToItsEnd) {
  MemoryBroker broker;
  ASSERT_TRUE(broker.CreateTopic("t", 2).ok());
  auto pub = broker.NewPublisher();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pub->Publish({"t", "", absl::StrCat(i), {}, 0}).ok());
  auto member = broker.NewSubscriber("g");
  PartitionEnds ends;
  EXPECT_FALSE(ends.AllEnded());
  ASSERT_TRUE(member->Subscribe({"t"}, ends.Listener()).ok());
  size_t read = 0;
  for (int poll = 0; poll < 10 && !ends.AllEnded(); ++poll) {
    auto got = member->Poll(100, std::chrono::seconds(1));
    ASSERT_TRUE(got.ok()) << got.status();
    read += got->size();
  }
  EXPECT_TRUE(ends.AllEnded());
  EXPECT_TRUE(ends.assigned());
  EXPECT_EQ(ends.owned(), 2u);
  EXPECT_EQ(ends.ended(), 2u);
  EXPECT_EQ(read, 3u);
  // A copy of the listener outlives its tracker safely (the state is shared).
  RebalanceListener kept;
  {
    PartitionEnds gone;
    kept = gone.Listener();
  }
  kept.on_assigned({{"t", 0}});
  kept.on_end_of_partition({"t", 0}, 3);
  kept.on_revoked({{"t", 0}});
}

// DeleteRecords moves the log start like retention: the probe shows the new low watermark and
// a member behind it gets DataLoss, then the earliest retained message.
TEST(MemoryBrokerTest, DeleteRecordsMovesTheLowWatermark) {
  MemoryBroker broker;
  ASSERT_TRUE(broker.CreateTopic("t", 1).ok());
  auto pub = broker.NewPublisher();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(pub->Publish({"t", "", absl::StrCat(i), {}, 0}).ok());
  ASSERT_TRUE(broker.AlterGroupOffsets("g", {{{"t", 0}, 2}}).ok());
  ASSERT_TRUE(broker.DeleteRecords("t", 0, 6).ok());
  ASSERT_TRUE(broker.DeleteRecords("t", 0, 4).ok());  // below the log start: nothing
  EXPECT_EQ(broker.Watermarks("t", 0).value(), (std::pair<int64_t, int64_t>(6, 10)));
  auto lags = broker.NewLagProbe()->PartitionLags("g", "t");
  ASSERT_TRUE(lags.ok());
  EXPECT_EQ(lags->front().low, 6);
  EXPECT_EQ(lags->front().committed, 2);
  EXPECT_EQ(broker.DeleteRecords("t", 0, 11).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(broker.DeleteRecords("t", 1, 1).code(), absl::StatusCode::kNotFound);
  auto member = broker.NewSubscriber("g");
  ASSERT_TRUE(member->Subscribe({"t"}).ok());
  EXPECT_EQ(member->Poll(10, std::chrono::seconds(1)).status().code(), absl::StatusCode::kDataLoss);
  auto rest = member->Poll(10, std::chrono::seconds(1));
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 4u);
  EXPECT_EQ(rest->front().value, "6");
}

// The lag-read hook runs before each reading, outside the broker's lock: what it does to the
// group shows in that very reading.
TEST(MemoryBrokerTest, OnLagReadRunsBeforeEveryReading) {
  MemoryBroker broker;
  ASSERT_TRUE(broker.CreateTopic("t", 1).ok());
  auto pub = broker.NewPublisher();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(pub->Publish({"t", "", "v", {}, 0}).ok());
  std::vector<int64_t> commits = {10, 60, 100};
  std::vector<std::string> seen;
  size_t next = 0;
  broker.OnLagRead([&](const std::string& group, const std::string& topic) {
    seen.push_back(group + "/" + topic);
    if (next < commits.size()) {
      ASSERT_TRUE(broker.AlterGroupOffsets(group, {{{topic, 0}, commits[next++]}}).ok());
    }
  });
  auto probe = broker.NewLagProbe();
  EXPECT_EQ(probe->GroupLag("g", "t").value_or(-1), 90);
  EXPECT_EQ(probe->GroupLag("g", "t").value_or(-1), 40);
  EXPECT_EQ(probe->GroupLag("g", "t").value_or(-1), 0);
  EXPECT_EQ(probe->GroupLag("g", "t").value_or(-1), 0);
  EXPECT_EQ(seen, std::vector<std::string>(4, "g/t"));
  broker.OnLagRead(nullptr);
  EXPECT_EQ(probe->GroupLag("g", "t").value_or(-1), 0);
  EXPECT_EQ(seen.size(), 4u);
}

// deliver_on_flush: nothing of a publisher is visible before its Flush(), and a failure
// injected meanwhile hits the delivery at Flush(), losing what was pending.
TEST(MemoryBrokerTest, DeliverOnFlushShowsOnlyWhatWasFlushed) {
  MemoryBroker::Options options;
  options.deliver_on_flush = true;
  MemoryBroker broker(options);
  ASSERT_TRUE(broker.CreateTopic("t", 1).ok());
  auto a = broker.NewPublisher();
  auto b = broker.NewPublisher();
  ASSERT_TRUE(a->Publish({"t", "", "a1", {}, {}}).ok());
  ASSERT_TRUE(b->Publish({"t", "", "b1", {}, {}}).ok());
  EXPECT_EQ(broker.Watermarks("t", 0).value(), (std::pair<int64_t, int64_t>(0, 0)));
  ASSERT_TRUE(b->Flush(std::chrono::seconds(1)).ok());
  EXPECT_EQ(broker.Watermarks("t", 0).value(), (std::pair<int64_t, int64_t>(0, 1)));
  broker.FailNextDeliveries(1, absl::UnavailableError("broker gone"));
  EXPECT_THAT(std::string(a->Flush(std::chrono::seconds(1)).message()),
              ::testing::HasSubstr("broker gone (1 message(s) failed delivery)"));
  EXPECT_TRUE(a->Flush(std::chrono::seconds(1)).ok()) << "the loss is reported once";
  auto sub = broker.NewSubscriber("g");
  ASSERT_TRUE(sub->Subscribe({"t"}).ok());
  auto got = sub->Poll(10, std::chrono::seconds(1));
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().value, "b1");
}

// A group is stable once every member served the latest rebalance in a Poll().
TEST(MemoryBrokerTest, AwaitGroupStableWaitsForEveryMembersPoll) {
  MemoryBroker broker;
  ASSERT_TRUE(broker.CreateTopic("t", 2).ok());
  auto a = broker.NewSubscriber("g");
  auto b = broker.NewSubscriber("g");
  ASSERT_TRUE(a->Subscribe({"t"}).ok());
  EXPECT_FALSE(broker.AwaitGroupStable("g", 1, std::chrono::milliseconds(0)));
  ASSERT_TRUE(a->Poll(1, std::chrono::milliseconds(0)).ok());
  EXPECT_TRUE(broker.AwaitGroupStable("g", 1, std::chrono::milliseconds(0)));
  ASSERT_TRUE(b->Subscribe({"t"}).ok());
  ASSERT_TRUE(b->Poll(1, std::chrono::milliseconds(0)).ok());
  EXPECT_FALSE(broker.AwaitGroupStable("g", 2, std::chrono::milliseconds(0))) << "a has not polled";
  ASSERT_TRUE(a->Poll(1, std::chrono::milliseconds(0)).ok());
  EXPECT_TRUE(broker.AwaitGroupStable("g", 2, std::chrono::milliseconds(0)));
  EXPECT_FALSE(broker.AwaitGroupStable("g", 3, std::chrono::milliseconds(0)));
}

// AwaitCommitted wakes on the commit itself.
TEST(MemoryBrokerTest, AwaitCommittedSeesCommitsAndAlteredOffsets) {
  MemoryBroker broker;
  ASSERT_TRUE(broker.CreateTopic("t", 1).ok());
  const TopicPartition tp{"t", 0};
  EXPECT_EQ(broker.AwaitCommitted("g", tp, 1, std::chrono::milliseconds(0)), -1);
  ASSERT_TRUE(broker.AlterGroupOffsets("g", {{tp, 3}}).ok());
  EXPECT_EQ(broker.AwaitCommitted("g", tp, 1, std::chrono::milliseconds(0)), 3);
  EXPECT_EQ(broker.AwaitCommitted("g", tp, 5, std::chrono::milliseconds(0)), 3);
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
