// The bus contract test suite (bus.h), run against every implementation: MemoryBroker in
// bus_unit_test (label unit) and the Kafka adapter against kafka-dev in
// bus_kafka_integration_test (label integration).
//
// A Backend type provides:
//   static constexpr const char* kName;
//   std::unique_ptr<Publisher> NewPublisher();
//   std::unique_ptr<Subscriber> NewSubscriber(const std::string& group);
//   std::unique_ptr<LagProbe> NewLagProbe();
//   static std::chrono::milliseconds JoinTimeout();  // first group join can take seconds
// New topics have 4 partitions on both (kafka-dev's auto-creation).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "apmcov/bus/bus.h"
#include "apmcov/bus/proto.h"
#include "apmcov/v1/events.pb.h"

namespace apmcov::bus::contract {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int32_t kPartitions = 4;

inline std::string UniqueName(std::string_view what) {
  static std::atomic<int> counter{0};
  static const uint32_t run = std::random_device{}();
  return absl::StrCat("test.", AbslView(what), ".", ::getpid(), ".", run, ".", counter++);
}

// Polls until `want` messages arrived or `timeout` passed. Fails the test on a Poll error.
inline std::vector<IncomingMessage> Drain(Subscriber& sub, size_t want, milliseconds timeout) {
  std::vector<IncomingMessage> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
    auto batch = sub.Poll(want - out.size(), milliseconds(200));
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok()) break;
    for (auto& m : *batch) out.push_back(std::move(m));
  }
  return out;
}

// The offsets to commit after processing `messages`: per partition, last offset + 1.
inline std::map<TopicPartition, int64_t> NextOffsets(const std::vector<IncomingMessage>& messages) {
  std::map<TopicPartition, int64_t> out;
  for (const IncomingMessage& m : messages) {
    int64_t& next = out[{m.topic, m.partition}];
    next = std::max(next, m.offset + 1);
  }
  return out;
}

inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

template <typename Backend>
class BusContractTest : public ::testing::Test {
 protected:
  Backend backend_;

  // A fresh topic with kPartitions partitions (created through PartitionCount()).
  std::string NewTopic(Publisher& pub) {
    std::string topic = UniqueName("topic");
    auto count = pub.PartitionCount(topic);
    EXPECT_TRUE(count.ok()) << count.status();
    EXPECT_EQ(count.value_or(0), kPartitions);
    return topic;
  }

  void PublishOrDie(Publisher& pub, OutgoingMessage m) {
    absl::Status s = pub.Publish(std::move(m));
    ASSERT_TRUE(s.ok()) << s;
  }

  // {low, high} of a partition through the backend's LagProbe; {-1, -1} (and a failure) when
  // it cannot be read.
  std::pair<int64_t, int64_t> Watermarks(const std::string& topic, int32_t partition) {
    if (!probe_) probe_ = backend_.NewLagProbe();
    auto w = probe_->Watermarks(topic, partition);
    EXPECT_TRUE(w.ok()) << w.status();
    return w.value_or(std::make_pair(-1, -1));
  }

 private:
  std::unique_ptr<LagProbe> probe_;
};

TYPED_TEST_SUITE_P(BusContractTest);

TYPED_TEST_P(BusContractTest, NewTopicHasFourPartitions) {
  auto pub = this->backend_.NewPublisher();
  this->NewTopic(*pub);
  auto bad = pub->PartitionCount("");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TYPED_TEST_P(BusContractTest, SameKeyKeepsOrderOnOnePartitionChosenByMurmur2) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  const std::vector<std::string> keys = {"checkout", "cart", "payments", "1234567890", "a"};
  constexpr int kPerKey = 40;
  for (int i = 0; i < kPerKey; ++i) {
    for (const std::string& key : keys) {
      this->PublishOrDie(*pub, {topic, key, absl::StrCat(key, ":", i), {}, std::nullopt});
    }
  }
  ASSERT_TRUE(pub->Flush(seconds(10)).ok());

  auto sub = this->backend_.NewSubscriber(UniqueName("group"));
  ASSERT_TRUE(sub->Subscribe({topic}).ok());
  auto got = Drain(*sub, keys.size() * kPerKey, TypeParam::JoinTimeout());
  ASSERT_EQ(got.size(), keys.size() * kPerKey);
  std::map<std::string, int> next_seq;
  std::map<int32_t, int64_t> last_offset;
  for (const IncomingMessage& m : got) {
    EXPECT_EQ(m.topic, topic);
    EXPECT_EQ(m.partition, PartitionForKey(m.key, kPartitions)) << "key " << m.key;
    EXPECT_EQ(m.value, absl::StrCat(m.key, ":", next_seq[m.key]++)) << "out of order";
    auto it = last_offset.find(m.partition);
    if (it != last_offset.end()) {
      EXPECT_GT(m.offset, it->second);
    }
    last_offset[m.partition] = m.offset;
  }
  for (const std::string& key : keys) EXPECT_EQ(next_seq[key], kPerKey) << key;
}

