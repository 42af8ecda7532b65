// TokenBucket: the rate limit of sync requests (POST /api/sync and gRPC TriggerSync share one),
// so a flood cannot tie up the HTTP and gRPC threads that wait on the Kafka flush of each
// request. `rate_per_second` tokens are added continuously up to `burst`; each accepted request
// takes one. Time comes from the Clock port (a ManualClock in tests). Thread-safe.
#pragma once

#include <chrono>
#include <mutex>

#include "apmcov/base/clock.h"

namespace apmcov::gateway {

class TokenBucket {
 public:
  // rate_per_second > 0, burst >= 1. The bucket starts full.
  TokenBucket(double rate_per_second, double burst, const Clock& clock);

  // Takes a token and returns zero, or takes nothing and returns how long until one is
  // available (at least 1 ms, for a Retry-After).
  std::chrono::milliseconds TryTake();

 private:
  const double rate_;
  const double burst_;
  const Clock& clock_;
  std::mutex mu_;
  double tokens_;
  Clock::TimePoint last_;
};

}  // namespace apmcov::gateway
