// QueryService over the in-memory ReadModel: coverage definitions (design §5), filters, sorting,
// keyset page tokens and parameter validation.
#include "query/query_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "apmcov/base/time.h"
#include "query/memory_read_model.h"

namespace apmcov::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kSec = 1'000'000'000;

class QueryServiceTest : public ::testing::Test {
 protected:
  QueryServiceTest() : svc_(store_, clock_, Options()) {
    now_ = clock_.NowUnixNanos();
    // Catalog.
    Service("api", "web", {"prod"}, "", {"go"}, true);
    Service("billing", "payments", {"prod"}, "vm", {}, true);  // USM-only, customer-facing
    Service("cart", "web", {}, "", {"java"}, false);           // traced via spans in staging
    Service("ledger", "", {}, "", {}, false);                  // nothing at all
    Service("legacy", "payments", {"prod"}, "", {}, true, "deprecated");
    Service("search", "web", {"prod", "staging"}, "", {}, false);  // traced only long ago
    // APM.
    Apm("api", "prod", now_ - 10 * kSec, 100, true, false, {"kubernetes"}, {});
    Apm("billing", "prod", now_ - 10 * kSec, 0, false, true, {}, {});
    Apm("cart", "staging", now_ - 5 * kSec, 7, false, false, {"ecs"}, {"python"});
    Apm("search", "prod", now_ - 48 * 3600 * kSec, 3, true, false, {"host"}, {});
    Apm("ghost", "prod", now_ - 1 * kSec, 9, true, false, {}, {});  // shadow
    Apm("legacy", "prod", now_ - 1 * kSec, 1, true, false, {}, {});
  }

  static QueryOptions Options() {
    QueryOptions o;
    o.catalog_ttl = std::chrono::milliseconds(0);
    return o;
  }

  void Service(const std::string& name, const std::string& team, std::vector<std::string> envs,
               const std::string& infra, std::vector<std::string> langs, bool cf,
               const std::string& lifecycle = "production") {
    ServiceRow r;
    r.name = name;
    r.team = team;
    r.envs = std::move(envs);
    r.infra = infra;
    r.languages = std::move(langs);
    r.customer_facing = cf;
    r.lifecycle = lifecycle;
    r.tier = name == "api" ? "1" : "";
    store_.PutService(r);
  }
  void Apm(const std::string& svc, const std::string& env, int64_t last_seen, int64_t spans,
           bool traced, bool usm, std::vector<std::string> hints, std::vector<std::string> langs) {
    ApmRow a;
    a.service = svc;
    a.env = env;
    a.last_seen = last_seen;
    a.first_seen = last_seen;
    a.span_count = spans;
    a.traced = traced;
    a.usm_only = usm;
    a.infra_hints = std::move(hints);
    a.languages = std::move(langs);
    store_.PutApm(a);
  }
  void Trace(const std::string& id, int64_t started, std::vector<std::string> services,
             std::vector<std::string> missing, std::vector<std::string> kinds,
             const std::string& env = "prod") {
    TraceDetail d;
    d.trace.trace_id = id;
    d.trace.started_at = started;
    d.trace.env = env;
    d.trace.services = std::move(services);
    d.trace.missing_services = std::move(missing);
    d.trace.gap_kinds = std::move(kinds);
    store_.PutTrace(d);
  }
  static std::vector<std::string> Names(const std::vector<ServiceView>& v) {
    std::vector<std::string> out;
    for (const auto& s : v) out.push_back(s.name);
    return out;
  }
  static const CoverageBucket* Find(const std::vector<CoverageBucket>& b, const std::string& k) {
    for (const auto& x : b) {
      if (x.key == k) return &x;
    }
    return nullptr;
  }

  MemoryReadModel store_;
  ManualClock clock_;
  QueryService svc_;
  int64_t now_ = 0;
};