TYPED_TEST_P(BusContractTest, HeadersKeyAndBinaryValueRoundTrip) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  const std::string binary("v\0a\xff\x01l", 6);
  Headers headers = {{"trace", "abc"},
                     {"bin", std::string("\0\x7f\xfe", 3)},
                     {"dup", "1"},
                     {"dup", "2"},
                     {"empty", ""}};
  this->PublishOrDie(*pub, {topic, "the-key", binary, headers, 2});

  v1::SpanBatch batch;
  batch.set_window_id("w-42");
  batch.set_watermark_unix_nano(1700000000000000000);
  batch.add_spans();
  ASSERT_TRUE(PublishProto(*pub, topic, "proto-key", batch, 2).ok());
  ASSERT_TRUE(pub->Flush(seconds(10)).ok());

  auto sub = this->backend_.NewSubscriber(UniqueName("group"));
  ASSERT_TRUE(sub->Subscribe({topic}).ok());
  auto got = Drain(*sub, 2, TypeParam::JoinTimeout());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key, "the-key");
  EXPECT_EQ(got[0].value, binary);
  EXPECT_EQ(got[0].headers, headers);
  EXPECT_EQ(got[0].Header("dup"), "2");
  EXPECT_EQ(got[0].Header("missing"), std::nullopt);
  EXPECT_GT(got[0].timestamp_ms, 1600000000000);

  EXPECT_EQ(got[1].Header("content-type"), "application/x-protobuf");
  EXPECT_EQ(MessageType(got[1]), "apmcov.v1.SpanBatch");
  v1::SpanBatch decoded;
  ASSERT_TRUE(ParseProto(got[1], &decoded).ok());
  EXPECT_EQ(decoded.window_id(), "w-42");
  EXPECT_EQ(decoded.spans_size(), 1);
  v1::SyncRequest wrong;
  EXPECT_EQ(ParseProto(got[1], &wrong).code(), absl::StatusCode::kInvalidArgument);
}

// A batch: every record with the batch's headers, on the partition its key (or its explicit
// partition) names, in order; large and empty values whole.
TYPED_TEST_P(BusContractTest, BatchRecordsCarryTheSharedHeadersInOrder) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  OutgoingBatch batch;
  batch.topic = topic;
  batch.headers = {{"content-type", "application/x-protobuf"},
                   {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                   {"bin", std::string("\0\xff", 2)}};
  constexpr int kRecords = 50;
  for (int i = 0; i < kRecords; ++i) {
    OutgoingRecord r;
    r.key = absl::StrCat("trace-", i % 7);
    r.value = i == 3 ? RandomBytes(200000, 9) : absl::StrCat(r.key, ":", i / 7);
    if (i == 10) r.value.clear();
    if (i == 20) r.partition = 1;
    batch.records.push_back(std::move(r));
  }
  const OutgoingBatch sent = batch;
  ASSERT_TRUE(pub->PublishBatch(std::move(batch)).ok());
  ASSERT_TRUE(pub->Flush(seconds(10)).ok());

  auto sub = this->backend_.NewSubscriber(UniqueName("group"));
  ASSERT_TRUE(sub->Subscribe({topic}).ok());
  auto got = Drain(*sub, kRecords, TypeParam::JoinTimeout());
  ASSERT_EQ(got.size(), static_cast<size_t>(kRecords));
  std::map<std::string, std::vector<std::string>> by_key_got, by_key_sent;
  for (const OutgoingRecord& r : sent.records) by_key_sent[r.key].push_back(r.value);
  for (const IncomingMessage& m : got) {
    EXPECT_EQ(m.topic, topic);
    EXPECT_EQ(m.headers, sent.headers) << m.key;
    const bool explicit_partition = m.key == "trace-6" && m.value == "trace-6:2";
    EXPECT_EQ(m.partition, explicit_partition ? 1 : PartitionForKey(m.key, kPartitions)) << m.key;
    by_key_got[m.key].push_back(m.value);
  }
  // Per key, in publishing order (the explicit-partition record aside: it left its key's
  // partition, so it may come before or after the others).
  for (auto& [key, values] : by_key_sent) {
    std::vector<std::string>& g = by_key_got[key];
    if (key == "trace-6") {
      std::erase(values, "trace-6:2");
      std::erase(g, "trace-6:2");
    }
    EXPECT_EQ(g, values) << key;
  }

  OutgoingBatch bad;
  bad.records.push_back({"k", "v", std::nullopt});
  EXPECT_EQ(pub->PublishBatch(std::move(bad)).code(), absl::StatusCode::kInvalidArgument);
}

