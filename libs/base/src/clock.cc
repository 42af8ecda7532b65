#include "apmcov/base/clock.h"

#include <thread>

namespace apmcov {

Clock::TimePoint RealClock::Now() const { return std::chrono::system_clock::now(); }

void RealClock::SleepFor(Duration d) {
  if (d.count() > 0) std::this_thread::sleep_for(d);
}

ManualClock::ManualClock(TimePoint start) : now_(start) {}

Clock::TimePoint ManualClock::Now() const {
  std::lock_guard lock(mu_);
  return now_;
}

void ManualClock::SleepFor(Duration d) {
  std::lock_guard lock(mu_);
  if (d.count() <= 0) return;
  now_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  slept_ += d;
}

void ManualClock::Advance(Duration d) {
  std::lock_guard lock(mu_);
  now_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
}

void ManualClock::Set(TimePoint t) {
  std::lock_guard lock(mu_);
  now_ = t;
}

Clock::Duration ManualClock::TotalSlept() const {
  std::lock_guard lock(mu_);
  return slept_;
}

}  // namespace apmcov
