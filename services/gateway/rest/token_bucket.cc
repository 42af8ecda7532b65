#include "rest/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace apmcov::gateway {

TokenBucket::TokenBucket(double rate_per_second, double burst, const Clock& clock)
    : rate_(rate_per_second),
      burst_(std::max(1.0, burst)),
      clock_(clock),
      tokens_(burst_),
      last_(clock.Now()) {}

std::chrono::milliseconds TokenBucket::TryTake() {
  std::lock_guard lock(mu_);
  const Clock::TimePoint now = clock_.Now();
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  }
  last_ = std::max(last_, now);  // a clock stepping back adds nothing
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return std::chrono::milliseconds(0);
  }
  const double wait_s = (1.0 - tokens_) / rate_;
  return std::chrono::milliseconds(
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait_s * 1000.0))));
}

}  // namespace apmcov::gateway