TYPED_TEST_P(BusContractTest, NewMemberResumesAtCommittedOffset) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  for (int i = 0; i < 20; ++i) this->PublishOrDie(*pub, {topic, "", absl::StrCat(i), {}, 1});
  ASSERT_TRUE(pub->Flush(seconds(10)).ok());
  const std::string group = UniqueName("group");
  const TopicPartition tp{topic, 1};
  {
    auto a = this->backend_.NewSubscriber(group);
    ASSERT_TRUE(a->Subscribe({topic}).ok());
    auto got = Drain(*a, 20, TypeParam::JoinTimeout());
    ASSERT_EQ(got.size(), 20u);
    ASSERT_TRUE(a->Commit({{tp, 12}}).ok());
    auto committed = a->Committed({tp, {topic, 0}});
    ASSERT_TRUE(committed.ok()) << committed.status();
    EXPECT_EQ(*committed, (std::map<TopicPartition, int64_t>{{tp, 12}}));
    a->Close();
  }
  auto b = this->backend_.NewSubscriber(group);
  ASSERT_TRUE(b->Subscribe({topic}).ok());
  auto got = Drain(*b, 8, TypeParam::JoinTimeout());
  ASSERT_EQ(got.size(), 8u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].partition, 1);
    EXPECT_EQ(got[i].offset, 12 + static_cast<int64_t>(i));
    EXPECT_EQ(got[i].value, absl::StrCat(12 + i));
  }
  auto more = b->Poll(100, milliseconds(500));
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->empty()) << "message after the end: offset " << more->front().offset;
}

TYPED_TEST_P(BusContractTest, UncommittedMessagesAreRedelivered) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  for (int i = 0; i < 10; ++i) this->PublishOrDie(*pub, {topic, "", absl::StrCat(i), {}, 0});
  ASSERT_TRUE(pub->Flush(seconds(10)).ok());
  const std::string group = UniqueName("group");
  {
    auto a = this->backend_.NewSubscriber(group);
    ASSERT_TRUE(a->Subscribe({topic}).ok());
    ASSERT_EQ(Drain(*a, 10, TypeParam::JoinTimeout()).size(), 10u);
    auto committed = a->Committed({{topic, 0}});
    ASSERT_TRUE(committed.ok());
    EXPECT_TRUE(committed->empty()) << "an offset was committed without Commit()";
    a->Close();
  }
  auto b = this->backend_.NewSubscriber(group);
  ASSERT_TRUE(b->Subscribe({topic}).ok());
  auto got = Drain(*b, 10, TypeParam::JoinTimeout());
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got.front().offset, 0);
  EXPECT_EQ(got.back().offset, 9);
}

// The listener's on_revoked runs on Close() too, before the partitions go, so a final
// Commit() there is kept for the next member.
TYPED_TEST_P(BusContractTest, CommitInOnRevokedDuringCloseIsKept) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  for (int i = 0; i < 6; ++i) this->PublishOrDie(*pub, {topic, "", absl::StrCat(i), {}, 0});
  ASSERT_TRUE(pub->Flush(seconds(10)).ok());
  const std::string group = UniqueName("group");
  const TopicPartition tp{topic, 0};
  int64_t processed_up_to = 0;  // next offset to read, as the application sees it
  absl::Status commit_in_revoke = absl::UnknownError("on_revoked not called");
  {
    auto a = this->backend_.NewSubscriber(group);
    Subscriber* raw = a.get();
    ASSERT_TRUE(a->Subscribe({topic}, {[&](const std::vector<TopicPartition>&) {
                                         commit_in_revoke = raw->Commit({{tp, processed_up_to}});
                                       },
                                       nullptr})
                    .ok());
    auto got = Drain(*a, 4, TypeParam::JoinTimeout());
    ASSERT_GE(got.size(), 4u);
    processed_up_to = 4;  // the application finished 0..3 only
    a->Close();
  }
  EXPECT_TRUE(commit_in_revoke.ok()) << commit_in_revoke;
  auto b = this->backend_.NewSubscriber(group);
  ASSERT_TRUE(b->Subscribe({topic}).ok());
  auto got = Drain(*b, 2, TypeParam::JoinTimeout());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].offset, 4);
  EXPECT_EQ(got[1].offset, 5);
}

