#include "ddsim/http/faults.h"

#include <algorithm>

#include "ddsim/world/cat.h"
#include "nlohmann/json.hpp"

namespace apmcov::ddsim {

using nlohmann::json;

absl::StatusOr<FaultPlan> ParseFaultPlan(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return absl::InvalidArgumentError("fault plan must be a JSON object");
  FaultPlan p;
  try {
    for (auto& [k, v] : j.items()) {
      if (k == "rate_limit_burst")
        p.rate_limit_burst = v.get<int64_t>();
      else if (k == "server_errors")
        p.server_errors = v.get<int64_t>();
      else if (k == "server_error_status")
        p.server_error_status = v.get<int>();
      else if (k == "slow_requests")
        p.slow_requests = v.get<int64_t>();
      else if (k == "slow_ms")
        p.slow_ms = v.get<int64_t>();
      else if (k == "malformed")
        p.malformed = v.get<int64_t>();
      else if (k == "truncated")
        p.truncated = v.get<int64_t>();
      else if (k == "drop")
        p.drop = v.get<int64_t>();
      else if (k == "server_error_rate")
        p.server_error_rate = v.get<double>();
      else if (k == "rate_limit_rate")
        p.rate_limit_rate = v.get<double>();
      else if (k == "malformed_rate")
        p.malformed_rate = v.get<double>();
      else if (k == "slow_rate")
        p.slow_rate = v.get<double>();
      else if (k == "endpoint")
        p.endpoint = v.get<std::string>();
      else if (k == "server_error_at")
        p.server_error_at = v.get<std::vector<int64_t>>();
      else if (k == "rate_limit_at")
        p.rate_limit_at = v.get<std::vector<int64_t>>();
      else if (k == "malformed_at")
        p.malformed_at = v.get<std::vector<int64_t>>();
      else if (k == "drop_at")
        p.drop_at = v.get<std::vector<int64_t>>();
      else
        return absl::InvalidArgumentError(Cat("unknown fault \"", k, "\""));
    }
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(Cat("bad fault plan value: ", e.what()));
  }
  if (p.server_error_status < 500 || p.server_error_status > 599) {
    return absl::InvalidArgumentError("server_error_status must be 5xx");
  }
  if (p.slow_requests > 0 && p.slow_ms <= 0) p.slow_ms = 1000;
  return p;
}

void FaultInjector::Set(const FaultPlan& plan) {
  std::lock_guard<std::mutex> lock(mu_);
  plan_ = plan;
  seq_ = 0;
}

FaultDecision FaultInjector::Next(std::string_view name, std::string_view bucket) {
  FaultDecision d;
  std::lock_guard<std::mutex> lock(mu_);
  FaultPlan& f = plan_;
  if (!f.endpoint.empty() && f.endpoint != name && f.endpoint != bucket) return d;
  const int64_t seq = ++seq_;
  auto at = [seq](const std::vector<int64_t>& v) {
    return std::find(v.begin(), v.end(), seq) != v.end();
  };
  if (f.drop > 0 || at(f.drop_at)) {
    if (f.drop > 0) --f.drop;
    d.drop = true;
  } else if (f.server_errors > 0 || at(f.server_error_at) ||
             (f.server_error_rate > 0 && rng_.Chance(f.server_error_rate))) {
    if (f.server_errors > 0) --f.server_errors;
    d.server_error_status = f.server_error_status;
  } else if (f.rate_limit_burst > 0 || at(f.rate_limit_at) ||
             (f.rate_limit_rate > 0 && rng_.Chance(f.rate_limit_rate))) {
    if (f.rate_limit_burst > 0) --f.rate_limit_burst;
    d.rate_limited = true;
  }
  if (at(f.malformed_at)) d.malformed = true;
  if (f.slow_requests > 0 || (f.slow_rate > 0 && rng_.Chance(f.slow_rate))) {
    if (f.slow_requests > 0) --f.slow_requests;
    d.delay_ms = f.slow_ms > 0 ? f.slow_ms : 1000;
  }
  if (f.malformed > 0 || (f.malformed_rate > 0 && rng_.Chance(f.malformed_rate))) {
    if (f.malformed > 0) --f.malformed;
    d.malformed = true;
  } else if (f.truncated > 0) {
    --f.truncated;
    d.truncated = true;
  }
  return d;
}

std::string FaultInjector::Json() {
  std::lock_guard<std::mutex> lock(mu_);
  const FaultPlan& f = plan_;
  return json{{"rate_limit_burst", f.rate_limit_burst},
              {"server_errors", f.server_errors},
              {"server_error_status", f.server_error_status},
              {"slow_requests", f.slow_requests},
              {"slow_ms", f.slow_ms},
              {"malformed", f.malformed},
              {"truncated", f.truncated},
              {"drop", f.drop},
              {"server_error_rate", f.server_error_rate},
              {"rate_limit_rate", f.rate_limit_rate},
              {"malformed_rate", f.malformed_rate},
              {"slow_rate", f.slow_rate},
              {"endpoint", f.endpoint},
              {"server_error_at", f.server_error_at},
              {"rate_limit_at", f.rate_limit_at},
              {"malformed_at", f.malformed_at},
              {"drop_at", f.drop_at},
              {"requests_since_set", seq_}}
      .dump();
}

}  // namespace apmcov::ddsim
