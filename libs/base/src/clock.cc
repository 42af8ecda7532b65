#include "apmcov/base/clock.h"

#include <set>

namespace apmcov {
namespace {

// Every live RealClock, so a shutdown signal reaches the waits of every component.
struct RealClockRegistry {
  std::mutex mu;
  std::set<RealClock*> clocks;
  bool all_cancelled = false;
};

RealClockRegistry& Registry() {
  static auto* registry = new RealClockRegistry();  // never destroyed: used at exit
  return *registry;
}

}  // namespace

RealClock::RealClock() {
  RealClockRegistry& r = Registry();
  std::lock_guard lock(r.mu);
  r.clocks.insert(this);
  cancelled_ = r.all_cancelled;
}

RealClock::~RealClock() {
  RealClockRegistry& r = Registry();
  std::lock_guard lock(r.mu);
  r.clocks.erase(this);
}

Clock::TimePoint RealClock::Now() const { return std::chrono::system_clock::now(); }

bool RealClock::SleepFor(Duration d) {
  std::unique_lock lock(mu_);
  if (cancelled_) return false;
  if (d.count() <= 0) return true;
  return !cv_.wait_for(lock, d, [this] { return cancelled_; });
}

void RealClock::Cancel() {
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
  }
  cv_.notify_all();
}

bool RealClock::Cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

void CancelAllRealClocks() {
  RealClockRegistry& r = Registry();
  std::lock_guard lock(r.mu);
  r.all_cancelled = true;
  for (RealClock* c : r.clocks) c->Cancel();
}

ManualClock::ManualClock(TimePoint start) : now_(start) {}

Clock::TimePoint ManualClock::Now() const {
  std::lock_guard lock(mu_);
  return now_;
}

bool ManualClock::SleepFor(Duration d) {
  std::lock_guard lock(mu_);
  if (cancelled_) return false;
  if (d.count() <= 0) return true;
  now_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  slept_ += d;
  return true;
}

void ManualClock::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
}

bool ManualClock::Cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
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