TYPED_TEST_P(BusContractTest, ExplicitPartitionWinsOverKey) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  for (int i = 0; i < 10; ++i) {
    this->PublishOrDie(*pub, {topic, absl::StrCat("key-", i), "x", {}, 3});
  }
  ASSERT_TRUE(pub->Flush(seconds(10)).ok());
  EXPECT_EQ(this->Watermarks(topic, 3), (std::pair<int64_t, int64_t>(0, 10)));
  EXPECT_EQ(this->Watermarks(topic, 0), (std::pair<int64_t, int64_t>(0, 0)));

  absl::Status published = pub->Publish({topic, "k", "x", {}, 99});
  absl::Status flushed = pub->Flush(seconds(10));
  EXPECT_FALSE(published.ok() && flushed.ok()) << "partition 99 of 4 was accepted";
  // The failure is reported once; later flushes are clean again.
  EXPECT_TRUE(pub->Flush(seconds(10)).ok());
}

TYPED_TEST_P(BusContractTest, FlushedMessagesAreStoredAndCountedAsLag) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  constexpr int kCount = 1000;
  for (int i = 0; i < kCount; ++i) {
    this->PublishOrDie(*pub, {topic, absl::StrCat("k", i), std::string(200, 'v'), {}, {}});
  }
  ASSERT_TRUE(pub->Flush(seconds(30)).ok());
  int64_t stored = 0;
  for (int32_t p = 0; p < kPartitions; ++p) stored += this->Watermarks(topic, p).second;
  EXPECT_EQ(stored, kCount);
  auto probe = this->backend_.NewLagProbe();
  auto lag = probe->GroupLag(UniqueName("group"), topic);
  ASSERT_TRUE(lag.ok()) << lag.status();
  EXPECT_EQ(*lag, kCount);
}

TYPED_TEST_P(BusContractTest, LagProbeFollowsCommits) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  for (int i = 0; i < 30; ++i) this->PublishOrDie(*pub, {topic, "", "x", {}, i % kPartitions});
  ASSERT_TRUE(pub->Flush(seconds(10)).ok());  // partitions 0,1 hold 8; 2,3 hold 7
  const std::string group = UniqueName("group");
  auto probe = this->backend_.NewLagProbe();
  auto sub = this->backend_.NewSubscriber(group);
  ASSERT_TRUE(sub->Subscribe({topic}).ok());
  ASSERT_EQ(Drain(*sub, 30, TypeParam::JoinTimeout()).size(), 30u);
  EXPECT_EQ(probe->GroupLag(group, topic).value_or(-1), 30);
  ASSERT_TRUE(sub->Commit({{{topic, 0}, 5}, {{topic, 2}, 7}}).ok());
  EXPECT_EQ(probe->GroupLag(group, topic).value_or(-1), (8 - 5) + 8 + 0 + 7);
  auto lags = probe->PartitionLags(group, topic);
  ASSERT_TRUE(lags.ok()) << lags.status();
  ASSERT_EQ(lags->size(), static_cast<size_t>(kPartitions));
  std::map<int32_t, PartitionLag> by_partition;
  for (const PartitionLag& p : *lags) by_partition[p.partition] = p;
  EXPECT_EQ(by_partition[0].committed, 5);
  EXPECT_EQ(by_partition[0].high, 8);
  EXPECT_EQ(by_partition[0].low, 0);
  EXPECT_EQ(by_partition[1].committed, -1);  // never committed: every retained message
  EXPECT_EQ(by_partition[1].lag(), 8);
  EXPECT_EQ(by_partition[3].lag(), 7);
  ASSERT_TRUE(sub->Commit({{{topic, 0}, 8}, {{topic, 1}, 8}, {{topic, 3}, 7}}).ok());
  EXPECT_EQ(probe->GroupLag(group, topic).value_or(-1), 0);
}

// Watermarks count what was acknowledged, per partition, whoever consumed it; a partition the
// topic does not have is NotFound. (Retention moving `low` is checked by the out-of-range
// tests below.)
TYPED_TEST_P(BusContractTest, LagProbeWatermarksAreEachPartitionsRetainedRange) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  auto probe = this->backend_.NewLagProbe();
  using Marks = std::pair<int64_t, int64_t>;
  EXPECT_EQ(probe->Watermarks(topic, 1).value_or(Marks(-1, -1)), Marks(0, 0));
  for (int i = 0; i < 5; ++i) this->PublishOrDie(*pub, {topic, "", "x", {}, 1});
  this->PublishOrDie(*pub, {topic, "", "y", {}, 3});
  ASSERT_TRUE(pub->Flush(seconds(10)).ok());
  EXPECT_EQ(probe->Watermarks(topic, 1).value_or(Marks(-1, -1)), Marks(0, 5));
  EXPECT_EQ(probe->Watermarks(topic, 2).value_or(Marks(-1, -1)), Marks(0, 0));
  EXPECT_EQ(probe->Watermarks(topic, 3).value_or(Marks(-1, -1)), Marks(0, 1));
  absl::StatusOr<Marks> missing = probe->Watermarks(topic, kPartitions + 3);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
}

