// The CoverageStore contract suite (coverage_store.h), run against every implementation:
// memory_store_contract_test.cc (unit) and postgres_store_contract_test.cc (integration).
// An implementation provides a Harness type with `absl::Status SetUp()` and
// `CoverageStore& store()`, then instantiates:
//   INSTANTIATE_TYPED_TEST_SUITE_P(Memory, CoverageStoreContract, MemoryHarness);
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "apmcov/store/coverage_store.h"

namespace apmcov::store::testing {

constexpr int64_t kT0 = 1'700'000'000'000'000'000;  // ns
// The whole hour holding kT0: the hour of a trace judged then (trace_judgements rows are per hour).
constexpr int64_t kHourOfT0 = kT0 - kT0 % (3600 * int64_t{1'000'000'000});
constexpr int64_t kMinute = 60'000'000'000;

inline CatalogServiceRecord Svc(const std::string& snapshot, const std::string& name,
                                int64_t synced_at, const std::string& team = "core") {
  CatalogServiceRecord s;
  s.snapshot_id = snapshot;
  s.name = name;
  s.team = team;
  s.application = "shop";
  s.tier = "tier1";
  s.lifecycle = "production";
  s.type = "web";
  s.languages = {"go", "python"};
  s.tags = {"env:prod", "infra:kubernetes", "it's \"quoted\""};
  s.envs = {"prod"};
  s.infra = "kubernetes";
  s.customer_facing = true;
  s.schema_version = "v2.2";
  s.links_json = R"([{"name":"runbook","url":"https://x/y?a=1&b='2'"}])";
  s.description = "line1\nline2 \\ backslash";
  s.synced_at_ns = synced_at;
  return s;
}

inline ApmObservationRecord Obs(const std::string& service, const std::string& env, bool traced,
                                bool usm, uint64_t spans, int64_t seen,
                                std::vector<std::string> langs = {},
                                std::vector<std::string> infra = {}) {
  ApmObservationRecord o;
  o.service = service;
  o.env = env;
  o.traced = traced;
  o.usm = usm;
  o.span_count = spans;
  o.languages = std::move(langs);
  o.infra_hints = std::move(infra);
  o.last_seen_ns = seen;
  return o;
}

inline BrokenTraceRecord Trace(uint64_t id, int64_t detected) {
  BrokenTraceRecord t;
  t.trace_id = id;
  t.trace_id_high = std::numeric_limits<uint64_t>::max() - 7;
  t.env = "prod";
  t.root_service = "frontend";
  t.started_at_ns = kT0 + 123'456'789;
  t.duration_ns = 5'000'000;
  t.span_count = 3;
  t.services = {"checkout", "frontend"};
  t.missing_services = {"payments"};
  t.gap_kinds = {"uninstrumented_callee"};
  t.detected_at_ns = detected;
  t.gaps = {{(uint64_t{1} << 63) + 5, "uninstrumented_callee", "checkout", "payments",
             "payments.internal:8443", ""}};
  t.spans = {{1, 0, "frontend", "GET /", "server", "web", kT0, 5'000'000, ""},
             {2, 1, "checkout", "POST /pay", "client", "http", kT0 + 10, 1'000'000,
              "payments.internal:8443"},
             {(uint64_t{1} << 63) + 5, 2, "checkout", "call", "client", "http", kT0 + 20, 10,
              "payments.internal:8443"}};
  return t;
}

inline SyncJobRecord Job(const std::string& id, const std::string& state, int64_t updated) {
  SyncJobRecord j;
  j.id = id;
  j.trigger = "manual";
  j.state = state;
  j.started_at_ns = kT0;
  if (state == "succeeded" || state == "partial" || state == "failed") j.finished_at_ns = updated;
  j.api_calls = 12;
  j.pages = 7;
  j.spans = 6543;
  j.rate_limited_ms = 250;
  j.updated_at_ns = updated;
  return j;
}

inline std::vector<std::string> Names(const std::vector<ServiceRow>& rows) {
  std::vector<std::string> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(r.catalog.name);
  return out;
}

template <typename Harness>
class CoverageStoreContract : public ::testing::Test {
 protected:
  void SetUp() override {
    harness_ = std::make_unique<Harness>();
    absl::Status s = harness_->SetUp();
    ASSERT_TRUE(s.ok()) << s;
  }
  CoverageStore& store() { return harness_->store(); }

  ApplyResult MustApply(const WriteBatch& b) {
    absl::StatusOr<ApplyResult> r = store().Apply(b);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ApplyResult{};
  }
  std::vector<ServiceRow> Services(bool include_removed) {
    auto r = store().LoadServices(include_removed);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::vector<ServiceRow>{};
  }

  // Everything readable, for "a replay changes nothing".
  std::string Dump() {
    nlohmann::json j;
    for (const auto& s : Services(true)) {
      j["services"].push_back({s.catalog.name, s.catalog.team, s.catalog.snapshot_id,
                               s.first_seen_ns, s.last_synced_ns,
                               s.removed_at_ns ? *s.removed_at_ns : -1});
    }
    const auto apm = *store().LoadApmServices();
    for (const auto& a : apm) {
      j["apm"].push_back({a.service, a.env, a.first_seen_ns, a.last_seen_ns, a.span_count,
                          a.languages, a.infra_hints, a.traced, a.usm_only});
    }
    const auto ids = *store().ListBrokenTraceIds();
    for (uint64_t id : ids) {
      auto t = **store().LoadBrokenTrace(id);
      j["traces"].push_back({std::to_string(id), t.detected_at_ns, t.gaps.size(), t.spans.size()});
    }
    const auto deps = *store().LoadDependencies();
    for (const auto& d : deps) {
      j["deps"].push_back({d.from_service, d.to_name, d.kind, d.to_kind, d.last_seen_ns, d.count});
    }
    return j.dump();
  }

  std::unique_ptr<Harness> harness_;
};

TYPED_TEST_SUITE_P(CoverageStoreContract);

TYPED_TEST_P(CoverageStoreContract, CatalogServiceRoundTripsEveryField) {
  WriteBatch b;
  b.catalog_services.push_back(Svc("s1", "checkout", kT0 + 1234567));
  this->MustApply(b);
  auto rows = this->Services(false);
  ASSERT_EQ(rows.size(), 1u);
  const ServiceRow& r = rows[0];
  CatalogServiceRecord want = Svc("s1", "checkout", TruncateToMicros(kT0 + 1234567));
  EXPECT_EQ(nlohmann::json::parse(r.catalog.links_json), nlohmann::json::parse(want.links_json));
  CatalogServiceRecord got = r.catalog;
  got.links_json = want.links_json;
  EXPECT_EQ(got, want);
  EXPECT_EQ(r.first_seen_ns, TruncateToMicros(kT0 + 1234567));
  EXPECT_EQ(r.last_synced_ns, TruncateToMicros(kT0 + 1234567));
  EXPECT_FALSE(r.removed_at_ns.has_value());
}

TYPED_TEST_P(CoverageStoreContract, CompleteSnapshotMarksAbsentServicesRemoved) {
  WriteBatch first;
  for (const char* n : {"a", "b", "c"}) first.catalog_services.push_back(Svc("s1", n, kT0));
  first.snapshot_ends.push_back({"s1", 3, kT0});
  ApplyResult r1 = this->MustApply(first);
  ASSERT_EQ(r1.completed_snapshots.size(), 1u);
  EXPECT_EQ(r1.completed_snapshots[0], (CompletedSnapshot{"s1", 0}));

  const int64_t t2 = kT0 + 15 * kMinute;
  WriteBatch second;
  for (const char* n : {"a", "b"}) second.catalog_services.push_back(Svc("s2", n, t2));
  second.snapshot_ends.push_back({"s2", 2, t2});
  ApplyResult r2 = this->MustApply(second);
  ASSERT_EQ(r2.completed_snapshots.size(), 1u);
  EXPECT_EQ(r2.completed_snapshots[0], (CompletedSnapshot{"s2", 1}));

  EXPECT_EQ(Names(this->Services(false)), (std::vector<std::string>{"a", "b"}));
  auto all = this->Services(true);
  ASSERT_EQ(Names(all), (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE(all[2].removed_at_ns.has_value());
  EXPECT_EQ(*all[2].removed_at_ns, t2);

  // Replaying both snapshots changes nothing, and completes nothing again.
  const std::string before = this->Dump();
  EXPECT_TRUE(this->MustApply(first).completed_snapshots.empty());
  EXPECT_TRUE(this->MustApply(second).completed_snapshots.empty());
  EXPECT_EQ(this->Dump(), before);
  EXPECT_EQ(Names(this->Services(false)), (std::vector<std::string>{"a", "b"}));

  // A later snapshot listing c brings it back.
  const int64_t t3 = t2 + 15 * kMinute;
  WriteBatch third;
  for (const char* n : {"a", "c"}) third.catalog_services.push_back(Svc("s3", n, t3));
  third.snapshot_ends.push_back({"s3", 2, t3});
  EXPECT_EQ(this->MustApply(third).completed_snapshots[0], (CompletedSnapshot{"s3", 1}));
  EXPECT_EQ(Names(this->Services(false)), (std::vector<std::string>{"a", "c"}));
}

TYPED_TEST_P(CoverageStoreContract, SnapshotCompletesOnlyWithExactlyTheAnnouncedCount) {
  WriteBatch old;
  old.catalog_services.push_back(Svc("s0", "legacy", kT0 - kMinute));
  this->MustApply(old);

  const int64_t t = kT0;
  WriteBatch end;  // the end marker may arrive before the members (other partition)
  end.snapshot_ends.push_back({"s1", 3, t});
  EXPECT_TRUE(this->MustApply(end).completed_snapshots.empty());
  WriteBatch members;
  members.catalog_services = {Svc("s1", "a", t), Svc("s1", "b", t), Svc("s1", "a", t)};
  EXPECT_TRUE(this->MustApply(members).completed_snapshots.empty());
  auto state = *this->store().LoadSnapshotState("s1");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->expected, 3u);
  EXPECT_EQ(state->received, 2u);
  EXPECT_FALSE(state->completed);
  EXPECT_EQ(this->Services(false).size(), 3u);  // nothing removed yet

  WriteBatch last;
  last.catalog_services = {Svc("s1", "c", t)};
  ApplyResult r = this->MustApply(last);
  ASSERT_EQ(r.completed_snapshots.size(), 1u);
  EXPECT_EQ(r.completed_snapshots[0], (CompletedSnapshot{"s1", 1}));
  EXPECT_EQ(Names(this->Services(false)), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE((*this->store().LoadSnapshotState("s1"))->completed);
  EXPECT_FALSE(this->store().LoadSnapshotState("nope")->has_value());
}

TYPED_TEST_P(CoverageStoreContract, OlderSnapshotRecordNeverOverwritesNewer) {
  WriteBatch b;
  b.catalog_services = {Svc("s2", "a", kT0 + kMinute, "new-team")};
  this->MustApply(b);
  WriteBatch stale;
  stale.catalog_services = {Svc("s1", "a", kT0, "old-team")};
  // Completing the older snapshot afterwards must not remove what the newer one added.
  stale.snapshot_ends.push_back({"s1", 1, kT0});
  WriteBatch other;
  other.catalog_services = {Svc("s2", "z", kT0 + kMinute)};
  this->MustApply(other);
  this->MustApply(stale);
  auto rows = this->Services(false);
  ASSERT_EQ(Names(rows), (std::vector<std::string>{"a", "z"}));
  EXPECT_EQ(rows[0].catalog.team, "new-team");
  EXPECT_EQ(rows[0].catalog.snapshot_id, "s2");
  EXPECT_EQ(rows[0].first_seen_ns, kT0 + kMinute);
}

TYPED_TEST_P(CoverageStoreContract, ApmObservationsMergeInAnyOrder) {
  const std::vector<ApmObservationRecord> obs = {
      Obs("api", "prod", false, true, 0, kT0, {"java"}),
      Obs("api", "prod", true, false, 500, kT0 + kMinute, {"go"}, {"kubernetes"}),
      Obs("api", "prod", false, false, 100, kT0 - kMinute, {"java"}, {"host"}),
      Obs("usm", "*", false, true, 0, kT0),
      Obs("usm", "*", false, false, 0, kT0 + 1),
  };
  WriteBatch forward;
  forward.apm_observations = obs;
  this->MustApply(forward);
  auto rows = *this->store().LoadApmServices();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (ApmServiceRow{"api",
                                    "prod",
                                    kT0 - kMinute,
                                    kT0 + kMinute,
                                    500,
                                    {"go", "java"},
                                    {"host", "kubernetes"},
                                    true,
                                    false,
                                    kT0 + kMinute,
                                    true}));
  EXPECT_EQ(rows[1].service, "usm");
  EXPECT_FALSE(rows[1].traced);
  EXPECT_TRUE(rows[1].usm_only);
  EXPECT_TRUE(rows[1].usm_seen);
  EXPECT_FALSE(rows[1].last_traced_ns.has_value());
  // One observation per batch, in reverse order, applied twice: the same rows.
  const std::vector<ApmObservationRecord> reversed(obs.rbegin(), obs.rend());
  for (int round = 0; round < 2; ++round) {
    for (const ApmObservationRecord& o : reversed) {
      WriteBatch one;
      one.apm_observations = {o};
      this->MustApply(one);
    }
  }
  EXPECT_EQ(*this->store().LoadApmServices(), rows);
}

TYPED_TEST_P(CoverageStoreContract, BrokenTraceWithHighIdsRoundTripsAndLatestJudgementWins) {
  const uint64_t id = std::numeric_limits<uint64_t>::max();
  WriteBatch b;
  b.broken_traces = {Trace(id, kT0 + kMinute)};
  this->MustApply(b);
  auto got = *this->store().LoadBrokenTrace(id);
  ASSERT_TRUE(got.has_value());
  BrokenTraceRecord want = Trace(id, kT0 + kMinute);
  want.started_at_ns = TruncateToMicros(want.started_at_ns);
  EXPECT_EQ(*got, want);

  // Re-judged with more spans: gaps and spans are replaced, detected_at keeps the first.
  BrokenTraceRecord again = Trace(id, kT0 + 2 * kMinute);
  again.root_service.reset();
  again.gap_kinds = {"missing_root", "orphan_span"};
  again.gaps = {{2, "orphan_span", "checkout", std::nullopt, "", "parent 1 absent"},
                {2, "missing_root", "checkout", std::nullopt, "", ""}};
  again.spans.erase(again.spans.begin());
  TraceSpanRecord duplicate = again.spans[0];  // same span id twice: the first one is kept
  duplicate.service = "duplicate";
  again.spans.push_back(duplicate);
  WriteBatch b2;
  b2.broken_traces = {again};
  this->MustApply(b2);
  got = *this->store().LoadBrokenTrace(id);
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->root_service.has_value());
  EXPECT_EQ(got->detected_at_ns, kT0 + kMinute);
  ASSERT_EQ(got->gaps.size(), 2u);
  EXPECT_EQ(got->gaps[0].kind, "missing_root");
  EXPECT_EQ(got->gaps[1].kind, "orphan_span");
  EXPECT_FALSE(got->gaps[1].to_service.has_value());
  ASSERT_EQ(got->spans.size(), 2u);
  EXPECT_EQ(got->spans[0].service, "checkout");
  EXPECT_EQ(got->spans[1].service, "checkout");
  EXPECT_EQ(*this->store().ListBrokenTraceIds(), (std::vector<uint64_t>{id}));
  EXPECT_FALSE(this->store().LoadBrokenTrace(42)->has_value());
}

// Traces judged again beside new ones, over more rows than one statement takes (the store
// finds the traces it held before in the same write): the re-judged lose their old gaps and
// spans, the new get theirs, and a replay of the batch changes nothing.
TYPED_TEST_P(CoverageStoreContract, RejudgedAndNewTracesInOneBatchOverManyStatements) {
  constexpr uint64_t kFirst = 1500, kSecond = 1200;  // traces 1..1500, then 801..2000
  WriteBatch first;
  for (uint64_t id = 1; id <= kFirst; ++id) first.broken_traces.push_back(Trace(id, kT0));
  this->MustApply(first);
  WriteBatch second;
  for (uint64_t id = kFirst + 500 - kSecond + 1; id <= kFirst + 500; ++id) {
    BrokenTraceRecord t = Trace(id, kT0 + kMinute);
    t.spans.resize(1);  // judged again with one span and another gap
    t.span_count = 1;
    t.gap_kinds = {"missing_root"};
    t.gaps = {{1, "missing_root", "frontend", std::nullopt, "", ""}};
    second.broken_traces.push_back(t);
  }
  this->MustApply(second);
  this->MustApply(second);  // a replay
  const auto ids = *this->store().ListBrokenTraceIds();
  ASSERT_EQ(ids.size(), 2000u);
  for (uint64_t id : {uint64_t{1}, uint64_t{800}, uint64_t{801}, uint64_t{1500}, uint64_t{1501},
                      uint64_t{2000}}) {
    SCOPED_TRACE(id);
    const auto got = *this->store().LoadBrokenTrace(id);
    ASSERT_TRUE(got.has_value());
    const bool rejudged = id > kFirst + 500 - kSecond;
    EXPECT_EQ(got->spans.size(), rejudged ? 1u : 3u);
    ASSERT_EQ(got->gaps.size(), 1u);
    EXPECT_EQ(got->gaps[0].kind, rejudged ? "missing_root" : "uninstrumented_callee");
    EXPECT_EQ(got->detected_at_ns, id <= kFirst ? kT0 : kT0 + kMinute);
  }
}

TYPED_TEST_P(CoverageStoreContract, TraceAndSpanIdsOrderAsNumbers) {
  BrokenTraceRecord t = Trace(10, kT0);
  t.gaps = {{10, "orphan_span", "a", std::nullopt, "", ""},
            {9, "orphan_span", "a", std::nullopt, "", ""}};
  t.spans = {{10, 0, "a", "GET /", "server", "web", kT0, 5, ""},
             {9, 10, "a", "GET /", "client", "http", kT0, 5, ""}};
  WriteBatch b;
  b.broken_traces = {t, Trace(9, kT0), Trace(100, kT0)};
  this->MustApply(b);
  EXPECT_EQ(*this->store().ListBrokenTraceIds(), (std::vector<uint64_t>{9, 10, 100}));
  const std::optional<BrokenTraceRecord> got = *this->store().LoadBrokenTrace(10);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->spans.size(), 2u);
  EXPECT_EQ(got->spans[0].span_id, 9u);  // same start: by span id, not its text
  ASSERT_EQ(got->gaps.size(), 2u);
  EXPECT_EQ(got->gaps[0].span_id, 9u);
}

TYPED_TEST_P(CoverageStoreContract, DependencyCountsDistinctTracesUnderReplay) {
  auto dep = [](uint64_t trace, int64_t seen, const std::string& to = "payments") {
    return to == "postgres" ? DependencyObservation{"checkout", to, "db", "datastore", trace, seen}
                            : DependencyObservation{"checkout", to, "call", "service", trace, seen};
  };
  WriteBatch b;
  b.dependencies = {dep(1, kT0), dep(2, kT0 + kMinute), dep(2, kT0), dep(3, kT0, "postgres")};
  this->MustApply(b);
  this->MustApply(b);
  // A trace is counted once, with the edges it had when first written: trace 3 seen again
  // with another edge, and trace 1 again, add nothing; trace 4 is new.
  WriteBatch c;
  c.dependencies = {dep(3, kT0 - kMinute), dep(1, kT0), dep(4, kT0)};
  this->MustApply(c);
  auto rows = *this->store().LoadDependencies();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (DependencyRow{"checkout", "payments", "call", "service", kT0 + kMinute, 3}));
  EXPECT_EQ(rows[1], (DependencyRow{"checkout", "postgres", "db", "datastore", kT0, 1}));
}

TYPED_TEST_P(CoverageStoreContract, SyncJobNewestRecordWins) {
  WriteBatch b;
  b.sync_jobs = {Job("j1", "running", kT0 + 2000), Job("j1", "queued", kT0 + 1000)};
  this->MustApply(b);
  EXPECT_EQ((*this->store().LoadSyncJob("j1"))->state, "running");
  WriteBatch done;
  SyncJobRecord finished = Job("j1", "partial", kT0 + kMinute);
  finished.error = "span page budget reached";
  done.sync_jobs = {finished};
  this->MustApply(done);
  this->MustApply(b);  // a replay of older records
  auto got = *this->store().LoadSyncJob("j1");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, finished);
  EXPECT_FALSE(this->store().LoadSyncJob("j2")->has_value());
}