TEST_F(QueryServiceTest, StatsFollowTheCoverageDefinitions) {
  auto st = svc_.GetStats();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->total_services, 5);         // legacy (deprecated) left out
  EXPECT_EQ(st->instrumented_services, 2);  // api (traced), cart (spans); search is too old
  EXPECT_DOUBLE_EQ(st->coverage_pct, 40.0);
  EXPECT_THAT(st->usm_only, ElementsAre("billing"));
  EXPECT_THAT(st->customer_facing_without_apm, ElementsAre("billing"));
  EXPECT_EQ(st->shadow_services, 1);  // ghost
  EXPECT_FALSE(st->last_sync.has_value());

  const auto* web = Find(st->by_team, "web");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->total, 3);
  EXPECT_EQ(web->instrumented, 2);
  EXPECT_DOUBLE_EQ(web->coverage_pct, 66.7);
  const auto* unknown_team = Find(st->by_team, "unknown");
  ASSERT_NE(unknown_team, nullptr);
  EXPECT_EQ(unknown_team->total, 1);                   // ledger
  EXPECT_EQ(Find(st->by_team, "payments")->total, 1);  // billing only, legacy deprecated

  // Env: cart counts under staging (seen there), search under prod and staging.
  const auto* staging = Find(st->by_env, "staging");
  ASSERT_NE(staging, nullptr);
  EXPECT_EQ(staging->total, 2);
  EXPECT_EQ(staging->instrumented, 1);
  EXPECT_EQ(Find(st->by_env, "prod")->total, 3);         // api, billing, search
  EXPECT_EQ(Find(st->by_env, "prod")->instrumented, 1);  // api
  EXPECT_EQ(Find(st->by_env, "unknown")->total, 1);      // ledger

  // Infra: tag wins (vm), else inferred from span hints, else unknown.
  EXPECT_EQ(Find(st->by_infra, "kubernetes")->total, 1);
  EXPECT_EQ(Find(st->by_infra, "ecs")->total, 1);
  EXPECT_EQ(Find(st->by_infra, "vm")->total, 1);
  EXPECT_EQ(Find(st->by_infra, "host"), nullptr);  // search's spans are older than the lookback
  EXPECT_EQ(Find(st->by_infra, "unknown")->total, 2);
  // Language: catalog's, else the spans' (cart has catalog java: spans' python ignored).
  EXPECT_EQ(Find(st->by_language, "java")->total, 1);
  EXPECT_EQ(Find(st->by_language, "python"), nullptr);
  EXPECT_EQ(Find(st->by_language, "go")->instrumented, 1);
}

TEST_F(QueryServiceTest, BrokenTraceCountUsesTheLookback) {
  Trace("5", now_ - 3600 * kSec, {"api"}, {}, {"orphan_span"});
  Trace("6", now_ - 30 * 3600 * kSec, {"api"}, {}, {"orphan_span"});
  auto st = svc_.GetStats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->broken_traces, 1);
}

