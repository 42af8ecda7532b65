// The tracer on a manual clock with deterministic ids and the in-memory exporter: parents,
// chunks, the tags each span and each chunk root carries, the active span, remote parents,
// and head sampling decided once and propagated.
#include "apmcov/tracing/tracer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "apmcov/tracing/exporter.h"
#include "apmcov/tracing/memory_exporter.h"

namespace apmcov::tracing {
namespace {

using std::chrono::seconds;

class TracerTest : public ::testing::Test {
 protected:
  TracerOptions Options(Sampler sampler = Sampler()) {
    TracerOptions o;
    o.service = "apmcov-collector";
    o.env = "test";
    o.version = "1.2.3";
    o.sampler = sampler;
    o.id_source = [this] { return ++next_id_; };
    return o;
  }

  std::vector<TraceChunk> Delivered() {
    EXPECT_TRUE(exporter_.Flush(seconds(1)).ok());
    return exporter_.Received();
  }

  std::atomic<uint64_t> next_id_{100};
  ManualClock clock_{Clock::TimePoint(seconds(1'795'300'000))};
  InMemoryExporter exporter_;
};

TEST_F(TracerTest, ChildrenShareTheTraceAndTheChunkGoesWhenTheLastSpanEnds) {
  Tracer tracer(Options(), &exporter_, clock_);
  Span root = tracer.StartSpan("sync", {.resource = "scheduled sync", .type = "worker"});
  clock_.Advance(std::chrono::milliseconds(5));
  Span call = tracer.StartChild(
      root, "http.request",
      {.resource = "GET /api/v2/spans/events", .type = "http", .kind = kinds::kClient});
  call.SetTag(tags::kPeerService, "datadog-api");
  call.SetMetric("http.page_spans", 1000);
  clock_.Advance(std::chrono::milliseconds(20));
  call.Finish();
  EXPECT_TRUE(exporter_.Queued().empty());  // the root is still open
  clock_.Advance(std::chrono::milliseconds(3));
  root.Finish();
  root.Finish();  // idempotent

  const std::vector<TraceChunk> got = Delivered();
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].size(), 2u);
  const SpanData& c = got[0][0];  // finish order: the call, then the root
  const SpanData& r = got[0][1];
  EXPECT_EQ(r.parent_id, 0u);
  EXPECT_EQ(c.parent_id, r.span_id);
  EXPECT_EQ(c.trace_id, r.trace_id);
  EXPECT_EQ(r.trace_id.high, 1'795'300'000ULL << 32);  // dd-trace's 128-bit layout
  EXPECT_EQ(r.start_ns, 1'795'300'000'000'000'000LL);
  EXPECT_EQ(r.duration_ns, 28'000'000);
  EXPECT_EQ(c.duration_ns, 20'000'000);
  EXPECT_EQ(r.name, "sync");
  EXPECT_EQ(r.resource, "scheduled sync");
  EXPECT_EQ(c.resource, "GET /api/v2/spans/events");
  EXPECT_EQ(r.service, "apmcov-collector");
  // Unified service tags everywhere; span.kind and peer tags where set.
  for (const SpanData* s : {&r, &c}) {
    EXPECT_EQ(s->meta.at("env"), "test");
    EXPECT_EQ(s->meta.at("version"), "1.2.3");
  }
  EXPECT_EQ(c.meta.at("span.kind"), "client");
  EXPECT_EQ(c.meta.at("peer.service"), "datadog-api");
  EXPECT_EQ(c.metrics.at("http.page_spans"), 1000);
  // Trace-level tags on the chunk root only.
  EXPECT_EQ(r.MetaOr("_dd.p.tid"), r.trace_id.HighHex());
  EXPECT_EQ(r.meta.at("_dd.p.dm"), "-0");
  EXPECT_EQ(r.meta.at("language"), "cpp");
  EXPECT_EQ(r.metrics.at("_sampling_priority_v1"), 1);
  EXPECT_EQ(r.metrics.at("_dd.agent_psr"), 1);
  EXPECT_GT(r.metrics.at("process_id"), 0);
  EXPECT_EQ(c.meta.count("_dd.p.tid"), 0u);
  EXPECT_EQ(c.metrics.count("_sampling_priority_v1"), 0u);
}

TEST_F(TracerTest, TheActiveSpanParentsNewSpansAndIsVisibleToLogs) {
  Tracer tracer(Options(), &exporter_, clock_);
  EXPECT_FALSE(CurrentSpanIds().has_value());
  Span root = tracer.StartSpan("request");
  {
    ActiveSpanScope scope(root);
    ASSERT_TRUE(CurrentSpanIds().has_value());
    EXPECT_EQ(CurrentSpanIds()->span_id, root.span_id());
    EXPECT_EQ(CurrentSpanIds()->trace_id, root.trace_id());
    Span child = tracer.StartSpan("query");
    EXPECT_EQ(child.trace_id(), root.trace_id());
    {
      ActiveSpanScope inner(child);
      EXPECT_EQ(CurrentSpanIds()->span_id, child.span_id());
      Span fresh = tracer.StartSpan("other", {.root = true});
      EXPECT_NE(fresh.trace_id(), root.trace_id());
    }
    EXPECT_EQ(CurrentSpanIds()->span_id, root.span_id());
  }
  EXPECT_FALSE(CurrentSpanIds().has_value());
  root.Finish();
  const std::vector<TraceChunk> got = Delivered();
  ASSERT_EQ(got.size(), 2u);  // "other", then request + query
  EXPECT_EQ(got[1].size(), 2u);
  EXPECT_EQ(got[1][0].parent_id, got[1][1].span_id);
}

TEST_F(TracerTest, ARemoteParentContinuesItsTraceWithItsDecision) {
  Tracer tracer(Options(Sampler(0.0, true)), &exporter_, clock_);  // would drop a new trace
  SpanContext remote;
  remote.trace_id = {0x6650a1b200000000ULL, 777};
  remote.span_id = 555;
  remote.sampling_priority = kUserKeep;
  remote.trace_tags = {{"_dd.p.dm", "-3"}};
  remote.datadog_parent_hex = "00000000000000aa";
  {
    Span consumer =
        tracer.StartSpan("kafka.consume", {.kind = kinds::kConsumer, .parent = &remote});
    EXPECT_TRUE(consumer.recording());
    EXPECT_EQ(consumer.context().sampling_priority, kUserKeep);
  }
  const std::vector<TraceChunk> got = Delivered();
  ASSERT_EQ(got.size(), 1u);
  const SpanData& s = got[0][0];
  EXPECT_EQ(s.trace_id, remote.trace_id);
  EXPECT_EQ(s.parent_id, 555u);
  EXPECT_EQ(s.meta.at("_dd.p.tid"), "6650a1b200000000");
  EXPECT_EQ(s.meta.at("_dd.p.dm"), "-3");
  EXPECT_EQ(s.meta.at("_dd.parent_id"), "00000000000000aa");
  EXPECT_EQ(s.metrics.at("_sampling_priority_v1"), 2);
  EXPECT_EQ(s.metrics.count("_dd.rule_psr"), 0u);  // not decided here
}

TEST_F(TracerTest, ADroppedTraceStillPropagatesButIsNeverExported) {
  Tracer tracer(Options(Sampler(0.0, true)), &exporter_, clock_);
  HeaderList headers;
  {
    Span root = tracer.StartSpan("sync");
    EXPECT_FALSE(root.recording());
    root.SetTag("ignored", "x");
    Span child = tracer.StartChild(root, "call");
    Inject(child.context(), WriteTo(&headers));
  }
  EXPECT_TRUE(Delivered().empty());
  EXPECT_EQ(exporter_.stats().spans_dropped, 0u);  // sampling is not a drop
  auto ctx = Extract(ReadFrom(headers));
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->sampling_priority, kUserReject);

  // The next process follows the caller's decision, whatever its own rate.
  Tracer keep_all(Options(Sampler(1.0, true)), &exporter_, clock_);
  { Span s = keep_all.StartSpan("consume", {.parent = &*ctx}); }
  EXPECT_TRUE(Delivered().empty());
}

TEST_F(TracerTest, TheSampleRateKeepsByTheKnuthHashOfTheTraceId) {
  const Sampler half(0.5, true);
  int kept = 0;
  for (uint64_t low = 1; low <= 10000; ++low) {
    const SamplingDecision d = half.Decide({0, low});
    const bool expect =
        static_cast<long double>(low * 1111111111111111111ULL) < 0.5L * 18446744073709551616.0L;
    EXPECT_EQ(d.keep(), expect) << low;
    EXPECT_EQ(d.priority, expect ? kUserKeep : kUserReject);
    kept += d.keep();
  }
  EXPECT_NEAR(kept, 5000, 250);
  EXPECT_TRUE(Sampler(1.0, true).Decide({0, 1}).keep());
  EXPECT_FALSE(Sampler(0.0, true).Decide({0, 1}).keep());
  EXPECT_EQ(Sampler(1.0, false).Decide({0, 1}).priority, kAutoKeep);

  // Through the tracer: kept roots carry the rule's rate and decision maker.
  uint64_t low_id = 0;
  TracerOptions o = Options(Sampler(0.5, true));
  for (uint64_t id = 1;; ++id) {
    if (half.Decide({0, id}).keep()) {
      low_id = id;
      break;
    }
  }
  o.id_source = [low_id] { return low_id; };
  o.trace_id_128 = false;
  Tracer tracer(o, &exporter_, clock_);
  { Span s = tracer.StartSpan("x"); }
  const std::vector<TraceChunk> got = Delivered();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0][0].metrics.at("_dd.rule_psr"), 0.5);
  EXPECT_EQ(got[0][0].meta.at("_dd.p.dm"), "-3");
  EXPECT_EQ(got[0][0].meta.count("_dd.p.tid"), 0u);  // a 64-bit id
}

TEST_F(TracerTest, SpansStartedAfterTheirChunkWasSentFormAChunkWithItsOwnRootTags) {
  Tracer tracer(Options(), &exporter_, clock_);
  Span root = tracer.StartSpan("request");
  Span late_parent = tracer.StartChild(root, "handler");
  root.Finish();
  late_parent.Finish();
  Span late = tracer.StartChild(late_parent, "async-write");
  late.Finish();
  const std::vector<TraceChunk> got = Delivered();
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[1].size(), 1u);
  EXPECT_EQ(got[1][0].metrics.at("_sampling_priority_v1"), 1);
  EXPECT_EQ(got[1][0].MetaOr("_dd.p.tid"), got[0][0].trace_id.HighHex());
}