TYPED_TEST_P(CoverageStoreContract, CoverageSnapshotRowsUpsert) {
  WriteBatch b;
  b.coverage_rows = {{kT0, "overall", "all", 10, 7},
                     {kT0, "team", "core", 4, 4},
                     {kT0, "team", "unknown", 6, 3},
                     {kT0 + 1000, "overall", "all", 11, 7}};
  this->MustApply(b);
  b.coverage_rows[1].instrumented = 3;  // recomputed for the same sync
  this->MustApply(b);
  auto rows = *this->store().LoadCoverageSnapshot(kT0);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (CoverageRow{kT0, "overall", "all", 10, 7}));
  EXPECT_EQ(rows[1], (CoverageRow{kT0, "team", "core", 4, 3}));
  EXPECT_EQ(rows[2], (CoverageRow{kT0, "team", "unknown", 6, 3}));
  EXPECT_TRUE(this->store().LoadCoverageSnapshot(kT0 + 5000)->empty());
}

TYPED_TEST_P(CoverageStoreContract, InvalidRecordRejectsTheWholeBatch) {
  WriteBatch b;
  b.catalog_services = {Svc("s1", "a", kT0)};
  BrokenTraceRecord t = Trace(9, kT0);
  t.gaps[0].kind = "made_up";
  b.broken_traces = {t};
  absl::StatusOr<ApplyResult> r = this->store().Apply(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("made_up"), absl::string_view::npos) << r.status();
  EXPECT_TRUE(this->Services(true).empty());

  WriteBatch bad_json;
  bad_json.catalog_services = {Svc("s1", "a", kT0)};
  bad_json.catalog_services[0].links_json = "[{";
  EXPECT_EQ(this->store().Apply(bad_json).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(this->store().Ping().ok());
}

TYPED_TEST_P(CoverageStoreContract, WholeBatchReplayChangesNothing) {
  WriteBatch b;
  for (int i = 0; i < 50; ++i) {
    b.catalog_services.push_back(Svc("s1", "svc-" + std::to_string(i), kT0));
    b.apm_observations.push_back(Obs("svc-" + std::to_string(i), "prod", i % 2 == 0, i % 3 == 0,
                                     static_cast<uint64_t>(i), kT0 + i));
    b.broken_traces.push_back(Trace(1000 + static_cast<uint64_t>(i), kT0 + i));
    b.dependencies.push_back(
        {"svc-" + std::to_string(i), "db", "db", "datastore", static_cast<uint64_t>(i), kT0});
  }
  b.snapshot_ends.push_back({"s1", 50, kT0});
  this->MustApply(b);
  const std::string once = this->Dump();
  this->MustApply(b);
  EXPECT_EQ(this->Dump(), once);
}

TYPED_TEST_P(CoverageStoreContract, WatermarksOnlyMoveForward) {
  const int64_t big = std::numeric_limits<int64_t>::max() - 1;
  WriteBatch b;
  b.watermarks = {
      {"apmcov.spans", 0, kT0 + 7}, {"apmcov.spans", 0, kT0 + 3}, {"apmcov.spans", 3, big}};
  this->MustApply(b);
  WriteBatch older;
  older.watermarks = {{"apmcov.spans", 0, kT0}};
  this->MustApply(older);
  EXPECT_EQ(
      *this->store().LoadWatermarks(),
      (std::vector<PartitionWatermark>{{"apmcov.spans", 0, kT0 + 7}, {"apmcov.spans", 3, big}}));
}

TYPED_TEST_P(CoverageStoreContract, NulCharactersAreDroppedNotFatal) {
  WriteBatch b;
  b.catalog_services = {Svc("s1", std::string("a\0b", 3), kT0)};
  b.catalog_services[0].tags = {std::string("x\0", 2)};
  BrokenTraceRecord t = Trace(5, kT0);
  t.spans[0].resource = std::string("GET /\0", 6);
  b.broken_traces = {t};
  // The same edge with and without a NUL: one row once the NUL is dropped, both traces counted.
  b.dependencies = {{"checkout", std::string("pay\0ments", 9), "call", "service", 5, kT0},
                    {"checkout", "payments", "call", "service", 6, kT0}};
  // A root service comes from span data: a NUL there must not cost the batch its counts.
  const int64_t hour = kHourOfT0;
  b.judgements = {{hour, std::string("front\0end", 9), 3, 1}};
  b.edge_cuts = {{std::string{'j', '\0', '1'}, 2}};
  this->MustApply(b);
  EXPECT_EQ(*this->store().LoadJudgements(hour),
            (std::vector<TraceJudgementCount>{{hour, "frontend", 3, 1}}));
  EXPECT_EQ((**this->store().LoadSyncJob("j1")).edge_cut_traces, 2);
  auto rows = this->Services(false);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].catalog.name, "ab");
  EXPECT_EQ(rows[0].catalog.tags, (std::vector<std::string>{"x"}));
  EXPECT_EQ((*this->store().LoadBrokenTrace(5))->spans[0].resource, "GET /");
  EXPECT_EQ(*this->store().LoadDependencies(),
            (std::vector<DependencyRow>{{"checkout", "payments", "call", "service", kT0, 2}}));
}

