// ddsim's own control surface, /_ddsim/*: the ground truth, the fault plan and request stats.
#include "ddsim/http/api.h"
#include "ddsim/http/params.h"
#include "ddsim/http/responses.h"
#include "ddsim/traffic/truth.h"
#include "nlohmann/json.hpp"

namespace apmcov::ddsim {

using nlohmann::json;

HttpResponse DdsimApi::ControlEndpoint(Endpoint endpoint, const HttpRequest& r) {
  switch (endpoint) {
    case Endpoint::kGroundTruth:
      return GroundTruth(r);
    case Endpoint::kFaults:
      return Faults(r);
    case Endpoint::kStats: {
      HttpResponse resp;
      resp.body = StatsJson();
      return resp;
    }
    case Endpoint::kScorecardsReceived: {
      HttpResponse resp;
      resp.body = scorecards_.ReceivedJson();
      return resp;
    }
    default:
      return Legacy(404, "Not Found");
  }
}

HttpResponse DdsimApi::GroundTruth(const HttpRequest& r) {
  if (r.method != "GET") return Legacy(405, "Method Not Allowed");
  const int64_t now = clock_.NowUnixNanos();
  TruthRequest req;
  const std::string* from = r.Query("from");
  const std::string* to = r.Query("to");
  if (from) {
    auto f = ParseDatadogTime(*from, now);
    if (!f.ok()) return Legacy(400, std::string(f.status().message()));
    req.from_ns = *f;
  } else {
    req.from_ns = traffic_.traffic_start_ns;
  }
  if (to) {
    auto t = ParseDatadogTime(*to, now);
    if (!t.ok()) return Legacy(400, std::string(t.status().message()));
    req.to_ns = *t;
  } else {
    req.to_ns = now;
  }
  if (req.from_ns > req.to_ns) return Legacy(400, "from must not be after to");
  if (req.to_ns - req.from_ns > 7 * 86'400'000'000'000LL)
    return Legacy(400, "range longer than 7 days");
  if (const std::string* tr = r.Query("traces")) {
    if (*tr == "all")
      req.traces = TruthRequest::Traces::kAll;
    else if (*tr == "broken")
      req.traces = TruthRequest::Traces::kBroken;
    else if (*tr == "none")
      req.traces = TruthRequest::Traces::kNone;
    else
      return Legacy(400, "traces must be all, broken or none");
  }
  HttpResponse resp;
  // Reuse cached buckets, but never evict the ones span paging is working through.
  resp.body = GroundTruthJson(
      world_, traffic_,
      [this](int64_t b) {
        auto c = PeekBucket(b);
        return c != nullptr ? c : GenerateBucket(world_, traffic_, b);
      },
      req, &received_);
  return resp;
}

HttpResponse DdsimApi::Faults(const HttpRequest& r) {
  HttpResponse resp;
  if (r.method == "POST") {
    auto plan = ParseFaultPlan(r.body);
    if (!plan.ok()) return Legacy(400, std::string(plan.status().message()));
    SetFaults(*plan);
  } else if (r.method == "DELETE") {
    SetFaults(FaultPlan{});
  } else if (r.method != "GET") {
    return Legacy(405, "Method Not Allowed");
  }
  resp.body = faults_.Json();
  return resp;
}

std::string DdsimApi::StatsJson() {
  std::lock_guard<std::mutex> lock(stats_mu_);
  json j;
  json req = json::object();
  int64_t total = 0;
  for (const auto& [ep, by_status] : stats_) {
    json e = json::object();
    int64_t n = 0;
    for (const auto& [st, c] : by_status) {
      e[std::to_string(st)] = c;
      n += c;
    }
    req[ep] = {{"total", n}, {"by_status", e}};
    if (ep.rfind("_ddsim", 0) != 0 && ep.rfind("agent_", 0) != 0) total += n;
  }
  j["requests"] = req;
  j["api_requests_total"] = total;
  j["spans_served"] = spans_served_.load();
  j["agent"] = {
      {"payloads", agent_payloads_.load()},    {"traces_received", agent_traces_.load()},
      {"spans_received", agent_spans_.load()}, {"spans_dropped", agent_dropped_spans_.load()},
      {"spans_held", received_.size()},        {"spans_evicted", received_.evicted()}};
  return j.dump();
}

}  // namespace apmcov::ddsim
