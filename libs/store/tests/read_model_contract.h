// The ReadModel contract suite (read_model.h), run against every implementation:
// memory_read_model_contract_test.cc (unit) and postgres_read_model_contract_test.cc
// (integration). Every test seeds the tables through CoverageStore::Apply, as the analyzer does,
// and reads them back through the ReadModel. An implementation provides a Harness type with
// `absl::Status SetUp()`, `CoverageStore& store()` and `ReadModel& read_model()` (over the
// tables that store writes), then instantiates:
//   INSTANTIATE_TYPED_TEST_SUITE_P(Memory, ReadModelContract, MemoryHarness);
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apmcov/store/coverage_store.h"
#include "apmcov/store/read_model.h"
#include "coverage_store_contract.h"
#include "hostile_strings.h"

namespace apmcov::store::testing {

inline constexpr int64_t kHour = 60 * kMinute;

// A broken trace of the read tests: `id` started at `started`, with gaps at spans 10 and 9 and
// three spans, two of them starting together (so the order of span ids shows: 9 before 10).
inline BrokenTraceRecord ListedTrace(uint64_t id, int64_t started,
                                     std::vector<std::string> services,
                                     std::vector<std::string> missing,
                                     std::vector<std::string> kinds,
                                     const std::string& env = "prod") {
  BrokenTraceRecord t;
  t.trace_id = id;
  t.trace_id_high = 7;
  t.env = env;
  t.root_service = services.empty() ? std::nullopt : std::optional<std::string>(services[0]);
  t.started_at_ns = started;
  t.duration_ns = 1'000;
  t.span_count = 3;
  t.services = std::move(services);
  t.missing_services = std::move(missing);
  t.gap_kinds = std::move(kinds);
  t.detected_at_ns = started + kMinute;
  const std::string kind = t.gap_kinds.empty() ? "orphan_span" : t.gap_kinds[0];
  t.gaps = {{10, kind, "a", std::nullopt, "", ""}, {9, kind, "a", std::nullopt, "", ""}};
  t.spans = {{100, 10, "a", "GET /", "server", "web", started + 10, 5, ""},
             {10, 0, "a", "GET /", "server", "web", started, 20, ""},
             {9, 10, "a", "GET /", "client", "http", started, 20, ""}};
  return t;
}

template <typename Harness>
class ReadModelContract : public ::testing::Test {
 protected:
  void SetUp() override {
    harness_ = std::make_unique<Harness>();
    absl::Status s = harness_->SetUp();
    ASSERT_TRUE(s.ok()) << s;
  }
  CoverageStore& store() { return harness_->store(); }
  ReadModel& model() { return harness_->read_model(); }

  void MustApply(const WriteBatch& b) {
    absl::StatusOr<ApplyResult> r = store().Apply(b);
    ASSERT_TRUE(r.ok()) << r.status();
  }

  // Every trace id of ListTraces(filter), walking pages of `page` rows; checks each page's total.
  std::vector<uint64_t> WalkTraces(const TraceFilter& filter, size_t page, int64_t want_total) {
    std::vector<uint64_t> ids;
    std::optional<TraceCursor> after;
    for (int i = 0; i < 100; ++i) {
      absl::StatusOr<TracePage> p = model().ListTraces(filter, after, page);
      EXPECT_TRUE(p.ok()) << p.status();
      if (!p.ok()) break;
      EXPECT_EQ(p->total, want_total);
      EXPECT_LE(p->traces.size(), page);
      for (const auto& t : p->traces) ids.push_back(t.trace_id);
      if (p->traces.size() < page) break;
      after = TraceCursor{p->traces.back().started_at_ns, p->traces.back().trace_id};
    }
    return ids;
  }

  // Every dependency of ListDependencies(from), walking pages of `page` rows.
  std::vector<DependencyRow> WalkDependencies(const std::string& from, size_t page,
                                              int64_t want_total) {
    std::vector<DependencyRow> rows;
    std::optional<DependencyCursor> after;
    for (int i = 0; i < 100; ++i) {
      absl::StatusOr<DependencyPage> p = model().ListDependencies(from, after, page);
      EXPECT_TRUE(p.ok()) << p.status();
      if (!p.ok()) break;
      EXPECT_EQ(p->total, want_total);
      EXPECT_LE(p->dependencies.size(), page);
      rows.insert(rows.end(), p->dependencies.begin(), p->dependencies.end());
      if (p->dependencies.size() < page) break;
      const DependencyRow& last = p->dependencies.back();
      after = DependencyCursor{last.from_service, last.to_name, last.kind};
    }
    return rows;
  }

