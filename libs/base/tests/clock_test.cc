#include "apmcov/base/clock.h"

#include <gtest/gtest.h>

#include "apmcov/base/time.h"

namespace apmcov {
namespace {

using namespace std::chrono_literals;

TEST(ManualClockTest, SleepAdvancesWithoutWaiting) {
  ManualClock clock;
  auto start = clock.Now();
  clock.SleepFor(30s);
  clock.Advance(5s);
  EXPECT_EQ(clock.Now() - start, 35s);
  EXPECT_EQ(clock.TotalSlept(), 30s);
}

TEST(TimeTest, Rfc3339RoundTrip) {
  EXPECT_EQ(FormatRfc3339(1'688'032'252'472'000'000), "2023-06-29T09:50:52.472Z");
  EXPECT_EQ(FormatRfc3339(1'688'032'252'000'000'000), "2023-06-29T09:50:52Z");
  auto t = ParseRfc3339("2023-06-29T09:50:52.472Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 1'688'032'252'472'000'000);
  EXPECT_FALSE(ParseRfc3339("yesterday").ok());
}

}  // namespace
}  // namespace apmcov