TYPED_TEST_P(CoverageStoreContract, WatermarkKeepsTheReadIntervalsOfItsLatestRecord) {
  WriteBatch b;
  b.watermarks = {{"apmcov.spans", 1, kT0 + 10, {kT0, kT0 + 5, kT0 + 7, kT0 + 10}}};
  this->MustApply(b);
  WriteBatch older;
  older.watermarks = {{"apmcov.spans", 1, kT0 + 5, {kT0, kT0 + 5}}};
  this->MustApply(older);
  EXPECT_EQ(*this->store().LoadWatermarks(),
            (std::vector<PartitionWatermark>{
                {"apmcov.spans", 1, kT0 + 10, {kT0, kT0 + 5, kT0 + 7, kT0 + 10}}}));
}

TYPED_TEST_P(CoverageStoreContract, JudgementsAndEdgeCutsAddUp) {
  const int64_t hour = kHourOfT0;
  WriteBatch b;
  b.judgements = {{hour, "frontend", 10, 2}, {hour, "", 3, 3}, {hour, "frontend", 5, 0}};
  b.edge_cuts = {{"j1", 4}};  // the job is not known yet
  this->MustApply(b);
  WriteBatch more;
  more.judgements = {{hour, "frontend", 1, 1}};
  more.edge_cuts = {{"j1", 1}};
  SyncJobRecord job = Job("j1", "succeeded", kT0 + kMinute);
  job.sampled_seconds = 12;
  job.skipped_seconds = 288;
  more.sync_jobs = {job};
  this->MustApply(more);
  EXPECT_EQ(*this->store().LoadJudgements(hour),
            (std::vector<TraceJudgementCount>{{hour, "", 3, 3}, {hour, "frontend", 16, 3}}));
  EXPECT_TRUE(this->store().LoadJudgements(hour + 1000)->empty());  // microseconds kept
  auto got = **this->store().LoadSyncJob("j1");
  EXPECT_EQ(got.state, "succeeded") << "the job's record wins over the placeholder";
  EXPECT_EQ(got.sampled_seconds, 12);
  EXPECT_EQ(got.skipped_seconds, 288);
  EXPECT_EQ(got.edge_cut_traces, 5);
}

