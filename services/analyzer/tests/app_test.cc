// Unit tests of the analyzer App on fakes: MemoryBroker (bus), MemoryCoverageStore and a
// ManualClock. No network, no database.
#include "app.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <tuple>

#include "apmcov/bus/memory_bus.h"
#include "apmcov/bus/proto.h"
#include "apmcov/store/memory_store.h"
#include "apmcov/v1/events.pb.h"
#include "fixtures.h"

namespace apmcov::analyzer {
namespace {

namespace v1 = apmcov::v1;
using bus::TopicPartition;

using google::protobuf::util::TimeUtil;
using testing::kSec;
using testing::kT0;
using testing::MakeJob;
using testing::MakeSpan;

struct Dump {
  std::vector<store::ServiceRow> services;
  std::vector<store::ApmServiceRow> apm;
  std::vector<std::optional<store::BrokenTraceRecord>> traces;
  std::vector<store::DependencyRow> deps;
  bool operator==(const Dump&) const = default;
};

class AnalyzerAppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& [topic, parts] :
         std::vector<std::pair<std::string, int>>{{topics_.catalog, 2},
                                                  {topics_.apm_inventory, 2},
                                                  {topics_.spans, 2},
                                                  {topics_.sync_jobs, 1},
                                                  {topics_.dlq, 1}}) {
      ASSERT_TRUE(broker_.CreateTopic(topic, parts).ok());
    }
    options_.topic_prefix = "t.";
    options_.poll_timeout = std::chrono::milliseconds(5);
    options_.trace_grace_ns = 10 * kSec;
    options_.directory_refresh = std::chrono::seconds(0);
    options_.snapshot_wait = std::chrono::hours(1);
  }

  void StartApp(const std::string& group = "apmcov-analyzer") {
    app_.reset();
    subscriber_ = broker_.NewSubscriber(group);
    registry_ = std::make_shared<prometheus::Registry>();
    app_ = std::make_unique<App>(options_, AppPorts{*subscriber_, *dlq_publisher_, store_, clock_,
                                                    *registry_, *probe_, on_snapshot_});
    ASSERT_TRUE(app_->Start().ok());
  }

  // Runs the App until two polls in a row bring nothing.
  void Drain() {
    int idle = 0;
    for (int i = 0; i < 200 && idle < 2; ++i) {
      absl::StatusOr<size_t> n = app_->RunOnce();
      ASSERT_TRUE(n.ok()) << n.status();
      idle = *n == 0 ? idle + 1 : 0;
    }
  }

  void Publish(const std::string& topic, const std::string& key, const google::protobuf::Message& m,
               std::optional<int32_t> partition = {}) {
    ASSERT_TRUE(bus::PublishProto(*producer_, topic, key, m, partition).ok());
    ASSERT_TRUE(producer_->Flush(std::chrono::seconds(1)).ok());
  }

  void PublishService(const std::string& snapshot, const std::string& name, int64_t synced,
                      const std::string& lifecycle = "production") {
    v1::CatalogService s;
    s.set_snapshot_id(snapshot);
    s.set_name(name);
    s.set_team("core");
    s.set_lifecycle(lifecycle);
    s.add_envs("prod");
    *s.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(synced);
    Publish(topics_.catalog, name, s);
  }

  void PublishEnd(const std::string& snapshot, uint32_t count, int64_t synced,
                  const std::string& job = "") {
    v1::CatalogSnapshotEnd e;
    e.set_snapshot_id(snapshot);
    e.set_count(count);
    e.set_job_id(job);
    *e.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(synced);
    Publish(topics_.catalog, std::string("\0snapshot-end", 13), e);
  }

  void PublishSpans(std::vector<v1::Span> spans) {
    v1::SpanBatch b;
    for (auto& s : spans) *b.add_spans() = std::move(s);
    Publish(topics_.spans, std::to_string(b.spans(0).trace_id()), b);
  }

  void PublishWatermark(int64_t watermark, const std::string& job = "") {
    for (int32_t p = 0; p < 2; ++p) {
      v1::SpanBatch b;
      b.set_watermark_unix_nano(watermark);
      b.set_job_id(job);
      Publish(topics_.spans, "", b, p);
    }
  }

  // A sampled sync's watermark: `intervals` are the slices read, (from, to, complete).
  void PublishSampledWatermark(int64_t watermark, const std::string& job,
                               const std::vector<std::tuple<int64_t, int64_t, bool>>& intervals) {
    for (int32_t p = 0; p < 2; ++p) {
      v1::SpanBatch b;
      b.set_watermark_unix_nano(watermark);
      b.set_job_id(job);
      for (const auto& [from, to, complete] : intervals) {
        v1::ReadInterval* r = b.add_read_intervals();
        r->set_from_unix_nano(from);
        r->set_to_unix_nano(to);
        r->set_complete(complete);
      }
      Publish(topics_.spans, "", b, p);
    }
  }

  int32_t SpansPartitionOf(uint64_t trace) {
    // Find it from the broker: publish order is known, so look for the trace's key.
    for (int32_t p = 0; p < 2; ++p) {
      auto w = broker_.Watermarks(topics_.spans, p);
      if (w.ok() && w->second > 0) {
        auto sub = broker_.NewSubscriber("probe-" + std::to_string(trace) + std::to_string(p));
        EXPECT_TRUE(sub->Subscribe({topics_.spans}).ok());
        for (int i = 0; i < 10; ++i) {
          auto msgs = sub->Poll(1000, std::chrono::milliseconds(5));
          if (!msgs.ok()) continue;
          for (const auto& m : *msgs) {
            if (m.key == std::to_string(trace)) return m.partition;
          }
        }
      }
    }
    ADD_FAILURE() << "trace " << trace << " not found in the spans topic";
    return -1;
  }

  std::vector<v1::DeadLetter> DeadLetters() {
    auto sub = broker_.NewSubscriber("dlq-reader");
    EXPECT_TRUE(sub->Subscribe({topics_.dlq}).ok());
    std::vector<v1::DeadLetter> out;
    for (int i = 0; i < 5; ++i) {
      auto msgs = sub->Poll(1000, std::chrono::milliseconds(5));
      if (!msgs.ok()) continue;
      for (const auto& m : *msgs) {
        v1::DeadLetter dl;
        EXPECT_TRUE(bus::ParseProto(m, &dl).ok());
        out.push_back(dl);
      }
    }
    return out;
  }

  Dump DumpStore() {
    Dump d;
    d.services = *store_.LoadServices(true);
    d.apm = *store_.LoadApmServices();
    const std::vector<uint64_t> ids = *store_.ListBrokenTraceIds();
    for (uint64_t id : ids) d.traces.push_back(*store_.LoadBrokenTrace(id));
    d.deps = *store_.LoadDependencies();
    return d;
  }

  std::string Metrics() { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

  bus::TopicNames topics_{"t."};
  bus::MemoryBroker broker_;
  std::unique_ptr<bus::Publisher> producer_ = broker_.NewPublisher();
  std::unique_ptr<bus::Publisher> dlq_publisher_ = broker_.NewPublisher();
  std::unique_ptr<bus::LagProbe> probe_ = broker_.NewLagProbe();
  store::MemoryCoverageStore store_;
  ManualClock clock_;
  AppOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<bus::Subscriber> subscriber_;
  std::unique_ptr<App> app_;
  std::function<void(const coverage::CoverageReport&)> on_snapshot_;  // AppPorts
};

std::vector<std::string> Names(const std::vector<store::ServiceRow>& rows) {
  std::vector<std::string> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(r.catalog.name);
  return out;
}