// Design §7.1: judged traces from trace_judgements since the whole hour that holds
// now - lookback, numerators per missing service and gap kind from broken_traces in the same
// range, the sampled share from the sync jobs that finished within the lookback.
TEST_F(QueryServiceTest, SampleEstimateUsesWilsonIntervalsOverTheLookback) {
  constexpr int64_t kHour = 3600 * kSec;
  const int64_t since = QueryService::FloorHour(now_ - 24 * kHour);
  ASSERT_EQ(now_ - since, 24 * kHour + 800 * kSec);  // ManualClock starts 800 s into an hour
  auto job = [&](const std::string& id, std::optional<int64_t> finished, int64_t sampled,
                 int64_t skipped) {
    SyncJobRow j{
        id, "schedule", finished ? "succeeded" : "running", now_ - 48 * kHour, finished, 1, 1, 1, 0,
        "", 0};
    j.sampled_seconds = sampled;
    j.skipped_seconds = skipped;
    store_.PutSyncJob(j);
  };
  job("in-1", now_ - 1 * kHour, 100, 300);
  job("in-2", now_ - 2 * kHour, 0, 0);
  job("old", now_ - 30 * kHour, 1000, 0);    // finished before the lookback
  job("running", std::nullopt, 5000, 5000);  // not finished
  store_.AddJudgement(since, "api", 10, 3);  // the first hour of the range counts
  store_.AddJudgement(QueryService::FloorHour(now_ - kHour), "api", 50, 5);
  store_.AddJudgement(QueryService::FloorHour(now_ - kHour), "", 40, 5);  // rootless
  store_.AddJudgement(since - kHour, "api", 1000, 1000);                  // before the range
  for (const char* id : {"1", "2", "3"}) {
    Trace(id, now_ - kHour, {"api"}, {"billing"}, {"uninstrumented_callee"});
  }
  Trace("4", since, {"api"}, {"billing", "billing"}, {"uninstrumented_callee"});
  Trace("5", now_ - kHour, {"cart"}, {}, {"missing_root", "orphan_span", "orphan_span"});
  Trace("6", since - 1, {"api"}, {"billing"}, {"orphan_span"});  // before the range

  auto st = svc_.GetStats();
  ASSERT_TRUE(st.ok()) << st.status();
  const SampleEstimate& e = st->sample;
  ASSERT_TRUE(e.sampled_share.has_value());
  EXPECT_DOUBLE_EQ(*e.sampled_share, 0.25);  // 100 / (100 + 300)
  EXPECT_EQ(e.judged_traces, 100);
  EXPECT_EQ(e.broken_traces, 13);
  // 13 of 100: 0.13 [0.0776, 0.2098], computed by hand.
  EXPECT_DOUBLE_EQ(e.broken_rate, 0.13);
  EXPECT_NEAR(e.broken_rate_low, 0.0776, 5e-5);
  EXPECT_NEAR(e.broken_rate_high, 0.2098, 5e-5);
  // 13 / 0.25 over the 24 lookback hours, whatever the clock says within the hour.
  ASSERT_TRUE(e.broken_traces_per_hour.has_value());
  EXPECT_DOUBLE_EQ(*e.broken_traces_per_hour, 52.0 / 24);
  clock_.Advance(std::chrono::minutes(10));
  EXPECT_DOUBLE_EQ(*svc_.GetStats()->sample.broken_traces_per_hour, 52.0 / 24);

  ASSERT_EQ(e.by_root_service.size(), 2u);
  EXPECT_EQ(e.by_root_service[0].key, "api");  // most judged first
  EXPECT_EQ(e.by_root_service[0].judged, 60);
  EXPECT_EQ(e.by_root_service[0].broken, 8);
  EXPECT_NEAR(e.by_root_service[0].broken_rate_low, 0.0691, 5e-5);  // 8 of 60
  EXPECT_NEAR(e.by_root_service[0].broken_rate_high, 0.2417, 5e-5);
  EXPECT_EQ(e.by_root_service[1].key, "");  // rootless
  EXPECT_DOUBLE_EQ(e.by_root_service[1].broken_rate, 0.125);
  EXPECT_NEAR(e.by_root_service[1].broken_rate_low, 0.0546, 5e-5);  // 5 of 40
  EXPECT_NEAR(e.by_root_service[1].broken_rate_high, 0.2611, 5e-5);

  // Every trace once per key, the denominator is every judged trace.
  ASSERT_EQ(e.by_missing_service.size(), 1u);
  EXPECT_EQ(e.by_missing_service[0].key, "billing");
  EXPECT_EQ(e.by_missing_service[0].broken, 4);
  EXPECT_EQ(e.by_missing_service[0].judged, 100);
  EXPECT_DOUBLE_EQ(e.by_missing_service[0].broken_rate, 0.04);
  EXPECT_NEAR(e.by_missing_service[0].broken_rate_low, 0.0157, 5e-5);  // 4 of 100
  EXPECT_NEAR(e.by_missing_service[0].broken_rate_high, 0.0984, 5e-5);
  ASSERT_EQ(e.by_gap_kind.size(), 3u);
  EXPECT_EQ(e.by_gap_kind[0].key, "uninstrumented_callee");
  EXPECT_EQ(e.by_gap_kind[0].broken, 4);
  EXPECT_EQ(e.by_gap_kind[1].key, "missing_root");  // ties by key
  EXPECT_EQ(e.by_gap_kind[1].broken, 1);
  EXPECT_EQ(e.by_gap_kind[2].key, "orphan_span");
  EXPECT_EQ(e.by_gap_kind[2].broken, 1);
  EXPECT_NEAR(e.by_gap_kind[2].broken_rate_low, 0.0018, 5e-5);  // 1 of 100
  EXPECT_NEAR(e.by_gap_kind[2].broken_rate_high, 0.0545, 5e-5);
}

