// The array literals of src/pg_params.h read back by PostgreSQL as the very values encoded:
// the escaping is checked by the server's own parser, not by the encoder's idea of it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "../src/pg_params.h"
#include "../src/pg_util.h"
#include "apmcov/store/coverage_store.h"
#include "hostile_strings.h"
#include "test_database.h"

namespace apmcov::store::testing {
namespace {

using internal::ArrayLiteral;
using internal::TextArrayParam;

std::vector<std::string> FromJson(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& v : nlohmann::json::parse(text)) out.push_back(v.get<std::string>());
  return out;
}

class PgParamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestDatabase> db = TestDatabase::Create(/*migrate=*/false);
    ASSERT_TRUE(db.ok()) << db.status();
    db_.emplace(std::move(*db));
    conn_ = std::make_unique<pqxx::connection>(db_->url());
  }
  std::optional<TestDatabase> db_;
  std::unique_ptr<pqxx::connection> conn_;
};

TEST_F(PgParamsTest, TextArrayRoundTripsHostileStrings) {
  pqxx::read_transaction tx(*conn_);
  const auto& hostile = HostileStrings();
  const pqxx::row r = tx.exec_params1(
      "SELECT to_json($1::text[])::text, cardinality($1::text[]), "
      "array_position($1::text[], NULL)",
      TextArrayParam(hostile));
  EXPECT_EQ(FromJson(r[0].as<std::string>()), hostile);
  EXPECT_EQ(r[1].as<size_t>(), hostile.size());
  EXPECT_TRUE(r[2].is_null()) << "no element became NULL";
}

TEST_F(PgParamsTest, EachHostileStringAloneRoundTrips) {
  pqxx::read_transaction tx(*conn_);
  for (const std::string& s : HostileStrings()) {
    const pqxx::row r =
        tx.exec_params1("SELECT ($1::text[])[1], cardinality($1::text[])", TextArrayParam({s}));
    EXPECT_FALSE(r[0].is_null()) << s;
    EXPECT_EQ(r[0].as<std::string>(), s);
    EXPECT_EQ(r[1].as<int>(), 1) << s;
  }
}

TEST_F(PgParamsTest, ListsPerRowAndNullsRoundTrip) {
  pqxx::read_transaction tx(*conn_);
  const auto& hostile = HostileStrings();
  // Row i: the list of the first i hostile strings, and NULL in every other row's scalar.
  ArrayLiteral lists, scalars, numbers;
  for (size_t i = 0; i <= hostile.size(); ++i) {
    lists.TextList({hostile.begin(), hostile.begin() + static_cast<std::ptrdiff_t>(i)});
    if (i % 2 == 0) {
      scalars.Null();
    } else {
      scalars.Text(hostile[i - 1]);
    }
    numbers.Uint(std::numeric_limits<uint64_t>::max() - i);
  }
  const pqxx::result res = tx.exec_params(
      "SELECT n::text, COALESCE(to_json(l::text[])::text, 'x'), s FROM "
      "unnest($1::text[], $2::text[], $3::numeric[]) WITH ORDINALITY AS u(l, s, n, i) ORDER BY i",
      lists.Finish(), scalars.Finish(), numbers.Finish());
  ASSERT_EQ(res.size(), hostile.size() + 1);
  for (size_t i = 0; i < res.size(); ++i) {
    EXPECT_EQ(res[i][0].as<std::string>(),
              std::to_string(std::numeric_limits<uint64_t>::max() - i));
    const std::vector<std::string> want(hostile.begin(),
                                        hostile.begin() + static_cast<std::ptrdiff_t>(i));
    EXPECT_EQ(FromJson(res[i][1].as<std::string>()), want) << "row " << i;
    if (i % 2 == 0) {
      EXPECT_TRUE(res[i][2].is_null()) << "row " << i;
    } else {
      EXPECT_EQ(res[i][2].as<std::string>(), hostile[i - 1]);
    }
  }
}

TEST_F(PgParamsTest, InvalidUtf8IsTheRecordsFault) {
  absl::Status s;
  try {
    pqxx::read_transaction tx(*conn_);
    tx.exec_params("SELECT $1::text[]", TextArrayParam({"ok", "bad \xC3("}));
  } catch (...) {
    s = internal::StatusFromCurrentException("test");
  }
  EXPECT_TRUE(IsRecordRejected(s)) << s;
}

TEST_F(PgParamsTest, ANulCharacterIsRefusedAsTheRecordsFault) {
  absl::Status s;
  try {
    ArrayLiteral a;
    a.Text(std::string("a\0b", 3));
  } catch (...) {
    s = internal::StatusFromCurrentException("writing");
  }
  EXPECT_TRUE(IsRecordRejected(s)) << s;
  EXPECT_NE(std::string(s.message()).find("NUL character"), std::string::npos) << s;
}

}  // namespace
}  // namespace apmcov::store::testing