TEST_F(TracerTest, SpansAreMadeOfTracingsOwnMemoryAndStayThereWhenCopied) {
  Tracer tracer(Options(), &exporter_, clock_);
  {
    Span s = tracer.StartSpan(
        "http.request", {.resource = "GET /api/v2/spans/events/search", .kind = kinds::kClient});
    s.SetTag("http.url", "https://api.datadoghq.com/api/v2/spans/events/search?page=a-cursor");
    s.SetMetric("http.page_spans", 1000);
  }
  const std::vector<TraceChunk> got = Delivered();
  ASSERT_EQ(got.size(), 1u);
  const SpanData& delivered = got[0][0];
  SpanData copy = delivered;
  SpanData moved = std::move(copy);
  for (const SpanData* d : {&delivered, static_cast<const SpanData*>(&moved)}) {
    EXPECT_EQ(d->service.get_allocator().resource(), SpanMemory());
    EXPECT_EQ(d->resource.get_allocator().resource(), SpanMemory());
    EXPECT_EQ(d->meta.get_allocator().resource(), SpanMemory());
    EXPECT_EQ(d->metrics.get_allocator().resource(), SpanMemory());
    for (const auto& [k, v] : d->meta) {
      EXPECT_EQ(k.get_allocator().resource(), SpanMemory()) << k;
      EXPECT_EQ(v.get_allocator().resource(), SpanMemory()) << k;
    }
    // Tags are found by any string type, and SetMeta replaces.
    EXPECT_EQ(d->MetaOr(std::string("span.kind")), "client");
    EXPECT_EQ(d->meta.count(std::string_view("http.url")), 1u);
    EXPECT_EQ(d->MetaOr("absent", "none"), "none");
  }
  moved.SetMeta("span.kind", "server");
  EXPECT_EQ(moved.MetaOr("span.kind"), "server");
  EXPECT_EQ(delivered.MetaOr("span.kind"), "client");
}