TEST_F(QueryServiceTest, SampleShareIsOneWithoutSkipsAndAbsentWithoutJobs) {
  auto none = svc_.GetStats();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->sample.sampled_share.has_value());
  EXPECT_FALSE(none->sample.broken_traces_per_hour.has_value());
  EXPECT_EQ(none->sample.judged_traces, 0);
  EXPECT_DOUBLE_EQ(none->sample.broken_rate_low, 0);  // nothing judged: [0, 1]
  EXPECT_DOUBLE_EQ(none->sample.broken_rate_high, 1);

  SyncJobRow j{"j", "schedule", "succeeded", now_ - 100, now_ - 50, 1, 1, 1, 0, "", 0};
  j.sampled_seconds = 0;  // a sync that read no span time and skipped none
  store_.PutSyncJob(j);
  auto all = svc_.GetStats();
  ASSERT_TRUE(all.ok());
  ASSERT_TRUE(all->sample.sampled_share.has_value());
  EXPECT_DOUBLE_EQ(*all->sample.sampled_share, 1.0);

  // A broken trace stored without a judgement cannot make a rate above 1.
  Trace("9", now_ - 60 * kSec, {"api"}, {"billing"}, {"orphan_span"});
  auto st = svc_.GetStats();
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->sample.by_missing_service.size(), 1u);
  EXPECT_LE(st->sample.by_missing_service[0].broken_rate, 1.0);
}

