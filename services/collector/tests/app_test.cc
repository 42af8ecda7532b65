// The collector's sync logic on the contract-tested fakes: FakeSource (libs/datadog), the
// MemoryBroker (libs/bus) and a ManualClock. No network, no Kafka, no sleeping: a test waits
// for what the collector publishes or commits (the broker wakes it), never for time to pass.
#include "app.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "apmcov/bus/memory_bus.h"
#include "apmcov/datadog/testing/fake_source.h"
#include "broker_reader.h"

namespace apmcov::collector {
namespace {

using datadog::testing::FakeSource;
using ::google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;
using Method = FakeSource::Method;

constexpr int64_t kSec = 1'000'000'000;

// ---- helpers ----

template <typename T>
T Decode(const bus::IncomingMessage& m) {
  T t;
  EXPECT_TRUE(t.ParseFromString(m.value)) << m.topic << " offset " << m.offset;
  return t;
}

// ---- fixture ----

class AppTest : public ::testing::Test {
 protected:
  explicit AppTest(int32_t state_partitions = 4, bool deliver_on_flush = true)
      : metrics_(registry_), broker_(BrokerOptions(deliver_on_flush)) {
    // The topics exist, as in production; those whose order across records the tests read
    // have one partition, spans and collector-state the cluster's default of 4.
    for (const auto& [topic, partitions] :
         std::map<std::string, int32_t>{{"apmcov.catalog", 1},
                                        {"apmcov.apm-inventory", 1},
                                        {"apmcov.sync-jobs", 1},
                                        {"apmcov.dlq", 1},
                                        {"apmcov.commands", 1},
                                        {"apmcov.spans", 4},
                                        {"apmcov.collector-state", state_partitions}}) {
      EXPECT_TRUE(broker_.CreateTopic(topic, partitions).ok()) << topic;
    }
    source_.before_call = [this](const FakeSource::Call& c) { return BeforeCall(c); };
    config_.dd_api_key = "k";
    config_.dd_app_key = "a";
    config_.kafka_brokers = "x:1";
    config_.span_backfill_minutes = 60;
    config_.span_lag_seconds = 60;
    config_.span_window_seconds = 600;
  }

  // Consumers see only what the collector flushed (FakePublisher's view before).
  static bus::MemoryBroker::Options BrokerOptions(bool deliver_on_flush) {
    bus::MemoryBroker::Options options;
    options.deliver_on_flush = deliver_on_flush;
    return options;
  }

  // Every checkpoint read a fresh group of the broker; counted in state_reads_.
  std::function<absl::StatusOr<std::unique_ptr<bus::Subscriber>>()> OpenState() {
    return [this]() -> absl::StatusOr<std::unique_ptr<bus::Subscriber>> {
      ++state_reads_;
      return broker_.NewSubscriber(absl::StrCat("state-", state_reads_.load()));
    };
  }
  // `read_state`: the checkpoint is read from the broker's collector-state.
  std::unique_ptr<App> MakeApp(bool read_state = false) {
    App::Ports ports{source_, *publisher_, *lag_, clock_, metrics_, nullptr, {}};
    if (read_state) ports.open_state = OpenState();
    return std::make_unique<App>(config_, ports);
  }

  // Everything `topic` holds, by partition then offset, read through a fresh group up to the
  // end of every partition (no waiting for quiet).
  std::vector<bus::IncomingMessage> On(const std::string& topic) {
    return ReadToEnd(broker_, {topic});
  }
  std::vector<v1::SyncJob> Jobs() {
    std::vector<v1::SyncJob> out;
    for (const auto& m : On("apmcov.sync-jobs")) out.push_back(Decode<v1::SyncJob>(m));
    return out;
  }
  // Waits until the records of `topic` (from its beginning) satisfy `done`: a subscriber of a
  // fresh group blocks on the broker until records arrive; nothing sleeps.
  bool AwaitRecords(const std::string& topic,
                    const std::function<bool(const std::vector<bus::IncomingMessage>&)>& done,
                    std::chrono::seconds timeout = std::chrono::seconds(30)) {
    auto sub = broker_.NewSubscriber(FreshGroup());
    EXPECT_TRUE(sub->Subscribe({topic}).ok());
    std::vector<bus::IncomingMessage> seen;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(seen)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      auto batch = sub->Poll(10'000, left);
      if (!batch.ok()) return false;
      for (auto& m : *batch) seen.push_back(std::move(m));
    }
    return true;
  }
  // Until sync-jobs holds `count` final records (succeeded, partial or failed: the records
  // the collector stamps with finished_at). Only syncs started at `since` (Unix ns, on the
  // test's clock) or later count.
  bool AwaitFinishedSyncs(size_t count, int64_t since = INT64_MIN) {
    return AwaitRecords("apmcov.sync-jobs", [&](const std::vector<bus::IncomingMessage>& ms) {
      size_t finished = 0;
      for (const auto& m : ms) {
        const v1::SyncJob job = Decode<v1::SyncJob>(m);
        finished +=
            job.has_finished_at() && TimeUtil::TimestampToNanoseconds(job.started_at()) >= since;
      }
      return finished >= count;
    });
  }

  // While held, every catalog call waits (a sync stays open in its catalog).
  void Hold() {
    std::lock_guard lock(gate_mu_);
    hold_ = true;
  }
  void Release() {
    std::lock_guard lock(gate_mu_);
    hold_ = false;
    gate_cv_.notify_all();
  }
  bool AwaitHolding() {
    std::unique_lock lock(gate_mu_);
    return gate_cv_.wait_for(lock, std::chrono::seconds(30), [this] { return holding_; });
  }

  int64_t Now() const { return clock_.NowUnixNanos(); }

  // The next call of `method` for which `match` holds answers `status` (once).
  void FailOnce(Method method, std::function<bool(const FakeSource::Call&)> match,
                absl::Status status) {
    failures_.push_back({method, std::move(match), std::move(status)});
  }
  // Every call of `method` answers `status`.
  void FailAlways(Method method, absl::Status status) { always_[method] = std::move(status); }
  absl::Status BeforeCall(const FakeSource::Call& c) {
    if (c.method == Method::kServiceDefinitions) {
      std::unique_lock lock(gate_mu_);
      if (hold_) {
        holding_ = true;
        gate_cv_.notify_all();
        // Bounded, so that a failed test cannot hang in App::Stop().
        gate_cv_.wait_for(lock, std::chrono::seconds(60), [this] { return !hold_; });
        holding_ = false;
      }
    }
    if (auto it = always_.find(c.method); it != always_.end()) return it->second;
    for (auto it = failures_.begin(); it != failures_.end(); ++it) {
      if (it->method == c.method && it->match(c)) {
        absl::Status s = it->status;
        failures_.erase(it);
        return s;
      }
    }
    return absl::OkStatus();
  }
  int CatalogCalls() const { return source_.calls(Method::kServiceDefinitions); }
  // The last inventory aggregate (the density is a timeseries).
  datadog::AggregateQuery LastInventoryAggregate() const {
    datadog::AggregateQuery last;
    for (const datadog::AggregateQuery& q : source_.aggregate_queries) {
      if (q.interval.empty()) last = q;
    }
    return last;
  }

  // `n` services named svc-0000...
  void AddServices(int n) {
    for (int i = 0; i < n; ++i) {
      v1::CatalogService s;
      s.set_name(absl::StrCat("svc-", 10000 + i));
      source_.services.push_back(s);
    }
  }
  // Traces of `per_trace` spans spread over [from, to).
  void AddSpans(int traces, int per_trace, int64_t from, int64_t to) {
    uint64_t id = source_.spans.size() + 1;
    for (int t = 0; t < traces; ++t) {
      uint64_t trace = 0xF000000000000000ull + static_cast<uint64_t>(t) + id * 1000;
      for (int s = 0; s < per_trace; ++s) {
        v1::Span span;
        span.set_trace_id(trace);
        span.set_span_id(id++);
        span.set_start_unix_nano(from + (to - from) * (int64_t{t} * per_trace + s) /
                                            (int64_t{traces} * per_trace));
        source_.spans.push_back(span);
      }
    }
  }