TEST_F(AnalyzerAppTest, CatalogSnapshotThenEndMarkerMarksRemovals) {
  StartApp();
  for (const char* n : {"a", "b", "c"}) PublishService("s1", n, kT0);
  PublishEnd("s1", 3, kT0);
  Drain();
  EXPECT_EQ(Names(*store_.LoadServices(false)), (std::vector<std::string>{"a", "b", "c"}));

  // s2 lists a and b: until its end marker arrives nothing is removed.
  PublishService("s2", "a", kT0 + 900 * kSec);
  PublishService("s2", "b", kT0 + 900 * kSec);
  Drain();
  EXPECT_EQ(Names(*store_.LoadServices(false)), (std::vector<std::string>{"a", "b", "c"}));
  PublishEnd("s2", 2, kT0 + 900 * kSec);
  Drain();
  EXPECT_EQ(Names(*store_.LoadServices(false)), (std::vector<std::string>{"a", "b"}));
  auto all = *store_.LoadServices(true);
  ASSERT_EQ(all.size(), 3u);
  ASSERT_TRUE(all[2].removed_at_ns.has_value());
  EXPECT_EQ(*all[2].removed_at_ns, kT0 + 900 * kSec);

  // A snapshot whose end marker announces more services than arrived removes nothing.
  PublishService("s3", "a", kT0 + 1800 * kSec);
  PublishEnd("s3", 2, kT0 + 1800 * kSec);
  Drain();
  EXPECT_EQ(Names(*store_.LoadServices(false)), (std::vector<std::string>{"a", "b"}));
  EXPECT_NE(Metrics().find("apmcov_catalog_services 2"), std::string::npos) << Metrics();
}

TEST_F(AnalyzerAppTest, PoisonMessageGoesToTheDlqAndConsumptionGoesOn) {
  StartApp();
  bus::OutgoingMessage poison;
  poison.topic = topics_.spans;
  poison.key = "42";
  poison.value = "\xff\xff\xff not a protobuf";
  poison.headers = {{"content-type", "application/x-protobuf"}, {"type", "apmcov.v1.SpanBatch"}};
  ASSERT_TRUE(producer_->Publish(poison).ok());
  bus::OutgoingMessage wrong_type = poison;
  wrong_type.topic = topics_.apm_inventory;
  wrong_type.value = "";
  wrong_type.headers = {{"content-type", "application/x-protobuf"}, {"type", "apmcov.v1.Nope"}};
  ASSERT_TRUE(producer_->Publish(wrong_type).ok());
  v1::ApmObservation nameless;  // decodes, but has no service
  Publish(topics_.apm_inventory, "x", nameless);
  PublishService("s1", "after-the-poison", kT0);
  Drain();

  EXPECT_EQ(Names(*store_.LoadServices(false)), (std::vector<std::string>{"after-the-poison"}));
  std::vector<v1::DeadLetter> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 3u);
  std::map<std::string, v1::DeadLetter> by_topic;
  for (const auto& d : dead) by_topic[d.topic() + "/" + d.original_key()] = d;
  const v1::DeadLetter& d = by_topic.at(topics_.spans + "/42");
  EXPECT_EQ(d.original_value(), poison.value);
  EXPECT_EQ(d.offset(), 0);
  EXPECT_EQ(d.consumer(), "apmcov-analyzer");
  EXPECT_FALSE(d.error().empty());
  EXPECT_NE(by_topic.at(topics_.apm_inventory + "/42").error().find("apmcov.v1.Nope"),
            std::string::npos)
      << by_topic.at(topics_.apm_inventory + "/42").error();
  EXPECT_NE(by_topic.at(topics_.apm_inventory + "/x").error().find("service"), std::string::npos);
  EXPECT_EQ(app_->dlq_messages(), 3);
  // The poison message's offset is committed past: it is never read again.
  const auto w = *broker_.Watermarks(topics_.spans, d.partition());
  EXPECT_EQ(app_->committed().at({topics_.spans, d.partition()}), w.second);
  EXPECT_NE(Metrics().find("apmcov_dlq_messages_total{topic=\"t.spans\"} 1"), std::string::npos)
      << Metrics();
}

TEST_F(AnalyzerAppTest, ARecordTheStoreRejectsGoesToTheDlqAndConsumptionGoesOn) {
  StartApp();
  PublishService("s1", "before", kT0);
  v1::CatalogService poison;  // valid JSON, but no store can hold "\u0000" in jsonb
  poison.set_snapshot_id("s1");
  poison.set_name("poison");
  poison.set_links_json(R"([{"name":"runbook\u0000","url":"https://x"}])");
  Publish(topics_.catalog, "poison", poison);
  PublishService("s1", "after", kT0);
  Drain();

  EXPECT_EQ(Names(*store_.LoadServices(false)), (std::vector<std::string>{"after", "before"}));
  std::vector<v1::DeadLetter> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].original_key(), "poison");
  EXPECT_EQ(dead[0].topic(), topics_.catalog);
  EXPECT_THAT(dead[0].error(), ::testing::HasSubstr("the store rejected the record"));
  EXPECT_THAT(dead[0].error(), ::testing::HasSubstr("\\u0000"));
  for (int32_t p = 0; p < 2; ++p) {  // everything consumed is committed: no replay loop
    const auto w = *broker_.Watermarks(topics_.catalog, p);
    if (w.second > 0) {
      EXPECT_EQ(app_->committed().at({topics_.catalog, p}), w.second);
    }
  }
}

TEST_F(AnalyzerAppTest, AReplayDoesNotDeadLetterTheSameMessageAgain) {
  bus::OutgoingMessage poison;
  poison.topic = topics_.apm_inventory;
  poison.key = "p";
  poison.value = "\xff\xff not a protobuf";
  poison.headers = {{"content-type", "application/x-protobuf"},
                    {"type", "apmcov.v1.ApmObservation"}};
  ASSERT_TRUE(producer_->Publish(poison).ok());
  StartApp("first");
  Drain();
  EXPECT_EQ(app_->dlq_messages(), 1);
  // A member that never saw the commit (a SIGKILL before it, or a new group) reads the poison
  // message again, with the same store.
  StartApp("after-a-crash");
  Drain();
  EXPECT_EQ(app_->dlq_messages(), 0);
  EXPECT_EQ(DeadLetters().size(), 1u);
}

TEST_F(AnalyzerAppTest, CommitNeverPassesTheOldestSpanOfAnUnfinalisedTrace) {
  StartApp();
  const uint64_t trace = 7;
  PublishSpans({MakeSpan(trace, 1, 0, "frontend", "server", kT0)});
  const int32_t p = SpansPartitionOf(trace);
  ASSERT_GE(p, 0);
  const int64_t first_offset = broker_.Watermarks(topics_.spans, p)->second - 1;
  PublishSpans({MakeSpan(trace, 2, 1, "checkout", "server", kT0 + kSec)});
  PublishWatermark(kT0 + 5 * kSec);  // not past last end + grace yet
  Drain();
  EXPECT_EQ(app_->traces_in_flight(), 1u);
  EXPECT_EQ(app_->committed().at({topics_.spans, p}), first_offset);

  PublishWatermark(kT0 + 60 * kSec);
  Drain();
  EXPECT_EQ(app_->traces_in_flight(), 0u);
  EXPECT_EQ(app_->committed().at({topics_.spans, p}), broker_.Watermarks(topics_.spans, p)->second);
  EXPECT_NE(Metrics().find("apmcov_analyzer_traces_finalised_total 1"), std::string::npos);
  EXPECT_NE(Metrics().find("apmcov_analyzer_spans_processed_total 2"), std::string::npos);

  // A restart resumes at the committed offset: with an unfinalised trace it re-reads it whole.
  PublishSpans({MakeSpan(99, 1, 0, "frontend", "server", kT0 + 100 * kSec)});
  Drain();
  StartApp();
  Drain();
  EXPECT_EQ(app_->traces_in_flight(), 1u);
}

