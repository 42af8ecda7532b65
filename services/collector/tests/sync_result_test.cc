// What `apmcov-collector --once` prints and exits with.
#include "sync_result.h"

#include <gtest/gtest.h>

namespace apmcov::collector {
namespace {

TEST(SyncResultTest, TheOnceLineIsOneJsonObjectWithTheErrorEscaped) {
  SyncResult r;
  r.state = v1::SYNC_STATE_PARTIAL;
  r.catalog_services = 230;
  r.apm_observations = 41;
  r.pages = 12;
  r.spans = 11'500;
  r.windows = 3;
  r.error = "spans page 7: \"bad\"\n";
  EXPECT_EQ(OnceSummaryLine(r),
            "{\"state\":\"partial\",\"catalog_services\":230,\"apm_observations\":41,"
            "\"pages\":12,\"spans\":11500,\"windows\":3,"
            "\"error\":\"spans page 7: \\\"bad\\\"\\n\"}\n");
}

TEST(SyncResultTest, ExitStatusAndStateNameFollowTheFinalState) {
  SyncResult r;
  r.state = v1::SYNC_STATE_SUCCEEDED;
  EXPECT_EQ(OnceExitCode(r), 0);
  EXPECT_STREQ(FinalStateName(r.state), "succeeded");
  r.state = v1::SYNC_STATE_PARTIAL;
  EXPECT_EQ(OnceExitCode(r), 3);
  EXPECT_STREQ(FinalStateName(r.state), "partial");
  r.state = v1::SYNC_STATE_FAILED;
  EXPECT_EQ(OnceExitCode(r), 1);
  EXPECT_STREQ(FinalStateName(r.state), "failed");
  r.state = v1::SYNC_STATE_UNSPECIFIED;  // a sync never ends so; counted as failed
  EXPECT_EQ(OnceExitCode(r), 1);
  EXPECT_STREQ(FinalStateName(r.state), "failed");
}

}  // namespace
}  // namespace apmcov::collector