TYPED_TEST_P(CoverageStoreContract, InvalidRecordIsMarkedRejected) {
  WriteBatch b;
  b.catalog_services = {Svc("s1", "", kT0)};  // no name
  absl::Status s = this->store().Apply(b).status();
  EXPECT_TRUE(IsRecordRejected(s)) << s;
  EXPECT_FALSE(IsRecordRejected(absl::InvalidArgumentError("DATABASE_URL is not valid")));
  // Valid JSON that PostgreSQL jsonb cannot hold (22P05): both stores refuse it alike.
  WriteBatch nul_json;
  nul_json.catalog_services = {Svc("s1", "a", kT0)};
  nul_json.catalog_services[0].links_json = R"([{"name":"x\u0000y","url":"https://x"}])";
  s = this->store().Apply(nul_json).status();
  EXPECT_TRUE(IsRecordRejected(s)) << s;
  EXPECT_TRUE(this->Services(true).empty());
  nul_json.catalog_services[0].links_json = R"([{"name":"x\\u0000y"}])";  // an escaped "\"
  EXPECT_TRUE(this->store().Apply(nul_json).ok());
  EXPECT_FALSE(IsRecordRejected(absl::UnavailableError("down")));
}

TYPED_TEST_P(CoverageStoreContract, DeadLettersAreClaimedOnceAcrossReplays) {
  const DeadLetterKey a{"apmcov.catalog", 0, 17, "links: bad"};
  const DeadLetterKey b{"apmcov.catalog", 1, 17, "other"};
  const DeadLetterKey c{"apmcov.spans", 0, 17, "x"};
  auto first = this->store().ClaimDeadLetters({a, b});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, (std::vector<DeadLetterKey>{a, b}));
  // A crash before the mark: the replay is handed the same keys again.
  EXPECT_EQ(*this->store().ClaimDeadLetters({a, b}), (std::vector<DeadLetterKey>{a, b}));
  ASSERT_TRUE(this->store().MarkDeadLettersPublished({a}).ok());
  // After the mark: only what was not published, and new keys.
  EXPECT_EQ(*this->store().ClaimDeadLetters({a, b, c}), (std::vector<DeadLetterKey>{b, c}));
  ASSERT_TRUE(this->store().MarkDeadLettersPublished({a, b, c}).ok());
  ASSERT_TRUE(this->store().MarkDeadLettersPublished({a}).ok());  // idempotent
  EXPECT_TRUE(this->store().ClaimDeadLetters({a, b, c})->empty());
  EXPECT_TRUE(this->store().ClaimDeadLetters({})->empty());
}