class BrokenTraceTest : public AnalyzerAppTest {
 protected:
  // frontend → checkout, and checkout calls payments (catalogued, never instrumented) which
  // reports nothing: uninstrumented_callee, payments missing.
  void PublishWorld() {
    PublishCatalog("job-1");
    PublishWorldSpans();
  }
  // The collector's snapshot id is its job id.
  void PublishCatalog(const std::string& job, bool with_end = true) {
    for (const char* n : {"frontend", "checkout", "payments"}) PublishService(job, n, kT0);
    if (with_end) PublishEnd(job, 3, kT0, job);
  }
  void PublishWorldSpans(const std::string& job = "job-1") {
    PublishSpans({MakeSpan(1001, 1, 0, "frontend", "server", kT0),
                  MakeSpan(1001, 2, 1, "frontend", "client", kT0 + 10, "checkout"),
                  MakeSpan(1001, 3, 2, "checkout", "server", kT0 + 20)});
    PublishSpans({MakeSpan(1001, 4, 3, "checkout", "client", kT0 + 30, "payments.internal:8443"),
                  MakeSpan(1001, 5, 3, "checkout", "client", kT0 + 40, "api.stripe.com")});
    const uint64_t high_id = (uint64_t{1} << 63) + 12345;  // ids above 2^63
    PublishSpans({MakeSpan(high_id, 7, 0, "frontend", "server", kT0),
                  MakeSpan(high_id, 8, 7, "frontend", "client", kT0 + 5, "checkout"),
                  MakeSpan(high_id, 9, 8, "checkout", "server", kT0 + 6)});
    PublishWatermark(kT0 + 60 * kSec, job);
  }

  // Design §7.1's slice edges, for job-1: of three broken traces (1, 2, 3), trace 1 lies inside
  // the complete slice [T0, T0+10 s) and is judged, trace 2 within the 1 s skew of its end and
  // trace 3 inside an incomplete slice are cut; healthy trace 4 is judged.
  void PublishSliceEdgeTraces() {
    // The same broken shape (checkout calls payments, which reports nothing) three times.
    auto broken = [&](uint64_t trace, int64_t at) {
      PublishSpans({MakeSpan(trace, 1, 0, "frontend", "server", at),
                    MakeSpan(trace, 2, 1, "frontend", "client", at + 10, "checkout"),
                    MakeSpan(trace, 3, 2, "checkout", "server", at + 20),
                    MakeSpan(trace, 4, 3, "checkout", "client", at + 30, "payments")});
    };
    broken(1, kT0 + 2 * kSec);                // inside the slice [T0, T0+10 s): judged
    broken(2, kT0 + 9 * kSec + 500'000'000);  // within the 1 s skew of the slice's end: cut
    broken(3, kT0 + 30 * kSec);               // inside an incomplete slice: cut
    // A healthy trace inside the slice: judged, not broken.
    PublishSpans({MakeSpan(4, 1, 0, "frontend", "server", kT0 + 3 * kSec),
                  MakeSpan(4, 2, 1, "frontend", "client", kT0 + 3 * kSec + 10, "checkout"),
                  MakeSpan(4, 3, 2, "checkout", "server", kT0 + 3 * kSec + 20)});
    PublishSampledWatermark(
        kT0 + 300 * kSec, "job-1",
        {{kT0, kT0 + 10 * kSec, true}, {kT0 + 25 * kSec, kT0 + 35 * kSec, false}});
    Publish(topics_.sync_jobs, "job-1", MakeJob("job-1", v1::SYNC_STATE_RUNNING, 13, kT0));
  }

  // What PublishSliceEdgeTraces leaves once consumed: trace 1 stored as broken, the two judged
  // traces counted (rooted in frontend, one broken: the denominators of the estimates), and
  // the two cut at a slice edge counted on job-1.
  void ExpectSliceEdgeCounts() {
    EXPECT_EQ(*store_.ListBrokenTraceIds(), (std::vector<uint64_t>{1}));
    auto counts = *store_.LoadJudgements(0);
    ASSERT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts[0].root_service, "frontend");
    EXPECT_EQ(counts[0].judged, 2);
    EXPECT_EQ(counts[0].broken, 1);
    EXPECT_EQ(counts[0].hour_ns % (3600 * kSec), 0);
    EXPECT_EQ((**store_.LoadSyncJob("job-1")).edge_cut_traces, 2);
  }

  // What the catalog-first run stores for the world's trace 1001.
  void ExpectWorldVerdict(const std::vector<uint64_t>& broken = {1001}) {
    EXPECT_EQ(*store_.ListBrokenTraceIds(), broken);
    auto t = store_.LoadBrokenTrace(1001);
    ASSERT_TRUE(t.ok() && t->has_value());
    EXPECT_EQ((*t)->missing_services, (std::vector<std::string>{"payments"}));
    EXPECT_EQ((*t)->gap_kinds, (std::vector<std::string>{"uninstrumented_callee"}));
    ASSERT_EQ((*t)->gaps.size(), 1u);
    EXPECT_EQ((*t)->gaps[0].to_service, "payments");
    std::set<std::string> edges;
    const std::vector<store::DependencyRow> deps = *store_.LoadDependencies();
    for (const auto& d : deps) {
      edges.insert(d.from_service + ">" + d.to_name + ":" + d.to_kind);
    }
    EXPECT_TRUE(edges.contains("checkout>payments:service"));
    EXPECT_FALSE(edges.contains("checkout>payments.internal:8443:external"));
  }
};

TEST_F(BrokenTraceTest, BrokenTraceIsStoredWithGapsAndDependencies) {
  StartApp();
  PublishWorld();
  Drain();
  EXPECT_EQ(*store_.ListBrokenTraceIds(), (std::vector<uint64_t>{1001}));
  auto t = **store_.LoadBrokenTrace(1001);
  EXPECT_EQ(t.root_service, "frontend");
  EXPECT_EQ(t.missing_services, (std::vector<std::string>{"payments"}));
  EXPECT_EQ(t.gap_kinds, (std::vector<std::string>{"uninstrumented_callee"}));
  ASSERT_EQ(t.gaps.size(), 1u);
  EXPECT_EQ(t.gaps[0].span_id, 4u);
  EXPECT_EQ(t.gaps[0].from_service, "checkout");
  EXPECT_EQ(t.gaps[0].to_service, "payments");
  EXPECT_EQ(t.gaps[0].peer, "payments.internal:8443");
  EXPECT_EQ(t.spans.size(), 5u);
  EXPECT_EQ(t.span_count, 5);

  auto deps = *store_.LoadDependencies();
  std::set<std::string> edges;
  for (const auto& d : deps) edges.insert(d.from_service + ">" + d.to_name + ":" + d.to_kind);
  EXPECT_TRUE(edges.contains("checkout>payments:service")) << deps.size();
  EXPECT_TRUE(edges.contains("checkout>api.stripe.com:external"));
  EXPECT_TRUE(edges.contains("frontend>checkout:service"));
  for (const auto& d : deps) {
    if (d.to_name == "checkout") {
      EXPECT_EQ(d.count, 2);  // two traces
    }
  }
  // Spans make their services instrumented in their env.
  auto apm = *store_.LoadApmServices();
  ASSERT_EQ(apm.size(), 2u);
  EXPECT_EQ(apm[0].service, "checkout");
  EXPECT_TRUE(apm[0].traced);
  EXPECT_EQ(apm[0].infra_hints, (std::vector<std::string>{"kubernetes"}));
  EXPECT_NE(Metrics().find("apmcov_analyzer_gaps_total{kind=\"uninstrumented_callee\"} 1"),
            std::string::npos)
      << Metrics();
}

