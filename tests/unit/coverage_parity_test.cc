// The analyzer's coverage snapshot and the gateway's answers over the same writes: the analyzer
// App consumes a catalog, APM observations and a finished sync job (MemoryBroker) into a
// MemoryCoverageStore and writes its snapshot; QueryService then answers from a MemoryReadModel
// of that store at the snapshot's time. Every number must agree, dimension by dimension.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apmcov/bus/memory_bus.h"
#include "apmcov/bus/proto.h"
#include "apmcov/store/memory_read_model.h"
#include "apmcov/store/memory_store.h"
#include "apmcov/v1/events.pb.h"
#include "app.h"
#include "fixtures.h"
#include "query/query_service.h"

namespace apmcov {
namespace {

using analyzer::testing::kSec;
using analyzer::testing::kT0;
using analyzer::testing::MakeJob;
using google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;

constexpr int64_t kHour = 3600 * kSec;

struct Catalogued {
  std::string name, team, tier, lifecycle, infra;
  std::vector<std::string> envs, languages;
};

struct Observed {
  std::string service, env;
  bool traced = false, usm = false;
  uint64_t spans = 0;
  int64_t seen = 0;
  std::vector<std::string> languages, infra_hints;
};

class CoverageParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& [topic, parts] :
         std::vector<std::pair<std::string, int>>{{topics_.catalog, 1},
                                                  {topics_.apm_inventory, 1},
                                                  {topics_.spans, 1},
                                                  {topics_.sync_jobs, 1},
                                                  {topics_.dlq, 1}}) {
      ASSERT_TRUE(broker_.CreateTopic(topic, parts).ok());
    }
    analyzer::AppOptions options;
    options.topic_prefix = "t.";
    options.poll_timeout = std::chrono::milliseconds(5);
    options.directory_refresh = std::chrono::seconds(0);
    subscriber_ = broker_.NewSubscriber("apmcov-analyzer");
    app_ = std::make_unique<analyzer::App>(
        options, analyzer::AppPorts{*subscriber_, *dlq_, store_, clock_, registry_, *probe_});
    ASSERT_TRUE(app_->Start().ok());
  }

  void Publish(const std::string& topic, const std::string& key,
               const google::protobuf::Message& m) {
    ASSERT_TRUE(bus::PublishProto(*producer_, topic, key, m).ok());
    ASSERT_TRUE(producer_->Flush(std::chrono::seconds(1)).ok());
  }

  // Publishes the catalog snapshot, the observations and a job that finished at kT0, then runs
  // the analyzer until it has nothing left to do: it writes the coverage snapshot of kT0.
  void Analyze(const std::vector<Catalogued>& catalog, const std::vector<Observed>& observed) {
    for (const Catalogued& c : catalog) {
      v1::CatalogService s;
      s.set_snapshot_id("snap");
      s.set_name(c.name);
      s.set_team(c.team);
      s.set_tier(c.tier);
      s.set_lifecycle(c.lifecycle);
      s.set_infra(c.infra);
      for (const auto& e : c.envs) s.add_envs(e);
      for (const auto& l : c.languages) s.add_languages(l);
      *s.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(kT0 - kHour);
      Publish(topics_.catalog, c.name, s);
    }
    v1::CatalogSnapshotEnd end;
    end.set_snapshot_id("snap");
    end.set_count(static_cast<uint32_t>(catalog.size()));
    *end.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(kT0 - kHour);
    Publish(topics_.catalog, std::string("\0snapshot-end", 13), end);
    for (const Observed& o : observed) {
      v1::ApmObservation m;
      m.set_service(o.service);
      m.set_env(o.env);
      m.set_traced(o.traced);
      m.set_usm(o.usm);
      m.set_span_count(o.spans);
      for (const auto& l : o.languages) m.add_languages(l);
      for (const auto& h : o.infra_hints) m.add_infra_hints(h);
      *m.mutable_last_seen() = TimeUtil::NanosecondsToTimestamp(o.seen);
      Publish(topics_.apm_inventory, o.service + "\x1f" + o.env, m);
    }
    Publish(topics_.sync_jobs, "j", MakeJob("j", v1::SYNC_STATE_SUCCEEDED, 0, 0, kT0));
    int idle = 0;
    for (int i = 0; i < 200 && idle < 2; ++i) {
      absl::StatusOr<size_t> n = app_->RunOnce();
      ASSERT_TRUE(n.ok()) << n.status();
      idle = *n == 0 ? idle + 1 : 0;
    }
    const std::vector<store::CoverageRow> rows = *store_.LoadCoverageSnapshot(kT0);
    ASSERT_FALSE(rows.empty()) << "the analyzer wrote no coverage snapshot";
    for (const store::CoverageRow& r : rows) snapshot_[r.dimension][r.key] = r;
  }

  // The gateway at the snapshot's time, reading what the analyzer wrote.
  gateway::QueryService& Gateway() {
    if (!gateway_) {
      gateway::QueryOptions o;
      o.catalog_ttl = std::chrono::milliseconds(0);
      gateway_ = std::make_unique<gateway::QueryService>(model_, gateway_clock_, o);
    }
    return *gateway_;
  }

  // Every number of the snapshot is the gateway's, and the other way round.
  void ExpectAgreement() {
    absl::StatusOr<gateway::Stats> st = Gateway().GetStats();
    ASSERT_TRUE(st.ok()) << st.status();
    ASSERT_TRUE(snapshot_["overall"].contains("all"));
    EXPECT_EQ(st->total_services, snapshot_["overall"]["all"].total);
    EXPECT_EQ(st->instrumented_services, snapshot_["overall"]["all"].instrumented);
    for (const char* dimension : {"team", "env", "infra", "language", "tier", "lifecycle"}) {
      absl::StatusOr<std::vector<gateway::CoverageBucket>> buckets =
          Gateway().GetCoverage(dimension);
      ASSERT_TRUE(buckets.ok()) << buckets.status();
      std::map<std::string, std::pair<int64_t, int64_t>> gateway, analyzer;
      for (const auto& b : *buckets) gateway[b.key] = {b.total, b.instrumented};
      for (const auto& [key, r] : snapshot_[dimension]) {
        analyzer[key] = {r.total, r.instrumented};
      }
      EXPECT_EQ(gateway, analyzer) << dimension;
    }
  }

  bus::TopicNames topics_{"t."};
  bus::MemoryBroker broker_;
  std::unique_ptr<bus::Publisher> producer_ = broker_.NewPublisher();
  std::unique_ptr<bus::Publisher> dlq_ = broker_.NewPublisher();
  std::unique_ptr<bus::LagProbe> probe_ = broker_.NewLagProbe();
  std::unique_ptr<bus::Subscriber> subscriber_;
  store::MemoryCoverageStore store_;
  store::MemoryReadModel model_{store_};
  ManualClock clock_;
  ManualClock gateway_clock_{std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(kT0)))};
  prometheus::Registry registry_;
  std::unique_ptr<analyzer::App> app_;
  std::unique_ptr<gateway::QueryService> gateway_;
  std::map<std::string, std::map<std::string, store::CoverageRow>> snapshot_;
};