// --- Retention (Prune) ---

constexpr int64_t kDay = RetentionPolicy::kDay;

inline BrokenTraceRecord TraceStartedAt(uint64_t id, int64_t started) {
  BrokenTraceRecord t = Trace(id, started + kMinute);
  t.started_at_ns = started;
  return t;
}

// Prune until nothing is left; the rows deleted per table, summed.
inline std::map<std::string, int64_t> PruneAll(CoverageStore& store, const RetentionPolicy& policy,
                                               int64_t now, size_t batch_rows,
                                               int* calls = nullptr) {
  std::map<std::string, int64_t> total;
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<PruneResult> r = store.Prune(policy, now, batch_rows);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) break;
    if (calls != nullptr) ++*calls;
    for (const auto& [table, n] : r->rows) total[table] += n;
    if (!r->more) break;
  }
  return total;
}

TYPED_TEST_P(CoverageStoreContract, PruneDeletesOldBrokenTracesWithGapsSpansAndJudgements) {
  const int64_t hour = kHourOfT0;
  WriteBatch b;
  b.broken_traces = {TraceStartedAt(1, kT0 - 15 * kDay), TraceStartedAt(2, kT0 - 13 * kDay),
                     TraceStartedAt(3, kT0)};
  b.judgements = {{hour - 15 * kDay, "frontend", 10, 1}, {hour - 13 * kDay, "frontend", 10, 1}};
  this->MustApply(b);
  const auto deleted = PruneAll(this->store(), RetentionPolicy{}, kT0, 100);
  EXPECT_EQ(
      deleted,
      (std::map<std::string, int64_t>{
          {"broken_traces", 1}, {"trace_gaps", 1}, {"trace_spans", 3}, {"trace_judgements", 1}}));
  EXPECT_EQ(*this->store().ListBrokenTraceIds(), (std::vector<uint64_t>{2, 3}));
  EXPECT_FALSE(this->store().LoadBrokenTrace(1)->has_value());
  EXPECT_EQ((*this->store().LoadBrokenTrace(2))->spans.size(), 3u);
  EXPECT_EQ(*this->store().LoadJudgements(0),
            (std::vector<TraceJudgementCount>{{hour - 13 * kDay, "frontend", 10, 1}}));
  // Nothing left: a second pass deletes nothing, and a pruned trace judged again is new.
  auto again = this->store().Prune(RetentionPolicy{}, kT0, 100);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->total(), 0);
  EXPECT_FALSE(again->more);
  WriteBatch replay;
  replay.broken_traces = {TraceStartedAt(1, kT0 - 15 * kDay)};
  this->MustApply(replay);
  EXPECT_EQ((*this->store().LoadBrokenTrace(1))->spans.size(), 3u);
}