TEST_F(BrokenTraceTest, RebalanceHandsInFlightTracesToTheNewOwnerWhole) {
  StartApp();
  for (const char* n : {"frontend", "checkout", "payments"}) PublishService("s1", n, kT0);
  PublishEnd("s1", 3, kT0);
  PublishSpans({MakeSpan(1001, 1, 0, "frontend", "server", kT0),
                MakeSpan(1001, 2, 1, "frontend", "client", kT0 + 10, "checkout"),
                MakeSpan(1001, 3, 2, "checkout", "server", kT0 + 20)});
  PublishSpans({MakeSpan(1001, 4, 3, "checkout", "client", kT0 + 30, "payments.internal:8443")});
  Drain();
  ASSERT_EQ(app_->traces_in_flight(), 1u);

  // A second member joins: every partition is revoked and reassigned.
  auto sub2 = broker_.NewSubscriber("apmcov-analyzer");
  prometheus::Registry registry2;
  App second(options_, AppPorts{*sub2, *dlq_publisher_, store_, clock_, registry2, *probe_});
  ASSERT_TRUE(second.Start().ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(app_->RunOnce().ok());
    ASSERT_TRUE(second.RunOnce().ok());
  }
  // Exactly one member re-read the trace from the committed offset, whole.
  EXPECT_EQ(app_->traces_in_flight() + second.traces_in_flight(), 1u);
  // The split is visible in each member's metrics, and nobody commits the other's partitions.
  auto owned = [](prometheus::Registry& r) {
    const std::string text = prometheus::TextSerializer().Serialize(r.Collect());
    const std::string key = "\napmcov_analyzer_spans_partitions_owned ";
    const size_t at = text.find(key);
    return at == std::string::npos ? -1 : std::stoi(text.substr(at + key.size()));
  };
  EXPECT_EQ(owned(*registry_), 1);
  EXPECT_EQ(owned(registry2), 1);
  EXPECT_NE(Metrics().find("apmcov_analyzer_rebalance_partitions_total{event=\"revoked\"}"),
            std::string::npos);
  for (const auto& [tp, offset] : app_->committed()) {
    EXPECT_FALSE(second.committed().contains(tp)) << tp.topic << "/" << tp.partition;
  }

  PublishWatermark(kT0 + 60 * kSec);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(app_->RunOnce().ok());
    ASSERT_TRUE(second.RunOnce().ok());
  }
  EXPECT_EQ(app_->traces_in_flight() + second.traces_in_flight(), 0u);
  auto t = *store_.LoadBrokenTrace(1001);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->span_count, 4);
  EXPECT_EQ(t->missing_services, (std::vector<std::string>{"payments"}));
  sub2->Close();
}

int64_t JudgedTotal(store::MemoryCoverageStore& store) {
  const absl::StatusOr<std::vector<store::TraceJudgementCount>> counts = store.LoadJudgements(0);
  EXPECT_TRUE(counts.ok()) << counts.status();
  int64_t judged = 0;
  if (counts.ok()) {
    for (const auto& j : *counts) judged += j.judged;
  }
  return judged;
}

double MetricValue(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const size_t at = text.find(key);
  return at == std::string::npos ? -1 : std::stod(text.substr(at + key.size()));
}

TEST_F(BrokenTraceTest, RevocationWithPollsQueuedForDecodingNeitherLosesNorCountsTwice) {
  StartApp();
  PublishCatalog("job-1");
  Drain();
  PublishWorldSpans();
  // Polled and handed to the decode thread, not processed: the newest poll stays queued.
  ASSERT_GT(*app_->Step(), 0u);
  EXPECT_EQ(MetricValue(Metrics(), "apmcov_analyzer_decode_queue_polls"), 1);
  EXPECT_EQ(MetricValue(Metrics(), "apmcov_analyzer_spans_processed_total"), 0);

  // A second member joins: every partition is revoked while the poll is queued.
  auto sub2 = broker_.NewSubscriber("apmcov-analyzer");
  prometheus::Registry registry2;
  App second(options_, AppPorts{*sub2, *dlq_publisher_, store_, clock_, registry2, *probe_});
  ASSERT_TRUE(second.Start().ok());
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(app_->Step().ok());
    ASSERT_TRUE(second.Step().ok());
  }
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(app_->RunOnce().ok());
    ASSERT_TRUE(second.RunOnce().ok());
  }
  EXPECT_GT(MetricValue(Metrics(), "apmcov_analyzer_decode_discarded_messages_total"), 0);
  // Each trace judged exactly once, by whichever member re-read it, and stored whole.
  EXPECT_EQ(JudgedTotal(store_), 2);
  auto t = *store_.LoadBrokenTrace(1001);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->span_count, 5);
  ExpectWorldVerdict();
  sub2->Close();
}

TEST_F(BrokenTraceTest, CrashWithPollsQueuedForDecodingReplaysExactlyOnce) {
  options_.max_batch_messages = 1;  // one message a poll: several polls in the pipeline
  StartApp();
  PublishCatalog("job-1");
  Drain();
  PublishWorldSpans();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(app_->Step().ok());
  EXPECT_GE(MetricValue(Metrics(), "apmcov_analyzer_decode_queue_polls"), 1);
  // Crash: whatever is queued for decoding or writing is lost without a commit.
  StartApp();
  Drain();
  EXPECT_EQ(JudgedTotal(store_), 2);
  auto t = *store_.LoadBrokenTrace(1001);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->span_count, 5);
  ExpectWorldVerdict();
}

TEST_F(BrokenTraceTest, ReplayOfTheSameMessagesChangesNothing) {
  StartApp();
  PublishWorld();
  Drain();
  const Dump once = DumpStore();
  ASSERT_EQ(once.traces.size(), 1u);

  // A new member that never committed reads everything again (as after losing its offsets),
  // later in wall time: the store must not change.
  clock_.Advance(std::chrono::hours(1));
  StartApp("another-group");
  Drain();
  EXPECT_EQ(DumpStore(), once);

  // And a restart of the original group mid-way: commit, crash, replay from the commit.
  clock_.Advance(std::chrono::hours(1));
  StartApp();
  Drain();
  EXPECT_EQ(DumpStore(), once);
}

TEST_F(BrokenTraceTest, CoverageSnapshotWaitsForTheJobsWatermark) {
  std::vector<int64_t> pushed;  // what the Scorecards push is handed: each snapshot written, once
  on_snapshot_ = [&](const coverage::CoverageReport& r) { pushed.push_back(r.total_services); };
  StartApp();
  PublishWorld();  // its watermarks carry job-1
  Publish(topics_.sync_jobs, "job-2",
          MakeJob("job-2", v1::SYNC_STATE_SUCCEEDED, 100, kT0, kT0 + 120 * kSec));
  Drain();
  EXPECT_EQ((*store_.LoadSyncJob("job-2"))->state, "succeeded");
  EXPECT_TRUE(store_.LoadCoverageSnapshot(kT0 + 120 * kSec)->empty());
  EXPECT_TRUE(pushed.empty());

  PublishCatalog("job-2");
  PublishWatermark(kT0 + 120 * kSec, "job-2");
  Drain();
  auto rows = *store_.LoadCoverageSnapshot(kT0 + 120 * kSec);
  ASSERT_FALSE(rows.empty());
  std::map<std::string, store::CoverageRow> by;
  for (const auto& r : rows) by[r.dimension + "/" + r.key] = r;
  // frontend and checkout send spans; payments does not.
  EXPECT_EQ(by.at("overall/all").total, 3);
  EXPECT_EQ(by.at("overall/all").instrumented, 2);
  EXPECT_EQ(by.at("env/prod").instrumented, 2);
  EXPECT_EQ(by.at("team/core").total, 3);
  EXPECT_EQ(pushed, (std::vector<int64_t>{3}));
  EXPECT_NE(Metrics().find("apmcov_coverage_ratio{dimension=\"overall\",key=\"all\"} 0.66"),
            std::string::npos)
      << Metrics();
  // A replay of the job after more services arrived does not rewrite the snapshot.
  PublishService("s9", "latecomer", kT0 + 500 * kSec);
  StartApp("replaying-group");
  Drain();
  EXPECT_EQ(*store_.LoadCoverageSnapshot(kT0 + 120 * kSec), rows);
  EXPECT_EQ(pushed, (std::vector<int64_t>{3}));  // a snapshot not written is not pushed
}

