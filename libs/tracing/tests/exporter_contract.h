// The exporter contract suite (exporter.h), run against every TraceExporter: InMemoryExporter
// in tracing_unit_test and AgentExporter against a fake Agent on a loopback port in
// tracing_agent_exporter_test.
//
// A Backend type provides:
//   static constexpr const char* kName;
//   std::unique_ptr<TraceExporter> NewExporter(size_t max_queued_spans,
//                                              std::shared_ptr<ExporterMetrics> metrics);
//   std::vector<TraceChunk> Delivered();  // what the receiving side got, in order
//   void FailNext(int count);             // the receiver refuses the next deliveries
//   void Block(bool blocked);             // the receiver hangs until unblocked
// Exporters made by a backend send only on Flush(), Stop() or a half-full queue (no timer
// flush during a test).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "apmcov/tracing/exporter.h"
#include "apmcov/tracing/exporter_metrics.h"
#include "v04_decode.h"

namespace apmcov::tracing::contract {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A chunk of `spans` spans of trace `n` with every field set (root first).
inline TraceChunk SampleChunk(uint64_t n, size_t spans) {
  TraceChunk chunk;
  const TraceId trace{0x6650a1b200000000ULL + n, 0x9000000000000000ULL + n * 7919};
  for (size_t i = 0; i < spans; ++i) {
    SpanData s;
    s.trace_id = trace;
    s.span_id = n * 1000 + i + 1;
    s.parent_id = i == 0 ? 0 : n * 1000 + 1;
    s.service = i == 0 ? "apmcov-gateway" : "apmcov-collector";
    s.name = i == 0 ? "http.request" : "kafka.produce";
    s.resource = i == 0 ? "POST /api/sync" : "apmcov.commands";
    s.type = i == 0 ? "web" : "queue";
    s.start_ns = 1'795'300'000'000'000'000LL + static_cast<int64_t>(n * 1'000'000 + i);
    s.duration_ns = 1500 + static_cast<int64_t>(i);
    s.error = i == 1 ? 1 : 0;
    s.meta["env"] = "test";
    s.meta["span.kind"] = i == 0 ? "server" : "producer";
    if (i == 0) s.meta["_dd.p.tid"] = trace.HighHex();
    if (i != 0) s.meta["messaging.system"] = "kafka";
    s.metrics["_sampling_priority_v1"] = i == 0 ? 1 : 0;
    s.metrics["queue.size"] = 0.25 * static_cast<double>(i);
    if (i != 0) s.metrics.erase("_sampling_priority_v1");
    chunk.push_back(std::move(s));
  }
  return chunk;
}

inline size_t SpanCount(const std::vector<TraceChunk>& chunks) {
  size_t n = 0;
  for (const TraceChunk& c : chunks) n += c.size();
  return n;
}

template <typename Backend>
class ExporterContractTest : public ::testing::Test {
 protected:
  std::unique_ptr<TraceExporter> New(size_t max_queued_spans = 10000) {
    return backend_.NewExporter(max_queued_spans, metrics_);
  }

