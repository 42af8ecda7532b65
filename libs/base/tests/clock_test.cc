#include "apmcov/base/clock.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <future>
#include <thread>

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

TEST(RealClockTest, ASleepingWaitReturnsPromptlyWhenCancelled) {
  RealClock clock;
  EXPECT_TRUE(clock.SleepFor(1ms));
  auto start = std::chrono::steady_clock::now();
  auto sleeper = std::async(std::launch::async, [&clock] { return clock.SleepFor(1h); });
  std::this_thread::sleep_for(50ms);  // let it start waiting
  clock.Cancel();
  ASSERT_EQ(sleeper.wait_for(5s), std::future_status::ready) << "SleepFor ignored Cancel()";
  EXPECT_FALSE(sleeper.get());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(clock.Cancelled());
  EXPECT_FALSE(clock.SleepFor(1h)) << "a cancelled clock does not wait at all";
}

TEST(RealClockTest, CancelAllReachesEveryClockIncludingLaterOnes) {
  // In a child process: CancelAllRealClocks is for the rest of the process.
  EXPECT_EXIT(
      {
        RealClock before;
        auto sleeper = std::async(std::launch::async, [&before] { return before.SleepFor(1h); });
        std::this_thread::sleep_for(50ms);
        CancelAllRealClocks();
        const bool woke = sleeper.wait_for(5s) == std::future_status::ready && !sleeper.get();
        RealClock after;
        std::_Exit(woke && !after.SleepFor(1h) ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(ManualClockTest, CancelledSleepDoesNotAdvance) {
  ManualClock clock;
  clock.Cancel();
  EXPECT_FALSE(clock.SleepFor(10s));
  EXPECT_EQ(clock.TotalSlept(), 0s);
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
