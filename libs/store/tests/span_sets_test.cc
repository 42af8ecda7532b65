// A broken trace's spans as one JSON text (src/span_sets.h, migration 0012): the exact text
// written, what reading it back gives, and what it refuses. That PostgreSQL's `json` type
// accepts the text is the contract suites' broken-trace tests.
#include "../src/span_sets.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace apmcov::store::internal {
namespace {

TraceSpanRecord Span(uint64_t id, uint64_t parent, int64_t start, std::string service) {
  TraceSpanRecord s;
  s.span_id = id;
  s.parent_id = parent;
  s.service = std::move(service);
  s.resource = "GET /orders";
  s.kind = "server";
  s.type = "web";
  s.start_ns = start;
  s.duration_ns = 1500;
  s.target = "";
  return s;
}

TEST(SpanSetJsonTest, WritesPositionalArraysWithIdsAsDecimalStrings) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(SpanSetJson({Span(max, 0, 7, "web"), Span(2, max, -3, "db")}),
            "[[\"18446744073709551615\",\"0\",\"web\",\"GET /orders\",\"server\",\"web\",7,1500,"
            "\"\"],[\"2\",\"18446744073709551615\",\"db\",\"GET /orders\",\"server\",\"web\",-3,"
            "1500,\"\"]]");
  EXPECT_EQ(SpanSetJson({}), "[]");
}

TEST(SpanSetJsonTest, EscapesWhatJsonStringsCannotHoldAsIs) {
  TraceSpanRecord s = Span(1, 0, 0, "say \"hi\"\\ \n\t\x01 caf\xC3\xA9");
  s.target = "[1,2]";
  EXPECT_EQ(SpanSetJson({s}),
            "[[\"1\",\"0\",\"say \\\"hi\\\"\\\\ \\n\\t\\u0001 caf\xC3\xA9\",\"GET /orders\","
            "\"server\",\"web\",0,1500,\"[1,2]\"]]");
}

TEST(SpanSetJsonTest, ASpanIdMetAgainIsLeftOutTheFirstWins) {
  const std::string json = SpanSetJson({Span(5, 0, 1, "first"), Span(5, 0, 2, "second")});
  const auto spans = ParseSpanSetJson(json);
  ASSERT_TRUE(spans.ok()) << spans.status();
  ASSERT_EQ(spans->size(), 1u);
  EXPECT_EQ((*spans)[0].service, "first");
}

TEST(SpanSetJsonTest, ReadsBackEveryFieldInTheTraceViewsOrder) {
  TraceSpanRecord tricky = Span(std::numeric_limits<uint64_t>::max(), 9, 10, "a\"b\\c\n\x7f");
  tricky.target = "postgres://db:5432";
  tricky.duration_ns = std::numeric_limits<int64_t>::max();
  const std::vector<TraceSpanRecord> written = {
      Span(30, 0, 20, "late"), tricky, Span(20, 0, 10, "same start, lower id"),
      Span(40, 0, std::numeric_limits<int64_t>::min(), "earliest")};
  const auto read = ParseSpanSetJson(SpanSetJson(written));
  ASSERT_TRUE(read.ok()) << read.status();
  const std::vector<TraceSpanRecord> expected = {written[3], written[2], written[1], written[0]};
  EXPECT_EQ(*read, expected);
}

TEST(SpanSetJsonTest, ReadsTheTextPostgreSqlWritesWithSpaces) {
  // json_agg/json_build_array (migration 0012's copy of older rows) put a space after commas.
  const auto read = ParseSpanSetJson(
      "[[\"1\", \"0\", \"web\", \"r\", \"server\", \"web\", 5, 6, \"\"], \n "
      "[\"2\", \"1\", \"db\", \"q\", \"client\", \"sql\", 7, 8, \"pg\"]]");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[1].parent_id, 1u);
  EXPECT_EQ((*read)[1].target, "pg");
  EXPECT_EQ((*read)[1].duration_ns, 8);
}

TEST(SpanSetJsonTest, RefusesWhatIsNotASpanSetAndSaysWhy) {
  const auto message = [](std::string_view json) {
    const auto r = ParseSpanSetJson(json);
    EXPECT_FALSE(r.ok()) << json;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << json;
    return std::string(r.status().message());
  };
  EXPECT_NE(message("[[").find("not JSON"), std::string::npos);
  EXPECT_NE(message("{}").find("not an array of spans"), std::string::npos);
  EXPECT_NE(message("[[\"1\",\"0\"]]").find("span 0 is not an array of 9"), std::string::npos);
  EXPECT_NE(message("[[1,\"0\",\"s\",\"r\",\"k\",\"t\",1,2,\"\"]]").find("field 0"),
            std::string::npos);
  EXPECT_NE(message("[[\"1\",\"0\",\"s\",\"r\",\"k\",\"t\",1.5,2,\"\"]]").find("field 6"),
            std::string::npos);
  EXPECT_NE(
      message("[[\"1\",\"0\",\"s\",\"r\",\"k\",\"t\",1,9223372036854775808,\"\"]]").find("field 7"),
      std::string::npos);
  EXPECT_NE(message("[[\"-1\",\"0\",\"s\",\"r\",\"k\",\"t\",1,2,\"\"]]").find("not a 64-bit"),
            std::string::npos);
  EXPECT_NE(message("[[\"18446744073709551616\",\"0\",\"s\",\"r\",\"k\",\"t\",1,2,\"\"]]")
                .find("not a 64-bit"),
            std::string::npos);
}

}  // namespace
}  // namespace apmcov::store::internal
