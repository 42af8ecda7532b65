// The analyzer's spans on the in-memory exporter: where a batch span belongs, given the trace
// headers of its records, and the store transaction span under it.
#include "batch_span.h"

#include <gtest/gtest.h>

#include "apmcov/base/clock.h"
#include "apmcov/tracing/memory_exporter.h"

namespace apmcov::analyzer {
namespace {

bus::IncomingMessage Record(const std::string& topic, const tracing::SpanContext* producer) {
  bus::IncomingMessage m;
  m.topic = topic;
  m.headers = {{"content-type", "application/x-protobuf"}};
  if (producer != nullptr) tracing::Inject(*producer, tracing::WriteTo(&m.headers));
  return m;
}

tracing::SpanContext Producer(uint64_t trace, uint64_t span) {
  tracing::SpanContext c;
  c.trace_id = {0x6568a1b200000000ULL, trace};
  c.span_id = span;
  c.sampling_priority = 1;
  return c;
}

class BatchSpanTest : public ::testing::Test {
 protected:
  std::vector<tracing::SpanData> Spans() {
    EXPECT_TRUE(exporter_.Flush(std::chrono::seconds(1)).ok());
    return exporter_.AllSpans();
  }
  ManualClock clock_{Clock::TimePoint(std::chrono::seconds(1'795'300'000))};
  tracing::InMemoryExporter exporter_;
  tracing::Tracer tracer_{tracing::TracerOptions{.service = "apmcov-analyzer"}, &exporter_, clock_};
};

TEST_F(BatchSpanTest, OneSyncsRecordsContinueItsTrace) {
  const tracing::SpanContext page1 = Producer(7, 100), page2 = Producer(7, 101);
  {
    tracing::Span batch = StartBatchSpan(
        tracer_, {Record("apmcov.spans", &page1), Record("apmcov.spans", &page1),
                  Record("apmcov.catalog", nullptr), Record("apmcov.spans", &page2)});
    tracing::ActiveSpanScope active(batch);
    tracing::Span tx = StartTransactionSpan(tracer_, "applying a batch");
  }
  const auto spans = Spans();
  ASSERT_EQ(spans.size(), 2u);
  const tracing::SpanData& tx = spans[0];
  const tracing::SpanData& batch = spans[1];
  EXPECT_EQ(batch.name, "kafka.consume");
  EXPECT_EQ(batch.trace_id, page1.trace_id);
  EXPECT_EQ(batch.parent_id, 100u);
  EXPECT_EQ(batch.resource, "apmcov.catalog,apmcov.spans");
  EXPECT_EQ(batch.meta.count("messaging.destination.name"), 0u);  // two topics
  EXPECT_EQ(batch.meta.at("span.kind"), "consumer");
  EXPECT_EQ(batch.metrics.at("messaging.batch.message_count"), 4);
  EXPECT_NE(batch.meta.at("_dd.span_links").find("\"span_id\":\"0000000000000065\""),
            std::string::npos);  // the second page, linked
  EXPECT_EQ(tx.name, "postgresql.transaction");
  EXPECT_EQ(tx.parent_id, batch.span_id);
  EXPECT_EQ(tx.meta.at("db.system"), "postgresql");
  EXPECT_EQ(tx.meta.at("span.kind"), "client");
}

TEST_F(BatchSpanTest, SeveralSendersStartATraceWithLinks) {
  const tracing::SpanContext a = Producer(7, 100), b = Producer(8, 200);
  {
    tracing::Span batch =
        StartBatchSpan(tracer_, {Record("apmcov.spans", &a), Record("apmcov.spans", &b)});
  }
  const auto spans = Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].parent_id, 0u);
  EXPECT_NE(spans[0].trace_id, a.trace_id);
  EXPECT_NE(spans[0].trace_id, b.trace_id);
  EXPECT_EQ(spans[0].meta.at("messaging.destination.name"), "apmcov.spans");
  const std::string links(spans[0].MetaOr("_dd.span_links"));
  EXPECT_NE(links.find("0000000000000064"), std::string::npos);
  EXPECT_NE(links.find("00000000000000c8"), std::string::npos);
}

TEST_F(BatchSpanTest, RecordsWithoutHeadersStartATraceAndOffCostsNothing) {
  { tracing::Span batch = StartBatchSpan(tracer_, {Record("apmcov.catalog", nullptr)}); }
  const auto spans = Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].parent_id, 0u);
  EXPECT_EQ(spans[0].meta.count("_dd.span_links"), 0u);
  // Off, or nothing polled: no span at all.
  const tracing::SpanContext a = Producer(7, 100);
  EXPECT_FALSE(StartBatchSpan(tracing::DisabledTracer(), {Record("apmcov.spans", &a)}).recording());
  EXPECT_FALSE(StartBatchSpan(tracer_, {}).recording());
  EXPECT_FALSE(StartTransactionSpan(tracing::DisabledTracer(), "x").recording());
}

}  // namespace
}  // namespace apmcov::analyzer
