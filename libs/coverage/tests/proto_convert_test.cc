#include "apmcov/coverage/proto_convert.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace apmcov::coverage {
namespace {

TEST(ProtoConvertTest, SpanRoundTripsEveryField) {
  apmcov::v1::Span s;
  s.set_trace_id(0xFFFFFFFFFFFFFFFFull);
  s.set_trace_id_high(0x6553F0A200000000ull);
  s.set_span_id(0x8000000000000000ull);
  s.set_parent_id(42);
  s.set_service("checkout");
  s.set_env("prod");
  s.set_resource("POST /pay");
  s.set_type("http");
  s.set_kind("client");
  s.set_start_unix_nano(1'700'000'000'000'000'000);
  s.set_duration_ns(1234);
  s.set_retained_by("flat_sampled");
  s.set_language("go");
  s.set_target("payments:8443");
  s.set_db_system("pg");
  s.set_messaging_system("kafka");
  s.set_infra_hint("ecs");
  s.set_error(true);
  StringPool pool;
  SpanInterner interner(pool);
  const SpanRecord r = SpanFromProto(s, interner);
  EXPECT_EQ(r.trace_id_lo, 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(r.trace_id_hi, 0x6553F0A200000000ull);
  EXPECT_EQ(r.span_id, 0x8000000000000000ull);
  EXPECT_EQ(r.parent_id, 42u);
  EXPECT_EQ(r.start_ns, 1'700'000'000'000'000'000);
  EXPECT_EQ(r.duration_ns, 1234);
  EXPECT_EQ(pool.View(r.service), "checkout");
  EXPECT_EQ(pool.View(r.env), "prod");
  EXPECT_EQ(pool.View(r.resource), "POST /pay");
  EXPECT_EQ(pool.View(r.type), "http");
  EXPECT_EQ(pool.View(r.kind), "client");
  EXPECT_EQ(pool.View(r.retained_by), "flat_sampled");
  EXPECT_EQ(pool.View(r.language), "go");
  EXPECT_EQ(pool.View(r.target), "payments:8443");
  EXPECT_EQ(pool.View(r.db_system), "pg");
  EXPECT_EQ(pool.View(r.messaging_system), "kafka");
  EXPECT_EQ(pool.View(r.infra_hint), "ecs");
  EXPECT_TRUE(r.error);
}

}  // namespace
}  // namespace apmcov::coverage