TYPED_TEST_P(CoverageStoreContract, PruneWorksInBatchesOfAtMostBatchRows) {
  WriteBatch b;
  for (uint64_t id = 1; id <= 5; ++id) b.broken_traces.push_back(TraceStartedAt(id, kT0));
  this->MustApply(b);
  RetentionPolicy policy;
  policy.broken_trace_ns = kDay;
  auto first = this->store().Prune(policy, kT0 + 2 * kDay, 2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->rows["broken_traces"], 2);
  EXPECT_TRUE(first->more);
  EXPECT_EQ(this->store().ListBrokenTraceIds()->size(), 3u);
  int calls = 0;
  const auto rest = PruneAll(this->store(), policy, kT0 + 2 * kDay, 2, &calls);
  EXPECT_EQ(rest.at("broken_traces"), 3);
  EXPECT_EQ(rest.at("trace_spans"), 9);
  EXPECT_GE(calls, 2);
  EXPECT_TRUE(this->store().ListBrokenTraceIds()->empty());
  EXPECT_EQ(this->store().Prune(policy, kT0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A writer retries a batch whose commit failed, and a failed commit may have committed: with a
// count key, the retry adds the judgements and edge cuts nothing twice.
TYPED_TEST_P(CoverageStoreContract, ABatchAppliedAgainWithItsCountKeyAddsItsCountsOnce) {
  const int64_t hour = kHourOfT0;
  WriteBatch b;
  b.judgements = {{hour, "frontend", 10, 2}};
  b.edge_cuts = {{"j1", 4}};
  b.count_key = {"k1", kT0};
  auto counts = [&]() {
    const auto judged = *this->store().LoadJudgements(hour);
    EXPECT_EQ(judged.size(), 1u);
    return std::make_tuple(judged.empty() ? 0 : judged[0].judged,
                           judged.empty() ? 0 : judged[0].broken,
                           (**this->store().LoadSyncJob("j1")).edge_cut_traces);
  };
  this->MustApply(b);
  this->MustApply(b);  // the retry
  EXPECT_EQ(counts(), std::make_tuple(10, 2, 4));

  WriteBatch next = b;  // another batch: its own key
  next.count_key.id = "k2";
  this->MustApply(next);
  EXPECT_EQ(counts(), std::make_tuple(20, 4, 8));
  WriteBatch unkeyed = b;  // no key: added every time, as before keys
  unkeyed.count_key = {};
  this->MustApply(unkeyed);
  this->MustApply(unkeyed);
  EXPECT_EQ(counts(), std::make_tuple(40, 8, 16));
  WriteBatch nothing_to_count;  // a key on a batch without counts records nothing
  nothing_to_count.count_key = {"k3", kT0};
  nothing_to_count.watermarks = {{"apmcov.spans", 0, kT0, {}}};
  this->MustApply(nothing_to_count);

  // Keys are kept for the replay guard's time after at_ns: a retry within it still adds nothing.
  EXPECT_TRUE(PruneAll(this->store(), RetentionPolicy{}, kT0 + 2 * kDay, 100).empty());
  this->MustApply(b);
  EXPECT_EQ(counts(), std::make_tuple(40, 8, 16));
  EXPECT_EQ(PruneAll(this->store(), RetentionPolicy{}, kT0 + 4 * kDay, 100),
            (std::map<std::string, int64_t>{{"counted_batches", 2}}));

  WriteBatch too_long = b;
  too_long.count_key.id = std::string(129, 'k');
  EXPECT_TRUE(IsRecordRejected(this->store().Apply(too_long).status()));
}

TYPED_TEST_P(CoverageStoreContract, DependencyRowTakesTheLastObservationsToKind) {
  // The detector may call the same callee an external peer in one trace and a service in the
  // next (once the catalog names it): one row, its to_kind the last observation's, counting
  // both traces.
  WriteBatch b;
  b.dependencies = {{"checkout", "payments", "call", "external", 1, kT0},
                    {"checkout", "payments", "call", "service", 2, kT0 + kMinute},
                    {"checkout", "fraud", "call", "service", 3, kT0},
                    {"checkout", "fraud", "call", "external", 4, kT0}};
  EXPECT_EQ(b.dependencies.size(), 4u);
  EXPECT_EQ(b.dependencies.edges().size(), 4u);
  this->MustApply(b);
  auto rows = *this->store().LoadDependencies();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (DependencyRow{"checkout", "fraud", "call", "external", kT0, 2}));
  EXPECT_EQ(rows[1], (DependencyRow{"checkout", "payments", "call", "service", kT0 + kMinute, 2}));
}

TYPED_TEST_P(CoverageStoreContract, PruneDeletesDependenciesNotSeenWithinTheRetention) {
  auto dep = [](uint64_t trace, int64_t seen, const std::string& to) {
    return DependencyObservation{"checkout", to, "call", "service", trace, seen};
  };
  WriteBatch b;
  b.dependencies = {dep(1, kT0 - 20 * kDay, "legacy"), dep(2, kT0 - 20 * kDay, "payments"),
                    dep(3, kT0 - kDay, "payments")};
  this->MustApply(b);
  const auto deleted = PruneAll(this->store(), RetentionPolicy{}, kT0, 100);
  EXPECT_EQ(deleted, (std::map<std::string, int64_t>{{"dependencies", 1},
                                                     {"dependency_counted_traces", 2}}));
  auto rows = *this->store().LoadDependencies();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (DependencyRow{"checkout", "payments", "call", "service", kT0 - kDay, 2}));
  // The guard of a recent trace is kept: its replay still adds nothing.
  WriteBatch replay;
  replay.dependencies = {dep(3, kT0 - kDay, "payments")};
  this->MustApply(replay);
  EXPECT_EQ((*this->store().LoadDependencies())[0].count, 2);
}

TYPED_TEST_P(CoverageStoreContract, PruneDeletesOldSyncJobsAndDeadLetters) {
  WriteBatch b;
  b.sync_jobs = {Job("old", "succeeded", kT0 - 31 * kDay), Job("recent", "failed", kT0 - kDay)};
  b.edge_cuts = {{"placeholder", 2}};  // no record of that job yet: kept
  this->MustApply(b);
  const DeadLetterKey key{"apmcov.catalog", 0, 17, "bad"};
  ASSERT_TRUE(this->store().ClaimDeadLetters({key}).ok());
  ASSERT_TRUE(this->store().MarkDeadLettersPublished({key}).ok());
  const int64_t wall = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  // Dead letters are aged by the store's clock: at the wall clock's now, this one is recent.
  EXPECT_EQ(PruneAll(this->store(), RetentionPolicy{}, kT0, 100),
            (std::map<std::string, int64_t>{{"sync_jobs", 1}}));
  EXPECT_FALSE(this->store().LoadSyncJob("old")->has_value());
  EXPECT_TRUE(this->store().LoadSyncJob("recent")->has_value());
  EXPECT_TRUE(this->store().LoadSyncJob("placeholder")->has_value());
  EXPECT_TRUE(PruneAll(this->store(), RetentionPolicy{}, wall, 100).count("dead_letters") == 0);
  EXPECT_TRUE(this->store().ClaimDeadLetters({key})->empty()) << "still published";
  EXPECT_EQ(PruneAll(this->store(), RetentionPolicy{}, wall + 31 * kDay, 100)["dead_letters"], 1);
  EXPECT_EQ(*this->store().ClaimDeadLetters({key}), (std::vector<DeadLetterKey>{key}));
}

TYPED_TEST_P(CoverageStoreContract, PruneDeletesOldCatalogSnapshotsWithTheirMembers) {
  auto snapshot = [&](const std::string& id, int64_t at, std::optional<uint32_t> count) {
    WriteBatch b;
    b.catalog_services = {Svc(id, "svc-" + id, at)};
    if (count) b.snapshot_ends = {{id, *count, at}};
    this->MustApply(b);
  };
  snapshot("old", kT0 - 31 * kDay, 1);      // complete: its members are gone already
  snapshot("stuck", kT0 - 31 * kDay, 2);    // one member of two, never completed
  snapshot("no-end", kT0 - 31 * kDay, {});  // no end marker: no time to age it by
  snapshot("recent", kT0 - kDay, 1);
  EXPECT_EQ(
      PruneAll(this->store(), RetentionPolicy{}, kT0, 1),
      (std::map<std::string, int64_t>{{"catalog_snapshots", 2}, {"catalog_snapshot_members", 1}}));
  EXPECT_FALSE(this->store().LoadSnapshotState("old")->has_value());
  EXPECT_FALSE(this->store().LoadSnapshotState("stuck")->has_value());
  EXPECT_TRUE(this->store().LoadSnapshotState("no-end")->has_value());
  EXPECT_TRUE(this->store().LoadSnapshotState("recent")->has_value());
  EXPECT_EQ(this->Services(true).size(), 4u) << "services are not the snapshots' to prune";
}

TYPED_TEST_P(CoverageStoreContract, PruneThinsOldCoverageSnapshotsToTheLastOfEachUtcDay) {
  const int64_t day = (kT0 - 40 * kDay) - (kT0 - 40 * kDay) % kDay;  // a UTC midnight
  const int64_t hour = 3600 * int64_t{1'000'000'000};
  const std::vector<int64_t> old_kept = {day + 23 * hour, day + kDay + 2 * hour};
  const std::vector<int64_t> old_thinned = {day + hour, day + 5 * hour};
  const std::vector<int64_t> recent = {kT0 - kDay, kT0 - kDay + hour, kT0 - kDay + 2 * hour};
  WriteBatch b;
  for (const auto& list : {old_kept, old_thinned, recent}) {
    for (int64_t t : list) {
      b.coverage_rows.push_back({t, "overall", "all", 10, 7});
      b.coverage_rows.push_back({t, "team", "core", 4, 4});
    }
  }
  this->MustApply(b);
  const auto deleted = PruneAll(this->store(), RetentionPolicy{}, kT0, 3);
  EXPECT_EQ(deleted, (std::map<std::string, int64_t>{{"coverage_snapshots", 4}}));
  for (int64_t t : old_thinned) EXPECT_TRUE(this->store().LoadCoverageSnapshot(t)->empty()) << t;
  for (const auto& list : {old_kept, recent}) {
    for (int64_t t : list) EXPECT_EQ(this->store().LoadCoverageSnapshot(t)->size(), 2u) << t;
  }
}

// --- Scorecards (design §13) ---

TYPED_TEST_P(CoverageStoreContract, BrokenTraceBlameNamesMissingServicesAndPropagationBreaks) {
  WriteBatch b;
  BrokenTraceRecord old = TraceStartedAt(1, kT0 - kDay);   // before the window: not counted
  BrokenTraceRecord a = TraceStartedAt(2, kT0);            // payments missing
  BrokenTraceRecord c = TraceStartedAt(3, kT0 + kMinute);  // payments missing, a break at ledger
  c.gaps.push_back({7, "propagation_break", "checkout", "ledger", "ledger", ""});
  c.gaps.push_back({8, "propagation_break", "checkout", "ledger", "ledger", ""});
  c.gaps.push_back({9, "orphan_span", "checkout", std::nullopt, "", ""});
  c.gap_kinds = {"orphan_span", "propagation_break", "uninstrumented_callee"};
  b.broken_traces = {old, a, c};
  this->MustApply(b);
  auto blame = this->store().LoadBrokenTraceBlame(kT0 - kMinute);
  ASSERT_TRUE(blame.ok()) << blame.status();
  EXPECT_EQ(*blame, (std::vector<BrokenTraceBlame>{{"ledger", 1}, {"payments", 2}}));
  EXPECT_TRUE(this->store().LoadBrokenTraceBlame(kT0 + kDay)->empty());
}

TYPED_TEST_P(CoverageStoreContract, ScorecardOutcomesUpsertByRuleAndService) {
  CoverageStore& s = this->store();
  EXPECT_TRUE(s.LoadScorecardOutcomes()->empty());
  ASSERT_TRUE(s.SaveScorecardOutcomes({{"Traces unbroken", "checkout", "fail", "3 traces", kT0},
                                       {"APM instrumented", "checkout", "pass", "", kT0}})
                  .ok());
  ASSERT_TRUE(
      s.SaveScorecardOutcomes({{"Traces unbroken", "checkout", "pass", "none", kT0 + kMinute}})
          .ok());
  EXPECT_EQ(*s.LoadScorecardOutcomes(),
            (std::vector<ScorecardOutcomeRow>{
                {"APM instrumented", "checkout", "pass", "", kT0},
                {"Traces unbroken", "checkout", "pass", "none", kT0 + kMinute}}));
  // A bad state stores nothing of its call.
  absl::Status bad = s.SaveScorecardOutcomes(
      {{"APM instrumented", "ads", "pass", "", kT0}, {"APM instrumented", "x", "maybe", "", kT0}});
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.LoadScorecardOutcomes()->size(), 2u);
}

REGISTER_TYPED_TEST_SUITE_P(
    CoverageStoreContract, BrokenTraceBlameNamesMissingServicesAndPropagationBreaks,
    RejudgedAndNewTracesInOneBatchOverManyStatements, ScorecardOutcomesUpsertByRuleAndService,
    PruneDeletesOldBrokenTracesWithGapsSpansAndJudgements, PruneWorksInBatchesOfAtMostBatchRows,
    PruneDeletesDependenciesNotSeenWithinTheRetention, PruneDeletesOldSyncJobsAndDeadLetters,
    PruneThinsOldCoverageSnapshotsToTheLastOfEachUtcDay,
    PruneDeletesOldCatalogSnapshotsWithTheirMembers, NulCharactersAreDroppedNotFatal,
    WatermarkKeepsTheReadIntervalsOfItsLatestRecord, JudgementsAndEdgeCutsAddUp,
    ABatchAppliedAgainWithItsCountKeyAddsItsCountsOnce, InvalidRecordIsMarkedRejected,
    DeadLettersAreClaimedOnceAcrossReplays, WatermarksOnlyMoveForward,
    CatalogServiceRoundTripsEveryField, CompleteSnapshotMarksAbsentServicesRemoved,
    SnapshotCompletesOnlyWithExactlyTheAnnouncedCount, OlderSnapshotRecordNeverOverwritesNewer,
    ApmObservationsMergeInAnyOrder, BrokenTraceWithHighIdsRoundTripsAndLatestJudgementWins,
    TraceAndSpanIdsOrderAsNumbers, DependencyCountsDistinctTracesUnderReplay,
    DependencyRowTakesTheLastObservationsToKind, SyncJobNewestRecordWins,
    CoverageSnapshotRowsUpsert, InvalidRecordRejectsTheWholeBatch, WholeBatchReplayChangesNothing);

}  // namespace apmcov::store::testing