// The e2e bug: spans and the watermark of job-1 arrive before job-1's catalog. The watermark
// waits (the commit does not pass it), and once the snapshot is complete the traces are judged
// against it: the same gap as when the catalog came first, not a plain dependency. The
// directory refresh period is long, so this also shows the directory is rebuilt at once.
TEST_F(BrokenTraceTest, WatermarkWaitsForItsJobsCatalogSnapshot) {
  options_.directory_refresh = std::chrono::hours(1);
  StartApp();
  PublishWorldSpans("job-1");
  // checkout (instrumented: it sends spans) is called by frontend, whose client span has no
  // child: a propagation break, once checkout is known to the catalog.
  PublishSpans({MakeSpan(2002, 1, 0, "frontend", "server", kT0 + 1000),
                MakeSpan(2002, 2, 1, "frontend", "client", kT0 + 1010, "checkout")});
  // Re-publish the watermark so it follows trace 2002 on its partition too.
  PublishWatermark(kT0 + 60 * kSec, "job-1");
  Drain();
  EXPECT_EQ(app_->pending_watermarks(), 4u);
  EXPECT_EQ(app_->traces_in_flight(), 3u);
  EXPECT_TRUE(store_.ListBrokenTraceIds()->empty());
  EXPECT_TRUE(store_.LoadDependencies()->empty());
  for (int32_t p = 0; p < 2; ++p) {
    const int64_t end = broker_.Watermarks(topics_.spans, p)->second;
    // At most the first waiting watermark (published 2 messages before the end at least).
    EXPECT_LE(app_->committed().at({topics_.spans, p}), end - 2) << p;
  }
  EXPECT_NE(Metrics().find("apmcov_analyzer_watermarks_pending 4"), std::string::npos);

  // Members alone do not complete the snapshot.
  PublishCatalog("job-1", /*with_end=*/false);
  Drain();
  EXPECT_EQ(app_->pending_watermarks(), 4u);
  EXPECT_TRUE(store_.ListBrokenTraceIds()->empty());

  PublishEnd("job-1", 3, kT0, "job-1");
  ASSERT_TRUE(app_->RunOnce().ok());  // one poll: the end marker, then the watermarks
  EXPECT_EQ(app_->pending_watermarks(), 0u);
  EXPECT_EQ(app_->traces_in_flight(), 0u);
  auto broken = *store_.ListBrokenTraceIds();
  ASSERT_EQ(broken, (std::vector<uint64_t>{1001, 2002}));
  auto pb = **store_.LoadBrokenTrace(2002);
  EXPECT_EQ(pb.gap_kinds, (std::vector<std::string>{"propagation_break"}));
  ASSERT_EQ(pb.gaps.size(), 1u);
  EXPECT_EQ(pb.gaps[0].to_service, "checkout");
  for (int32_t p = 0; p < 2; ++p) {
    EXPECT_EQ(app_->committed().at({topics_.spans, p}),
              broker_.Watermarks(topics_.spans, p)->second);
  }
  EXPECT_NE(Metrics().find("apmcov_analyzer_catalog_wait_expired_total 0"), std::string::npos);
  ExpectWorldVerdict({1001, 2002});
}

// The same world, catalog first: the reference the test above must equal.
TEST_F(BrokenTraceTest, CatalogFirstGivesTheSameVerdict) {
  options_.directory_refresh = std::chrono::hours(1);
  StartApp();
  PublishCatalog("job-1");
  Drain();
  PublishWorldSpans("job-1");
  Drain();
  EXPECT_EQ(app_->pending_watermarks(), 0u);
  ExpectWorldVerdict();
}

// A sync whose catalog failed publishes no end marker: its watermarks are applied after
// catalog_wait, counted and logged, with the catalog at hand.
TEST_F(BrokenTraceTest, WatermarkWithoutCatalogEndIsAppliedAfterTheWait) {
  options_.catalog_wait = std::chrono::seconds(30);
  StartApp();
  PublishCatalog("job-1", /*with_end=*/false);
  PublishWorldSpans("job-1");
  Drain();
  EXPECT_EQ(app_->pending_watermarks(), 2u);
  clock_.Advance(std::chrono::seconds(29));
  Drain();
  EXPECT_EQ(app_->pending_watermarks(), 2u);
  EXPECT_TRUE(store_.ListBrokenTraceIds()->empty());
  clock_.Advance(std::chrono::seconds(2));
  Drain();
  EXPECT_EQ(app_->pending_watermarks(), 0u);
  EXPECT_EQ(app_->traces_in_flight(), 0u);
  ExpectWorldVerdict();  // the members were stored, only the end marker is missing
  EXPECT_NE(Metrics().find("apmcov_analyzer_catalog_wait_expired_total 2"), std::string::npos)
      << Metrics();
  EXPECT_NE(Metrics().find("apmcov_analyzer_watermarks_pending 0"), std::string::npos);
}

// A later job's complete snapshot releases the older job's waiting watermarks at once; a
// watermark without job id waits for nothing.
TEST_F(BrokenTraceTest, LaterCompleteJobReleasesOlderWaitingWatermarks) {
  StartApp();
  PublishCatalog("job-1", /*with_end=*/false);  // job-1's catalog failed half-way
  PublishWorldSpans("job-1");
  Drain();
  EXPECT_EQ(app_->pending_watermarks(), 2u);
  PublishCatalog("job-2");
  PublishWatermark(kT0 + 120 * kSec, "job-2");
  Drain();
  EXPECT_EQ(app_->pending_watermarks(), 0u);
  ExpectWorldVerdict();
  EXPECT_NE(Metrics().find("apmcov_analyzer_catalog_wait_expired_total 0"), std::string::npos);

  PublishSpans({MakeSpan(3003, 1, 0, "frontend", "server", kT0 + 200 * kSec)});
  PublishWatermark(kT0 + 300 * kSec);
  Drain();
  EXPECT_EQ(app_->pending_watermarks(), 0u);
  EXPECT_EQ(app_->traces_in_flight(), 0u);
}

// The snapshot was completed by another replica (or before a restart, its catalog offsets
// committed): this member never sees the catalog messages, the store says it is complete, so
// nothing waits and the directory holds it.
TEST_F(BrokenTraceTest, SnapshotCompletedElsewhereIsFoundInTheStore) {
  options_.directory_refresh = std::chrono::hours(1);
  StartApp();
  store::WriteBatch catalog;
  for (const char* n : {"frontend", "checkout", "payments"}) {
    store::CatalogServiceRecord r;
    r.snapshot_id = "job-1";
    r.name = n;
    r.team = "core";
    r.lifecycle = "production";
    r.envs = {"prod"};
    r.links_json = "[]";
    r.synced_at_ns = kT0;
    catalog.catalog_services.push_back(r);
  }
  catalog.snapshot_ends.push_back({"job-1", 3, kT0});
  ASSERT_TRUE(store_.Apply(catalog).ok());
  PublishWorldSpans("job-1");
  Drain();
  EXPECT_EQ(app_->pending_watermarks(), 0u);
  ExpectWorldVerdict();
}

TEST_F(AnalyzerAppTest, TracedOutsideTheLookbackButSeenByUsmIsNotInstrumented) {
  StartApp();
  PublishService("s1", "stopped-tracing", kT0);
  PublishService("s1", "traced", kT0);
  PublishEnd("s1", 2, kT0);
  auto observe = [&](const std::string& service, bool traced, bool usm, int64_t seen) {
    v1::ApmObservation o;
    o.set_service(service);
    o.set_env("prod");
    o.set_traced(traced);
    o.set_usm(usm);
    *o.mutable_last_seen() = TimeUtil::NanosecondsToTimestamp(seen);
    Publish(topics_.apm_inventory, service + "\x1fprod", o);
  };
  observe("stopped-tracing", true, false,
          kT0 - int64_t{72} * 3600 * kSec);                  // outside the 24 h lookback
  observe("stopped-tracing", false, true, kT0 - 60 * kSec);  // USM still sees it
  observe("traced", true, false, kT0 - 3600 * kSec);
  Publish(topics_.sync_jobs, "j", MakeJob("j", v1::SYNC_STATE_SUCCEEDED, 0, 0, kT0));
  Drain();
  auto rows = *store_.LoadCoverageSnapshot(kT0);
  std::map<std::string, store::CoverageRow> by;
  for (const auto& r : rows) by[r.dimension + "/" + r.key] = r;
  ASSERT_TRUE(by.contains("overall/all"));
  EXPECT_EQ(by.at("overall/all").total, 2);
  EXPECT_EQ(by.at("overall/all").instrumented, 1);
}