// SpanMemoryBytes() counts what the pool holds: it grows with spans alive at once, and keeps
// what it took once they are gone (the next spans reuse it: a second burst of the same size
// takes nothing more from the heap).
TEST_F(TracerTest, SpanMemoryBytesGrowsWithSpansAliveAndIsReusedAfterThem) {
  const std::string tag(64, 't');  // strings past the small-string buffer live in the pool
  auto burst = [&] {  // 2,000 spans open at once, then delivered and gone with the exporter
    InMemoryExporter exporter;
    Tracer tracer(Options(), &exporter, clock_);
    std::vector<Span> open;
    for (int i = 0; i < 2000; ++i) {
      open.push_back(tracer.StartSpan("burst", {.resource = tag + std::to_string(i)}));
      open.back().SetTag("burst.tag", tag);
    }
    open.clear();
    EXPECT_TRUE(exporter.Flush(seconds(1)).ok());
    EXPECT_EQ(exporter.stats().spans_sent, 2000u);
  };
  const size_t before = SpanMemoryBytes();
  burst();
  const size_t after_first = SpanMemoryBytes();
  EXPECT_GE(after_first, before + 2000 * 2 * tag.size());  // at least the spans' strings
  burst();  // the same again: served by what the pool kept
  EXPECT_LE(SpanMemoryBytes(), after_first + (after_first - before) / 10);
}