  prometheus::Registry registry_;
  std::shared_ptr<ExporterMetrics> metrics_ = std::make_shared<ExporterMetrics>(registry_);
  Backend backend_;
};

TYPED_TEST_SUITE_P(ExporterContractTest);

TYPED_TEST_P(ExporterContractTest, FlushDeliversEveryChunkWithEveryField) {
  auto exporter = this->New();
  std::vector<TraceChunk> sent = {SampleChunk(1, 3), SampleChunk(2, 1), SampleChunk(3, 5)};
  for (const TraceChunk& c : sent) EXPECT_TRUE(exporter->Export(c));
  ASSERT_TRUE(exporter->Flush(seconds(10)).ok());
  const std::vector<TraceChunk> got = this->backend_.Delivered();
  ASSERT_EQ(got.size(), sent.size());
  for (size_t c = 0; c < sent.size(); ++c) {
    ASSERT_EQ(got[c].size(), sent[c].size()) << "chunk " << c;
    for (size_t i = 0; i < sent[c].size(); ++i) {
      EXPECT_EQ(testing::SpanDifference(sent[c][i], got[c][i]), "")
          << "chunk " << c << " span " << i;
    }
  }
  const ExporterStats st = exporter->stats();
  EXPECT_EQ(st.spans_sent, 9u);
  EXPECT_EQ(st.traces_sent, 3u);
  EXPECT_EQ(st.spans_dropped, 0u);
  EXPECT_EQ(st.send_errors, 0u);
  EXPECT_EQ(this->metrics_->spans_sent.Value(), 9);
  // The span pool's size, read after the delivery: the chunks' spans were made of it.
  EXPECT_GT(this->metrics_->span_memory_bytes.Value(), 0);
  // Nothing new: a flush with nothing queued is OK at once.
  EXPECT_TRUE(exporter->Flush(milliseconds(1)).ok());
  EXPECT_EQ(this->backend_.Delivered().size(), 3u);
}

TYPED_TEST_P(ExporterContractTest, FullQueueDropsWholeChunksWithoutBlockingAndCounts) {
  auto exporter = this->New(/*max_queued_spans=*/10);
  // A chunk larger than the whole queue can never be taken.
  EXPECT_FALSE(exporter->Export(SampleChunk(0, 11)));
  EXPECT_EQ(exporter->stats().spans_dropped, 11u);

  // The receiver hangs: at most one batch is in flight, the queue fills, the rest is dropped,
  // and Export() keeps returning at once (a blocking Export would hang this test).
  this->backend_.Block(true);
  int refused = 0;
  for (uint64_t n = 1; n <= 100; ++n) refused += exporter->Export(SampleChunk(n, 1)) ? 0 : 1;
  EXPECT_GE(refused, 80);
  EXPECT_EQ(exporter->stats().spans_dropped, 11u + static_cast<uint64_t>(refused));
  EXPECT_EQ(this->metrics_->spans_dropped.Value(), 11 + refused);
  this->backend_.Block(false);
  ASSERT_TRUE(exporter->Flush(seconds(10)).ok());
  const std::vector<TraceChunk> got = this->backend_.Delivered();
  EXPECT_EQ(got.size(), static_cast<size_t>(100 - refused));
  for (const TraceChunk& c : got) EXPECT_EQ(c.size(), 1u);  // whole chunks only
  EXPECT_EQ(exporter->stats().spans_sent, static_cast<uint64_t>(100 - refused));
}

TYPED_TEST_P(ExporterContractTest, FlushHonoursItsDeadlineWhileTheReceiverHangs) {
  auto exporter = this->New();
  this->backend_.Block(true);
  EXPECT_TRUE(exporter->Export(SampleChunk(1, 2)));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(exporter->Flush(milliseconds(300)).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(5));
  EXPECT_TRUE(exporter->Export(SampleChunk(2, 1)));  // still accepting meanwhile
  this->backend_.Block(false);
  ASSERT_TRUE(exporter->Flush(seconds(10)).ok());
  const std::vector<TraceChunk> got = this->backend_.Delivered();
  EXPECT_EQ(SpanCount(got), 3u);
}

TYPED_TEST_P(ExporterContractTest, RefusedDeliveryIsCountedLostAndNotRetried) {
  auto exporter = this->New();
  this->backend_.FailNext(1);
  EXPECT_TRUE(exporter->Export(SampleChunk(1, 4)));
  EXPECT_EQ(exporter->Flush(seconds(10)).code(), absl::StatusCode::kUnavailable);
  ExporterStats st = exporter->stats();
  EXPECT_EQ(st.send_errors, 1u);
  EXPECT_EQ(st.spans_lost, 4u);
  EXPECT_EQ(st.spans_sent, 0u);
  EXPECT_EQ(this->metrics_->send_errors.Value(), 1);

  EXPECT_TRUE(exporter->Export(SampleChunk(2, 2)));
  ASSERT_TRUE(exporter->Flush(seconds(10)).ok());
  const std::vector<TraceChunk> got = this->backend_.Delivered();
  ASSERT_EQ(got.size(), 1u);  // the refused chunk was not sent again
  EXPECT_EQ(got[0][0].span_id, 2001u);
  st = exporter->stats();
  EXPECT_EQ(st.spans_sent, 2u);
  EXPECT_EQ(st.send_errors, 1u);
}

TYPED_TEST_P(ExporterContractTest, StopSendsWhatIsQueuedThenRefusesAndIsIdempotent) {
  auto exporter = this->New();
  EXPECT_TRUE(exporter->Export(SampleChunk(1, 2)));
  EXPECT_TRUE(exporter->Export(SampleChunk(2, 3)));
  ASSERT_TRUE(exporter->Stop(seconds(10)).ok());
  EXPECT_EQ(SpanCount(this->backend_.Delivered()), 5u);
  EXPECT_FALSE(exporter->Export(SampleChunk(3, 1)));
  EXPECT_EQ(exporter->stats().spans_dropped, 1u);
  EXPECT_TRUE(exporter->Stop(seconds(1)).ok());
  EXPECT_EQ(SpanCount(this->backend_.Delivered()), 5u);
}

TYPED_TEST_P(ExporterContractTest, ChunksFromManyThreadsArriveWholeAndOnce) {
  auto exporter = this->New(100000);
  constexpr int kThreads = 4, kPerThread = 150;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&exporter, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const uint64_t n = static_cast<uint64_t>(t * kPerThread + i + 1);
        EXPECT_TRUE(exporter->Export(SampleChunk(n, 1 + n % 3)));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(exporter->Flush(seconds(20)).ok());
  const std::vector<TraceChunk> got = this->backend_.Delivered();
  ASSERT_EQ(got.size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<uint64_t> traces;
  for (const TraceChunk& c : got) {
    const uint64_t n = c[0].span_id / 1000;
    EXPECT_EQ(c.size(), 1 + n % 3);
    for (const SpanData& s : c) EXPECT_EQ(s.trace_id, c[0].trace_id);
    traces.insert(n);
  }
  EXPECT_EQ(traces.size(), static_cast<size_t>(kThreads * kPerThread));
}

REGISTER_TYPED_TEST_SUITE_P(ExporterContractTest, FlushDeliversEveryChunkWithEveryField,
                            FullQueueDropsWholeChunksWithoutBlockingAndCounts,
                            FlushHonoursItsDeadlineWhileTheReceiverHangs,
                            RefusedDeliveryIsCountedLostAndNotRetried,
                            StopSendsWhatIsQueuedThenRefusesAndIsIdempotent,
                            ChunksFromManyThreadsArriveWholeAndOnce);

}  // namespace apmcov::tracing::contract