// Design §7.1: a trace is judged only when it lies complete within a read interval; one cut
// by a slice's edge (or inside an incomplete slice) is counted, never reported, so the cut
// cannot invent a gap.
TEST_F(BrokenTraceTest, TracesCutAtASliceEdgeAreCountedNotJudged) {
  StartApp();
  PublishCatalog("job-1");
  PublishSliceEdgeTraces();
  Drain();
  EXPECT_EQ(*store_.ListBrokenTraceIds(), (std::vector<uint64_t>{1}));
  EXPECT_NE(Metrics().find("apmcov_analyzer_traces_dropped_total{reason=\"edge_cut\"} 2"),
            std::string::npos)
      << Metrics();
  EXPECT_NE(Metrics().find("apmcov_analyzer_traces_judged_total 2"), std::string::npos);
  EXPECT_NE(Metrics().find("apmcov_analyzer_traces_broken_total 1"), std::string::npos);
  ExpectSliceEdgeCounts();
}

// Past the memory cap the oldest trace is judged early from the spans it has (forced); the
// spans that arrive for it afterwards are dropped and counted, not judged as a second trace:
// judged once in the counts, and its stored verdict is not replaced by one of its tail alone
// (orphan, missing root).
TEST_F(BrokenTraceTest, ATraceForcedOutByTheMemoryCapIsJudgedAndCountedOnce) {
  options_.max_traces_in_flight = 1;
  StartApp();
  PublishCatalog("job-1");
  // One read interval around everything (a rootless trace needs a wide margin to be judged).
  const std::tuple<int64_t, int64_t, bool> read{kT0 - 3600 * kSec, kT0 + 3600 * kSec, true};
  PublishSampledWatermark(kT0 + 1 * kSec, "job-1", {read});
  Drain();
  PublishSpans({MakeSpan(1, 1, 0, "frontend", "server", kT0 + 2 * kSec),
                MakeSpan(1, 2, 1, "frontend", "client", kT0 + 2 * kSec + 10, "checkout")});
  PublishSpans({MakeSpan(4, 1, 0, "frontend", "server", kT0 + 3 * kSec)});       // forces 1 out
  PublishSpans({MakeSpan(1, 3, 2, "checkout", "server", kT0 + 2 * kSec + 20)});  // 1's tail
  PublishSampledWatermark(kT0 + 300 * kSec, "job-1", {read});
  Drain();
  auto counts = *store_.LoadJudgements(0);
  ASSERT_EQ(counts.size(), 1u);  // no rootless row: the tail was not judged
  EXPECT_EQ(counts[0].root_service, "frontend");
  EXPECT_EQ(counts[0].judged, 2);  // 1 and 4, once each (3 when the tail was judged too)
  EXPECT_EQ(counts[0].broken, 1);
  auto forced = store_.LoadBrokenTrace(1);
  ASSERT_TRUE(forced.ok() && forced->has_value());
  EXPECT_EQ((*forced)->root_service, "frontend");  // the forced judgement, not the tail's
  EXPECT_EQ((*forced)->gap_kinds, (std::vector<std::string>{"uninstrumented_callee"}));
  EXPECT_NE(Metrics().find("apmcov_analyzer_traces_dropped_total{reason=\"forced\"} 1"),
            std::string::npos)
      << Metrics();
  EXPECT_NE(Metrics().find("apmcov_analyzer_traces_dropped_total{reason=\"forced_tail\"} 1"),
            std::string::npos);
}

// A commit can fail after PostgreSQL committed it (the connection lost while the client waited
// for the answer). The analyzer retries the batch; the retry must not count its traces again.
TEST_F(BrokenTraceTest, ABatchRetriedAfterACommitOfUnknownOutcomeCountsItsTracesOnce) {
  StartApp();
  PublishCatalog("job-1");
  Drain();
  PublishSliceEdgeTraces();
  store_.LoseNextApplyOutcome(
      absl::UnavailableError("commit outcome unknown: server closed the connection"),
      [](const store::WriteBatch& b) { return !b.judgements.empty(); });
  Drain();
  EXPECT_GT(clock_.TotalSlept().count(), 0);  // it failed once and was retried
  ExpectSliceEdgeCounts();
}

// A batch the store rejects is applied record by record: its counts are records too, each
// still counted once when its own commit is in doubt.
TEST_F(BrokenTraceTest, ABatchAppliedRecordByRecordKeepsItsCounts) {
  StartApp();
  PublishCatalog("job-1");
  Drain();
  PublishSliceEdgeTraces();
  store_.FailNextApply(store::RecordRejectedError("a record no store can hold"),
                       [](const store::WriteBatch& b) { return !b.judgements.empty(); });
  store_.LoseNextApplyOutcome(absl::UnavailableError("commit outcome unknown"),
                              [](const store::WriteBatch& b) {
                                return b.judgements.size() == 1 && b.broken_traces.empty();
                              });
  Drain();
  EXPECT_GT(clock_.TotalSlept().count(), 0);  // a one-judgement batch was retried
  ExpectSliceEdgeCounts();
}

