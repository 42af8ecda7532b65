// The array literal encoder of the PostgreSQL adapters (src/pg_params.h): the exact text it
// produces. That the server reads it back as the same values is pg_params_postgres_test.cc.
#include "../src/pg_params.h"

#include <gtest/gtest.h>

#include <limits>

namespace apmcov::store::internal {
namespace {

TEST(ArrayLiteralTest, QuotesEveryTextElementAndEscapesQuoteAndBackslash) {
  ArrayLiteral a;
  a.Text("plain").Text("").Text("NULL").Text("a,b").Text("{x}").Text(" sp ");
  a.Text("say \"hi\"").Text("back\\slash").Text("caf\xC3\xA9");
  EXPECT_EQ(a.Finish(),
            "{\"plain\",\"\",\"NULL\",\"a,b\",\"{x}\",\" sp \",\"say \\\"hi\\\"\","
            "\"back\\\\slash\",\"caf\xC3\xA9\"}");
  EXPECT_EQ(a.size(), 9u);
}

TEST(ArrayLiteralTest, NullsNumbersAndBooleansAreBare) {
  ArrayLiteral a;
  a.Null()
      .OptText(std::nullopt)
      .OptText(std::string("x"))
      .Int(std::numeric_limits<int64_t>::min())
      .OptInt(std::nullopt)
      .Uint(std::numeric_limits<uint64_t>::max())
      .Bool(true)
      .Bool(false);
  EXPECT_EQ(a.Finish(), "{NULL,NULL,\"x\",-9223372036854775808,NULL,18446744073709551615,t,f}");
  EXPECT_EQ(ArrayLiteral().Finish(), "{}");
}

TEST(ArrayLiteralTest, AListElementIsTheQuotedLiteralOfTheList) {
  EXPECT_EQ(TextArrayParam({}), "{}");
  EXPECT_EQ(TextArrayParam({"a\"b", ""}), "{\"a\\\"b\",\"\"}");
  ArrayLiteral a;
  a.TextList({"a\"b", "c\\"}).TextList({});
  // The inner literal {"a\"b","c\\"} quoted once more.
  EXPECT_EQ(a.Finish(), "{\"{\\\"a\\\\\\\"b\\\",\\\"c\\\\\\\\\\\"}\",\"{}\"}");
}

TEST(ArrayLiteralTest, ANulCharacterThrows) {
  ArrayLiteral a;
  EXPECT_THROW(a.Text(std::string("a\0b", 3)), NulInParameter);
}

TEST(MicrosParamTest, FloorsNanoseconds) {
  EXPECT_EQ(MicrosParam(int64_t{1'999}), 1);
  EXPECT_EQ(MicrosParam(int64_t{-1}), -1);
  EXPECT_EQ(MicrosParam(int64_t{-1'000}), -1);
  EXPECT_EQ(MicrosParam(int64_t{-1'001}), -2);
  EXPECT_EQ(MicrosParam(std::optional<int64_t>()), std::nullopt);
}

}  // namespace
}  // namespace apmcov::store::internal
