#include <gtest/gtest.h>

#include "apmcov/store/postgres_store.h"

namespace apmcov::store {
namespace {

TEST(RedactDatabaseUrlTest, HidesPasswordsInEveryForm) {
  EXPECT_EQ(RedactDatabaseUrl("postgresql://app:s3cr3t@db:5432/apmcov?sslmode=require"),
            "postgresql://app:<redacted>@db:5432/apmcov?sslmode=require");
  EXPECT_EQ(RedactDatabaseUrl("postgres://app@db/apmcov"), "postgres://app@db/apmcov");
  EXPECT_EQ(RedactDatabaseUrl("host=db user=app password=s3cr3t dbname=x"),
            "host=db user=app password=<redacted> dbname=x");
  EXPECT_EQ(RedactDatabaseUrl("host=db password='a b\\'c' dbname=x"),
            "host=db password=<redacted> dbname=x");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://db/x?user=app&password=s3cr3t&sslmode=disable"),
            "postgresql://db/x?user=app&password=<redacted>&sslmode=disable");
}

}  // namespace
}  // namespace apmcov::store
