#include "apmcov/coverage/span.h"

#include <string>

#include "gtest/gtest.h"
#include "test_util.h"

namespace apmcov::coverage {
namespace {

TEST(StringPoolTest, InternsOnceAndKeepsViewsStable) {
  StringPool pool;
  EXPECT_EQ(pool.Intern(""), kEmptyStr);
  EXPECT_EQ(pool.View(kEmptyStr), "");
  const StrId a = pool.Intern("checkout");
  const std::string_view view = pool.View(a);
  // Enough distinct strings to allocate several chunks.
  for (int i = 0; i < 20000; ++i) pool.Intern("service-" + std::to_string(i));
  EXPECT_EQ(pool.Intern(std::string("check") + "out"), a);
  EXPECT_EQ(view, "checkout");
  EXPECT_EQ(view.data(), pool.View(a).data());
  EXPECT_EQ(pool.size(), 20002u);
  EXPECT_EQ(pool.Find("service-42"), pool.Intern("service-42"));
  EXPECT_EQ(pool.Find("never-seen"), kEmptyStr);
  EXPECT_GT(pool.bytes(), 20000u * 8);
}

TEST(StringPoolTest, LongStringsLargerThanAChunk) {
  StringPool pool;
  const std::string big(200 * 1024, 'x');
  const StrId id = pool.Intern(big);
  EXPECT_EQ(pool.View(id), big);
  EXPECT_EQ(pool.Intern("small"), pool.Intern("small"));
}

TEST(SpanInternerTest, InternsEveryFieldAndReusesTheLastValue) {
  StringPool pool;
  SpanInterner interner(pool);
  SpanFields f = testing::Fields(7, 8, 9, "checkout");
  f.trace_id_hi = 0xABCDEF;
  f.kind = "client";
  f.target = "payments.internal:8443";
  f.db_system = "postgresql";
  f.messaging_system = "kafka";
  f.language = "go";
  f.infra_hint = "kubernetes";
  f.type = "http";
  f.error = true;
  const SpanRecord r = interner.Intern(f);
  EXPECT_EQ(r.trace_id_lo, 7u);
  EXPECT_EQ(r.trace_id_hi, 0xABCDEFu);
  EXPECT_EQ(r.span_id, 8u);
  EXPECT_EQ(r.parent_id, 9u);
  EXPECT_EQ(pool.View(r.service), "checkout");
  EXPECT_EQ(pool.View(r.env), "prod");
  EXPECT_EQ(pool.View(r.resource), "GET /");
  EXPECT_EQ(pool.View(r.type), "http");
  EXPECT_EQ(pool.View(r.kind), "client");
  EXPECT_EQ(pool.View(r.retained_by), "flat_sampled");
  EXPECT_EQ(pool.View(r.target), "payments.internal:8443");
  EXPECT_EQ(pool.View(r.db_system), "postgresql");
  EXPECT_EQ(pool.View(r.messaging_system), "kafka");
  EXPECT_EQ(pool.View(r.language), "go");
  EXPECT_EQ(pool.View(r.infra_hint), "kubernetes");
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.end_ns(), f.start_ns + f.duration_ns);

  // A different value after a cached one, then back: ids stay canonical.
  SpanFields g = f;
  g.service = "payments";
  const SpanRecord r2 = interner.Intern(g);
  EXPECT_NE(r2.service, r.service);
  EXPECT_EQ(interner.Intern(f).service, r.service);
  EXPECT_EQ(pool.Intern("payments"), r2.service);
}

TEST(SpanInternerTest, CacheCollisionsNeverMixUpStrings) {
  StringPool pool;
  SpanInterner interner(pool);
  // More distinct values than cache slots, in two passes, with short and long strings.
  std::vector<std::string> names;
  for (int i = 0; i < 10000; ++i) {
    names.push_back(i % 2 ? "s" + std::to_string(i)
                          : "service-with-a-long-name-" + std::to_string(i));
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (const std::string& n : names) {
      SpanFields f = testing::Fields(1, 1, 0, n);
      f.resource = n;
      const SpanRecord r = interner.Intern(f);
      ASSERT_EQ(pool.View(r.service), n);
      ASSERT_EQ(r.resource, r.service);
      ASSERT_EQ(r.service, pool.Find(n));
    }
  }
}

TEST(SpanRecordTest, EndSaturates) {
  SpanRecord r;
  r.start_ns = INT64_MAX - 5;
  r.duration_ns = 10;
  EXPECT_EQ(r.end_ns(), INT64_MAX);
}

}  // namespace
}  // namespace apmcov::coverage
