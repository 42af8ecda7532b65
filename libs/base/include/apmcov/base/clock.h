// Clock port: every component that reads time or sleeps takes a Clock&, so unit tests run
// on a ManualClock with no real waiting.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace apmcov {

class Clock {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  using Duration = std::chrono::nanoseconds;

  virtual ~Clock() = default;
  // Wall-clock time (event times, windows, RFC 3339 output).
  virtual TimePoint Now() const = 0;
  // Blocks the caller for `d` of this clock's time. Thread-safe.
  virtual void SleepFor(Duration d) = 0;

  int64_t NowUnixNanos() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Now().time_since_epoch()).count();
  }
};

// The system clock. Thread-safe; a process normally has one, owned by main().
class RealClock final : public Clock {
 public:
  TimePoint Now() const override;
  void SleepFor(Duration d) override;
};

// A clock that moves only when told. SleepFor advances the clock by the requested amount and
// returns at once, so code that backs off or waits is tested without waiting. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint(std::chrono::seconds(1'700'000'000)));
  TimePoint Now() const override;
  void SleepFor(Duration d) override;
  void Advance(Duration d);
  void Set(TimePoint t);
  // Total time callers asked to sleep (to assert on backoff schedules).
  Duration TotalSlept() const;

 private:
  mutable std::mutex mu_;
  TimePoint now_;
  Duration slept_{0};
};

}  // namespace apmcov