TEST_F(TracerTest, PartialFlushSendsFinishedSpansOfALongTraceInChunksOfTheirOwn) {
  TracerOptions o = Options();
  o.partial_flush_min_spans = 3;
  Tracer tracer(o, &exporter_, clock_);
  Span root = tracer.StartSpan("sync");
  for (int i = 0; i < 7; ++i) tracer.StartChild(root, "http.request").Finish();
  // Two chunks of three went while the root was open; the seventh call waits for it.
  EXPECT_EQ(exporter_.Queued().size(), 2u);
  root.Finish();
  const std::vector<TraceChunk> got = Delivered();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].size(), 3u);
  EXPECT_EQ(got[1].size(), 3u);
  ASSERT_EQ(got[2].size(), 2u);
  const SpanData& r = got[2][1];
  EXPECT_EQ(r.parent_id, 0u);
  std::set<uint64_t> ids;
  for (const TraceChunk& chunk : got) {
    for (const SpanData& s : chunk) {
      EXPECT_EQ(s.trace_id, r.trace_id);
      if (&s != &r) {
        EXPECT_EQ(s.parent_id, r.span_id);
      }
      ids.insert(s.span_id);
    }
    // Every chunk carries the trace-level tags once, on a span whose parent is not in it.
    int tagged = 0;
    for (const SpanData& s : chunk) {
      if (s.metrics.count("_sampling_priority_v1") == 0) continue;
      ++tagged;
      EXPECT_EQ(s.MetaOr("_dd.p.tid"), r.trace_id.HighHex());
    }
    EXPECT_EQ(tagged, 1);
  }
  EXPECT_EQ(ids.size(), 8u);  // each span once

  // Off: the whole trace goes as one chunk when its root ends.
  o.partial_flush_min_spans = 0;
  InMemoryExporter whole;
  Tracer one_chunk(o, &whole, clock_);
  Span root2 = one_chunk.StartSpan("sync");
  for (int i = 0; i < 7; ++i) one_chunk.StartChild(root2, "http.request").Finish();
  EXPECT_TRUE(whole.Queued().empty());
  root2.Finish();
  ASSERT_EQ(whole.Queued().size(), 1u);
  EXPECT_EQ(whole.Queued()[0].size(), 8u);
}

TEST_F(TracerTest, AFullExporterDropsTheChunkAndCountsItsSpans) {
  InMemoryExporter small(2);
  Tracer tracer(Options(), &small, clock_);
  {
    Span root = tracer.StartSpan("a");
    Span b = tracer.StartChild(root, "b");
    Span c = tracer.StartChild(root, "c");
  }
  EXPECT_EQ(small.stats().spans_dropped, 3u);
  EXPECT_TRUE(small.Queued().empty());
}

TEST_F(TracerTest, ErrorsAndMovesAndChildrenOnOtherThreads) {
  Tracer tracer(Options(), &exporter_, clock_);
  Span root = tracer.StartSpan("batch", {.kind = kinds::kConsumer});
  root.SetError("decode failed", "DataLoss");
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&tracer, &root] {
      for (int j = 0; j < 50; ++j) {
        Span s = tracer.StartChild(root, "write", {.type = "sql", .kind = kinds::kClient});
        s.SetTag(tags::kDbSystem, "postgresql");
      }
    });
  }
  for (std::thread& t : threads) t.join();
  Span moved = std::move(root);
  EXPECT_FALSE(root.recording());  // NOLINT(bugprone-use-after-move): the moved-from is empty
  moved = Span();                  // finishes it
  const std::vector<TraceChunk> got = Delivered();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].size(), 201u);
  const SpanData& r = got[0].back();
  EXPECT_EQ(r.error, 1);
  EXPECT_EQ(r.meta.at("error.message"), "decode failed");
  EXPECT_EQ(r.meta.at("error.type"), "DataLoss");
  EXPECT_EQ(r.meta.at("span.kind"), "consumer");
}

