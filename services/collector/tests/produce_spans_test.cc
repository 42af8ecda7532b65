// Design §12: every publish of the collector has a producer span, one per group of records
// published together (never one per record), the child of the sync's span (or of the request's
// context for a queued job), and every record carries its context in its headers. On
// MemoryBroker and FakeSource, with the in-memory tracing exporter.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "apmcov/datadog/testing/fake_source.h"
#include "apmcov/tracing/memory_exporter.h"
#include "apmcov/tracing/propagation.h"
#include "apmcov/tracing/tracer.h"
#include "app.h"
#include "broker_reader.h"

namespace apmcov::collector {
namespace {

constexpr int64_t kSec = 1'000'000'000;

std::optional<tracing::SpanContext> ContextOf(const bus::IncomingMessage& m) {
  return tracing::Extract(tracing::ReadFrom(m.headers));
}

class ProduceSpansTest : public ::testing::Test {
 protected:
  ProduceSpansTest() : metrics_(registry_), tracer_(TracerOptions(), &exporter_, clock_) {
    for (const std::string& topic : Topics()) {
      EXPECT_TRUE(broker_.CreateTopic(topic, 3).ok()) << topic;
    }
    config_.dd_api_key = "k";
    config_.dd_app_key = "a";
    config_.kafka_brokers = "x:1";
    config_.span_backfill_minutes = 10;
    config_.span_lag_seconds = 60;
    config_.span_window_seconds = 600;
    for (int i = 0; i < 3; ++i) {
      v1::CatalogService s;
      s.set_name(absl::StrCat("svc-", i));
      source_.services.push_back(s);
      v1::ApmObservation o;
      o.set_service(absl::StrCat("svc-", i));
      o.set_env("prod");
      source_.apm.push_back(o);
    }
    // 2,500 spans of 500 traces in the range: three pages of span batches.
    constexpr int64_t kNineMinutes = 540 * kSec;
    const int64_t from = clock_.NowUnixNanos() - kNineMinutes;
    uint64_t id = 1;
    for (int t = 0; t < 500; ++t) {
      for (int s = 0; s < 5; ++s) {
        v1::Span span;
        span.set_trace_id(0xA000000000000000ull + static_cast<uint64_t>(t));
        span.set_span_id(id++);
        span.set_service(absl::StrCat("svc-", t % 3));
        span.set_start_unix_nano(from + static_cast<int64_t>(id) * (kSec / 10));
        source_.spans.push_back(span);
      }
    }
  }

  static tracing::TracerOptions TracerOptions() {
    tracing::TracerOptions o;
    o.service = "apmcov-collector";
    return o;
  }

  std::unique_ptr<App> MakeApp(bool traced) {
    App::Ports ports{source_, *publisher_, *lag_, clock_, metrics_, nullptr, {}};
    if (traced) ports.tracer = &tracer_;
    return std::make_unique<App>(config_, ports);
  }

  std::vector<tracing::SpanData> Spans() {
    EXPECT_TRUE(exporter_.Flush(std::chrono::seconds(1)).ok());
    return exporter_.AllSpans();
  }

  static std::vector<std::string> Topics() {
    return {"apmcov.catalog", "apmcov.apm-inventory", "apmcov.sync-jobs",
            "apmcov.dlq",     "apmcov.spans",         "apmcov.collector-state"};
  }
  // Every record the collector delivered, on every topic it writes.
  std::vector<bus::IncomingMessage> Sent() { return ReadToEnd(broker_, Topics()); }

  static bool IsProducer(const tracing::SpanData& s) {
    auto kind = s.meta.find("span.kind");
    return s.name == "kafka.produce" && kind != s.meta.end() && kind->second == "producer";
  }