TYPED_TEST_P(BusContractTest, OutOfRangeOffsetIsDataLossThenEarliest) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  const std::string group = UniqueName("group");
  this->PublishOrDie(*pub, {topic, "", "first", {}, 0});
  ASSERT_TRUE(pub->Flush(seconds(10)).ok());
  {
    auto a = this->backend_.NewSubscriber(group);
    ASSERT_TRUE(a->Subscribe({topic}).ok());
    auto got = Drain(*a, 1, TypeParam::JoinTimeout());
    ASSERT_EQ(got.size(), 1u);
    ASSERT_TRUE(a->Commit(NextOffsets(got)).ok());
    a->Close();
  }
  // 12 MiB of incompressible values: more than the ~5 MiB a kafka-dev partition keeps.
  for (int i = 0; i < 120; ++i) {
    this->PublishOrDie(
        *pub, {topic, "", RandomBytes(size_t{100} * 1024, static_cast<uint32_t>(i)), {}, 0});
  }
  ASSERT_TRUE(pub->Flush(seconds(60)).ok());
  auto [low, high] = this->Watermarks(topic, 0);
  EXPECT_EQ(high, 121);
  ASSERT_GT(low, 1) << "retention dropped nothing";

  auto b = this->backend_.NewSubscriber(group);
  ASSERT_TRUE(b->Subscribe({topic}).ok());
  absl::Status loss;
  const auto deadline = std::chrono::steady_clock::now() + TypeParam::JoinTimeout();
  while (loss.ok() && std::chrono::steady_clock::now() < deadline) {
    auto batch = b->Poll(10, milliseconds(200));
    if (!batch.ok()) {
      loss = batch.status();
    } else {
      ASSERT_TRUE(batch->empty()) << "got offset " << batch->front().offset << " before DataLoss";
    }
  }
  EXPECT_EQ(loss.code(), absl::StatusCode::kDataLoss) << loss;
  auto rest = Drain(*b, static_cast<size_t>(high - low), TypeParam::JoinTimeout());
  ASSERT_EQ(rest.size(), static_cast<size_t>(high - low));
  EXPECT_EQ(rest.front().offset, low);
  EXPECT_EQ(rest.back().offset, high - 1);
}

// Several partitions fall behind retention at once (a producer far ahead of the consumer):
// each loss is reported, and every partition resumes at its own earliest retained message
// and is read to the end; restarting one must not send another back to its lost offset.
TYPED_TEST_P(BusContractTest, OutOfRangeOnEveryPartitionResumesEach) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  const std::string group = UniqueName("group");
  for (int32_t p = 0; p < kPartitions; ++p) this->PublishOrDie(*pub, {topic, "", "first", {}, p});
  ASSERT_TRUE(pub->Flush(seconds(10)).ok());
  {
    auto a = this->backend_.NewSubscriber(group);
    ASSERT_TRUE(a->Subscribe({topic}).ok());
    auto got = Drain(*a, kPartitions, TypeParam::JoinTimeout());
    ASSERT_EQ(got.size(), static_cast<size_t>(kPartitions));
    ASSERT_TRUE(a->Commit(NextOffsets(got)).ok());
    a->Close();
  }
  // 7 MiB of incompressible values per partition: more than a kafka-dev partition keeps.
  for (int i = 0; i < 70; ++i) {
    for (int32_t p = 0; p < kPartitions; ++p) {
      this->PublishOrDie(
          *pub,
          {topic, "", RandomBytes(size_t{100} * 1024, static_cast<uint32_t>(i * 8 + p)), {}, p});
    }
  }
  ASSERT_TRUE(pub->Flush(seconds(60)).ok());
  std::map<int32_t, std::pair<int64_t, int64_t>> marks;
  size_t retained = 0;
  for (int32_t p = 0; p < kPartitions; ++p) {
    marks[p] = this->Watermarks(topic, p);
    ASSERT_GT(marks[p].first, 1) << "retention dropped nothing from partition " << p;
    retained += static_cast<size_t>(marks[p].second - marks[p].first);
  }
  // The lag probe shows the group's commit fallen behind retention on every partition.
  auto lags = this->backend_.NewLagProbe()->PartitionLags(group, topic);
  ASSERT_TRUE(lags.ok()) << lags.status();
  for (const PartitionLag& l : *lags) {
    EXPECT_EQ(l.committed, 1);
    EXPECT_EQ(l.low, marks[l.partition].first);
    EXPECT_GT(l.lag(), l.high - l.low);
  }

  auto b = this->backend_.NewSubscriber(group);
  ASSERT_TRUE(b->Subscribe({topic}).ok());
  std::map<int32_t, std::vector<int64_t>> offsets;
  int losses = 0;
  const auto deadline = std::chrono::steady_clock::now() + 3 * TypeParam::JoinTimeout();
  auto distinct_total = [&] {
    size_t n = 0;
    for (const auto& [p, list] : offsets) n += std::set<int64_t>(list.begin(), list.end()).size();
    return n;
  };
  while (distinct_total() < retained && std::chrono::steady_clock::now() < deadline) {
    auto batch = b->Poll(100, milliseconds(200));
    if (!batch.ok()) {
      ASSERT_EQ(batch.status().code(), absl::StatusCode::kDataLoss) << batch.status();
      ++losses;
      continue;
    }
    for (const IncomingMessage& m : *batch) offsets[m.partition].push_back(m.offset);
  }
  EXPECT_GE(losses, 1);
  EXPECT_LE(losses, 2 * kPartitions) << "data loss reported over and over";
  // Every retained message arrives, nothing else; a restart of one partition may deliver a
  // few messages of another twice (at-least-once, like any rebalance: consumers are idempotent).
  for (int32_t p = 0; p < kPartitions; ++p) {
    const auto [low, high] = marks[p];
    ASSERT_FALSE(offsets[p].empty()) << "partition " << p;
    EXPECT_EQ(offsets[p].front(), low) << "partition " << p;
    const std::set<int64_t> distinct(offsets[p].begin(), offsets[p].end());
    EXPECT_EQ(distinct.size(), static_cast<size_t>(high - low)) << "partition " << p;
    EXPECT_EQ(*distinct.begin(), low) << "partition " << p;
    EXPECT_EQ(*distinct.rbegin(), high - 1) << "partition " << p;
  }
}

