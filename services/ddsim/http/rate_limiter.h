// Per-bucket request counters in calendar-aligned periods, as Datadog's rate limits work
// (reference §2.2): each bucket has a limit per period; Acquire() consumes one request and
// reports the five X-RateLimit-* values. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace apmcov::ddsim {

struct RateLimit {
  int64_t limit = 0;
  int64_t period_s = 0;
};

struct RateDecision {
  bool allowed = true;
  std::string name;
  int64_t limit = 0, period_s = 0, remaining = 0, reset_s = 0;
};

class RateLimiter {
 public:
  // Datadog's documented budgets (spans 300/h, trace 60/min) and generous others.
  static std::map<std::string, RateLimit> Defaults();
  // "spans_list=300/3600,trace=60/60": overrides on top of Defaults(). "unlimited" lifts all.
  static absl::StatusOr<std::map<std::string, RateLimit>> ParseSpec(std::string_view spec);

  explicit RateLimiter(std::map<std::string, RateLimit> limits) : limits_(std::move(limits)) {}

  RateDecision Acquire(const std::string& bucket, int64_t now_s);
  // Forces the next `n` requests of any bucket to be refused (fault injection).
  void ForceExhausted(int64_t n);

 private:
  struct Counter {
    int64_t window = -1;
    int64_t used = 0;
  };
  std::mutex mu_;
  std::map<std::string, RateLimit> limits_;
  std::map<std::string, Counter> counters_;
  int64_t forced_ = 0;
};

}  // namespace apmcov::ddsim