// The case the two used to disagree on: traced three days ago (outside the 24 h lookback) and
// still seen through USM a minute ago. apm_services says traced, with a last_seen in the
// lookback; only last_traced tells it stopped tracing. Not instrumented, USM-only, in both.
TEST_F(CoverageParityTest, StoppedTracingButSeenByUsmIsNotInstrumentedInEither) {
  Analyze({{"stopped-tracing", "core", "1", "production", "", {"prod"}, {}},
           {"traced", "core", "1", "production", "", {"prod"}, {}}},
          {{"stopped-tracing", "prod", true, false, 0, kT0 - 72 * kHour},
           {"stopped-tracing", "prod", false, true, 0, kT0 - 60 * kSec},
           {"traced", "prod", true, false, 0, kT0 - kHour}});
  EXPECT_EQ(snapshot_["overall"]["all"].total, 2);
  EXPECT_EQ(snapshot_["overall"]["all"].instrumented, 1);
  absl::StatusOr<gateway::Stats> st = Gateway().GetStats();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->total_services, 2);
  EXPECT_EQ(st->instrumented_services, 1);
  EXPECT_THAT(st->usm_only, ElementsAre("stopped-tracing"));
  ExpectAgreement();
}

// A catalog with every kind of APM fact, over every dimension.
TEST_F(CoverageParityTest, EveryDimensionAgrees) {
  Analyze({{"api", "web", "1", "production", "kubernetes", {"prod", "staging"}, {"go"}},
           {"cart", "web", "2", "production", "", {}, {"java"}},
           {"billing", "payments", "1", "production", "Vm", {"prod"}, {}},
           {"stopped-tracing", "payments", "2", "production", "", {"prod"}, {}},
           {"ledger", "", "", "", "", {}, {}},
           {"legacy", "payments", "3", "deprecated", "", {"prod"}, {}},
           {"search", "web", "", "experimental", "", {"prod"}, {}}},
          {{"api", "prod", true, false, 100, kT0 - kHour, {"go"}, {"kubernetes"}},
           {"api", "staging", true, false, 3, kT0 - 30 * kHour, {"go"}, {"kubernetes"}},
           {"cart", "staging", false, false, 7, kT0 - 5 * kSec, {"python"}, {"ecs"}},
           {"billing", "prod", false, true, 0, kT0 - kHour},
           {"stopped-tracing", "prod", true, false, 40, kT0 - 50 * kHour, {"ruby"}, {"host"}},
           {"stopped-tracing", "prod", false, true, 0, kT0 - kSec},
           {"legacy", "prod", true, false, 1, kT0 - kSec},
           {"search", "*", true, false, 0, kT0 - 2 * kHour},
           {"ghost", "prod", true, false, 9, kT0 - kSec}});
  // api (traced in prod), cart (spans), search (the APM service list): 3 of 6 (legacy is
  // deprecated); billing and stopped-tracing are USM-only.
  EXPECT_EQ(snapshot_["overall"]["all"].total, 6);
  EXPECT_EQ(snapshot_["overall"]["all"].instrumented, 3);
  absl::StatusOr<gateway::Stats> st = Gateway().GetStats();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_THAT(st->usm_only, ElementsAre("billing", "stopped-tracing"));
  ExpectAgreement();
}

}  // namespace
}  // namespace apmcov