// Partition EOF: once a member was handed every message of a partition, on_end_of_partition
// reports the partition's end (0 for an empty one), once per end reached; more messages are
// reported as a new end once handed out. Poll() returns right after a report, one report a
// poll (as Kafka delivers each EOF as an event of its own), so a reader that wants everything
// written so far never waits out its timeout, and must count a poll that brought only an end
// as progress.
TYPED_TEST_P(BusContractTest, EndOfPartitionIsReportedOncePerEndReached) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  for (int i = 0; i < 3; ++i) this->PublishOrDie(*pub, {topic, "", absl::StrCat(i), {}, 1});
  for (int i = 0; i < 2; ++i) this->PublishOrDie(*pub, {topic, "", absl::StrCat(i), {}, 3});
  ASSERT_TRUE(pub->Flush(seconds(10)).ok());
  std::map<TopicPartition, std::vector<int64_t>> ends;
  std::map<TopicPartition, std::vector<int64_t>> offsets;  // handed out, per partition
  auto sub = this->backend_.NewSubscriber(UniqueName("group"));
  RebalanceListener listener;
  listener.on_end_of_partition = [&](const TopicPartition& tp, int64_t end) {
    ends[tp].push_back(end);
  };
  ASSERT_TRUE(sub->Subscribe({topic}, listener).ok());
  auto poll = [&](milliseconds timeout) {
    size_t reported_before = 0;
    for (const auto& [tp, reported] : ends) reported_before += reported.size();
    auto batch = sub->Poll(100, timeout);
    size_t reported_after = 0;
    for (const auto& [tp, reported] : ends) reported_after += reported.size();
    EXPECT_LE(reported_after - reported_before, 1u) << "one end a poll";
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok()) return;
    for (const IncomingMessage& m : *batch) offsets[{m.topic, m.partition}].push_back(m.offset);
    // Everything below a reported end was handed out by the poll that reported it, or before.
    for (const auto& [tp, reported] : ends) {
      EXPECT_GE(static_cast<int64_t>(offsets[tp].size()), reported.back()) << tp.partition;
    }
  };
  const auto deadline = std::chrono::steady_clock::now() + 3 * TypeParam::JoinTimeout();
  while (ends.size() < kPartitions && std::chrono::steady_clock::now() < deadline) {
    poll(milliseconds(200));
  }
  using Ends = std::vector<int64_t>;
  auto ends_of = [&](int32_t p) { return ends[TopicPartition{topic, p}]; };
  auto offsets_of = [&](int32_t p) { return offsets[TopicPartition{topic, p}]; };
  EXPECT_EQ(ends_of(0), Ends{0});
  EXPECT_EQ(ends_of(1), Ends{3});
  EXPECT_EQ(ends_of(2), Ends{0});
  EXPECT_EQ(ends_of(3), Ends{2});
  EXPECT_EQ(offsets_of(1), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(offsets_of(3), (std::vector<int64_t>{0, 1}));

  // Reached ends are not reported again.
  poll(milliseconds(300));
  EXPECT_EQ(ends_of(1), Ends{3});
  EXPECT_EQ(ends_of(0), Ends{0});

  // New messages: the new end is reported once they were handed out, and the poll that
  // reports it returns well before its timeout.
  for (int i = 3; i < 5; ++i) this->PublishOrDie(*pub, {topic, "", absl::StrCat(i), {}, 1});
  ASSERT_TRUE(pub->Flush(seconds(10)).ok());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5 && ends_of(1).size() < 2; ++i) poll(seconds(30));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10))
      << "Poll() waited out its timeout after reporting an end";
  EXPECT_EQ(ends_of(1), (Ends{3, 5}));
  EXPECT_EQ(offsets_of(1), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(ends_of(0), Ends{0}) << "an end reported again without new messages";
  EXPECT_EQ(ends_of(3), Ends{2});
}

