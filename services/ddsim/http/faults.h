// Injected faults: a plan (set at start with --faults, or at run time through /_ddsim/faults)
// consumed by API requests, never by /_ddsim/* or the Agent intake. FaultInjector is
// thread-safe; DdsimApi asks it once per API request what to do to that request.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ddsim/world/world.h"

namespace apmcov::ddsim {

// Faults applied to the next API requests (never to /_ddsim/*). Counts are consumed in the
// order below; rates are independent per request (seeded, reproducible).
struct FaultPlan {
  int64_t rate_limit_burst = 0;  // next N answer 429
  int64_t server_errors = 0;     // next N answer server_error_status
  int server_error_status = 503;
  int64_t slow_requests = 0;  // next N wait slow_ms first
  int64_t slow_ms = 0;
  int64_t malformed = 0;  // next N bodies are invalid JSON
  int64_t truncated = 0;  // next N bodies are cut in half
  int64_t drop = 0;       // next N connections are closed without an answer
  double server_error_rate = 0, rate_limit_rate = 0, malformed_rate = 0, slow_rate = 0;
  std::string endpoint;  // only requests to this endpoint name ("" = all)
  // Faults on given API request numbers (1-based, counted from when the plan was set).
  std::vector<int64_t> server_error_at, rate_limit_at, malformed_at, drop_at;
};
absl::StatusOr<FaultPlan> ParseFaultPlan(std::string_view json);

// What the plan does to one API request. At most one of drop, server_error_status and
// rate_limited; delay, malformed and truncated come on top.
struct FaultDecision {
  bool drop = false;            // close the connection without answering
  int server_error_status = 0;  // answer this 5xx instead (0: no)
  bool rate_limited = false;    // answer 429 whatever the bucket holds
  bool malformed = false;       // replace the body with invalid JSON
  bool truncated = false;       // cut the body in half
  int64_t delay_ms = 0;         // wait this long first
};

class FaultInjector {
 public:
  // Replaces the plan and restarts the request numbering.
  void Set(const FaultPlan& plan);
  // Consumes the plan for one API request to endpoint `name` whose rate-limit bucket is
  // `bucket` (a plan naming either targets the request).
  FaultDecision Next(std::string_view name, std::string_view bucket);
  // The plan's remaining state, and the API requests counted since it was set, as JSON.
  std::string Json();

 private:
  std::mutex mu_;
  FaultPlan plan_;
  int64_t seq_ = 0;  // API requests since the plan was set
  Rng rng_{0xFA017};
};

}  // namespace apmcov::ddsim
