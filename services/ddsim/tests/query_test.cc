#include "ddsim/traffic/query.h"

#include "gtest/gtest.h"

namespace apmcov::ddsim {
namespace {

class QueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto w = GenerateWorld({3, 50});
    ASSERT_TRUE(w.ok());
    world_ = std::move(*w);
    span_.service = 0;
    span_.env = 1;  // staging
    span_.trace_lo = 18'000'000'000'000'000'001ULL;
    span_.kind = SpanKind::kClient;
    span_.target_kind = DepKind::kDatastore;
    span_.target = 0;
    span_.retained_by = Retention::kFlatSampled;
    span_.duration_ns = 5'000'000;
  }
  bool Match(const std::string& q) {
    auto parsed = SpanQuery::Parse(q);
    EXPECT_TRUE(parsed.ok()) << q << ": " << parsed.status();
    return parsed.ok() && parsed->Matches(world_, span_);
  }
  World world_;
  Span span_;
};

TEST_F(QueryTest, ReservedAttributesAndWildcards) {
  const std::string& name = world_.services[0].name;
  EXPECT_TRUE(Match("*"));
  EXPECT_TRUE(Match(""));
  EXPECT_TRUE(Match("service:" + name));
  EXPECT_FALSE(Match("service:nope"));
  EXPECT_TRUE(Match("service:" + name.substr(0, 3) + "*"));
  EXPECT_TRUE(Match("env:staging"));
  EXPECT_FALSE(Match("env:prod"));
  EXPECT_TRUE(Match("trace_id:18000000000000000001"));
  EXPECT_TRUE(Match("retained_by:(flat_sampled OR diversity_sampling)"));
  EXPECT_FALSE(Match("retained_by:(retention_filter)"));
}

TEST_F(QueryTest, BooleanOperatorsAndAttributes) {
  EXPECT_TRUE(Match("env:staging AND @span.kind:client"));
  EXPECT_TRUE(Match("env:staging @span.kind:client"));
  EXPECT_FALSE(Match("env:staging AND -@span.kind:client"));
  EXPECT_TRUE(Match("env:prod OR env:staging"));
  EXPECT_TRUE(Match("NOT env:prod"));
  EXPECT_TRUE(Match("(env:prod OR env:staging) AND @db.system:" + world_.datastores[0].system));
  EXPECT_FALSE(Match("@peer.service:*"));
  EXPECT_TRUE(Match("@duration:>1000000"));
  EXPECT_FALSE(Match("@duration:>=6000000"));
  EXPECT_TRUE(Match("@duration:[1000 TO 9000000]"));
}

TEST_F(QueryTest, TraceIdRestrictionIsExtractedFromTopLevelAnd) {
  auto q = SpanQuery::Parse("trace_id:42 AND env:prod");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(q->trace_id().has_value());
  EXPECT_EQ(*q->trace_id(), 42u);
  auto o = SpanQuery::Parse("trace_id:42 OR env:prod");
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->trace_id().has_value());
}

TEST_F(QueryTest, MalformedQueriesAreRejectedWithAReason) {
  for (const char* q :
       {"(env:prod", "env:prod)", "service:", "service:()", "@duration:[1 TO", "@duration:>x"}) {
    auto p = SpanQuery::Parse(q);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << q;
    EXPECT_FALSE(p.status().message().empty());
  }
}

}  // namespace
}  // namespace apmcov::ddsim