  std::multiset<uint64_t> PublishedSpanIds() {
    std::multiset<uint64_t> ids;
    for (const auto& m : On("apmcov.spans")) {
      auto b = Decode<v1::SpanBatch>(m);
      for (const auto& s : b.spans()) ids.insert(s.span_id());
    }
    return ids;
  }

  // For the failed-page tests (12,000 spans over the last hour, 10-minute windows, the second
  // window's second page failing): the checkpoint the failed sync left, checked to be inside
  // the second window on a whole millisecond.
  int64_t CutInTheSecondWindowOf(const App& app, int64_t now) {
    const int64_t first_window_end = now - 3600 * kSec + 600 * kSec;
    const int64_t cut = app.checkpoint().value_or(0);
    EXPECT_GT(cut, first_window_end);
    EXPECT_LT(cut, first_window_end + 600 * kSec);
    EXPECT_EQ(cut % 1'000'000, 0) << "a whole millisecond";
    return cut;
  }
  // The next sync, 15 minutes later: it starts reading at `cut` (span query `first_query`),
  // succeeds, and every span is published, at most one twice.
  void ResumesAtTheCutLosingNothing(App& app, int64_t cut, size_t first_query) {
    clock_.Advance(std::chrono::minutes(15));
    SyncResult r = app.RunSync(v1::SYNC_TRIGGER_SCHEDULE);
    EXPECT_EQ(r.state, v1::SYNC_STATE_SUCCEEDED) << r.error;
    ASSERT_GT(source_.span_queries.size(), first_query);
    EXPECT_EQ(source_.span_queries[first_query].from_unix_nano, cut);  // resumed there
    EXPECT_TRUE(source_.span_queries[first_query].cursor.empty());
    auto ids = PublishedSpanIds();
    std::set<uint64_t> distinct(ids.begin(), ids.end());
    EXPECT_EQ(distinct.size(), 12000u);  // nothing lost
    EXPECT_LE(ids.size() - distinct.size(), 1u);
  }

  CollectorConfig config_;
  ManualClock clock_;
  prometheus::Registry registry_;
  CollectorMetrics metrics_;
  FakeSource source_;
  struct Failure {
    Method method;
    std::function<bool(const FakeSource::Call&)> match;
    absl::Status status;
  };
  std::vector<Failure> failures_;
  std::map<Method, absl::Status> always_;
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool hold_ = false;     // guarded by gate_mu_
  bool holding_ = false;  // ditto
  bus::MemoryBroker broker_;
  std::unique_ptr<bus::Publisher> publisher_ = broker_.NewPublisher();
  std::unique_ptr<bus::LagProbe> lag_ = broker_.NewLagProbe();
  std::atomic<int> state_reads_{0};
};

TEST_F(AppTest, FullSyncPublishesEverythingExactlyOnce) {
  AddServices(250);
  source_.apm = {};
  v1::ApmObservation a;
  a.set_service("svc-10000");
  a.set_env("*");
  a.set_traced(true);
  source_.apm.push_back(a);
  const int64_t now = Now();
  // 42 spans of svc-10000 in prod two hours ago: in the inventory's lookback, before the
  // span range. Spans without a service (below) count in no inventory bucket.
  for (int i = 0; i < 42; ++i) {
    v1::Span s;
    s.set_service("svc-10000");
    s.set_env("prod");
    s.set_span_id(0xE000 + i);
    s.set_start_unix_nano(now - 7200 * kSec + i * kSec);
    source_.spans.push_back(s);
  }
  const int64_t end = now - 60 * kSec;
  AddSpans(600, 5, now - 3600 * kSec, end);  // 3000 spans in the 59-minute range
  AddSpans(10, 2, end, now);                 // within the lag: not yet collected
  auto app = MakeApp();
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_SUCCEEDED) << r.error;

  // Catalog: 3 pages (100, 100, 50), 250 services then one end marker with count 250.
  EXPECT_EQ(CatalogCalls(), 3);
  auto catalog = On("apmcov.catalog");
  ASSERT_EQ(catalog.size(), 251u);
  std::set<std::string> names;
  std::string snapshot;
  for (size_t i = 0; i < 250; ++i) {
    auto svc = Decode<v1::CatalogService>(catalog[i]);
    EXPECT_EQ(catalog[i].key, svc.name());
    names.insert(svc.name());
    snapshot = svc.snapshot_id();
    ASSERT_EQ(catalog[i].headers.size(), 2u);
    EXPECT_EQ(catalog[i].headers[1].second, "apmcov.v1.CatalogService");
  }
  EXPECT_EQ(names.size(), 250u);
  auto end_marker = Decode<v1::CatalogSnapshotEnd>(catalog[250]);
  EXPECT_EQ(catalog[250].headers[1].second, "apmcov.v1.CatalogSnapshotEnd");
  EXPECT_EQ(catalog[250].key, std::string("\0snapshot-end", 13));
  EXPECT_EQ(end_marker.count(), 250u);
  EXPECT_EQ(end_marker.snapshot_id(), snapshot);

  // Inventory: the list entry and the aggregate's counted bucket (a zero count observes
  // nothing); the aggregate covers the lookback with a high group limit.
  auto inv = On("apmcov.apm-inventory");
  ASSERT_EQ(inv.size(), 2u);
  EXPECT_EQ(inv[1].key, "svc-10000\x1fprod");
  auto obs = Decode<v1::ApmObservation>(inv[1]);
  EXPECT_EQ(obs.span_count(), 42u);
  EXPECT_TRUE(obs.traced());
  EXPECT_EQ(obs.source(), "spans_aggregate");
  EXPECT_EQ(LastInventoryAggregate().group_limit, 10000);
  EXPECT_EQ(LastInventoryAggregate().to_unix_nano - LastInventoryAggregate().from_unix_nano,
            int64_t{24} * 3600 * kSec);

  // Spans: every span of the range exactly once, batched by trace and keyed by its id.
  auto ids = PublishedSpanIds();
  EXPECT_EQ(ids.size(), 3000u);
  EXPECT_EQ(std::set<uint64_t>(ids.begin(), ids.end()).size(), 3000u);
  for (const auto& m : On("apmcov.spans")) {
    auto b = Decode<v1::SpanBatch>(m);
    if (b.spans_size() == 0) continue;
    EXPECT_EQ(m.key, std::to_string(b.spans(0).trace_id()));
    for (const auto& s : b.spans()) EXPECT_EQ(s.trace_id(), b.spans(0).trace_id());
  }
  // 59 minutes in 10-minute windows: 6 windows, each ending with 4 watermarks, then a checkpoint.
  EXPECT_EQ(r.windows, 6u);
  std::map<int32_t, int> watermarks;  // per partition: every round reaches every partition
  for (const auto& m : On("apmcov.spans")) {
    auto b = Decode<v1::SpanBatch>(m);
    if (b.spans_size() == 0) {
      ++watermarks[m.partition];
      EXPECT_GT(b.watermark_unix_nano(), 0);
    }
  }
  EXPECT_EQ(watermarks, (std::map<int32_t, int>{{0, 6}, {1, 6}, {2, 6}, {3, 6}}));
  // Each window's watermark says it was read whole; together they cover the range.
  int64_t covered_to = now - 3600 * kSec;
  for (const auto& m : On("apmcov.spans")) {
    auto b = Decode<v1::SpanBatch>(m);
    if (b.spans_size() != 0 || m.partition != 0) continue;
    ASSERT_EQ(b.read_intervals_size(), 1);
    EXPECT_EQ(b.read_intervals(0).from_unix_nano(), covered_to);
    EXPECT_TRUE(b.read_intervals(0).complete());
    covered_to = b.read_intervals(0).to_unix_nano();
    EXPECT_EQ(covered_to, b.watermark_unix_nano());
  }
  EXPECT_EQ(covered_to, end);
  auto cps = On("apmcov.collector-state");
  ASSERT_EQ(cps.size(), 6u);
  EXPECT_EQ(Decode<v1::CollectorCheckpoint>(cps.back()).span_window_end_unix_nano(), end);
  EXPECT_EQ(app->checkpoint(), end);
  for (const auto& q : source_.span_queries) {
    EXPECT_EQ(q.limit, 1000);
    EXPECT_EQ(q.query, "retained_by:(flat_sampled OR diversity_sampling)");
  }