TYPED_TEST_P(BusContractTest, RebalanceSplitsPartitionsAndCallsListener) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  const std::string group = UniqueName("group");
  std::vector<TopicPartition> owned_a, owned_b;
  int revoked_a = 0;
  auto listener = [&](std::vector<TopicPartition>* owned, int* revoked) {
    return RebalanceListener{[owned, revoked](const std::vector<TopicPartition>&) {
                               owned->clear();
                               if (revoked != nullptr) ++*revoked;
                             },
                             [owned](const std::vector<TopicPartition>& tps) { *owned = tps; }};
  };
  auto a = this->backend_.NewSubscriber(group);
  ASSERT_TRUE(a->Subscribe({topic}, listener(&owned_a, &revoked_a)).ok());
  const auto deadline = std::chrono::steady_clock::now() + 3 * TypeParam::JoinTimeout();
  while (owned_a.size() != kPartitions && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(a->Poll(10, milliseconds(100)).ok());
  }
  ASSERT_EQ(owned_a.size(), static_cast<size_t>(kPartitions));

  auto b = this->backend_.NewSubscriber(group);
  ASSERT_TRUE(b->Subscribe({topic}, listener(&owned_b, nullptr)).ok());
  while (std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(a->Poll(10, milliseconds(50)).ok());
    ASSERT_TRUE(b->Poll(10, milliseconds(50)).ok());
    if (!owned_a.empty() && !owned_b.empty() && owned_a.size() + owned_b.size() == kPartitions) {
      break;
    }
  }
  EXPECT_GE(revoked_a, 1);
  std::set<TopicPartition> all(owned_a.begin(), owned_a.end());
  all.insert(owned_b.begin(), owned_b.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kPartitions));
  EXPECT_FALSE(owned_a.empty());
  EXPECT_FALSE(owned_b.empty());
  EXPECT_EQ(owned_a.size() + owned_b.size(), static_cast<size_t>(kPartitions));
}

// Through a rebalance, a member is handed only messages of partitions it owns when Poll()
// returns (a revoke served inside Poll() takes back what was gathered of those partitions),
// and Commit() refuses a partition it does not own: the new owner's offsets are never moved.
TYPED_TEST_P(BusContractTest, AMemberOnlyGetsAndCommitsThePartitionsItOwns) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  for (int i = 0; i < 4000; ++i) {
    this->PublishOrDie(*pub, {topic, "", absl::StrCat(i), {}, i % kPartitions});
  }
  ASSERT_TRUE(pub->Flush(seconds(30)).ok());
  const std::string group = UniqueName("group");
  std::set<TopicPartition> owned_a, owned_b;
  auto listener = [](std::set<TopicPartition>* owned) {
    return RebalanceListener{
        [owned](const std::vector<TopicPartition>& tps) {
          for (const auto& tp : tps) owned->erase(tp);
        },
        [owned](const std::vector<TopicPartition>& tps) { owned->insert(tps.begin(), tps.end()); }};
  };
  int foreign = 0;
  auto poll = [&](Subscriber& sub, const std::set<TopicPartition>& owned) {
    auto batch = sub.Poll(1000, milliseconds(50));
    ASSERT_TRUE(batch.ok()) << batch.status();
    for (const IncomingMessage& m : *batch) foreign += !owned.contains({m.topic, m.partition});
  };
  auto a = this->backend_.NewSubscriber(group);
  ASSERT_TRUE(a->Subscribe({topic}, listener(&owned_a)).ok());
  const auto deadline = std::chrono::steady_clock::now() + 3 * TypeParam::JoinTimeout();
  while (owned_a.size() != kPartitions && std::chrono::steady_clock::now() < deadline) {
    poll(*a, owned_a);
  }
  ASSERT_EQ(owned_a.size(), static_cast<size_t>(kPartitions));
  auto b = this->backend_.NewSubscriber(group);
  ASSERT_TRUE(b->Subscribe({topic}, listener(&owned_b)).ok());
  while (std::chrono::steady_clock::now() < deadline &&
         (owned_a.empty() || owned_b.empty() || owned_a.size() + owned_b.size() != kPartitions)) {
    poll(*a, owned_a);
    poll(*b, owned_b);
  }
  ASSERT_FALSE(owned_b.empty());
  EXPECT_EQ(foreign, 0) << "messages of partitions the member did not own";

  const TopicPartition theirs = *owned_b.begin();
  ASSERT_TRUE(b->Commit({{theirs, 3}}).ok());
  absl::Status refused = a->Commit({{theirs, 900}});
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  auto committed = b->Committed({theirs});
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(committed->at(theirs), 3);
  if (!owned_a.empty()) {
    EXPECT_TRUE(a->Commit({{*owned_a.begin(), 1}}).ok());
  }
}

