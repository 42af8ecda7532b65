#include "batch_writer.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace apmcov::analyzer {
namespace {

store::WriteBatch BatchNamed(const std::string& job) {
  store::WriteBatch b;
  b.edge_cuts.push_back({job, 1});
  return b;
}

BatchWriter::Job JobAt(const std::string& name, int64_t offset) {
  return {BatchNamed(name), {{bus::TopicPartition{"spans", 0}, offset}}};
}

TEST(BatchWriterTest, WritesInOrderAndHandsBackEachJobsCommit) {
  std::vector<std::string> written;
  BatchWriter writer(2, [&](const store::WriteBatch& b, const tracing::SpanContext&,
                            std::vector<store::CompletedSnapshot>*) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    written.push_back(b.edge_cuts[0].job_id);
    return absl::OkStatus();
  });
  for (int i = 0; i < 10; ++i) writer.Enqueue(JobAt("j" + std::to_string(i), i + 1));
  writer.Drain();
  EXPECT_EQ(writer.Pending(), 0u);
  std::vector<BatchWriter::Done> done = writer.TakeDone();
  ASSERT_EQ(done.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(written[i], "j" + std::to_string(i));
    ASSERT_TRUE(done[i].status.ok());
    EXPECT_EQ(done[i].commit.at({"spans", 0}), i + 1);
  }
  EXPECT_TRUE(writer.TakeDone().empty());
}

TEST(BatchWriterTest, NothingAfterAFailureIsWrittenOrCommittable) {
  std::atomic<int> calls{0};
  BatchWriter writer(4, [&](const store::WriteBatch& b, const tracing::SpanContext&,
                            std::vector<store::CompletedSnapshot>*) {
    ++calls;
    return b.edge_cuts[0].job_id == "bad" ? absl::InternalError("disk full") : absl::OkStatus();
  });
  writer.Enqueue(JobAt("ok", 1));
  writer.Enqueue(JobAt("bad", 2));
  writer.Enqueue(JobAt("after", 3));
  writer.Drain();
  std::vector<BatchWriter::Done> done = writer.TakeDone();
  ASSERT_EQ(done.size(), 3u);
  EXPECT_TRUE(done[0].status.ok());
  EXPECT_EQ(done[0].commit.size(), 1u);
  EXPECT_EQ(done[1].status.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(done[1].commit.empty());
  EXPECT_FALSE(done[2].status.ok());
  EXPECT_TRUE(done[2].commit.empty());
  EXPECT_EQ(calls.load(), 2);  // "after" was never written
}

TEST(BatchWriterTest, TheQueueIsBounded) {
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  BatchWriter writer(2, [&](const store::WriteBatch&, const tracing::SpanContext&,
                            std::vector<store::CompletedSnapshot>*) {
    ++started;
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return absl::OkStatus();
  });
  writer.Enqueue(JobAt("a", 1));
  writer.Enqueue(JobAt("b", 2));
  std::atomic<bool> third_queued{false};
  std::thread producer([&] {
    writer.Enqueue(JobAt("c", 3));
    third_queued = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(third_queued.load());  // one being written + one queued = depth 2
  EXPECT_EQ(writer.Pending(), 2u);
  release = true;
  producer.join();
  writer.Drain();
  EXPECT_EQ(writer.TakeDone().size(), 3u);
}

}  // namespace
}  // namespace apmcov::analyzer