  // Job events: running first, succeeded last, with the counts.
  auto jobs = Jobs();
  ASSERT_GE(jobs.size(), 2u);
  EXPECT_EQ(jobs.front().state(), v1::SYNC_STATE_RUNNING);
  EXPECT_EQ(jobs.back().state(), v1::SYNC_STATE_SUCCEEDED);
  EXPECT_EQ(jobs.back().spans(), 3000u);
  EXPECT_EQ(jobs.back().pages(), r.pages);
  EXPECT_EQ(jobs.back().sampled_seconds(), 59u * 60);
  EXPECT_EQ(jobs.back().skipped_seconds(), 0u);
  EXPECT_EQ(jobs.back().checkpoint_unix_nano(), end);
  EXPECT_EQ(jobs.back().id(), snapshot);

  // A second sync right away: no new window, no span re-published.
  clock_.Advance(std::chrono::seconds(30));
  SyncResult r2 = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r2.state, v1::SYNC_STATE_SUCCEEDED) << r2.error;
  auto after = PublishedSpanIds();
  EXPECT_EQ(std::set<uint64_t>(after.begin(), after.end()).size(), after.size());  // no repeats
  EXPECT_GT(after.size(), 3000u);  // the spans that left the lag window since
  EXPECT_LT(after.size(), 3020u);
}

// Design §5: v3 `kind: service` entities count too, read in every sync; a definition of the
// same name wins, and an org without the v3 catalog (404) simply has none.
TEST_F(AppTest, V3CatalogEntitiesJoinEverySnapshot) {
  AddServices(2);
  v1::CatalogService v3_only, both;
  v3_only.set_name("svc-v3");
  v3_only.set_schema_version("v3");
  v3_only.set_team("from-v3");
  both.set_name("svc-10000");
  both.set_schema_version("v3");
  both.set_team("from-v3");
  source_.entities = {v3_only, both};
  auto app = MakeApp();
  for (int sync = 1; sync <= 2; ++sync) {
    SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
    EXPECT_EQ(r.state, v1::SYNC_STATE_SUCCEEDED) << r.error;
    EXPECT_EQ(r.catalog_services, 3u);
    EXPECT_EQ(source_.calls(Method::kCatalogEntities), sync);
    clock_.Advance(std::chrono::minutes(1));
  }
  std::map<std::string, v1::CatalogService> last;
  for (const auto& m : On("apmcov.catalog")) {
    if (m.key[0] == '\0') {
      EXPECT_EQ(Decode<v1::CatalogSnapshotEnd>(m).count(), 3u);
      continue;
    }
    auto svc = Decode<v1::CatalogService>(m);
    last[svc.name()] = svc;
  }
  ASSERT_EQ(last.size(), 3u);
  EXPECT_EQ(last["svc-v3"].team(), "from-v3");
  EXPECT_EQ(last["svc-10000"].schema_version(), "") << "the definition wins over the entity";

  FailAlways(Method::kCatalogEntities, absl::NotFoundError("no v3 catalog"));
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_SUCCEEDED) << r.error;
  EXPECT_TRUE(r.catalog_complete);
  FailAlways(Method::kCatalogEntities, absl::UnavailableError("503"));
  r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_PARTIAL);
  EXPECT_FALSE(r.catalog_complete) << "no end marker: nothing is wrongly removed";
}

TEST_F(AppTest, CatalogPageFailureMeansNoEndMarkerAndPartial) {
  AddServices(150);
  FailOnce(
      Method::kServiceDefinitions, [](const FakeSource::Call& c) { return c.page == 1; },
      absl::UnavailableError("HTTP 503 after 5 attempts"));
  auto app = MakeApp();
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_PARTIAL);
  EXPECT_THAT(r.error, HasSubstr("catalog page 1: HTTP 503"));
  auto catalog = On("apmcov.catalog");
  EXPECT_EQ(catalog.size(), 100u);  // the page read, and no end marker
  for (const auto& m : catalog) EXPECT_NE(m.key, std::string("\0snapshot-end", 13));
  auto jobs = Jobs();
  EXPECT_EQ(jobs.back().state(), v1::SYNC_STATE_PARTIAL);
  EXPECT_THAT(jobs.back().error(), HasSubstr("catalog page 1"));
}

// A page that fails after retries stops the sync where it is: what was published before it
// is kept (checkpoint at the last published span), and the next sync resumes there, losing
// nothing and re-reading at most that span's millisecond.
TEST_F(AppTest, FailedSpanPageKeepsWhatWasPublishedAndTheNextSyncLosesNothing) {
  const int64_t now = Now();
  AddSpans(3000, 4, now - 3600 * kSec, now - 60 * kSec);  // ~2034 spans (3 pages) per window
  // Calls 0-2 read the first window; call 4 (the second window's second page) is malformed.
  FailOnce(
      Method::kSpans, [](const FakeSource::Call& c) { return c.number == 4; },
      absl::InvalidArgumentError("malformed Datadog span page: data[7]"));
  auto app = MakeApp();
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_PARTIAL);
  EXPECT_THAT(r.error, HasSubstr("malformed Datadog span page"));
  EXPECT_EQ(r.windows, 2u);  // the first window whole, the second up to its first page
  const int64_t cut = CutInTheSecondWindowOf(*app, now);
  auto jobs = Jobs();
  EXPECT_EQ(jobs.back().state(), v1::SYNC_STATE_PARTIAL);
  EXPECT_THAT(jobs.back().error(), HasSubstr("malformed"));
  EXPECT_EQ(jobs.back().checkpoint_unix_nano(), cut);

  ResumesAtTheCutLosingNothing(*app, cut, /*first_query=*/5);
}

// A page whose paging was read (its scan) but whose spans do not parse: the next page's call
// has already started (it runs while a page is parsed) and is abandoned; the sync stops at the
// last published span like for a failed call, and the next sync resumes there, losing nothing.
TEST_F(AppTest, SpansThatDoNotParseAfterTheScanStopTheSyncAndTheNextSyncLosesNothing) {
  const int64_t now = Now();
  AddSpans(3000, 4, now - 3600 * kSec, now - 60 * kSec);  // ~2034 spans (3 pages) per window
  // Calls 0-2 read the first window; call 4 (the second window's second page) is read, but
  // its spans do not parse.
  source_.finish_spans = [](int number) {
    return number == 4 ? absl::InvalidArgumentError("malformed Datadog span page at data[7]")
                       : absl::OkStatus();
  };
  auto app = MakeApp();
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  source_.finish_spans = nullptr;
  EXPECT_EQ(r.state, v1::SYNC_STATE_PARTIAL);
  EXPECT_THAT(r.error, HasSubstr("malformed Datadog span page at data[7]"));
  EXPECT_EQ(r.windows, 2u);
  // The page after the bad one was asked for while the bad one was parsed: one call spent.
  ASSERT_EQ(source_.span_queries.size(), 6u);
  EXPECT_FALSE(source_.span_queries[5].cursor.empty());
  const int64_t cut = CutInTheSecondWindowOf(*app, now);
  EXPECT_EQ(Jobs().back().checkpoint_unix_nano(), cut);

  ResumesAtTheCutLosingNothing(*app, cut, /*first_query=*/6);
}