  CollectorConfig config_;
  ManualClock clock_;
  prometheus::Registry registry_;
  CollectorMetrics metrics_;
  datadog::testing::FakeSource source_;
  bus::MemoryBroker broker_;
  std::unique_ptr<bus::Publisher> publisher_ = broker_.NewPublisher();
  std::unique_ptr<bus::LagProbe> lag_ = broker_.NewLagProbe();
  tracing::InMemoryExporter exporter_{100000};
  tracing::Tracer tracer_;
};

TEST_F(ProduceSpansTest,
       EveryPublishOfASyncHasAProducerSpanPerGroupWhoseContextEveryRecordCarries) {
  auto app = MakeApp(true);
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  ASSERT_EQ(r.state, v1::SYNC_STATE_SUCCEEDED) << r.error;
  ASSERT_EQ(r.spans, 2500u);
  ASSERT_EQ(r.pages, 3u);
  const std::vector<tracing::SpanData> spans = Spans();

  const tracing::SpanData* sync = nullptr;
  std::map<uint64_t, const tracing::SpanData*> producers;  // by span id
  std::map<std::string, int> producers_per_topic;
  for (const tracing::SpanData& s : spans) {
    if (s.name == "collector.sync") sync = &s;
    if (IsProducer(s)) {
      producers[s.span_id] = &s;
      ++producers_per_topic[std::string(s.resource)];
    }
  }
  ASSERT_NE(sync, nullptr);
  for (const auto& [id, p] : producers) {
    EXPECT_EQ(p->parent_id, sync->span_id) << p->resource << ": a child of the sync";
    EXPECT_EQ(p->trace_id.low, sync->trace_id.low);
    EXPECT_EQ(p->meta.at("messaging.destination.name"), p->resource);
    EXPECT_EQ(p->meta.at("messaging.system"), "kafka");
  }
  // One span per group: the catalog (3 services and the snapshot end) once, each inventory
  // list once, each page of span batches once, the round of watermarks once, the checkpoint
  // once, and every job record (running x3, then at the 3 pages: none, as pages % 10 != 0;
  // the final state) once each.
  EXPECT_EQ(producers_per_topic["apmcov.catalog"], 1);
  EXPECT_EQ(producers_per_topic["apmcov.apm-inventory"], 2);
  EXPECT_EQ(producers_per_topic["apmcov.spans"], 3 + 1);
  EXPECT_EQ(producers_per_topic["apmcov.collector-state"], 1);
  EXPECT_EQ(producers_per_topic["apmcov.sync-jobs"], 4);

  // Every record carries the context of a producer span of its own topic, and the span counts
  // the records it covers.
  std::map<uint64_t, int> records_per_producer;
  const std::vector<bus::IncomingMessage> sent = Sent();
  ASSERT_FALSE(sent.empty());
  for (const bus::IncomingMessage& m : sent) {
    std::optional<tracing::SpanContext> ctx = ContextOf(m);
    ASSERT_TRUE(ctx.has_value()) << m.topic << " record " << m.key << " has no trace context";
    auto it = producers.find(ctx->span_id);
    ASSERT_NE(it, producers.end()) << m.topic << ": the context names no producer span";
    EXPECT_EQ(std::string_view(it->second->resource), m.topic);
    EXPECT_EQ(ctx->trace_id.low, sync->trace_id.low);
    ++records_per_producer[ctx->span_id];
  }
  for (const auto& [id, p] : producers) {
    EXPECT_EQ(p->metrics.at("messaging.batch.message_count"),
              static_cast<double>(records_per_producer[id]))
        << p->resource;
  }
  // The catalog's span covers the 3 services and the snapshot end.
  int catalog_spans = 0;
  for (const auto& [id, p] : producers) {
    if (p->resource != "apmcov.catalog") continue;
    ++catalog_spans;
    EXPECT_EQ(records_per_producer[id], 4);
  }
  EXPECT_EQ(catalog_spans, 1);
}

TEST_F(ProduceSpansTest, AQueuedJobIsProducedUnderTheRequestsContext) {
  auto app = MakeApp(true);
  tracing::SpanContext parent;
  parent.trace_id = {0x1234, 0x5678};
  parent.span_id = 0x9abc;
  parent.sampling_priority = tracing::kAutoKeep;
  v1::SyncRequest req;
  req.set_job_id("job-1");
  req.set_requested_by("test");
  (void)app->Request(req, parent);
  const std::vector<tracing::SpanData> spans = Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_TRUE(IsProducer(spans[0]));
  EXPECT_EQ(spans[0].resource, "apmcov.sync-jobs");
  EXPECT_EQ(spans[0].trace_id.low, parent.trace_id.low);
  EXPECT_EQ(spans[0].parent_id, parent.span_id);
  const std::vector<bus::IncomingMessage> sent = Sent();
  ASSERT_EQ(sent.size(), 1u);
  std::optional<tracing::SpanContext> ctx = ContextOf(sent[0]);
  ASSERT_TRUE(ctx.has_value());
  EXPECT_EQ(ctx->span_id, spans[0].span_id);
}

TEST_F(ProduceSpansTest, WithoutATracerNoRecordCarriesAContext) {
  auto app = MakeApp(false);
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  ASSERT_EQ(r.state, v1::SYNC_STATE_SUCCEEDED) << r.error;
  const std::vector<bus::IncomingMessage> sent = Sent();
  ASSERT_FALSE(sent.empty());
  for (const bus::IncomingMessage& m : sent) {
    EXPECT_FALSE(ContextOf(m).has_value()) << m.topic;
    EXPECT_EQ(m.headers.size(), 2u) << m.topic << ": content-type and type only";
  }
  EXPECT_TRUE(Spans().empty());
}

}  // namespace
}  // namespace apmcov::collector