  std::unique_ptr<Harness> harness_;
};

TYPED_TEST_SUITE_P(ReadModelContract);

TYPED_TEST_P(ReadModelContract, CatalogIsWhatTheStoreWrote) {
  WriteBatch b;
  // Byte order, not a locale's: upper case before lower case, "a b" before "ab".
  for (const char* n : {"ab", "Zeta", "a b", "gone", "caf\xC3\xA9"}) {
    b.catalog_services.push_back(Svc("s1", n, kT0));
  }
  b.apm_observations = {Obs("ab", "staging", true, false, 5, kT0 + 7, {"go"}, {"kubernetes"}),
                        Obs("ab", "prod", true, false, 9, kT0 - 3 * kHour),
                        Obs("ab", "prod", false, true, 0, kT0 - kMinute),
                        Obs("ghost", "*", false, true, 0, kT0)};
  this->MustApply(b);
  WriteBatch snapshot;  // a later complete snapshot without "gone": removed
  for (const char* n : {"ab", "Zeta", "a b", "caf\xC3\xA9"}) {
    snapshot.catalog_services.push_back(Svc("s2", n, kT0 + kMinute));
  }
  snapshot.snapshot_ends.push_back({"s2", 4, kT0 + kMinute});
  this->MustApply(snapshot);

  absl::StatusOr<CatalogState> catalog = this->model().LoadCatalog();
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_EQ(Names(catalog->services),
            (std::vector<std::string>{"Zeta", "a b", "ab", "caf\xC3\xA9"}));
  EXPECT_EQ(catalog->services, *this->store().LoadServices(false));
  EXPECT_EQ(catalog->apm, *this->store().LoadApmServices());
  ASSERT_EQ(catalog->apm.size(), 3u);
  // The facts coverage needs: traced hours ago, seen by USM a minute ago.
  const ApmServiceRow& prod = catalog->apm[0];
  EXPECT_EQ(prod.service, "ab");
  EXPECT_EQ(prod.env, "prod");
  EXPECT_EQ(prod.last_traced_ns, kT0 - 3 * kHour);
  EXPECT_EQ(prod.last_seen_ns, kT0 - kMinute);
  EXPECT_TRUE(prod.traced);
  EXPECT_TRUE(prod.usm_seen);
  EXPECT_FALSE(prod.usm_only);

  absl::StatusOr<std::optional<ServiceRow>> gone = this->model().GetService("gone");
  ASSERT_TRUE(gone.ok()) << gone.status();
  ASSERT_TRUE(gone->has_value());
  EXPECT_EQ((*gone)->removed_at_ns, kT0 + kMinute);
  EXPECT_EQ(**gone, this->store().LoadServices(true)->back());
  EXPECT_FALSE(this->model().GetService("nope")->has_value());
  EXPECT_FALSE(this->model().GetService("AB")->has_value());

  absl::StatusOr<std::vector<ApmServiceRow>> ab = this->model().ApmRowsFor("ab");
  ASSERT_TRUE(ab.ok()) << ab.status();
  ASSERT_EQ(ab->size(), 2u);
  EXPECT_EQ((*ab)[0], catalog->apm[0]);
  EXPECT_EQ((*ab)[1], catalog->apm[1]);
  EXPECT_TRUE(this->model().ApmRowsFor("a")->empty());
  EXPECT_TRUE(this->model().Ping().ok());
}

TYPED_TEST_P(ReadModelContract, TracesFilterPageAndCount) {
  const uint64_t high = std::numeric_limits<uint64_t>::max();
  WriteBatch b;
  b.broken_traces = {
      ListedTrace(10, kT0, {"api", "cart"}, {"billing"}, {"uninstrumented_callee"}),
      ListedTrace(9, kT0, {"api"}, {}, {"orphan_span"}),
      ListedTrace(high, kT0, {"cart"}, {"billing"}, {"uninstrumented_callee"}, "staging"),
      ListedTrace(high - 1, kT0 - kHour, {"api"}, {}, {"missing_root", "orphan_span"}),
      ListedTrace(3, kT0 - 2 * kHour, {"search"}, {"billing", "ledger"}, {"propagation_break"}),
      ListedTrace(4, kT0 + 1'500, {"api"}, {}, {"orphan_span"}),  // stored as kT0 + 1 µs
  };
  this->MustApply(b);

  // Newest first, ties by trace id as an unsigned number, whatever the page size.
  const std::vector<uint64_t> all = {4, high, 10, 9, high - 1, 3};
  for (size_t page : {1u, 2u, 4u, 6u, 50u}) {
    EXPECT_EQ(this->WalkTraces({}, page, 6), all) << page;
  }
  EXPECT_EQ(this->WalkTraces({.service = "api"}, 2, 4),
            (std::vector<uint64_t>{4, 10, 9, high - 1}));
  EXPECT_EQ(this->WalkTraces({.missing = "billing"}, 2, 3), (std::vector<uint64_t>{high, 10, 3}));
  EXPECT_EQ(this->WalkTraces({.kind = "orphan_span"}, 10, 3),
            (std::vector<uint64_t>{4, 9, high - 1}));
  EXPECT_EQ(this->WalkTraces({.env = "staging"}, 10, 1), (std::vector<uint64_t>{high}));
  EXPECT_EQ(this->WalkTraces({.service = "api", .since_ns = kT0 - kHour + 1'000}, 10, 3),
            (std::vector<uint64_t>{4, 10, 9}));
  EXPECT_TRUE(this->WalkTraces({.service = "nobody"}, 10, 0).empty());

  // A cursor need not name a stored row: the rows strictly after it.
  absl::StatusOr<TracePage> after = this->model().ListTraces({}, TraceCursor{kT0, 11}, 10);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->total, 6);
  ASSERT_EQ(after->traces.size(), 4u);
  EXPECT_EQ(after->traces[0].trace_id, 10u);
  EXPECT_TRUE(this->model().ListTraces({}, TraceCursor{kT0 - 3 * kHour, 0}, 10)->traces.empty());

  // A listed row is the stored trace without its gaps and spans; GetTrace has them.
  for (const BrokenTraceRecord& listed : after->traces) {
    std::optional<BrokenTraceRecord> stored = *this->store().LoadBrokenTrace(listed.trace_id);
    ASSERT_TRUE(stored.has_value());
    absl::StatusOr<std::optional<BrokenTraceRecord>> got = this->model().GetTrace(listed.trace_id);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ(**got, *stored);
    // Spans by (start, span id), gaps by (span id, kind): span ids compare as numbers.
    ASSERT_EQ((*got)->spans.size(), 3u);
    EXPECT_EQ((*got)->spans[0].span_id, 9u);
    EXPECT_EQ((*got)->spans[1].span_id, 10u);
    EXPECT_EQ((*got)->spans[2].span_id, 100u);
    ASSERT_EQ((*got)->gaps.size(), 2u);
    EXPECT_EQ((*got)->gaps[0].span_id, 9u);
    stored->gaps.clear();
    stored->spans.clear();
    EXPECT_EQ(listed, *stored);
  }
  EXPECT_FALSE(this->model().GetTrace(11)->has_value());

  EXPECT_EQ(*this->model().CountTracesSince(kT0), 4);
  EXPECT_EQ(*this->model().CountTracesSince(kT0 + 1'000), 1);
  EXPECT_EQ(*this->model().CountTracesSince(kT0 + 1'999), 1);  // times count to the µs
  EXPECT_EQ(*this->model().CountTracesSince(kT0 + 2'000), 0);
  EXPECT_EQ(*this->model().CountTracesSince(0), 6);
}

TYPED_TEST_P(ReadModelContract, SampleRowsCoverTheirRangesOnly) {
  const int64_t since = kT0 - 24 * kHour;
  WriteBatch b;
  SyncJobRecord in = Job("in", "succeeded", kT0 - kHour);
  in.sampled_seconds = 100;
  in.skipped_seconds = 300;
  SyncJobRecord edge = Job("edge", "partial", since);  // finished exactly at the start
  edge.sampled_seconds = 5;
  SyncJobRecord old = Job("old", "succeeded", since - 1'000);
  old.sampled_seconds = 1000;
  SyncJobRecord running = Job("running", "running", kT0);
  running.sampled_seconds = 7;
  b.sync_jobs = {in, edge, old, running};
  b.judgements = {{since, "api", 10, 3},
                  {kT0 - kHour, "api", 50, 5},
                  {kT0 - kHour, "", 40, 5},
                  {since - kHour, "api", 1000, 1000}};
  b.broken_traces = {
      ListedTrace(1, kT0 - kHour, {"api"}, {"billing", "billing"}, {"orphan_span", "orphan_span"}),
      ListedTrace(2, since, {"api"}, {"billing", "ledger"}, {"uninstrumented_callee"}),
      ListedTrace(3, since - 1'000, {"api"}, {"billing"}, {"missing_root"}),
  };
  this->MustApply(b);
  absl::StatusOr<SampleRows> rows = this->model().LoadSample(since, since);
  ASSERT_TRUE(rows.ok()) << rows.status();
  SampleRows want;
  want.jobs = 2;
  want.sampled_seconds = 105;
  want.skipped_seconds = 300;
  want.judgements = {{"", 40, 5}, {"api", 60, 8}};
  want.broken_by_missing_service = {{"billing", 2}, {"ledger", 1}};
  want.broken_by_gap_kind = {{"orphan_span", 1}, {"uninstrumented_callee", 1}};
  EXPECT_EQ(*rows, want);
  EXPECT_EQ(*this->model().LoadSample(kT0 + kHour, kT0 + kHour), SampleRows{});
}

TYPED_TEST_P(ReadModelContract, DependenciesPageInKeyOrderAndEachRowOnce) {
  WriteBatch b;
  uint64_t trace = 1;
  const std::vector<std::tuple<std::string, std::string, std::string>> edges = {
      {"api", "cart", "call"},   {"api", "cart", "db"},        {"api", "Cart", "call"},
      {"api", "cart b", "call"}, {"api", "cartb", "call"},     {"api b", "x", "call"},
      {"Api", "x", "call"},      {"caf\xC3\xA9", "x", "call"}, {"zed", "kafka", "messaging"},
  };
  for (const auto& [from, to, kind] : edges) {
    for (int i = 0; i < 2; ++i) {
      b.dependencies.push_back({from, to, kind, kind == "db" ? "datastore" : "service", trace++,
                                kT0 + static_cast<int64_t>(trace) * 1'000});
    }
  }
  this->MustApply(b);
  const std::vector<DependencyRow> stored = *this->store().LoadDependencies();
  ASSERT_EQ(stored.size(), edges.size());
  EXPECT_EQ(stored[0].from_service, "Api");  // byte order
  EXPECT_EQ(stored[1].to_name, "Cart");
  for (size_t page : {1u, 2u, 3u, 9u, 100u}) {
    EXPECT_EQ(this->WalkDependencies("", page, 9), stored) << page;
  }
  std::vector<DependencyRow> api;
  std::copy_if(stored.begin(), stored.end(), std::back_inserter(api),
               [](const DependencyRow& d) { return d.from_service == "api"; });
  ASSERT_EQ(api.size(), 5u);
  for (size_t page : {1u, 2u, 5u, 6u}) {
    EXPECT_EQ(this->WalkDependencies("api", page, 5), api) << page;
  }
  EXPECT_EQ(api[0].count, 2);
  EXPECT_TRUE(this->WalkDependencies("nobody", 10, 0).empty());

  // A cursor need not name a stored row; one before or after the filtered service's rows.
  auto after = [&](const std::string& from, DependencyCursor c) {
    absl::StatusOr<DependencyPage> p = this->model().ListDependencies(from, c, 100);
    EXPECT_TRUE(p.ok()) << p.status();
    std::vector<std::string> keys;
    if (p.ok()) {
      for (const auto& d : p->dependencies)
        keys.push_back(d.from_service + "/" + d.to_name + "/" + d.kind);
    }
    return keys;
  };
  EXPECT_EQ(after("api", {"api", "cart", "dz"}),
            (std::vector<std::string>{"api/cart b/call", "api/cartb/call"}));
  EXPECT_EQ(after("api", {"A", "", ""}).size(), 5u);
  EXPECT_TRUE(after("api", {"api b", "", ""}).empty());
  EXPECT_EQ(after("", {"zed", "kafka", "messaging"}), std::vector<std::string>{});
  EXPECT_EQ(after("", {"caf\xC3\xA9", "x", "call"}),
            (std::vector<std::string>{"zed/kafka/messaging"}));
}

TYPED_TEST_P(ReadModelContract, CoverageHistoryOfOneDimensionByTimeThenKey) {
  WriteBatch b;
  b.coverage_rows = {{kT0 - 2 * kHour, "team", "web", 4, 1},
                     {kT0 - 2 * kHour, "team", "Payments", 2, 2},
                     {kT0 - kHour, "team", "web", 4, 3},
                     {kT0 - kHour, "overall", "all", 6, 5},
                     {kT0 - 3 * kHour, "team", "web", 4, 0}};
  this->MustApply(b);
  absl::StatusOr<std::vector<CoverageRow>> rows =
      this->model().CoverageHistory("team", kT0 - 2 * kHour);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, (std::vector<CoverageRow>{{kT0 - 2 * kHour, "team", "Payments", 2, 2},
                                             {kT0 - 2 * kHour, "team", "web", 4, 1},
                                             {kT0 - kHour, "team", "web", 4, 3}}));
  EXPECT_EQ(this->model().CoverageHistory("overall", 0)->size(), 1u);
  EXPECT_TRUE(this->model().CoverageHistory("tier", 0)->empty());
}

TYPED_TEST_P(ReadModelContract, SyncJobsNewestFirst) {
  WriteBatch b;
  SyncJobRecord a = Job("a", "succeeded", kT0 + 50);
  a.started_at_ns = kT0 - 100 * kMinute;
  SyncJobRecord c = Job("c", "failed", kT0 + 50);  // finished with "a": the greater id wins
  c.started_at_ns = kT0 - 40 * kMinute;
  c.error = "boom";
  SyncJobRecord queued = Job("queued", "queued", kT0 - 10 * kMinute);
  queued.started_at_ns.reset();  // ordered by updated_at
  SyncJobRecord running = Job("running", "running", kT0);
  running.started_at_ns = kT0 - 20 * kMinute;
  b.sync_jobs = {a, c, queued, running};
  b.edge_cuts = {{"running", 4}};
  this->MustApply(b);

  absl::StatusOr<std::vector<SyncJobRecord>> jobs = this->model().ListSyncJobs(10);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  std::vector<std::string> ids;
  for (const auto& j : *jobs) ids.push_back(j.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"queued", "running", "c", "a"}));
  EXPECT_EQ(this->model().ListSyncJobs(2)->size(), 2u);
  for (const auto& j : *jobs) EXPECT_EQ(j, **this->store().LoadSyncJob(j.id)) << j.id;
  EXPECT_EQ((*jobs)[1].edge_cut_traces, 4);

  absl::StatusOr<std::optional<SyncJobRecord>> running_job = this->model().GetSyncJob("running");
  ASSERT_TRUE(running_job.ok()) << running_job.status();
  EXPECT_EQ(**running_job, (*jobs)[1]);
  EXPECT_FALSE(this->model().GetSyncJob("nope")->has_value());
  absl::StatusOr<std::optional<SyncJobRecord>> last = this->model().LastFinishedSyncJob();
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_TRUE(last->has_value());
  EXPECT_EQ((*last)->id, "c");
}

// The world of "instrument next" and the service map: api (web) and front (edge) are traced;
// billing, ledger, notify, quota, zeta and Alpha are the candidates the caller found without APM.
inline WriteBatch InstrumentNextWorld() {
  WriteBatch b;
  auto svc = [&](const std::string& name, const std::string& team, bool cf) {
    CatalogServiceRecord s = Svc("s1", name, kT0, team);
    s.customer_facing = cf;
    b.catalog_services.push_back(s);
  };
  svc("api", "web", true);
  svc("front", "edge", true);
  svc("billing", "pay", false);
  svc("ledger", "pay", false);
  svc("notify", "ops", true);
  svc("quota", "ops", false);
  svc("zeta", "", true);
  svc("Alpha", "core", false);
  auto trace = [&](uint64_t id, int64_t started, std::vector<std::string> services,
                   std::vector<std::string> missing, const std::string& env) {
    BrokenTraceRecord t = ListedTrace(id, started, std::move(services), std::move(missing),
                                      {"uninstrumented_callee"}, env);
    t.gaps.clear();
    for (size_t i = 0; i < t.missing_services.size(); ++i) {
      t.gaps.push_back({10 + i, "uninstrumented_callee", t.services[0], t.missing_services[i],
                        t.missing_services[i] + ":80", ""});
    }
    b.broken_traces.push_back(t);
  };
  trace(1, kT0 - kHour, {"api"}, {"billing", "billing"}, "prod");
  trace(2, kT0 - 2 * kHour, {"api", "front"}, {"billing"}, "prod");
  trace(3, kT0 - 3 * kHour, {"front"}, {"billing", "ledger"}, "staging");
  trace(4, kT0 - 30 * kMinute, {"api"}, {"billing"}, "prod");
  trace(5, kT0 - 25 * kHour, {"api"}, {"ledger", "notify"}, "prod");  // before the window
  trace(6, kT0 - 10 * kMinute, {"front"}, {"notify"}, "prod");
  // A propagation break (no dependency row) and an orphan span (no callee) in trace 7.
  BrokenTraceRecord seven =
      ListedTrace(7, kT0 - kMinute, {"front"}, {}, {"orphan_span", "propagation_break"}, "staging");
  seven.gaps = {{20, "propagation_break", "front", "api", "api", ""},
                {21, "orphan_span", "front", std::nullopt, "", ""}};
  b.broken_traces.push_back(seven);
  uint64_t id = 100;
  auto dep = [&](const std::string& from, const std::string& to, const std::string& kind,
                 const std::string& to_kind, int64_t seen, int traces = 1) {
    for (int i = 0; i < traces; ++i)
      b.dependencies.push_back({from, to, kind, to_kind, id++, seen});
  };
  const int64_t recent = kT0 - 5 * kMinute;
  dep("api", "billing", "call", "service", recent, 3);
  dep("front", "billing", "call", "service", recent);
  dep("billing", "billing", "call", "service", recent);  // a self-call is no caller
  dep("api", "ledger", "call", "service", recent);
  dep("front", "ledger", "call", "service", recent);
  dep("front", "notify", "call", "service", recent);
  dep("api", "quota", "call", "service", recent);
  dep("front", "quota", "call", "service", kT0 - 30 * kHour);  // before the window
  dep("api", "pg", "db", "datastore", recent, 2);
  dep("front", "kafka", "messaging", "queue", recent);
  dep("api", "api.stripe.com", "call", "external", recent);
  return b;
}

inline std::vector<std::string> RankedNames(const RecommendationPage& p) {
  std::vector<std::string> out;
  for (const auto& r : p.rows) out.push_back(r.name);
  return out;
}

TYPED_TEST_P(ReadModelContract, RecommendationsRankBrokenThenCallersThenCustomerFacing) {
  this->MustApply(InstrumentNextWorld());
  RecommendationQuery q;
  q.candidates = {"quota", "billing", "ledger", "notify", "zeta", "Alpha", "nobody"};
  q.since_ns = kT0 - 24 * kHour;
  q.limit = 10;
  absl::StatusOr<RecommendationPage> page = this->model().RankRecommendations(q);
  ASSERT_TRUE(page.ok()) << page.status();
  // billing: 4 broken traces; ledger and notify 1 each, ledger has two callers; quota, zeta and
  // Alpha none, quota one caller; zeta is customer-facing, Alpha is not (though first by name).
  EXPECT_EQ(RankedNames(*page),
            (std::vector<std::string>{"billing", "ledger", "notify", "quota", "zeta", "Alpha"}));
  EXPECT_EQ(page->total, 6);
  const RecommendationRow& billing = page->rows[0];
  EXPECT_EQ(billing.team, "pay");
  EXPECT_FALSE(billing.customer_facing);
  EXPECT_EQ(billing.broken_traces, 4);  // trace 1 lists it twice, counted once
  EXPECT_EQ(billing.callers, (std::vector<std::string>{"api", "front"}));
  EXPECT_EQ(billing.teams_affected, (std::vector<std::string>{"edge", "web"}));
  EXPECT_EQ(billing.example_trace_ids, (std::vector<uint64_t>{4, 1, 2}));  // newest 3
  const RecommendationRow& ledger = page->rows[1];
  EXPECT_EQ(ledger.broken_traces, 1);
  EXPECT_EQ(ledger.example_trace_ids, (std::vector<uint64_t>{3}));
  EXPECT_EQ(ledger.callers, (std::vector<std::string>{"api", "front"}));
  const RecommendationRow& notify = page->rows[2];
  EXPECT_TRUE(notify.customer_facing);
  EXPECT_EQ(notify.callers, (std::vector<std::string>{"front"}));
  EXPECT_EQ(notify.teams_affected, (std::vector<std::string>{"edge"}));
  EXPECT_EQ(notify.example_trace_ids, (std::vector<uint64_t>{6}));
  const RecommendationRow& quota = page->rows[3];
  EXPECT_EQ(quota.broken_traces, 0);
  EXPECT_EQ(quota.callers, (std::vector<std::string>{"api"}));  // front's call is too old
  EXPECT_EQ(quota.teams_affected, (std::vector<std::string>{"web"}));
  EXPECT_TRUE(quota.example_trace_ids.empty());
  EXPECT_EQ(page->rows[4], (RecommendationRow{"zeta", "", true, 0, {}, {}, {}}));
}

TYPED_TEST_P(ReadModelContract, RecommendationsLimitAndFilter) {
  this->MustApply(InstrumentNextWorld());
  RecommendationQuery q;
  q.candidates = {"quota", "billing", "ledger", "notify", "zeta", "Alpha"};
  q.since_ns = kT0 - 24 * kHour;
  q.limit = 2;
  absl::StatusOr<RecommendationPage> top = this->model().RankRecommendations(q);
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(RankedNames(*top), (std::vector<std::string>{"billing", "ledger"}));
  EXPECT_EQ(top->total, 6);
  EXPECT_EQ(top->rows[0].example_trace_ids.size(), 3u);

  // One env: its broken traces only; a candidate ranks when placed there or broke a trace there.
  q.limit = 10;
  q.env = "prod";
  q.env_members = {"quota"};
  absl::StatusOr<RecommendationPage> prod = this->model().RankRecommendations(q);
  ASSERT_TRUE(prod.ok()) << prod.status();
  EXPECT_EQ(RankedNames(*prod), (std::vector<std::string>{"billing", "notify", "quota"}));
  EXPECT_EQ(prod->total, 3);
  EXPECT_EQ(prod->rows[0].broken_traces, 3);
  EXPECT_EQ(prod->rows[0].example_trace_ids, (std::vector<uint64_t>{4, 1, 2}));

  // After every trace and call: customer-facing first, then by name.
  q.env.clear();
  q.env_members.clear();
  q.since_ns = kT0 + kHour;
  absl::StatusOr<RecommendationPage> later = this->model().RankRecommendations(q);
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(RankedNames(*later),
            (std::vector<std::string>{"notify", "zeta", "Alpha", "billing", "ledger", "quota"}));
  for (const auto& r : later->rows) EXPECT_TRUE(r.callers.empty() && r.broken_traces == 0);

  q.candidates.clear();
  EXPECT_EQ(this->model().RankRecommendations(q)->total, 0);
}

TYPED_TEST_P(ReadModelContract, ServiceMapEdgesFromDependenciesAndGaps) {
  this->MustApply(InstrumentNextWorld());
  absl::StatusOr<ServiceMapRows> map = this->model().LoadServiceMap(kT0 - 24 * kHour, "", 100);
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_FALSE(map->truncated);
  std::vector<std::string> keys;
  for (const auto& e : map->edges) {
    keys.push_back(absl::StrCat(e.from_service, ">", e.to_name, ":", e.kind, ":", e.to_kind, ":",
                                e.traces, ":", e.broken_traces, ":",
                                absl::StrJoin(e.gap_kinds, "+")));
  }
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "api>api.stripe.com:call:external:1:0:",
                      "api>billing:call:service:3:3:uninstrumented_callee",
                      "api>ledger:call:service:1:0:",
                      "api>pg:db:datastore:2:0:",
                      "api>quota:call:service:1:0:",
                      "billing>billing:call:service:1:0:",
                      "front>api:call:service:0:1:propagation_break",  // a gap, no dependency
                      "front>billing:call:service:1:1:uninstrumented_callee",
                      "front>kafka:messaging:queue:1:0:",
                      "front>ledger:call:service:1:1:uninstrumented_callee",
                      "front>notify:call:service:1:1:uninstrumented_callee",
                  }));
  absl::StatusOr<ServiceMapRows> staging =
      this->model().LoadServiceMap(kT0 - 24 * kHour, "staging", 100);
  ASSERT_TRUE(staging.ok()) << staging.status();
  ASSERT_EQ(staging->edges.size(), 11u);
  EXPECT_EQ(staging->edges[1].broken_traces, 0);  // api>billing broke prod traces only
  EXPECT_TRUE(staging->edges[1].gap_kinds.empty());
  EXPECT_EQ(staging->edges[7].to_name, "billing");
  EXPECT_EQ(staging->edges[7].broken_traces, 1);  // trace 3
  absl::StatusOr<ServiceMapRows> prod = this->model().LoadServiceMap(kT0 - 24 * kHour, "prod", 100);
  ASSERT_TRUE(prod.ok()) << prod.status();
  EXPECT_EQ(prod->edges.size(), 10u);  // front>api broke a staging trace only

  absl::StatusOr<ServiceMapRows> two = this->model().LoadServiceMap(kT0 - 24 * kHour, "", 2);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_TRUE(two->truncated);
  ASSERT_EQ(two->edges.size(), 2u);
  EXPECT_EQ(two->edges[1], map->edges[1]);
  EXPECT_TRUE(this->model().LoadServiceMap(kT0 + kHour, "", 100)->edges.empty());
}

// Every write path with hostile strings (hostile_strings.h) in every text and list field, read
// back identical: through the read model for what it reads, through the store for the rest
// (watermarks, dead letters, scorecard outcomes, catalog snapshots).
TYPED_TEST_P(ReadModelContract, HostileStringsRoundTripThroughEveryWritePath) {
  const std::vector<std::string>& hostile = HostileStrings();
  // Keys that must not be empty: each hostile string behind a prefix, and the string itself.
  std::vector<std::string> keys;
  for (const std::string& h : hostile) {
    keys.push_back("k" + h);
    if (!h.empty()) keys.push_back(h);
  }
  const std::set<std::string> sorted_set(hostile.begin(), hostile.end());
  const std::vector<std::string> sorted(sorted_set.begin(), sorted_set.end());
  const std::string snapshot = "snap {\"a\",NULL} '; --";
  const std::string links = nlohmann::json::array({{{"name", hostile[1] + hostile[3] + hostile[8]},
                                                    {"url", "https://x/?q=" + hostile[16]},
                                                    {hostile[2], hostile[23]}}})
                                .dump();
  const int64_t hour = kT0 - kT0 % kHour;

  WriteBatch b;
  std::map<std::string, CatalogServiceRecord> services;
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& h = hostile[i % hostile.size()];
    CatalogServiceRecord s = Svc(snapshot, keys[i], kT0, h);
    s.application = h;
    s.tier = h;
    s.lifecycle = h;
    s.type = h;
    s.infra = h;
    s.schema_version = h;
    s.description = h + "\n" + keys[i];
    s.languages = hostile;
    s.envs = {h, h + ","};
    s.tags = {hostile.rbegin(), hostile.rend()};
    s.links_json = links;
    services[s.name] = s;
    b.catalog_services.push_back(s);
    b.apm_observations.push_back(Obs(keys[i], keys[i], true, true, i, kT0, hostile, {h}));
    b.dependencies.push_back(
        {keys[i], keys[(i + 1) % keys.size()], "call", "service", 100 + i, kT0});
    b.coverage_rows.push_back({kT0, "team", h + keys[i], 3, 1});
    b.judgements.push_back({hour, h + keys[i], 2, 1});
    b.watermarks.push_back({keys[i], 1, kT0 + static_cast<int64_t>(i), {kT0, kT0 + 1}});
    SyncJobRecord job = Job(keys[i], "failed", kT0 + kMinute);
    job.error = h + " " + keys[i];
    b.sync_jobs.push_back(job);
  }
  b.snapshot_ends.push_back({snapshot, static_cast<uint32_t>(keys.size()), kT0});
  b.edge_cuts.push_back({hostile[8] + "job", 3});
  BrokenTraceRecord t =
      ListedTrace(77, kT0, sorted, sorted, {"orphan_span", "propagation_break"}, hostile[16]);
  t.root_service = hostile[1];
  t.gaps.clear();
  for (size_t i = 0; i < hostile.size(); ++i) {
    t.gaps.push_back({100 + i, "propagation_break", hostile[i],
                      i % 2 ? std::optional<std::string>(hostile[i]) : std::nullopt, hostile[i],
                      hostile[(i + 1) % hostile.size()]});
  }
  t.spans.clear();
  for (size_t i = 0; i < hostile.size(); ++i) {
    t.spans.push_back({200 + i, 100 + i, hostile[i], hostile[(i + 3) % hostile.size()],
                       hostile[(i + 5) % hostile.size()], hostile[(i + 7) % hostile.size()],
                       kT0 + static_cast<int64_t>(i), 5, hostile[(i + 11) % hostile.size()]});
  }
  b.broken_traces = {t};
  this->MustApply(b);

  // Catalog services, every field; the snapshot completed under its hostile id.
  absl::StatusOr<CatalogState> catalog = this->model().LoadCatalog();
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  ASSERT_EQ(catalog->services.size(), services.size());
  for (const ServiceRow& row : catalog->services) {
    ASSERT_TRUE(services.contains(row.catalog.name)) << row.catalog.name;
    CatalogServiceRecord want = services[row.catalog.name];
    EXPECT_EQ(nlohmann::json::parse(row.catalog.links_json),
              nlohmann::json::parse(want.links_json));
    CatalogServiceRecord got = row.catalog;
    got.links_json = want.links_json;
    EXPECT_EQ(got, want) << want.name;
    EXPECT_FALSE(row.removed_at_ns.has_value()) << want.name;
    absl::StatusOr<std::optional<ServiceRow>> one = this->model().GetService(want.name);
    ASSERT_TRUE(one.ok() && one->has_value()) << want.name;
    EXPECT_EQ((*one)->catalog.team, want.team);
  }
  absl::StatusOr<std::optional<SnapshotState>> state = this->store().LoadSnapshotState(snapshot);
  ASSERT_TRUE(state.ok() && state->has_value()) << state.status();
  EXPECT_TRUE((*state)->completed);
  EXPECT_EQ((*state)->received, keys.size());

  // APM rows: lists sorted and distinct.
  ASSERT_EQ(catalog->apm.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    absl::StatusOr<std::vector<ApmServiceRow>> rows = this->model().ApmRowsFor(keys[i]);
    ASSERT_TRUE(rows.ok()) << rows.status();
    ASSERT_EQ(rows->size(), 1u) << keys[i];
    EXPECT_EQ((*rows)[0].env, keys[i]);
    EXPECT_EQ((*rows)[0].languages, sorted);
    EXPECT_EQ((*rows)[0].infra_hints, std::vector<std::string>{hostile[i % hostile.size()]});
    EXPECT_EQ((*rows)[0].span_count, i);
  }

  // The broken trace with its gaps and spans, found by its hostile env and names.
  absl::StatusOr<std::optional<BrokenTraceRecord>> got = this->model().GetTrace(77);
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  EXPECT_EQ(**got, t);
  for (const std::string& h : {hostile[1], hostile[4], hostile[13], hostile[23]}) {
    EXPECT_EQ(this->WalkTraces({.service = h, .env = hostile[16]}, 10, 1),
              std::vector<uint64_t>{77})
        << h;
  }
  EXPECT_EQ(this->WalkTraces({.missing = hostile[8]}, 10, 1), std::vector<uint64_t>{77});
  EXPECT_EQ(this->WalkTraces({.service = "k"}, 10, 0), std::vector<uint64_t>{});

  // Judgements and the sample's keys.
  absl::StatusOr<SampleRows> sample = this->model().LoadSample(0, hour);
  ASSERT_TRUE(sample.ok()) << sample.status();
  std::set<std::string> roots;
  for (const auto& j : sample->judgements) {
    EXPECT_EQ(j.judged, 2) << j.root_service;
    roots.insert(j.root_service);
  }
  std::set<std::string> want_roots;
  for (const auto& j : b.judgements) want_roots.insert(j.root_service);
  EXPECT_EQ(roots, want_roots);
  std::vector<std::string> missing;
  for (const auto& [m, n] : sample->broken_by_missing_service) missing.push_back(m);
  EXPECT_EQ(missing, sorted);

  // Dependencies, sync jobs (and the edge cut's placeholder), coverage history.
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::vector<DependencyRow> deps = this->WalkDependencies(keys[i], 10, 1);
    ASSERT_EQ(deps.size(), 1u) << keys[i];
    EXPECT_EQ(deps[0].to_name, keys[(i + 1) % keys.size()]);
    absl::StatusOr<std::optional<SyncJobRecord>> job = this->model().GetSyncJob(keys[i]);
    ASSERT_TRUE(job.ok() && job->has_value()) << keys[i];
    EXPECT_EQ(**job, b.sync_jobs[i]);
  }
  absl::StatusOr<std::optional<SyncJobRecord>> cut = this->model().GetSyncJob(hostile[8] + "job");
  ASSERT_TRUE(cut.ok() && cut->has_value());
  EXPECT_EQ((*cut)->edge_cut_traces, 3);
  absl::StatusOr<std::vector<CoverageRow>> history = this->model().CoverageHistory("team", kT0);
  ASSERT_TRUE(history.ok()) << history.status();
  std::set<std::string> got_keys, want_keys;
  for (const auto& r : *history) got_keys.insert(r.key);
  for (const auto& r : b.coverage_rows) want_keys.insert(r.key);
  EXPECT_EQ(got_keys, want_keys);
  EXPECT_EQ(*this->store().LoadCoverageSnapshot(kT0), *history);

  // Watermarks.
  absl::StatusOr<std::vector<PartitionWatermark>> marks = this->store().LoadWatermarks();
  ASSERT_TRUE(marks.ok()) << marks.status();
  std::map<std::string, PartitionWatermark> by_topic;
  for (const auto& w : *marks) by_topic[w.topic] = w;
  ASSERT_EQ(by_topic.size(), keys.size());
  for (const auto& w : b.watermarks) EXPECT_EQ(by_topic[w.topic], w) << w.topic;

  // Dead letters: claimed under hostile topics and errors, then marked published.
  std::vector<DeadLetterKey> letters;
  for (size_t i = 0; i < keys.size(); ++i) {
    letters.push_back({keys[i], static_cast<int32_t>(i % 3), 17, hostile[i % hostile.size()]});
  }
  absl::StatusOr<std::vector<DeadLetterKey>> claimed = this->store().ClaimDeadLetters(letters);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_EQ(*claimed, letters);
  ASSERT_TRUE(this->store().MarkDeadLettersPublished(letters).ok());
  EXPECT_TRUE(this->store().ClaimDeadLetters(letters)->empty());

  // Scorecard outcomes.
  std::vector<ScorecardOutcomeRow> outcomes;
  for (size_t i = 0; i < keys.size(); ++i) {
    outcomes.push_back({"rule " + hostile[i % hostile.size()], keys[i], "fail",
                        hostile[(i + 1) % hostile.size()], kT0});
  }
  ASSERT_TRUE(this->store().SaveScorecardOutcomes(outcomes).ok());
  absl::StatusOr<std::vector<ScorecardOutcomeRow>> saved = this->store().LoadScorecardOutcomes();
  ASSERT_TRUE(saved.ok()) << saved.status();
  ASSERT_EQ(saved->size(), outcomes.size());
  std::map<std::pair<std::string, std::string>, ScorecardOutcomeRow> by_key;
  for (const auto& o : *saved) by_key[{o.rule, o.service}] = o;
  for (const auto& o : outcomes) EXPECT_EQ((by_key[{o.rule, o.service}]), o) << o.service;

  // A NUL is refused as the record's fault where it cannot be dropped.
  outcomes = {{"rule", "svc", "pass", std::string("a\0b", 3), kT0}};
  absl::Status nul = this->store().SaveScorecardOutcomes(outcomes);
  EXPECT_TRUE(IsRecordRejected(nul)) << nul;
  EXPECT_NE(std::string(nul.message()).find("NUL"), std::string::npos) << nul;
  WriteBatch nul_links;
  nul_links.catalog_services = {Svc("s9", "n", kT0)};
  nul_links.catalog_services[0].links_json = R"([{"name":"a\u0000"}])";
  nul = this->store().Apply(nul_links).status();
  EXPECT_TRUE(IsRecordRejected(nul)) << nul;
  EXPECT_NE(std::string(nul.message()).find("\\u0000"), std::string::npos) << nul;
}

TYPED_TEST_P(ReadModelContract, EmptyTablesReadEmpty) {
  EXPECT_TRUE(this->model().LoadCatalog()->services.empty());
  EXPECT_TRUE(this->model().LoadCatalog()->apm.empty());
  EXPECT_EQ(this->model().ListTraces({}, std::nullopt, 10)->total, 0);
  EXPECT_EQ(this->model().ListDependencies("", std::nullopt, 10)->total, 0);
  EXPECT_TRUE(this->model().ListSyncJobs(10)->empty());
  EXPECT_FALSE(this->model().LastFinishedSyncJob()->has_value());
  EXPECT_EQ(*this->model().LoadSample(0, 0), SampleRows{});
  EXPECT_TRUE(this->model().RankRecommendations({{"a"}, 0, "", {}, 10})->rows.empty());
  EXPECT_TRUE(this->model().LoadServiceMap(0, "", 10)->edges.empty());
}

REGISTER_TYPED_TEST_SUITE_P(ReadModelContract, CatalogIsWhatTheStoreWrote, TracesFilterPageAndCount,
                            SampleRowsCoverTheirRangesOnly,
                            DependenciesPageInKeyOrderAndEachRowOnce,
                            CoverageHistoryOfOneDimensionByTimeThenKey, SyncJobsNewestFirst,
                            RecommendationsRankBrokenThenCallersThenCustomerFacing,
                            RecommendationsLimitAndFilter, ServiceMapEdgesFromDependenciesAndGaps,
                            EmptyTablesReadEmpty, HostileStringsRoundTripThroughEveryWritePath);

}  // namespace apmcov::store::testing