TEST_F(TracerTest, WithoutAnExporterTracingIsOff) {
  Tracer tracer(Options(), nullptr, clock_);
  EXPECT_FALSE(tracer.enabled());
  Span s = tracer.StartSpan("x");
  EXPECT_FALSE(s.recording());
  EXPECT_FALSE(s.context().valid());
  HeaderList h;
  Inject(s.context(), WriteTo(&h));
  EXPECT_TRUE(h.empty());
  ActiveSpanScope scope(s);
  EXPECT_FALSE(CurrentSpanIds().has_value());
}

TEST_F(TracerTest, ActiveSpanIdsReachTheLogHookAndAreRestored) {
  Tracer tracer(Options(), &exporter_, clock_);
  EXPECT_EQ(ThreadLogSpan(), nullptr);
  Span outer = tracer.StartSpan("outer");
  {
    ActiveSpanScope a(outer);
    ASSERT_NE(ThreadLogSpan(), nullptr);
    EXPECT_EQ(ThreadLogSpan()->trace_id_low, outer.trace_id().low);
    EXPECT_EQ(ThreadLogSpan()->span_id, outer.span_id());
    Span inner = tracer.StartSpan("inner");
    {
      ActiveSpanScope b(inner);
      EXPECT_EQ(ThreadLogSpan()->span_id, inner.span_id());
      Span off;  // an empty span leaves the active one in place
      ActiveSpanScope c(off);
      EXPECT_EQ(ThreadLogSpan()->span_id, inner.span_id());
    }
    EXPECT_EQ(ThreadLogSpan()->span_id, outer.span_id());
  }
  EXPECT_EQ(ThreadLogSpan(), nullptr);
  EXPECT_FALSE(DisabledTracer().enabled());
}

TEST_F(TracerTest, AnActiveSpanCarriedToAHelperThreadParentsItsSpans) {
  Tracer tracer(Options(), &exporter_, clock_);
  Span root = tracer.StartSpan("sync");
  uint64_t parent_seen = 0;
  {
    ActiveSpanScope active(root);
    ActiveSpanRef ref = CurrentActiveSpan();
    std::thread([&] {
      ActiveSpanScope inherited(ref);
      Span call = tracer.StartSpan("http.request");
      parent_seen = CurrentSpanIds()->span_id;
    }).join();
  }
  root.Finish();
  const std::vector<TraceChunk> got = Delivered();
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].size(), 2u);
  EXPECT_EQ(got[0][0].parent_id, root.span_id());
  EXPECT_EQ(parent_seen, root.span_id());
}

TEST_F(TracerTest, LinksAreSentAsDatadogSpanLinksJson) {
  Tracer tracer(Options(), &exporter_, clock_);
  SpanContext a;
  a.trace_id = {0x1, 0x2};
  a.span_id = 0x10;
  a.sampling_priority = 1;
  SpanContext b;
  b.trace_id = {0, 0xabc};
  b.span_id = 0x20;
  {
    Span s = tracer.StartSpan("kafka.consume", {.root = true});
    s.AddLink(a);
    s.AddLink(SpanContext{});  // invalid: ignored
    s.AddLink(b);
  }
  Span plain = tracer.StartSpan("plain", {.root = true});
  plain.Finish();
  const std::vector<TraceChunk> got = Delivered();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0][0].MetaOr(tags::kSpanLinks),
            "[{\"trace_id\":\"00000000000000010000000000000002\",\"span_id\":"
            "\"0000000000000010\",\"flags\":1},{\"trace_id\":\"00000000000000000000000000000abc\","
            "\"span_id\":\"0000000000000020\"}]");
  EXPECT_EQ(got[1][0].meta.count(tags::kSpanLinks), 0u);
}

}  // namespace
}  // namespace apmcov::tracing
