#include "ddsim/traffic/truth.h"

#include <set>

#include "ddsim/http/span_render.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "recompute.h"

namespace apmcov::ddsim {
namespace {

constexpr int64_t kT0 = 1'795'300'000;

class TruthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto w = GenerateWorld({21, 300});
    ASSERT_TRUE(w.ok());
    world_ = std::move(*w);
    opts_.seed = 21;
    opts_.spans_per_second = 1500;
  }
  nlohmann::json Truth(int64_t from_s, int64_t to_s,
                       TruthRequest::Traces traces = TruthRequest::Traces::kAll) {
    TruthRequest req{from_s * kBucketNanos, to_s * kBucketNanos, traces};
    return nlohmann::json::parse(GroundTruthJson(
        world_, opts_, [&](int64_t b) { return GenerateBucket(world_, opts_, b); }, req));
  }
  World world_;
  TrafficOptions opts_;
};

TEST_F(TruthTest, IndependentRecomputationFromRenderedSpansMatchesTheRecordedTruth) {
  // Render every span of the buckets as the Spans API would, parse it back, and recompute §6.
  SpanRenderer renderer(world_);
  std::vector<testing::ServedSpan> served;
  for (int64_t b = kT0 - 1; b <= kT0 + 10; ++b) {
    auto bucket = GenerateBucket(world_, opts_, b);
    for (const Span& s : bucket->spans) {
      std::string json;
      renderer.AppendSpanEvent(json, s);
      served.push_back(testing::FromSpanEvent(nlohmann::json::parse(json)));
    }
  }
  std::set<std::string> catalog, instrumented;
  for (const auto& s : world_.services) {
    if (s.catalogued()) catalog.insert(s.name);
    if (s.state == Instrumentation::kInstrumented) instrumented.insert(s.name);
  }
  auto recomputed = testing::Recompute(served, catalog, instrumented);
  const nlohmann::json truth = Truth(kT0, kT0 + 10);
  ASSERT_GT(truth["traces"].size(), 500u);
  int broken = 0;
  for (const auto& t : truth["traces"]) {
    const uint64_t id = std::stoull(t["trace_id"].get<std::string>());
    ASSERT_TRUE(recomputed.count(id)) << id;
    const auto& r = recomputed[id];
    EXPECT_EQ(r.judged, t["judged"].get<bool>()) << id;
    EXPECT_EQ(r.span_count, t["span_count"].get<size_t>()) << id;
    if (!r.judged) continue;
    std::set<std::tuple<std::string, uint64_t, std::string>> expected;
    for (const auto& g : t["gaps"]) {
      expected.insert({g["kind"].get<std::string>(), std::stoull(g["span_id"].get<std::string>()),
                       g["to_service"].is_null() ? "" : g["to_service"].get<std::string>()});
    }
    EXPECT_EQ(r.gaps, expected) << "trace " << id;
    EXPECT_EQ(r.missing_services, t["missing_services"].get<std::vector<std::string>>()) << id;
    EXPECT_EQ(r.root_service,
              t["root_service"].is_null() ? "" : t["root_service"].get<std::string>());
    broken += t["broken"].get<bool>();
  }
  EXPECT_GT(broken, 50);
}

