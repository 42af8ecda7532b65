// The connection-string helpers of the test library: the integration tests point libpq at a
// private database, or at a relay in front of the server, through them.
#include <gtest/gtest.h>

#include "test_database.h"

namespace apmcov::store::testing {
namespace {

TEST(TestDatabaseUrlTest, UriFormKeepsUserOptionsAndQuery) {
  const std::string url = "postgresql://apmcov:pw@db.internal:6543/apmcov?sslmode=disable";
  EXPECT_EQ(WithDatabase(url, "t1"), "postgresql://apmcov:pw@db.internal:6543/t1?sslmode=disable");
  EXPECT_EQ(WithLocalPort(url, 40000),
            "postgresql://apmcov:pw@127.0.0.1:40000/apmcov?sslmode=disable");
  EXPECT_EQ(PortOf(url), 6543);
}

TEST(TestDatabaseUrlTest, UriFormWithoutUserPortOrPath) {
  EXPECT_EQ(PortOf("postgresql://localhost"), 5432);
  EXPECT_EQ(WithDatabase("postgresql://localhost", "t1"), "postgresql://localhost/t1");
  EXPECT_EQ(WithLocalPort("postgresql://localhost?sslmode=disable", 7),
            "postgresql://127.0.0.1:7?sslmode=disable");
  EXPECT_EQ(PortOf("postgres://u@h:15432"), 15432);
}

TEST(TestDatabaseUrlTest, KeyValueFormAppendsWhatLaterWins) {
  const std::string url = "host=/run/postgresql port=5433 dbname=apmcov";
  EXPECT_EQ(PortOf(url), 5433);
  EXPECT_EQ(PortOf("host=x dbname=apmcov"), 5432);
  EXPECT_EQ(WithDatabase(url, "t1"), url + " dbname=t1");
  EXPECT_EQ(WithLocalPort(url, 40000), url + " host=127.0.0.1 port=40000");
}

}  // namespace
}  // namespace apmcov::store::testing