// The density says the range fits, but the budget runs out (the density was misjudged): the
// checkpoint moves to the last published span, and the next sync resumes right there, never
// from the start of the window again.
TEST_F(AppTest, PageBudgetStopsAndTheNextSyncResumes) {
  config_.span_page_budget = 2;
  config_.span_window_seconds = 3600;  // one window: no page goes to an empty one
  source_.count_scale = 0.1;           // 4000 spans counted as 400: fits 2 pages
  const int64_t now = Now();
  AddSpans(1000, 4, now - 3600 * kSec, now - 3000 * kSec);  // 4000 spans in the first window
  auto app = MakeApp();
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_PARTIAL);
  EXPECT_THAT(r.error, HasSubstr("SPAN_PAGE_BUDGET=2"));
  EXPECT_THAT(r.error, HasSubstr("the next sync resumes there"));
  ASSERT_EQ(source_.span_queries.size(), 2u);
  // Spans 150 ms apart: the 2000th published span starts at +299.85 s; everything before its
  // millisecond was published.
  const int64_t cut1 = now - 3600 * kSec + 299'850'000'000;
  ASSERT_TRUE(app->checkpoint().has_value());
  EXPECT_EQ(*app->checkpoint(), cut1);
  auto cps = On("apmcov.collector-state");
  ASSERT_EQ(cps.size(), 1u);
  EXPECT_EQ(Decode<v1::CollectorCheckpoint>(cps[0]).span_window_end_unix_nano(), cut1);
  auto marks = On("apmcov.spans");
  auto mark = Decode<v1::SpanBatch>(marks.back());
  EXPECT_EQ(mark.watermark_unix_nano(), cut1);
  ASSERT_EQ(mark.read_intervals_size(), 1);
  EXPECT_EQ(mark.read_intervals(0).from_unix_nano(), now - 3600 * kSec);
  EXPECT_EQ(mark.read_intervals(0).to_unix_nano(), cut1);

  // The second sync resumes at the cut, not at the window's start.
  clock_.Advance(std::chrono::minutes(1));
  SyncResult r2 = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r2.state, v1::SYNC_STATE_PARTIAL) << r2.error;
  ASSERT_EQ(source_.span_queries.size(), 4u);
  EXPECT_EQ(source_.span_queries[2].from_unix_nano, cut1);
  EXPECT_TRUE(source_.span_queries[2].cursor.empty());
  ASSERT_TRUE(app->checkpoint().has_value());
  EXPECT_GT(*app->checkpoint(), cut1);

  // A third sync reads the rest: every span exactly once (the cut's own span re-read at most).
  clock_.Advance(std::chrono::minutes(1));
  SyncResult r3 = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r3.state, v1::SYNC_STATE_SUCCEEDED) << r3.error;
  auto ids = PublishedSpanIds();
  std::set<uint64_t> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), 4000u);
  EXPECT_LE(ids.size() - distinct.size(), 2u);
  EXPECT_EQ(app->checkpoint(), Now() - 60 * kSec);
}

// Without a density (the aggregate fails) the range is read whole: nothing is skipped, and
// a budget cut resumes as above.
TEST_F(AppTest, WithoutTheDensityTheRangeIsReadWhole) {
  config_.span_page_budget = 2;
  FailOnce(
      Method::kAggregate, [](const FakeSource::Call& c) { return !c.aggregate->interval.empty(); },
      absl::UnavailableError("aggregate down"));
  const int64_t now = Now();
  AddSpans(1000, 4, now - 3600 * kSec, now - 3000 * kSec);
  auto app = MakeApp();
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_PARTIAL);
  EXPECT_THAT(r.error, HasSubstr("span density: aggregate down"));
  EXPECT_EQ(PublishedSpanIds().size(), 2000u);
  EXPECT_EQ(r.skipped_seconds, 0);
  EXPECT_GT(r.sampled_seconds, 290);
}

// Datadog's "timeout" answer (meta.status; counts that are lower bounds): it is no density
// (the range is read whole, nothing skipped) and no complete inventory (what it counted is
// published, the sync says it is partial). The next sync, answered in full, succeeds.
TEST_F(AppTest, APartialAggregateIsNeitherADensityNorACompleteInventory) {
  source_.aggregates_partial = true;
  const int64_t now = Now();
  AddSpans(1000, 4, now - 3600 * kSec, now - 3000 * kSec);
  for (v1::Span& span : source_.spans) span.set_service("checkout");
  auto app = MakeApp();
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_PARTIAL);
  EXPECT_THAT(r.error, HasSubstr("span density: Datadog stopped counting early"));
  EXPECT_THAT(r.error, HasSubstr("spans aggregate: Datadog stopped counting early"));
  EXPECT_EQ(PublishedSpanIds().size(), 4000u);
  EXPECT_EQ(r.skipped_seconds, 0);
  auto inv = On("apmcov.apm-inventory");
  ASSERT_EQ(inv.size(), 1u);
  EXPECT_EQ(Decode<v1::ApmObservation>(inv[0]).service(), "checkout");
  EXPECT_EQ(Decode<v1::ApmObservation>(inv[0]).span_count(), 4000u);

  source_.aggregates_partial = false;
  clock_.Advance(std::chrono::minutes(1));
  SyncResult again = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(again.state, v1::SYNC_STATE_SUCCEEDED) << again.error;
}

// 20x the budget's volume: complete slices within the budget, the checkpoint at the end of
// the range every time (never behind), the rest skipped on purpose and said so.
TEST_F(AppTest, SlicesWhenTheVolumeExceedsTheBudget) {
  config_.span_page_budget = 5;
  config_.span_backfill_minutes = 10;
  config_.span_slice_min_seconds = 10;
  config_.span_slice_seed = 7;
  const int64_t now = Now();
  AddSpans(75'000, 4, now - 600 * kSec, now + 600 * kSec);  // 250 spans/s
  auto app = MakeApp();
  for (int sync = 0; sync < 3; ++sync) {
    const size_t queries_before = source_.span_queries.size();
    const auto spans_before = PublishedSpanIds().size();
    const int64_t from = app->checkpoint().value_or(Now() - 600 * kSec);
    const int64_t to = Now() - 60 * kSec;
    SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
    EXPECT_EQ(r.state, v1::SYNC_STATE_SUCCEEDED) << r.error;
    const size_t pages = source_.span_queries.size() - queries_before;
    EXPECT_LE(pages, 5u) << "sync " << sync;
    EXPECT_GE(pages, 3u) << "sync " << sync;
    EXPECT_EQ(app->checkpoint(), to) << "the checkpoint keeps up with real time";
    // One watermark per partition at the range's end, carrying the complete slices.
    auto spans = On("apmcov.spans");
    auto mark = Decode<v1::SpanBatch>(spans.back());
    EXPECT_EQ(mark.watermark_unix_nano(), to);
    ASSERT_GE(mark.read_intervals_size(), 1);
    int64_t read_ns = 0;
    for (const auto& iv : mark.read_intervals()) {
      EXPECT_TRUE(iv.complete());
      EXPECT_GE(iv.from_unix_nano(), from);
      EXPECT_LE(iv.to_unix_nano(), to);
      read_ns += iv.to_unix_nano() - iv.from_unix_nano();
    }
    // Every span published by this sync lies inside a slice, and every span of a slice was
    // published.
    size_t in_slices = 0;
    for (const v1::Span& s : source_.spans) {
      for (const auto& iv : mark.read_intervals()) {
        if (s.start_unix_nano() >= iv.from_unix_nano() && s.start_unix_nano() < iv.to_unix_nano())
          ++in_slices;
      }
    }
    EXPECT_EQ(PublishedSpanIds().size() - spans_before, in_slices);
    auto job = Jobs().back();
    EXPECT_EQ(job.sampled_seconds(), static_cast<uint64_t>((read_ns + kSec / 2) / kSec));
    EXPECT_NEAR(static_cast<double>(job.sampled_seconds() + job.skipped_seconds()),
                static_cast<double>(to - from) / kSec, 2.0);
    EXPECT_GT(job.skipped_seconds(), job.sampled_seconds());
    clock_.Advance(std::chrono::minutes(1));
  }
}

// The density misjudged tenfold: the slice outruns the budget and is marked incomplete, so
// none of its traces are judged; the checkpoint still moves to the end of the range.
TEST_F(AppTest, ASliceThatOutrunsTheBudgetIsIncomplete) {
  config_.span_page_budget = 3;
  config_.span_backfill_minutes = 10;
  config_.span_slice_seed = 3;
  source_.count_scale = 0.1;
  const int64_t now = Now();
  AddSpans(25'000, 4, now - 600 * kSec, now);  // ~167 spans/s, counted as ~17
  auto app = MakeApp();
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_SUCCEEDED) << r.error;
  EXPECT_EQ(source_.span_queries.size(), 3u);
  EXPECT_EQ(app->checkpoint(), Now() - 60 * kSec);
  auto mark = Decode<v1::SpanBatch>(On("apmcov.spans").back());
  ASSERT_EQ(mark.read_intervals_size(), 1);
  EXPECT_FALSE(mark.read_intervals(0).complete());
  EXPECT_EQ(Jobs().back().sampled_seconds(), 0u);
}

// The analyzer's group on the broker: 5000 messages behind on spans, then it commits between
// the collector's readings (the lag-read hook plays the analyzer): 4000, 2000, then 10 behind.
TEST_F(AppTest, BackpressureWaitsWhileTheAnalyzerLags) {
  config_.max_consumer_lag_messages = 1000;
  const int64_t now = Now();
  AddSpans(10, 2, now - 3000 * kSec, now - 2900 * kSec);
  for (int i = 0; i < 5000; ++i) {  // a backlog of (empty) batches on partition 0
    ASSERT_TRUE(publisher_->Publish({"apmcov.spans", "", "", {}, 0}).ok());
  }
  ASSERT_TRUE(publisher_->Flush(std::chrono::seconds(1)).ok());
  std::deque<int64_t> commits = {0, 1000, 3000, 4990};
  int readings = 0;
  broker_.OnLagRead([&](const std::string& group, const std::string& topic) {
    EXPECT_EQ(group, "apmcov-analyzer");
    EXPECT_EQ(topic, "apmcov.spans");
    ++readings;
    if (commits.empty()) return;
    EXPECT_TRUE(broker_.AlterGroupOffsets(group, {{{topic, 0}, commits.front()}}).ok());
    commits.pop_front();
  });
  auto app = MakeApp();
  auto before = clock_.TotalSlept();
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_SUCCEEDED) << r.error;
  EXPECT_EQ(clock_.TotalSlept() - before, std::chrono::seconds(3));
  EXPECT_GE(readings, 4);
  EXPECT_EQ(PublishedSpanIds().size(), 20u);
}

