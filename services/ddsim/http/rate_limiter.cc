#include "ddsim/http/rate_limiter.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "apmcov/base/status.h"
#include "ddsim/world/cat.h"

namespace apmcov::ddsim {

std::map<std::string, RateLimit> RateLimiter::Defaults() {
  return {{"spans_list", {300, 3600}},         {"spans_search", {300, 3600}},
          {"spans_aggregate", {300, 3600}},    {"trace", {60, 60}},
          {"service_definitions", {3000, 60}}, {"catalog_entity", {3000, 60}},
          {"apm_services", {600, 60}},         {"validate", {6000, 60}},
          {"scorecard_rules_list", {600, 60}}, {"scorecard_rules_create", {600, 60}},
          {"scorecard_outcomes", {600, 60}}};
}

absl::StatusOr<std::map<std::string, RateLimit>> RateLimiter::ParseSpec(std::string_view spec) {
  auto limits = Defaults();
  for (absl::string_view item : absl::StrSplit(AbslView(spec), ',', absl::SkipWhitespace())) {
    std::string_view it = StdView(item);
    if (it == "unlimited") {
      for (auto& [name, l] : limits) l = {1'000'000'000, l.period_s};
      continue;
    }
    const size_t eq = it.find('='), slash = it.find('/');
    if (eq == std::string_view::npos || slash == std::string_view::npos || slash < eq) {
      return absl::InvalidArgumentError(
          Cat("--rate-limits: \"", it, "\" is not bucket=limit/period_seconds"));
    }
    const std::string name(it.substr(0, eq));
    if (!limits.count(name)) {
      return absl::InvalidArgumentError(Cat("--rate-limits: unknown bucket \"", name, "\""));
    }
    RateLimit l;
    auto a = it.substr(eq + 1, slash - eq - 1), b = it.substr(slash + 1);
    if (std::from_chars(a.data(), a.data() + a.size(), l.limit).ec != std::errc() ||
        std::from_chars(b.data(), b.data() + b.size(), l.period_s).ec != std::errc() ||
        l.limit < 0 || l.period_s <= 0) {
      return absl::InvalidArgumentError(Cat("--rate-limits: bad numbers in \"", it, "\""));
    }
    limits[name] = l;
  }
  return limits;
}

RateDecision RateLimiter::Acquire(const std::string& bucket, int64_t now_s) {
  std::lock_guard<std::mutex> lock(mu_);
  RateDecision d;
  d.name = bucket;
  auto it = limits_.find(bucket);
  const RateLimit l = it == limits_.end() ? RateLimit{1'000'000'000, 60} : it->second;
  Counter& c = counters_[bucket];
  const int64_t window = now_s / l.period_s;
  if (c.window != window) {
    c.window = window;
    c.used = 0;
  }
  d.limit = l.limit;
  d.period_s = l.period_s;
  d.reset_s = l.period_s - now_s % l.period_s;
  if (forced_ > 0) {
    --forced_;
    d.allowed = false;
    d.remaining = 0;
    return d;
  }
  if (c.used >= l.limit) {
    d.allowed = false;
    d.remaining = 0;
    return d;
  }
  ++c.used;
  d.remaining = l.limit - c.used;
  return d;
}

void RateLimiter::ForceExhausted(int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  forced_ = n;
}

}  // namespace apmcov::ddsim