TEST_F(QueryServiceTest, LastSyncIsTheLatestFinishedJob) {
  store_.PutSyncJob({"j1", "schedule", "succeeded", now_ - 100, now_ - 50, 1, 1, 1, 0, "", 0});
  store_.PutSyncJob({"j2", "manual", "failed", now_ - 40, now_ - 30, 1, 1, 1, 0, "boom", 0});
  store_.PutSyncJob({"j3", "manual", "running", now_ - 20, std::nullopt, 1, 1, 1, 0, "", 0});
  auto st = svc_.GetStats();
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(st->last_sync.has_value());
  EXPECT_EQ(st->last_sync->id, "j2");
  auto jobs = svc_.ListSyncJobs("");
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 3u);
  EXPECT_EQ((*jobs)[0].id, "j3");
  EXPECT_EQ(svc_.ListSyncJobs("2")->size(), 2u);
  EXPECT_THAT(std::string(svc_.ListSyncJobs("0").status().message()), HasSubstr("limit"));
  EXPECT_EQ(svc_.GetSyncJob("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(QueryServiceTest, AcceptedSyncJobIsQueuedUntilTheCollectorRecordsIt) {
  svc_.NoteAcceptedSyncJob("fresh");
  clock_.Advance(std::chrono::seconds(3));
  auto queued = svc_.GetSyncJob("fresh");
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_EQ(*queued, (SyncJobRow{"fresh", "manual", "queued", std::nullopt, std::nullopt, 0, 0, 0,
                                 0, "", now_}));
  EXPECT_TRUE(svc_.ListSyncJobs("")->empty());  // the list shows stored rows only

  // The stored row wins as soon as it exists, and keeps answering.
  SyncJobRow running{"fresh", "manual", "running", now_ + kSec, std::nullopt,   4,
                     2,       9,        0,         "",          now_ + 2 * kSec};
  store_.PutSyncJob(running);
  EXPECT_EQ(*svc_.GetSyncJob("fresh"), running);
  clock_.Advance(std::chrono::hours(1));
  EXPECT_EQ(*svc_.GetSyncJob("fresh"), running);

  // Unknown ids stay NotFound.
  EXPECT_EQ(svc_.GetSyncJob("never-accepted").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(QueryServiceTest, AcceptedSyncJobExpiresAfterTheTtl) {
  svc_.NoteAcceptedSyncJob("lost");
  clock_.Advance(std::chrono::minutes(10) - std::chrono::seconds(1));
  EXPECT_EQ(svc_.GetSyncJob("lost")->state, "queued");
  clock_.Advance(std::chrono::seconds(1));
  auto gone = svc_.GetSyncJob("lost");
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(gone.status().message()), HasSubstr("never recorded by the collector"));
}

TEST_F(QueryServiceTest, AcceptedSyncJobsAreBounded) {
  QueryOptions o = Options();
  o.pending_sync_jobs = 3;
  QueryService small(store_, clock_, o);
  for (const char* id : {"a", "b", "c", "d"}) small.NoteAcceptedSyncJob(id);
  EXPECT_EQ(small.GetSyncJob("a").status().code(), absl::StatusCode::kNotFound);  // oldest gone
  for (const char* id : {"b", "c", "d"}) EXPECT_TRUE(small.GetSyncJob(id).ok()) << id;
  // Once "b" is stored, its entry is the oldest one dropped when "e" arrives: c, d, e stay.
  store_.PutSyncJob({"b", "manual", "succeeded", now_, now_, 1, 1, 1, 0, "", now_});
  EXPECT_EQ(small.GetSyncJob("b")->state, "succeeded");
  small.NoteAcceptedSyncJob("e");
  for (const char* id : {"c", "d", "e"}) EXPECT_EQ(small.GetSyncJob(id)->state, "queued") << id;
  for (int i = 0; i < 100; ++i) small.NoteAcceptedSyncJob("x" + std::to_string(i));
  EXPECT_EQ(small.GetSyncJob("e").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(small.GetSyncJob("x99")->state, "queued");
  EXPECT_EQ(small.GetSyncJob("x96").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(QueryServiceTest, FiltersSelectTheRightServices) {
  auto list = [&](ServicesQuery q) {
    auto page = svc_.ListServices(q);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? Names(page->services) : std::vector<std::string>{};
  };
  EXPECT_THAT(list({}), ElementsAre("api", "billing", "cart", "ledger", "search"));
  EXPECT_THAT(list({.team = "web"}), ElementsAre("api", "cart", "search"));
  EXPECT_THAT(list({.team = "unknown"}), ElementsAre("ledger"));
  EXPECT_THAT(list({.env = "staging"}), ElementsAre("cart", "search"));
  EXPECT_THAT(list({.infra = "vm"}), ElementsAre("billing"));
  EXPECT_THAT(list({.language = "go"}), ElementsAre("api"));
  EXPECT_THAT(list({.tier = "1"}), ElementsAre("api"));
  EXPECT_THAT(list({.apm = "true"}), ElementsAre("api", "cart"));
  EXPECT_THAT(list({.apm = "false"}), ElementsAre("billing", "ledger", "search"));
  EXPECT_THAT(list({.customer_facing = "true"}), ElementsAre("api", "billing"));
  EXPECT_THAT(list({.include_deprecated = "true"}),
              ElementsAre("api", "billing", "cart", "ledger", "legacy", "search"));
  EXPECT_THAT(list({.q = "AR"}), ElementsAre("cart", "search"));
  EXPECT_THAT(list({.q = "payments"}), ElementsAre("billing"));
  auto page = svc_.ListServices({.apm = "false"});
  EXPECT_EQ(page->total, 3);
  EXPECT_TRUE(page->services[0].usm_only);
}

TEST_F(QueryServiceTest, SortsBothWays) {
  auto page = svc_.ListServices({.sort = "-span_count"});
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(Names(page->services), ElementsAre("api", "cart", "search", "ledger", "billing"));
  page = svc_.ListServices({.sort = "-name"});
  EXPECT_THAT(Names(page->services), ElementsAre("search", "ledger", "cart", "billing", "api"));
  page = svc_.ListServices({.sort = "team"});
  EXPECT_THAT(Names(page->services), ElementsAre("ledger", "billing", "api", "cart", "search"));
}

TEST_F(QueryServiceTest, PageTokensWalkEveryRowOnceAndSurviveInserts) {
  for (const char* sort : {"name", "-name", "span_count", "-last_seen", "team"}) {
    std::vector<std::string> seen;
    std::string token;
    int pages = 0;
    do {
      auto page = svc_.ListServices({.sort = sort, .page_size = "2", .page_token = token});
      ASSERT_TRUE(page.ok()) << sort << ": " << page.status();
      EXPECT_EQ(page->total, 5);
      for (auto& s : page->services) seen.push_back(s.name);
      token = page->next_page_token;
      ++pages;
    } while (!token.empty() && pages < 10);
    EXPECT_EQ(pages, 3) << sort;
    std::vector<std::string> all = Names(svc_.ListServices({.sort = sort})->services);
    EXPECT_EQ(seen, all) << sort;
  }
  // A row inserted before the cursor does not shift the next page.
  auto first = svc_.ListServices({.page_size = "2"});
  EXPECT_THAT(Names(first->services), ElementsAre("api", "billing"));
  Service("aaa", "web", {}, "", {}, false);
  auto second = svc_.ListServices({.page_size = "2", .page_token = first->next_page_token});
  ASSERT_TRUE(second.ok());
  EXPECT_THAT(Names(second->services), ElementsAre("cart", "ledger"));
  EXPECT_EQ(second->total, 6);
}

TEST_F(QueryServiceTest, BadParametersAreNamed) {
  auto msg = [](const absl::Status& s) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    return std::string(s.message());
  };
  EXPECT_THAT(msg(svc_.ListServices({.page_size = "0"}).status()), HasSubstr("page_size"));
  EXPECT_THAT(msg(svc_.ListServices({.page_size = "abc"}).status()), HasSubstr("page_size"));
  EXPECT_THAT(msg(svc_.ListServices({.page_size = "1001"}).status()), HasSubstr("page_size"));
  EXPECT_THAT(msg(svc_.ListServices({.sort = "color"}).status()), HasSubstr("sort"));
  EXPECT_THAT(msg(svc_.ListServices({.apm = "maybe"}).status()), HasSubstr("apm"));
  EXPECT_THAT(msg(svc_.ListServices({.customer_facing = "1"}).status()),
              HasSubstr("customer_facing"));
  EXPECT_THAT(msg(svc_.ListServices({.include_deprecated = "x"}).status()),
              HasSubstr("include_deprecated"));
  EXPECT_THAT(msg(svc_.ListServices({.page_token = "!!!"}).status()), HasSubstr("page_token"));
  EXPECT_THAT(msg(svc_.ListServices({.q = std::string(201, 'x')}).status()), HasSubstr("q:"));
  auto page = svc_.ListServices({.page_size = "1"});
  EXPECT_THAT(
      msg(svc_.ListServices({.sort = "-name", .page_token = page->next_page_token}).status()),
      HasSubstr("page_token"));
  EXPECT_THAT(msg(svc_.GetCoverage("color").status()), HasSubstr("by"));
  EXPECT_THAT(msg(svc_.GetCoverage("").status()), HasSubstr("by"));
  EXPECT_THAT(msg(svc_.GetCoverageHistory("team", "yesterday").status()), HasSubstr("since"));
  EXPECT_THAT(msg(svc_.ListTraces({.kind = "bad"}).status()), HasSubstr("kind"));
  EXPECT_THAT(msg(svc_.ListTraces({.since = "x"}).status()), HasSubstr("since"));
  EXPECT_THAT(msg(svc_.ListTraces({.page_token = page->next_page_token}).status()),
              HasSubstr("page_token"));
  EXPECT_THAT(msg(svc_.GetTrace("12a").status()), HasSubstr("trace_id"));
  EXPECT_THAT(msg(svc_.GetService(std::string("api\0x", 5)).status()), HasSubstr("name"));
  EXPECT_THAT(msg(svc_.ListTraces({.service = std::string("api\0", 4)}).status()),
              HasSubstr("service"));
  EXPECT_THAT(msg(svc_.GetSyncJob(std::string("j\0", 2)).status()), HasSubstr("id"));
  EXPECT_THAT(msg(svc_.GetTrace("18446744073709551616").status()), HasSubstr("trace_id"));
}

TEST_F(QueryServiceTest, UnknownNamesAreNotFound) {
  EXPECT_EQ(svc_.GetService("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(svc_.GetTrace("42").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(QueryServiceTest, ServiceDetailMergesApmDependenciesAndTraces) {
  store_.PutDependency({"api", "cart", "call", "service", now_, 4});
  store_.PutDependency({"cart", "db", "db", "datastore", now_, 4});
  Trace("9", now_ - kSec, {"api", "cart"}, {"billing"}, {"uninstrumented_callee"});
  auto d = svc_.GetService("api");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->service.instrumented);
  EXPECT_EQ(d->service.infra, "kubernetes");
  ASSERT_EQ(d->apm.size(), 1u);
  ASSERT_EQ(d->dependencies.size(), 1u);
  EXPECT_EQ(d->dependencies[0].to_name, "cart");
  ASSERT_EQ(d->broken_traces.size(), 1u);
  EXPECT_EQ(d->broken_traces[0].trace_id, "9");
}

TEST_F(QueryServiceTest, TracesFilterAndPage) {
  for (int i = 1; i <= 7; ++i) {
    Trace(std::to_string(i * 10), now_ - (i % 3) * kSec, {"api", i % 2 ? "cart" : "search"},
          i % 2 ? std::vector<std::string>{"billing"} : std::vector<std::string>{},
          {i % 2 ? "uninstrumented_callee" : "orphan_span"}, i == 7 ? "staging" : "prod");
  }
  std::vector<std::string> ids;
  std::string token;
  do {
    auto page = svc_.ListTraces({.page_size = "3", .page_token = token});
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->total, 7);
    for (auto& t : page->traces) ids.push_back(t.trace_id);
    token = page->next_page_token;
  } while (!token.empty());
  // started_at desc (i%3 == 0 newest), then trace id desc numerically.
  EXPECT_THAT(ids, ElementsAre("60", "30", "70", "40", "10", "50", "20"));
  EXPECT_EQ(svc_.ListTraces({.service = "cart"})->total, 4);
  EXPECT_EQ(svc_.ListTraces({.missing = "billing"})->total, 4);
  EXPECT_EQ(svc_.ListTraces({.kind = "orphan_span"})->total, 3);
  EXPECT_EQ(svc_.ListTraces({.env = "staging"})->total, 1);
  EXPECT_EQ(svc_.ListTraces({.since = FormatRfc3339(now_ - kSec)})->total, 5);
}

TEST_F(QueryServiceTest, CoverageHistoryGroupsPoints) {
  store_.PutSnapshot({now_ - 200 * kSec, "team", "web", 4, 1});
  store_.PutSnapshot({now_ - 200 * kSec, "team", "payments", 2, 2});
  store_.PutSnapshot({now_ - 100 * kSec, "team", "web", 4, 3});
  store_.PutSnapshot({now_ - 100 * kSec, "overall", "all", 6, 5});
  auto h = svc_.GetCoverageHistory("team", "");
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->size(), 2u);
  ASSERT_EQ((*h)[0].buckets.size(), 2u);
  EXPECT_EQ((*h)[0].buckets[0].key, "payments");
  EXPECT_DOUBLE_EQ((*h)[1].buckets[0].coverage_pct, 75.0);
  EXPECT_EQ(svc_.GetCoverageHistory("", "")->size(), 1u);
  EXPECT_EQ(svc_.GetCoverageHistory("team", FormatRfc3339(now_ - 150 * kSec))->size(), 1u);
}

TEST_F(QueryServiceTest, ShadowServicesAreApmNamesOutsideTheCatalog) {
  auto shadows = svc_.ListShadowServices();
  ASSERT_TRUE(shadows.ok());
  ASSERT_EQ(shadows->size(), 1u);
  EXPECT_EQ((*shadows)[0].name, "ghost");
  EXPECT_THAT((*shadows)[0].envs, ElementsAre("prod"));
  EXPECT_EQ((*shadows)[0].span_count, 9);
}

TEST_F(QueryServiceTest, StoreFailuresKeepTheirCode) {
  store_.SetUnavailable(true);
  EXPECT_EQ(svc_.GetStats().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(svc_.ListServices({}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(svc_.ListTraces({}).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(QueryServiceTest, CatalogIsCachedForItsTtl) {
  QueryOptions o;
  o.catalog_ttl = std::chrono::milliseconds(1000);
  QueryService cached(store_, clock_, o);
  EXPECT_EQ(cached.GetStats()->total_services, 5);
  Service("zzz", "web", {}, "", {}, false);
  EXPECT_EQ(cached.GetStats()->total_services, 5);
  clock_.Advance(std::chrono::seconds(2));
  EXPECT_EQ(cached.GetStats()->total_services, 6);
}

TEST_F(QueryServiceTest, BackgroundRefreshServesStaleThenFresh) {
  QueryOptions o;
  o.catalog_ttl = std::chrono::milliseconds(1000);
  o.background_refresh = true;
  QueryService cached(store_, clock_, o);
  EXPECT_EQ(cached.GetStats()->total_services, 5);
  Service("zzz", "web", {}, "", {}, false);
  clock_.Advance(std::chrono::seconds(2));
  EXPECT_EQ(cached.GetStats()->total_services, 5);  // stale while the reload runs
  int64_t total = 5;
  for (int i = 0; i < 500 && total == 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    total = cached.GetStats()->total_services;
  }
  EXPECT_EQ(total, 6);
  store_.SetUnavailable(true);  // a failed reload keeps the last good copy
  clock_.Advance(std::chrono::seconds(2));
  EXPECT_TRUE(cached.ListServices({}).ok());
}

}  // namespace
}  // namespace apmcov::gateway