// Retention trimmed partition 1 of spans to its last 10,000 messages (low 50,000): the
// analyzer 6,000 behind there is too close to losing spans, 4,000 is not.
TEST_F(AppTest, BackpressureWaitsWhileRetentionWouldOutrunTheAnalyzer) {
  config_.max_consumer_lag_messages = 2'000'000;  // far above what the log below retains
  const int64_t now = Now();
  AddSpans(10, 2, now - 3000 * kSec, now - 2900 * kSec);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(publisher_->Publish({"apmcov.spans", "", "", {}, 0}).ok());
  }
  for (int i = 0; i < 60'000; ++i) {
    ASSERT_TRUE(publisher_->Publish({"apmcov.spans", "", "", {}, 1}).ok());
  }
  ASSERT_TRUE(publisher_->Flush(std::chrono::seconds(1)).ok());
  ASSERT_TRUE(broker_.DeleteRecords("apmcov.spans", 1, 50'000).ok());
  std::deque<int64_t> commits = {54'000, 54'000, 56'000};
  broker_.OnLagRead([&](const std::string& group, const std::string& topic) {
    if (commits.empty()) return;
    EXPECT_TRUE(
        broker_.AlterGroupOffsets(group, {{{topic, 0}, 100}, {{topic, 1}, commits.front()}}).ok());
    commits.pop_front();
  });
  auto app = MakeApp();
  auto before = clock_.TotalSlept();
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_SUCCEEDED) << r.error;
  EXPECT_EQ(clock_.TotalSlept() - before, std::chrono::seconds(2));
  EXPECT_TRUE(commits.empty());
  EXPECT_EQ(PublishedSpanIds().size(), 20u);
}

// A reading that said publish on holds for kProbeInterval of the clock (a Kafka reading is
// dozens of round trips); a pause always reads again; a clock set back reads again.
TEST_F(AppTest, BackpressureReadsTheLagAtMostOncePerProbeInterval) {
  int readings = 0;
  broker_.OnLagRead([&](const std::string&, const std::string&) { ++readings; });
  Backpressure bp({"apmcov-analyzer", "apmcov.spans", 1000}, *lag_, clock_, metrics_,
                  [] { return false; });
  ASSERT_TRUE(bp.Wait().ok());
  EXPECT_EQ(readings, 1);
  for (int page = 0; page < 10; ++page) ASSERT_TRUE(bp.Wait().ok());
  EXPECT_EQ(readings, 1);
  clock_.Advance(Backpressure::kProbeInterval - std::chrono::milliseconds(1));
  ASSERT_TRUE(bp.Wait().ok());
  EXPECT_EQ(readings, 1);
  clock_.Advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(bp.Wait().ok());
  EXPECT_EQ(readings, 2);
  clock_.Set(clock_.Now() - std::chrono::seconds(30));
  ASSERT_TRUE(bp.Wait().ok());
  EXPECT_EQ(readings, 3);

  // The analyzer falls behind: every Wait reads until it has caught up again.
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(publisher_->Publish({"apmcov.spans", "", "", {}, 0}).ok());
  }
  ASSERT_TRUE(publisher_->Flush(std::chrono::seconds(1)).ok());
  clock_.Advance(Backpressure::kProbeInterval);
  std::deque<int64_t> commits = {0, 4990};
  broker_.OnLagRead([&](const std::string& group, const std::string& topic) {
    ++readings;
    if (commits.empty()) return;
    EXPECT_TRUE(broker_.AlterGroupOffsets(group, {{{topic, 0}, commits.front()}}).ok());
    commits.pop_front();
  });
  ASSERT_TRUE(bp.Wait().ok());
  EXPECT_EQ(readings, 5);  // behind (pause 1 s), then caught up
  ASSERT_TRUE(bp.Wait().ok());
  EXPECT_EQ(readings, 5);
}

// Records visible as soon as published (no flush needed), so that the analyzer's lag grows
// while a window is being read.
class AppTestUnflushedRecordsVisible : public AppTest {
 protected:
  AppTestUnflushedRecordsVisible() : AppTest(4, /*deliver_on_flush=*/false) {}
};

// The analyzer commits a window's spans only once their watermark is published (the lag-read
// hook plays it: each partition committed up to its last watermark). A pause in the middle of
// a window must not wait for those commits, which would never come: the collector watermarks
// what it has published, then waits, and the sync publishes every span.
TEST_F(AppTestUnflushedRecordsVisible, ABackpressurePauseInAWindowPublishesItsProgressFirst) {
  config_.max_consumer_lag_messages = 300;
  config_.span_window_seconds = 3600;  // the whole range is one window
  const int64_t now = Now();
  AddSpans(2000, 2, now - 3000 * kSec, now - 2900 * kSec);  // 4 pages of 500 traces
  auto before_call = source_.before_call;
  source_.before_call = [&, before_call](const FakeSource::Call& c) {
    if (c.method == Method::kSpans) clock_.Advance(std::chrono::seconds(1));  // a page's time
    return before_call(c);
  };
  int commits = 0;
  broker_.OnLagRead([&](const std::string& group, const std::string& topic) {
    std::map<bus::TopicPartition, int64_t> next;
    for (const auto& m : On(topic)) {
      if (Decode<v1::SpanBatch>(m).watermark_unix_nano() > 0) {
        next[{m.topic, m.partition}] = m.offset + 1;
      }
    }
    if (next.empty()) return;
    ++commits;
    EXPECT_TRUE(broker_.AlterGroupOffsets(group, next).ok());
  });
  auto app = MakeApp();
  const auto slept_before = clock_.TotalSlept();
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_SUCCEEDED) << r.error;
  EXPECT_LT(clock_.TotalSlept() - slept_before, std::chrono::seconds(60));
  EXPECT_GT(commits, 0);
  std::set<uint64_t> ids;
  int watermarks = 0;
  for (const auto& m : On("apmcov.spans")) {
    auto b = Decode<v1::SpanBatch>(m);
    for (const auto& span : b.spans()) ids.insert(span.span_id());
    watermarks += b.watermark_unix_nano() > 0 && m.partition == 0;
  }
  EXPECT_EQ(ids.size(), 4000u);
  EXPECT_GE(watermarks, 2);  // the cut's, then the window's end
}