// 100k messages consumed in a group with committed offsets; a second member resumes from the
// committed offsets: nothing lost, nothing twice.
TYPED_TEST_P(BusContractTest, HundredThousandMessagesExactlyOnceAcrossTwoMembers) {
  auto pub = this->backend_.NewPublisher();
  const std::string topic = this->NewTopic(*pub);
  constexpr int kCount = 100000;
  for (int i = 0; i < kCount; ++i) {
    this->PublishOrDie(
        *pub,
        {topic, absl::StrCat("k", i % 997), absl::StrCat(i, ":", std::string(64, 'p')), {}, {}});
  }
  ASSERT_TRUE(pub->Flush(seconds(60)).ok());
  const std::string group = UniqueName("group");
  std::vector<int> seen(kCount, 0);
  int total = 0;
  auto consume = [&](Subscriber& sub, int stop_at) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(120);
    while (total < stop_at && std::chrono::steady_clock::now() < deadline) {
      auto batch = sub.Poll(5000, milliseconds(200));
      ASSERT_TRUE(batch.ok()) << batch.status();
      for (const IncomingMessage& m : *batch) {
        int i = -1;
        ASSERT_TRUE(
            absl::SimpleAtoi(AbslView(std::string_view(m.value).substr(0, m.value.find(':'))), &i));
        ASSERT_TRUE(i >= 0 && i < kCount);
        ++seen[static_cast<size_t>(i)];
        ++total;
      }
      ASSERT_TRUE(sub.Commit(NextOffsets(*batch)).ok());
    }
  };
  {
    auto a = this->backend_.NewSubscriber(group);
    ASSERT_TRUE(a->Subscribe({topic}).ok());
    consume(*a, kCount / 2);
    a->Close();
  }
  const int first = total;
  EXPECT_GE(first, kCount / 2);
  auto b = this->backend_.NewSubscriber(group);
  ASSERT_TRUE(b->Subscribe({topic}).ok());
  consume(*b, kCount);
  auto extra = b->Poll(1000, milliseconds(500));
  ASSERT_TRUE(extra.ok());
  EXPECT_TRUE(extra->empty());
  EXPECT_EQ(total, kCount) << "first member " << first;
  int missing = 0, twice = 0;
  for (int n : seen) {
    missing += n == 0;
    twice += n > 1;
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(twice, 0);
  auto lag = this->backend_.NewLagProbe()->GroupLag(group, topic);
  ASSERT_TRUE(lag.ok()) << lag.status();
  EXPECT_EQ(*lag, 0);
}

REGISTER_TYPED_TEST_SUITE_P(
    BusContractTest, NewTopicHasFourPartitions, SameKeyKeepsOrderOnOnePartitionChosenByMurmur2,
    HeadersKeyAndBinaryValueRoundTrip, BatchRecordsCarryTheSharedHeadersInOrder,
    NewMemberResumesAtCommittedOffset, UncommittedMessagesAreRedelivered,
    CommitInOnRevokedDuringCloseIsKept, ExplicitPartitionWinsOverKey,
    FlushedMessagesAreStoredAndCountedAsLag, LagProbeFollowsCommits,
    LagProbeWatermarksAreEachPartitionsRetainedRange, OutOfRangeOffsetIsDataLossThenEarliest,
    OutOfRangeOnEveryPartitionResumesEach, EndOfPartitionIsReportedOncePerEndReached,
    RebalanceSplitsPartitionsAndCallsListener, AMemberOnlyGetsAndCommitsThePartitionsItOwns,
    HundredThousandMessagesExactlyOnceAcrossTwoMembers);

}  // namespace apmcov::bus::contract
