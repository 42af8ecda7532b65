// Clock port: every component that reads time or sleeps takes a Clock&, so unit tests run
// on a ManualClock with no real waiting. Every wait goes through SleepFor, so one Cancel()
// (main() on SIGTERM, through CancelAllRealClocks) cuts every wait of the process short.
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
  // Blocks the caller for `d` of this clock's time, or until Cancel(). True when the whole
  // duration passed, false when the wait was cut short (or the clock was already cancelled:
  // then it returns at once). Thread-safe.
  virtual bool SleepFor(Duration d) = 0;
  // Wakes every sleeper and makes every later SleepFor return false at once. Irreversible:
  // it is for shutdown. Thread-safe.
  virtual void Cancel() = 0;
  virtual bool Cancelled() const = 0;

  int64_t NowUnixNanos() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Now().time_since_epoch()).count();
  }
};

// The system clock. Thread-safe; a process normally has one, owned by main(). Every live
// RealClock is cancelled by CancelAllRealClocks(), which the shutdown-signal watcher of
// BlockShutdownSignals() calls on SIGTERM/SIGINT, so no wait outlives a shutdown request.
class RealClock final : public Clock {
 public:
  RealClock();
  ~RealClock() override;
  RealClock(const RealClock&) = delete;
  RealClock& operator=(const RealClock&) = delete;

  TimePoint Now() const override;
  bool SleepFor(Duration d) override;
  void Cancel() override;
  bool Cancelled() const override;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
};

// Cancels every RealClock alive now and every one created later (process shutdown).
void CancelAllRealClocks();

// A clock that moves only when told. SleepFor advances the clock by the requested amount and
// returns at once, so code that backs off or waits is tested without waiting. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint(std::chrono::seconds(1'700'000'000)));
  TimePoint Now() const override;
  // Advances the clock and returns true; false (without advancing) once cancelled.
  bool SleepFor(Duration d) override;
  void Cancel() override;
  bool Cancelled() const override;
  void Advance(Duration d);
  void Set(TimePoint t);
  // Total time callers asked to sleep (to assert on backoff schedules).
  Duration TotalSlept() const;

 private:
  mutable std::mutex mu_;
  TimePoint now_;
  Duration slept_{0};
  bool cancelled_ = false;
};

}  // namespace apmcov