TEST(BackpressureReasonTest, SummedLagAndRetentionHeadroom) {
  using bus::PartitionLag;
  // Under the limit, nothing trimmed.
  EXPECT_EQ(BackpressureReason({{0, 10, 0, 500}, {1, -1, 0, 400}}, 1000), "");
  // Summed lag over MAX_CONSUMER_LAG_MESSAGES (a partition never committed counts in full).
  EXPECT_THAT(BackpressureReason({{0, 10, 0, 600}, {1, -1, 0, 500}}, 1000),
              HasSubstr("1090 messages behind on spans, above MAX_CONSUMER_LAG_MESSAGES (1000)"));
  // Retention trimmed partition 1 (low 900): 60 of 100 retained is over half.
  EXPECT_THAT(BackpressureReason({{0, 10, 0, 20}, {1, 940, 900, 1000}}, 1'000'000),
              HasSubstr("partition 1, which retains only 100"));
  EXPECT_EQ(BackpressureReason({{0, 10, 0, 20}, {1, 960, 900, 1000}}, 1'000'000), "");
  // Commit already behind the log start: messages are gone, still pause.
  EXPECT_NE(BackpressureReason({{0, 5, 900, 1000}}, 1'000'000), "");
  // The share is a parameter.
  EXPECT_EQ(BackpressureReason({{1, 940, 900, 1000}}, 1'000'000, 0.7), "");
}

TEST_F(AppTest, KafkaFlushFailureFailsTheSyncWithoutCheckpoint) {
  const int64_t now = Now();
  AddSpans(10, 2, now - 3000 * kSec, now - 2900 * kSec);
  // Every delivery from now on fails: what each flush covered is lost.
  broker_.FailNextDeliveries(std::numeric_limits<int>::max(),
                             absl::UnavailableError("all brokers down"));
  auto app = MakeApp();
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_FAILED);
  EXPECT_THAT(r.error, HasSubstr("all brokers down"));
  EXPECT_FALSE(app->checkpoint().has_value());
  EXPECT_TRUE(On("apmcov.collector-state").empty());
}

TEST_F(AppTest, AllSourcesFailingIsFailed) {
  FailAlways(Method::kServiceDefinitions,
             absl::PermissionDeniedError("check DD_API_KEY / DD_APP_KEY"));
  FailAlways(Method::kApmServices, absl::PermissionDeniedError("403"));
  FailAlways(Method::kSpans, absl::PermissionDeniedError("403"));
  auto app = MakeApp();
  SyncResult r = app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  EXPECT_EQ(r.state, v1::SYNC_STATE_FAILED);
  EXPECT_THAT(r.error, HasSubstr("DD_API_KEY"));
}

// Checkpoints of collector-state (keys hash to different partitions): the latest of key
// `datadog` wins, other keys are ignored, and the read ends at the end of every partition.
TEST_F(AppTest, CheckpointIsLoadedFromCollectorState) {
  auto publish_cp = [&](int64_t end, const std::string& key) {
    v1::CollectorCheckpoint cp;
    cp.set_source(key);
    cp.set_span_window_end_unix_nano(end);
    ASSERT_TRUE(
        publisher_->Publish({"apmcov.collector-state", key, cp.SerializeAsString(), {}, {}}).ok());
  };
  const int64_t now = Now();
  publish_cp(now - 900 * kSec, "datadog");
  publish_cp(now - 10 * kSec, "other");
  publish_cp(now - 600 * kSec, "datadog");
  ASSERT_TRUE(publisher_->Flush(std::chrono::seconds(1)).ok());
  ASSERT_NE(bus::PartitionForKey("datadog", 4), bus::PartitionForKey("other", 4));
  auto app = MakeApp(/*read_state=*/true);
  ASSERT_TRUE(app->LoadCheckpoint().ok());
  EXPECT_EQ(state_reads_.load(), 1);
  EXPECT_EQ(app->checkpoint(), now - 600 * kSec);
  app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  ASSERT_FALSE(source_.span_queries.empty());
  EXPECT_EQ(source_.span_queries[0].from_unix_nano, now - 600 * kSec);
}

// collector-state with more partitions than the 30 idle polls the read allows: each reports its
// end in a poll of its own (as on Kafka), which is progress, not idleness.
class AppTestManyStatePartitions : public AppTest {
 protected:
  AppTestManyStatePartitions() : AppTest(64) {}
};

TEST_F(AppTestManyStatePartitions, ACheckpointIsReadFromACollectorStateOfManyPartitions) {
  v1::CollectorCheckpoint cp;
  cp.set_source("datadog");
  cp.set_span_window_end_unix_nano(Now() - 700 * kSec);
  ASSERT_TRUE(
      publisher_->Publish({"apmcov.collector-state", "datadog", cp.SerializeAsString(), {}, {}})
          .ok());
  ASSERT_TRUE(publisher_->Flush(std::chrono::seconds(1)).ok());
  auto app = MakeApp(/*read_state=*/true);
  ASSERT_TRUE(app->LoadCheckpoint().ok());
  EXPECT_EQ(app->checkpoint(), Now() - 700 * kSec);
}

// An empty collector-state: no checkpoint (the first sync reads SPAN_BACKFILL_MINUTES back),
// known as soon as every partition reported its end.
TEST_F(AppTest, AnEmptyCollectorStateMeansNoCheckpoint) {
  auto app = MakeApp(/*read_state=*/true);
  ASSERT_TRUE(app->LoadCheckpoint().ok());
  EXPECT_FALSE(app->checkpoint().has_value());
  app->RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  ASSERT_FALSE(source_.span_queries.empty());
  EXPECT_EQ(source_.span_queries[0].from_unix_nano, Now() - 3600 * kSec);
}

TEST_F(AppTest, RequestsDuringASyncAreCoalescedIntoTheNextOne) {
  AddServices(3);
  auto app = MakeApp();
  Hold();
  app->Start();  // the scheduled first sync starts and blocks in the catalog
  ASSERT_TRUE(AwaitHolding());
  v1::SyncRequest a, b;
  a.set_job_id("job-a");
  a.set_requested_by("gateway");
  b.set_job_id("job-b");
  app->Request(a);
  app->Request(b);
  Release();
  auto done = [](const std::vector<bus::IncomingMessage>& ms, const std::string& id) {
    for (const auto& m : ms) {
      auto j = Decode<v1::SyncJob>(m);
      if (j.id() == id && j.state() == v1::SYNC_STATE_SUCCEEDED) return true;
    }
    return false;
  };
  EXPECT_TRUE(AwaitRecords("apmcov.sync-jobs",
                           [&](const auto& ms) { return done(ms, "job-a") && done(ms, "job-b"); }));
  app->Stop();
  // Two syncs in all: the scheduled one and one for both requests (1 catalog call each).
  EXPECT_EQ(CatalogCalls(), 2);
  bool queued_a = false;
  for (const auto& j : Jobs()) {
    queued_a |= j.id() == "job-a" && j.state() == v1::SYNC_STATE_QUEUED;
  }
  EXPECT_TRUE(queued_a);
}