TEST_F(TruthTest, CoverageFollowsTheDesignDefinitions) {
  const nlohmann::json t = Truth(kT0, kT0 + 30, TruthRequest::Traces::kNone);
  const auto& cov = t["coverage"];
  int total = 0, instrumented = 0;
  std::set<std::string> usm, cf_without;
  for (const auto& s : world_.services) {
    if (!s.catalogued() || s.deprecated()) continue;
    ++total;
    instrumented += s.state == Instrumentation::kInstrumented;
    if (s.state == Instrumentation::kUsmOnly) usm.insert(s.name);
    if (s.customer_facing() && s.state != Instrumentation::kInstrumented) cf_without.insert(s.name);
  }
  // The tracker's own catalog entries: not instrumented while nothing was received.
  ASSERT_EQ(world_.self_services.size(), 3u);
  total += 3;
  EXPECT_EQ(cov["total_services"], total);
  EXPECT_EQ(cov["instrumented_services"], instrumented);
  EXPECT_EQ(cov["usm_only"].get<std::set<std::string>>(), usm);
  EXPECT_EQ(cov["customer_facing_without_apm"].get<std::set<std::string>>(), cf_without);
  EXPECT_FALSE(cf_without.empty());
  for (const char* dim : {"by_team", "by_infra", "by_tier", "by_lifecycle"}) {
    int sum = 0;
    for (const auto& row : cov[dim]) {
      sum += row["total"].get<int>();
      EXPECT_LE(row["instrumented"].get<int>(), row["total"].get<int>());
      EXPECT_NE(row["key"], "deprecated");
    }
    EXPECT_EQ(sum, total) << dim;  // one key per service in these dimensions
  }
  // Design §5's default infra aliases: the world tags some services infra:k8s and
  // platform:lambda, and they count as kubernetes and serverless.
  bool aliased_tags = false;
  for (const auto& s : world_.services) {
    aliased_tags |= s.catalogued() && !s.deprecated() &&
                    (s.infra_tag == "infra:k8s" || s.infra_tag == "platform:lambda");
  }
  EXPECT_TRUE(aliased_tags);
  std::set<std::string> infra_keys;
  for (const auto& row : cov["by_infra"]) infra_keys.insert(row["key"]);
  EXPECT_FALSE(infra_keys.count("k8s"));
  EXPECT_FALSE(infra_keys.count("lambda"));
  EXPECT_TRUE(infra_keys.count("kubernetes"));
  EXPECT_TRUE(infra_keys.count("serverless"));
  std::set<std::string> lifecycle_keys;
  for (const auto& row : cov["by_lifecycle"]) lifecycle_keys.insert(row["key"]);
  EXPECT_TRUE(lifecycle_keys.count("unknown"));  // v1/v2 definitions have no lifecycle
  EXPECT_EQ(cov["shadow_services"].get<size_t>(), t["shadow_services"].size());
  EXPECT_GT(t["shadow_services"].size(), 0u);
  for (const auto& row : cov["by_team"]) {
    if (row["key"] == "apm-coverage") {
      EXPECT_EQ(row["total"], 3);
      EXPECT_EQ(row["instrumented"], 0);
    }
  }
  for (const auto name : {"apmcov-analyzer", "apmcov-collector", "apmcov-gateway"}) {
    EXPECT_TRUE(t["catalog"]["not_instrumented"].get<std::set<std::string>>().count(name)) << name;
  }
}

TEST_F(TruthTest, WithoutSelfCatalogTheWorldIsOnlyWhatWasGenerated) {
  auto w = GenerateWorld({21, 300, /*self_catalog=*/false});
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(w->self_services.empty());
  EXPECT_EQ(w->services.size(), world_.services.size());
  TruthRequest req{kT0 * kBucketNanos, (kT0 + 5) * kBucketNanos, TruthRequest::Traces::kNone};
  const auto t = nlohmann::json::parse(GroundTruthJson(
      *w, opts_, [&](int64_t b) { return GenerateBucket(*w, opts_, b); }, req));
  const auto with = Truth(kT0, kT0 + 5, TruthRequest::Traces::kNone);
  EXPECT_EQ(t["coverage"]["total_services"].get<int>() + 3,
            with["coverage"]["total_services"].get<int>());
  // The generated traffic is the same with or without the three entries.
  EXPECT_EQ(t["trace_summary"], with["trace_summary"]);
}

TEST_F(TruthTest, SameInputsGiveTheSameDocument) {
  EXPECT_EQ(Truth(kT0, kT0 + 3).dump(), Truth(kT0, kT0 + 3).dump());
  const auto summary = Truth(kT0, kT0 + 3)["trace_summary"];
  EXPECT_EQ(summary["total"].get<int>(),
            summary["judged"].get<int>() + summary["excluded_single_span"].get<int>());
}

}  // namespace
}  // namespace apmcov::ddsim