// Contiguous windows merge: a trace crossing a window boundary is whole, and judged.
TEST_F(BrokenTraceTest, TraceAcrossContiguousWindowsIsJudged) {
  StartApp();
  PublishCatalog("job-1");
  PublishSpans({MakeSpan(7, 1, 0, "frontend", "server", kT0 + 60 * kSec - 500'000)});
  PublishSampledWatermark(kT0 + 60 * kSec, "job-1", {{kT0, kT0 + 60 * kSec, true}});
  PublishSpans({MakeSpan(7, 4, 1, "frontend", "client", kT0 + 60 * kSec + 10, "payments")});
  PublishSampledWatermark(kT0 + 300 * kSec, "job-1", {{kT0 + 60 * kSec, kT0 + 300 * kSec, true}});
  Drain();
  EXPECT_EQ(*store_.ListBrokenTraceIds(), (std::vector<uint64_t>{7}));
  EXPECT_EQ((**store_.LoadBrokenTrace(7)).missing_services, (std::vector<std::string>{"payments"}));
}

// The read intervals survive a restart with the watermark: a trace whose root lies in an
// interval published before the restart is still judged after it.
TEST_F(BrokenTraceTest, ReadIntervalsAreRestoredAfterARestart) {
  StartApp();
  PublishCatalog("job-1");
  PublishSampledWatermark(kT0 + 10 * kSec, "job-1", {{kT0, kT0 + 10 * kSec, true}});
  Drain();
  auto stored = *store_.LoadWatermarks();
  ASSERT_FALSE(stored.empty());
  EXPECT_EQ(stored[0].read_intervals, (std::vector<int64_t>{kT0, kT0 + 10 * kSec}));
  StartApp();  // a new process: the interval comes back from the store
  PublishSpans(
      {MakeSpan(8, 1, 0, "frontend", "server", kT0 + 10 * kSec + 500'000'000),
       MakeSpan(8, 2, 1, "frontend", "client", kT0 + 10 * kSec + 500'000'100, "payments")});
  PublishSampledWatermark(kT0 + 300 * kSec, "job-1", {{kT0 + 10 * kSec, kT0 + 300 * kSec, true}});
  Drain();
  EXPECT_EQ(*store_.ListBrokenTraceIds(), (std::vector<uint64_t>{8}));
}

// Design §7.2: what a service's infra, languages and envs are comes from the inventory
// aggregates, and a later observation that does not mention them never erases them.
TEST_F(AnalyzerAppTest, InfraAndLanguagesFromAggregatesSurviveSyncsThatSeeNoSpan) {
  StartApp();
  PublishService("s1", "payments", kT0);
  PublishEnd("s1", 1, kT0);
  auto observe = [&](const std::vector<std::string>& languages,
                     const std::vector<std::string>& hints, int64_t seen) {
    v1::ApmObservation o;
    o.set_service("payments");
    o.set_env("staging");
    o.set_traced(true);
    o.set_span_count(10);
    o.set_source("spans_aggregate");
    for (const auto& l : languages) o.add_languages(l);
    for (const auto& h : hints) o.add_infra_hints(h);
    *o.mutable_last_seen() = TimeUtil::NanosecondsToTimestamp(seen);
    Publish(topics_.apm_inventory, "payments\x1fstaging", o);
  };
  observe({"jvm"}, {"ecs"}, kT0 - 60 * kSec);
  Publish(topics_.sync_jobs, "j1", MakeJob("j1", v1::SYNC_STATE_SUCCEEDED, 0, 0, kT0));
  Drain();
  observe({}, {}, kT0 + 60 * kSec);  // a later sync's aggregate with nothing to add
  Publish(topics_.sync_jobs, "j2", MakeJob("j2", v1::SYNC_STATE_SUCCEEDED, 0, 0, kT0 + kSec));
  Drain();
  for (int64_t taken : {kT0, kT0 + kSec}) {
    std::map<std::string, store::CoverageRow> by;
    const std::vector<store::CoverageRow> rows = *store_.LoadCoverageSnapshot(taken);
    for (const auto& r : rows) by[r.dimension + "/" + r.key] = r;
    EXPECT_TRUE(by.contains("infra/ecs")) << taken;
    EXPECT_TRUE(by.contains("language/jvm")) << taken;
    EXPECT_TRUE(by.contains("env/staging")) << taken;
    EXPECT_EQ(by["overall/all"].instrumented, 1);
  }
  auto apm = *store_.LoadApmServices();
  ASSERT_EQ(apm.size(), 1u);
  EXPECT_EQ(apm[0].infra_hints, (std::vector<std::string>{"ecs"}));
  EXPECT_EQ(apm[0].languages, (std::vector<std::string>{"jvm"}));
}

TEST_F(AnalyzerAppTest, FailedSyncJobIsStoredWithoutASnapshot) {
  StartApp();
  v1::SyncJob job;
  job.set_id("j");
  job.set_trigger(v1::SYNC_TRIGGER_MANUAL);
  job.set_state(v1::SYNC_STATE_FAILED);
  job.set_error("403 from /api/v1/validate");
  *job.mutable_updated_at() = TimeUtil::NanosecondsToTimestamp(kT0);
  *job.mutable_finished_at() = TimeUtil::NanosecondsToTimestamp(kT0);
  Publish(topics_.sync_jobs, "j", job);
  Drain();
  auto got = *store_.LoadSyncJob("j");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->state, "failed");
  EXPECT_EQ(got->trigger, "manual");
  EXPECT_EQ(got->error, "403 from /api/v1/validate");
  EXPECT_TRUE(store_.LoadCoverageSnapshot(kT0)->empty());
}

TEST_F(AnalyzerAppTest, LagAfterARestartCountsFromTheCommittedOffset) {
  StartApp();
  for (const char* id : {"a", "b", "c"}) {
    v1::SyncJob job;
    job.set_id(id);
    job.set_state(v1::SYNC_STATE_RUNNING);
    *job.mutable_updated_at() = TimeUtil::NanosecondsToTimestamp(kT0);
    Publish(topics_.sync_jobs, id, job);
  }
  Drain();
  // A new member of the group: nothing new on sync-jobs, so it never fetches from it.
  StartApp();
  Drain();
  const std::string m = Metrics();
  EXPECT_THAT(
      m, ::testing::HasSubstr(
             "apmcov_analyzer_consumer_lag_messages{partition=\"0\",topic=\"t.sync-jobs\"} 0"));
  EXPECT_THAT(
      m, ::testing::Not(::testing::HasSubstr(
             "apmcov_analyzer_consumer_lag_messages{partition=\"0\",topic=\"t.sync-jobs\"} 3")));
}

TEST_F(AnalyzerAppTest, StoreOutageIsRetriedAndNothingIsCommittedBeforeIt) {
  StartApp();
  PublishService("s1", "a", kT0);
  store_.FailNextApply(absl::UnavailableError("connection lost"));
  Drain();
  EXPECT_EQ(Names(*store_.LoadServices(false)), (std::vector<std::string>{"a"}));
  EXPECT_GT(clock_.TotalSlept().count(), 0);  // it backed off before retrying

  // Stop during an outage: the batch is not committed, so a restart applies it.
  store_.SetUnavailable(true);
  PublishService("s1", "b", kT0);
  app_->Stop();
  absl::StatusOr<size_t> r = app_->RunOnce();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  store_.SetUnavailable(false);
  StartApp();
  Drain();
  EXPECT_EQ(Names(*store_.LoadServices(false)), (std::vector<std::string>{"a", "b"}));
}

TEST(AnalyzerDataLossTest, OffsetOutOfRangeIsCountedAndConsumptionResumes) {
  bus::MemoryBroker::Options broker_options;
  broker_options.retention_bytes = 400;  // a few catalog records per partition
  bus::MemoryBroker broker(broker_options);
  const bus::TopicNames topics("t.");
  ASSERT_TRUE(broker.CreateTopic(topics.catalog, 1).ok());
  auto producer = broker.NewPublisher();
  auto dlq = broker.NewPublisher();
  auto probe = broker.NewLagProbe();
  store::MemoryCoverageStore store;
  ManualClock clock;
  AppOptions options;
  options.topic_prefix = "t.";
  options.poll_timeout = std::chrono::milliseconds(5);
  auto publish = [&](const std::string& name) {
    v1::CatalogService s;
    s.set_snapshot_id("s1");
    s.set_name(name);
    s.set_description(std::string(100, 'x'));
    ASSERT_TRUE(bus::PublishProto(*producer, topics.catalog, name, s).ok());
  };
  auto run = [&](int polls) -> std::pair<int64_t, std::string> {
    auto sub = broker.NewSubscriber("apmcov-analyzer");
    prometheus::Registry registry;
    App app(options, AppPorts{*sub, *dlq, store, clock, registry, *probe});
    EXPECT_TRUE(app.Start().ok());
    for (int i = 0; i < polls; ++i) EXPECT_TRUE(app.RunOnce().ok());
    return {app.data_loss_events(), prometheus::TextSerializer().Serialize(registry.Collect())};
  };
  publish("first");
  EXPECT_EQ(run(5).first, 0);
  // While no analyzer runs, retention drops messages it never read.
  for (int i = 0; i < 20; ++i) publish("svc-" + std::to_string(100 + i));
  auto [losses, metrics] = run(10);
  EXPECT_EQ(losses, 1);
  EXPECT_NE(metrics.find("apmcov_analyzer_data_loss_total 1"), std::string::npos) << metrics;
  // It resumed at the earliest retained message: the newest service is stored.
  auto services = *store.LoadServices(false);
  ASSERT_FALSE(services.empty());
  EXPECT_EQ(services.back().catalog.name, "svc-119");
  EXPECT_LT(services.size(), 21u);  // some were lost, and that was reported
}

// Retention (design §4): many syncs over simulated days with a one-day retention. The store's
// row counts stay bounded (what a day of syncs writes, plus one snapshot a day), recent rows
// are all kept, and what was pruned is counted by table.
TEST_F(BrokenTraceTest, RetentionKeepsTheStoreBoundedOverManySyncs) {
  constexpr int64_t kHour = 3600 * kSec;
  constexpr int64_t kDay = 24 * kHour;
  options_.retention.broken_trace_ns = kDay;
  options_.retention.sync_job_ns = kDay;
  options_.retention.snapshot_full_ns = 2 * kDay;
  options_.retention_interval = std::chrono::hours(1);
  options_.retention_batch_rows = 2;  // several batches per run
  StartApp();
  constexpr int kSyncs = 40;  // 10 days, one sync every 6 hours
  auto sync_at = [](int n) { return kT0 + int64_t{n} * 6 * kHour; };
  auto job_of = [](int n) { return "job-" + std::to_string(n); };
  for (int n = 0; n < kSyncs; ++n) {
    const int64_t t = sync_at(n);
    clock_.Set(Clock::TimePoint(std::chrono::nanoseconds(t + 100 * kSec)));
    const std::string job = job_of(n);
    for (const char* svc : {"frontend", "checkout", "payments"}) PublishService(job, svc, t);
    PublishEnd(job, 3, t, job);
    // A broken trace (checkout calls payments, which reports nothing), and an external call
    // to a host that changes every day: an edge that stops being seen.
    const uint64_t trace = 5000 + static_cast<uint64_t>(n);
    const std::string host = "api-" + std::to_string(n / 4) + ".example.com";
    PublishSpans({MakeSpan(trace, 1, 0, "frontend", "server", t),
                  MakeSpan(trace, 2, 1, "frontend", "client", t + 10, "checkout"),
                  MakeSpan(trace, 3, 2, "checkout", "server", t + 20),
                  MakeSpan(trace, 4, 3, "checkout", "client", t + 30, "payments"),
                  MakeSpan(trace, 5, 3, "checkout", "client", t + 40, host)});
    PublishWatermark(t + 60 * kSec, job);
    Publish(topics_.sync_jobs, job, MakeJob(job, v1::SYNC_STATE_SUCCEEDED, 5, t, t + 120 * kSec));
    Drain();
    ASSERT_FALSE(store_.LoadCoverageSnapshot(t + 120 * kSec)->empty()) << n;

    // Bounded: a day of syncs (4) plus the one that just came in.
    const std::vector<uint64_t> traces = *store_.ListBrokenTraceIds();
    EXPECT_LE(traces.size(), 5u) << n;
    int jobs = 0;
    for (int k = 0; k <= n; ++k) jobs += store_.LoadSyncJob(job_of(k))->has_value() ? 1 : 0;
    EXPECT_LE(jobs, 5) << n;
    EXPECT_LE(store_.LoadJudgements(0)->size(), 5u) << n;
    // frontend>checkout, checkout>payments, and the hosts of today and yesterday.
    EXPECT_LE(store_.LoadDependencies()->size(), 4u) << n;
  }
  // Recent rows are all kept: the last day's traces, jobs and snapshots.
  const int last = kSyncs - 1;
  EXPECT_EQ(*store_.ListBrokenTraceIds(), (std::vector<uint64_t>{5000 + last - 3, 5000 + last - 2,
                                                                 5000 + last - 1, 5000 + last}));
  EXPECT_EQ((*store_.LoadBrokenTrace(5000 + last))->spans.size(), 5u);
  for (int k = last - 3; k <= last; ++k) EXPECT_TRUE(store_.LoadSyncJob(job_of(k))->has_value());
  std::set<std::string> hosts;
  const std::vector<store::DependencyRow> deps = *store_.LoadDependencies();
  for (const auto& d : deps) hosts.insert(d.to_name);
  EXPECT_TRUE(hosts.contains("api-9.example.com"));
  EXPECT_FALSE(hosts.contains("api-0.example.com"));
  // Snapshots: all of the last two days, and one (the day's last) of each older day.
  const int64_t newest = sync_at(last) + 100 * kSec;
  std::map<int64_t, int> per_old_day;
  int kept = 0;
  for (int k = 0; k < kSyncs; ++k) {
    const int64_t taken = sync_at(k) + 120 * kSec;
    const bool present = !store_.LoadCoverageSnapshot(taken)->empty();
    kept += present ? 1 : 0;
    if (taken >= newest - 2 * kDay) {
      EXPECT_TRUE(present) << k;
    } else if (present) {
      ++per_old_day[taken / kDay];
      EXPECT_EQ(k % 4, 3) << "the day's last snapshot is the one kept: " << k;
    }
  }
  for (const auto& [day, count] : per_old_day) EXPECT_EQ(count, 1) << day;
  // Days 0-6 keep one each; day 7's last snapshot is still within the two days.
  EXPECT_EQ(per_old_day.size(), 7u);
  EXPECT_LT(kept, kSyncs);
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find("apmcov_analyzer_rows_pruned_total{table=\"broken_traces\"} " +
                         std::to_string(kSyncs - 4)),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("apmcov_analyzer_rows_pruned_total{table=\"trace_spans\"} " +
                         std::to_string(5 * (kSyncs - 4))),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("apmcov_analyzer_rows_pruned_total{table=\"coverage_snapshots\"}"),
            std::string::npos);
}

// A zero interval disables pruning; otherwise the first batch prunes, and then no prune runs
// between two batches closer than the interval.
TEST_F(BrokenTraceTest, RetentionRunsAtMostEveryInterval) {
  constexpr int64_t kDay = int64_t{24} * 3600 * kSec;
  options_.retention.broken_trace_ns = kDay;
  options_.retention_interval = std::chrono::seconds(0);
  clock_.Set(Clock::TimePoint(std::chrono::nanoseconds(kT0)));
  StartApp();
  PublishWorld();
  Drain();
  ASSERT_EQ(store_.ListBrokenTraceIds()->size(), 1u);
  clock_.Set(Clock::TimePoint(std::chrono::nanoseconds(kT0 + 2 * kDay)));
  Drain();
  EXPECT_EQ(store_.ListBrokenTraceIds()->size(), 1u) << "disabled";

  options_.retention_interval = std::chrono::hours(1);
  StartApp();
  Drain();  // the first batch prunes: the trace is two days old
  EXPECT_TRUE(store_.ListBrokenTraceIds()->empty());

  PublishSpans({MakeSpan(7, 1, 0, "frontend", "server", kT0 + 100 * kSec),
                MakeSpan(7, 2, 1, "frontend", "client", kT0 + 100 * kSec + 10, "checkout"),
                MakeSpan(7, 3, 2, "checkout", "server", kT0 + 100 * kSec + 20),
                MakeSpan(7, 4, 3, "checkout", "client", kT0 + 100 * kSec + 30, "payments")});
  PublishWatermark(kT0 + 300 * kSec, "job-1");
  clock_.Advance(std::chrono::minutes(30));
  Drain();  // late spans of an old sync land; the next prune is not due yet
  EXPECT_EQ(*store_.ListBrokenTraceIds(), (std::vector<uint64_t>{7}));
  clock_.Advance(std::chrono::minutes(31));
  Drain();
  EXPECT_TRUE(store_.ListBrokenTraceIds()->empty());
  EXPECT_NE(Metrics().find("apmcov_analyzer_rows_pruned_total{table=\"broken_traces\"} 2"),
            std::string::npos)
      << Metrics();
}

TEST(AnalyzerConfigTest, ReadsDesignVariablesAndNamesBadOnes) {
  const char* argv[] = {"apmcov-analyzer", "--trace-grace-seconds=30"};
  ConfigReader reader(2, argv, [](const std::string& name) -> std::optional<std::string> {
    if (name == "DATABASE_URL") return "postgresql://u:pw@db/x";
    if (name == "WHOLE_TRACE_RETENTION") return "a, b";
    if (name == "APM_LOOKBACK_HOURS") return "0";
    if (name == "SYNC_JOB_RETENTION_DAYS") return "0";
    return std::nullopt;
  });
  AnalyzerConfig c = AnalyzerConfig::Read(reader);
  EXPECT_EQ(c.trace_grace_seconds, 30);
  EXPECT_EQ(c.whole_trace_retention, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.broken_trace_retention_days, 14);
  EXPECT_EQ(c.sync_job_retention_days, 30);
  EXPECT_EQ(c.retention_interval_seconds, 600);
  EXPECT_EQ(AppOptions::FromConfig(c).retention.broken_trace_ns, int64_t{14} * 86400 * kSec);
  absl::Status s = reader.Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("APM_LOOKBACK_HOURS"), std::string::npos) << s;
  EXPECT_NE(std::string(s.message()).find("SYNC_JOB_RETENTION_DAYS"), std::string::npos) << s;
  EXPECT_EQ(reader.Redacted().at("DATABASE_URL").find("pw"), std::string::npos);

  ConfigReader missing(1, argv, [](const std::string&) { return std::nullopt; });
  AnalyzerConfig::Read(missing);
  EXPECT_NE(std::string(missing.Finish().message()).find("DATABASE_URL"), std::string::npos);
}

}  // namespace
}  // namespace apmcov::analyzer