// The commands topic as the collector's command thread sees it, through the broker: its
// lag probe tells what the collector's group committed.
TEST_F(AppTest, ACommandIsCommittedOnlyOnceItsSyncStartedAndGarbageIsDeadLettered) {
  AddServices(3);
  auto commands = broker_.NewSubscriber("apmcov.collector");
  auto sender = broker_.NewPublisher();
  const bus::TopicPartition commands_0{"apmcov.commands", 0};
  auto send = [&](const std::string& type, const std::string& value) {
    bus::OutgoingMessage m;
    m.topic = "apmcov.commands";
    m.key = "sync";
    m.value = value;
    m.headers = {{"type", type}};
    m.partition = 0;
    ASSERT_TRUE(sender->Publish(std::move(m)).ok());
    ASSERT_TRUE(sender->Flush(std::chrono::seconds(5)).ok());
  };
  auto last_commit = [&]() -> int64_t {
    auto lags = lag_->PartitionLags("apmcov.collector", "apmcov.commands");
    return lags.ok() && !lags->empty() ? lags->front().committed : -1;
  };
  auto dead_letters = [&](size_t n) {
    return AwaitRecords("apmcov.dlq", [n](const auto& ms) { return ms.size() >= n; });
  };
  App::Ports ports{source_, *publisher_, *lag_, clock_, metrics_, commands.get(), {}};
  auto app = std::make_unique<App>(config_, ports);
  Hold();
  app->Start();  // the scheduled first sync starts and blocks in the catalog
  ASSERT_TRUE(AwaitHolding());
  v1::SyncRequest request;
  request.set_job_id("job-x");
  send("apmcov.v1.SyncRequest", request.SerializeAsString());  // offset 0
  send("apmcov.v1.SyncRequest", "\xff\xff not a protobuf");    // 1
  send("apmcov.v1.Nope", "");                                  // 2
  // Dead letters are flushed although the request before them still waits for its sync (the
  // broker shows only what was flushed).
  ASSERT_TRUE(dead_letters(2));
  // One more command round after those: its dead letter shows that the rounds which read
  // offsets 0..2 have finished (committing, if they wrongly did).
  send("apmcov.v1.Other", "");  // 3
  ASSERT_TRUE(dead_letters(3));
  // job-x is only queued (the running sync is the scheduled one): a crash now must replay it.
  EXPECT_LT(last_commit(), 1) << "committed before the requested sync started";

  Release();
  auto started = [&] {
    for (const auto& j : Jobs()) {
      if (j.id() == "job-x" && j.state() != v1::SYNC_STATE_QUEUED) return true;
    }
    return false;
  };
  EXPECT_EQ(broker_.AwaitCommitted("apmcov.collector", commands_0, 4, std::chrono::seconds(30)), 4);
  app->Stop();
  EXPECT_EQ(last_commit(), 4);
  EXPECT_TRUE(started()) << "the commit came before job-x was recorded as started";

  std::vector<v1::DeadLetter> letters;
  for (const auto& m : On("apmcov.dlq")) {
    letters.push_back(Decode<v1::DeadLetter>(m));
  }
  ASSERT_EQ(letters.size(), 3u);
  EXPECT_EQ(letters[0].topic(), "apmcov.commands");
  EXPECT_EQ(letters[0].offset(), 1);
  EXPECT_EQ(letters[0].original_value(), "\xff\xff not a protobuf");
  EXPECT_THAT(letters[0].error(), HasSubstr("do not parse"));
  EXPECT_EQ(letters[1].offset(), 2);
  EXPECT_THAT(letters[1].error(), HasSubstr("apmcov.v1.Nope"));
  EXPECT_EQ(letters[2].offset(), 3);
  EXPECT_THAT(letters[2].error(), HasSubstr("apmcov.v1.Other"));
}

TEST_F(AppTest, ApiObserverFeedsJobCounters) {
  metrics_.ResetJob();
  metrics_.OnApiCall("spans_list", 200, 0.1);
  metrics_.OnApiCall("spans_list", 429, 0.1);
  metrics_.OnRateLimitWait("spans_list", 7.5);
  auto c = metrics_.Job();
  EXPECT_EQ(c.api_calls, 2u);
  EXPECT_EQ(c.rate_limit_waits, 1u);
  EXPECT_EQ(c.rate_limited_ms, 7500u);
  bool found = false;
  for (const auto& fam : registry_.Collect()) {
    if (fam.name == "apmcov_collector_datadog_api_calls_total") {
      found = true;
      EXPECT_EQ(fam.metric.size(), 2u);
    }
  }
  EXPECT_TRUE(found);
}

// Each span window is made durable once (its watermarks, then its checkpoint), and the time
// the sync waited for that is counted beside it (bench_e2e reads both).
TEST_F(AppTest, EachSpanWindowFlushIsCounted) {
  const int64_t now = Now();
  AddSpans(300, 4, now - 3600 * kSec, now - 60 * kSec);
  auto app = MakeApp();
  ASSERT_EQ(app->RunSync(v1::SYNC_TRIGGER_SCHEDULE).state, v1::SYNC_STATE_SUCCEEDED);
  std::set<std::string> windows;  // watermark rounds: SpanBatches without spans
  for (const auto& m : On("apmcov.spans")) {
    auto b = Decode<v1::SpanBatch>(m);
    if (b.spans_size() == 0) windows.insert(b.window_id());
  }
  ASSERT_GT(windows.size(), 1u);
  double flushes = -1, seconds = -1;
  for (const auto& fam : registry_.Collect()) {
    if (fam.name == "apmcov_collector_window_flushes_total") flushes = fam.metric[0].counter.value;
    if (fam.name == "apmcov_collector_window_flush_seconds_total") {
      seconds = fam.metric[0].counter.value;
    }
  }
  EXPECT_EQ(flushes, static_cast<double>(windows.size()));
  EXPECT_GE(seconds, 0.0);
}

TEST(CollectorConfigTest, MissingAndBadValuesNameTheVariable) {
  std::map<std::string, std::string> env = {{"SPAN_PAGE_BUDGET", "lots"}};
  ConfigReader reader(0, nullptr, [&](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
  CollectorConfig::Read(reader);
  absl::Status s = reader.Finish();
  ASSERT_FALSE(s.ok());
  std::string msg(s.message());
  EXPECT_THAT(msg, HasSubstr("DD_API_KEY"));
  EXPECT_THAT(msg, HasSubstr("DD_APP_KEY"));
  EXPECT_THAT(msg, HasSubstr("KAFKA_BROKERS"));
  EXPECT_THAT(msg, HasSubstr("SPAN_PAGE_BUDGET"));
}

ConfigReader::EnvLookup EnvOf(std::map<std::string, std::string> env) {
  return [env = std::move(env)](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

TEST(CollectorConfigTest, FlagsWinAndDefaultsApply) {
  const char* argv[] = {"apmcov-collector", "--kafka-brokers=127.0.0.1:9092",
                        "--span-page-budget=5", "--once"};
  ConfigReader reader(4, argv, EnvOf({{"DD_API_KEY", "k"}, {"DD_APP_KEY", "a"}}));
  CollectorConfig c = CollectorConfig::Read(reader);
  ASSERT_TRUE(reader.Finish().ok()) << reader.Finish();
  EXPECT_EQ(c.span_page_budget, 5);
  EXPECT_TRUE(c.once);
  EXPECT_EQ(c.sync_interval_minutes, 15);
  EXPECT_EQ(c.dd_site, "datadoghq.com");
  EXPECT_EQ(c.span_query, "retained_by:(flat_sampled OR diversity_sampling)");
}

TEST(CollectorConfigTest, KeysAsFlagsAreRefusedNamingTheVariable) {
  const char* argv[] = {"apmcov-collector", "--dd-api-key=0123456789abcdef0123456789abcdef",
                        "--dd-app-key=app-key-7c21", "--kafka-brokers=127.0.0.1:9092"};
  ConfigReader reader(4, argv, EnvOf({}));
  CollectorConfig::Read(reader);
  absl::Status s = reader.Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("DD_API_KEY: is a secret and cannot be given"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("DD_APP_KEY: is a secret"));
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("0123456789abcdef")));
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("app-key-7c21")));
}

TEST(CollectorConfigTest, RealLookingKeysTowardsPlainHttpElsewhereAreRefused) {
  std::map<std::string, std::string> env = {{"DD_API_KEY", "0123456789abcdef0123456789abcdef"},
                                            {"DD_APP_KEY", "a"},
                                            {"KAFKA_BROKERS", "127.0.0.1:9092"},
                                            {"DD_API_BASE_URL", "http://ddsim:8081"}};
  {
    ConfigReader reader(1, nullptr, EnvOf(env));
    CollectorConfig::Read(reader);
    EXPECT_THAT(std::string(reader.Finish().message()),
                HasSubstr("DD_API_BASE_URL: DD_API_KEY looks like a real Datadog API key"));
  }
  env["DD_API_ALLOW_INSECURE"] = "true";
  ConfigReader reader(1, nullptr, EnvOf(env));
  CollectorConfig::Read(reader);
  EXPECT_TRUE(reader.Finish().ok()) << reader.Finish();
}

// The value of an unlabelled gauge in `registry` (-1 when it is not there).
double GaugeValue(prometheus::Registry& registry, const std::string& name) {
  for (const auto& fam : registry.Collect()) {
    if (fam.name == name && fam.metric.size() == 1) return fam.metric[0].gauge.value;
  }
  return -1;
}

}  // namespace

// Leadership through the group protocol on the contract-tested MemoryBroker: the member that
// owns partition 0 of `commands` syncs, a second one stands by without a single API call, and
// when the leader goes it takes over from the checkpoint the leader left in collector-state.
TEST_F(AppTest, OneCollectorLeadsAndAStandbyTakesOverFromItsCheckpoint) {
  AddServices(3);
  const int64_t now = Now();
  AddSpans(30, 3, now - 3000 * kSec, now);
  auto commands_a = broker_.NewSubscriber("apmcov.collector");
  auto commands_b = broker_.NewSubscriber("apmcov.collector");
  prometheus::Registry registry_b;
  CollectorMetrics metrics_b(registry_b);
  FakeSource source_b;
  source_b.services = source_.services;
  source_b.spans = source_.spans;

  App a(config_, {source_, *publisher_, *lag_, clock_, metrics_, commands_a.get(), OpenState()});
  a.Start();
  ASSERT_TRUE(AwaitFinishedSyncs(1)) << "the leader never synced";
  EXPECT_TRUE(a.checkpoint().has_value());
  EXPECT_TRUE(a.leader());
  App b(config_, {source_b, *publisher_, *lag_, clock_, metrics_b, commands_b.get(), OpenState()});
  b.Start();
  // Both members served the rebalance b's join caused (their listeners ran).
  ASSERT_TRUE(broker_.AwaitGroupStable("apmcov.collector", 2, std::chrono::seconds(30)));
  EXPECT_TRUE(a.leader());
  EXPECT_FALSE(b.leader());
  EXPECT_TRUE(b.Ready().ok()) << b.Ready();  // a standby is healthy
  // The gauges say the election is settled: one leader, one assigned standby.
  EXPECT_EQ(GaugeValue(registry_, "apmcov_collector_leader"), 1);
  EXPECT_EQ(GaugeValue(registry_, "apmcov_collector_standby"), 0);
  EXPECT_EQ(GaugeValue(registry_b, "apmcov_collector_leader"), 0);
  EXPECT_EQ(GaugeValue(registry_b, "apmcov_collector_standby"), 1);
  EXPECT_EQ(source_b.calls(Method::kServiceDefinitions), 0) << "the standby synced";
  const int64_t handed_over = *a.checkpoint();

  clock_.Advance(std::chrono::minutes(5));  // spans the next sync can read
  const int64_t after_handover = Now();
  a.Stop();  // leaves the group: partition 0 moves to the standby
  // The standby's own sync: the only one that can start once the clock has moved on (the
  // leader's first sync started earlier, and a leader that synced again after the clock
  // moved would be the bug the checks below catch).
  ASSERT_TRUE(AwaitFinishedSyncs(1, after_handover)) << "the standby did not take over";
  ASSERT_TRUE(b.checkpoint().has_value());
  EXPECT_GT(*b.checkpoint(), handed_over);
  EXPECT_TRUE(b.leader());
  EXPECT_EQ(GaugeValue(registry_b, "apmcov_collector_leader"), 1);
  EXPECT_EQ(GaugeValue(registry_b, "apmcov_collector_standby"), 0);
  b.Stop();
  EXPECT_EQ(source_b.calls(Method::kServiceDefinitions), 1)
      << "the standby synced before it led, or more than once";
  ASSERT_FALSE(source_b.span_queries.empty());
  EXPECT_EQ(source_b.span_queries.front().from_unix_nano, handed_over)
      << "the new leader did not resume at the checkpoint the old one left";
}

// collector-state that cannot be read keeps the collector unready and retrying (with the reason
// in /readyz), backing off on the injected clock: it never starts again from
// SPAN_BACKFILL_MINUTES behind the operator's back. Each read attempt waits for the answer the
// test gives it, so the test decides every step and nothing sleeps.
TEST_F(AppTest, AnUnreadableCheckpointKeepsTheCollectorUnreadyAndRetrying) {
  AddServices(2);
  const int64_t cp_end = Now() - 600 * kSec;
  v1::CollectorCheckpoint cp;
  cp.set_source("datadog");
  cp.set_span_window_end_unix_nano(cp_end);
  ASSERT_TRUE(
      publisher_->Publish({"apmcov.collector-state", "datadog", cp.SerializeAsString(), {}, {}})
          .ok());
  ASSERT_TRUE(publisher_->Flush(std::chrono::seconds(1)).ok());
  std::mutex mu;
  std::condition_variable cv;
  std::deque<absl::Status> answers;  // guarded by mu
  int attempts = 0;                  // ditto
  App::Ports ports{source_, *publisher_, *lag_, clock_, metrics_, nullptr, {}};
  ports.open_state = [&]() -> absl::StatusOr<std::unique_ptr<bus::Subscriber>> {
    std::unique_lock lock(mu);
    const int attempt = ++attempts;
    cv.notify_all();
    if (!cv.wait_for(lock, std::chrono::seconds(30), [&] { return !answers.empty(); })) {
      return absl::DeadlineExceededError("the test gave no answer");
    }
    absl::Status answer = answers.front();
    answers.pop_front();
    if (!answer.ok()) return answer;
    return broker_.NewSubscriber(absl::StrCat("state-", attempt));
  };
  auto answer = [&](absl::Status s) {
    std::lock_guard lock(mu);
    answers.push_back(std::move(s));
    cv.notify_all();
  };
  auto await_attempt = [&](int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(30), [&] { return attempts >= n; });
  };
  App app(config_, ports);
  ASSERT_TRUE(app.ProbeKafka().ok());
  const auto slept_before = clock_.TotalSlept();
  answer(absl::UnavailableError("brokers down"));
  app.Start();
  ASSERT_TRUE(await_attempt(2));  // the first failed; the second waits for its answer
  EXPECT_THAT(std::string(app.Ready().message()), HasSubstr("checkpoint cannot be read"));
  EXPECT_THAT(std::string(app.Ready().message()), HasSubstr("brokers down"));
  EXPECT_EQ(clock_.TotalSlept() - slept_before, std::chrono::seconds(1));
  answer(absl::UnavailableError("still down"));
  ASSERT_TRUE(await_attempt(3));
  EXPECT_THAT(std::string(app.Ready().message()), HasSubstr("still down"));
  EXPECT_EQ(clock_.TotalSlept() - slept_before, std::chrono::seconds(1 + 2)) << "backs off";
  EXPECT_EQ(CatalogCalls(), 0) << "synced without its checkpoint";
  answer(absl::OkStatus());
  ASSERT_TRUE(AwaitFinishedSyncs(1));
  EXPECT_TRUE(app.Ready().ok()) << app.Ready();
  app.Stop();
  EXPECT_EQ(attempts, 3);
  ASSERT_FALSE(source_.span_queries.empty());
  EXPECT_EQ(source_.span_queries.front().from_unix_nano, cp_end);
}

// Checkpoints that exist but none of which decodes are an error, not "no checkpoint".
TEST_F(AppTest, CheckpointsThatDoNotDecodeAreAnError) {
  ASSERT_TRUE(
      publisher_
          ->Publish({"apmcov.collector-state", "datadog", "\xff\xff\xff not a checkpoint", {}, {}})
          .ok());
  ASSERT_TRUE(publisher_->Flush(std::chrono::seconds(1)).ok());
  auto app = MakeApp(/*read_state=*/true);
  absl::Status s = app->LoadCheckpoint();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("SPAN_BACKFILL_MINUTES"));
  EXPECT_FALSE(app->checkpoint().has_value());
}

}  // namespace apmcov::collector
