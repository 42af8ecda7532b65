#include "ddsim/app.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>

#include "apmcov/base/clock.h"
#include "apmcov/base/log.h"
#include "apmcov/base/process.h"
#include "apmcov/telemetry/admin_server.h"
#include "ddsim/http/server.h"
#include "ddsim/traffic/truth.h"
#include "ddsim/world/cat.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace apmcov::ddsim {

absl::StatusOr<DdsimConfig> ReadDdsimConfig(ConfigReader& reader, int64_t now_ns) {
  DdsimConfig c;
  if (!reader.positional().empty()) c.mode = reader.positional()[0];
  if (c.mode != "serve" && c.mode != "truth")
    reader.AddError("MODE", "the command must be serve or truth");
  c.world.seed = static_cast<uint64_t>(reader.Int("SEED", 1, 0, INT64_MAX));
  c.world.services = static_cast<int>(reader.Int("SERVICES", 200, 10, 50000));
  c.world.self_catalog = reader.Bool("SELF_CATALOG", true);
  c.traffic.seed = c.world.seed;
  c.traffic.spans_per_second = reader.Double("SPANS_PER_SECOND", 200, 0, 10'000'000);
  c.backfill_minutes = reader.Int("BACKFILL_MINUTES", 60, 0, 7 * 24 * 60);
  const char* kGapVars[] = {"GAP_RATE_UNINSTRUMENTED_HOP", "GAP_RATE_UNINSTRUMENTED_CALLEE",
                            "GAP_RATE_PROPAGATION_BREAK", "GAP_RATE_MISSING_ROOT",
                            "GAP_RATE_ORPHAN_SPAN"};
  double sum = 0;
  for (int k = 0; k < kNumGapKinds; ++k) {
    c.traffic.gap_rates[k] = reader.Double(kGapVars[k], c.traffic.gap_rates[k], 0, 1);
    sum += c.traffic.gap_rates[k];
  }
  if (sum > 1)
    reader.AddError("GAP_RATE_ORPHAN_SPAN", "the five gap rates must add up to at most 1");
  c.traffic.single_span_rate = reader.Double("SINGLE_SPAN_RATE", c.traffic.single_span_rate, 0, 1);
  c.traffic.trace128_rate = reader.Double("TRACE128_RATE", c.traffic.trace128_rate, 0, 1);
  const std::string start = reader.String("TRAFFIC_START", "");
  c.api.api_key = reader.String("API_KEY", "", Secret::kSimulated);
  c.api.app_key = reader.String("APP_KEY", "", Secret::kSimulated);
  c.api.scorecard_write_scope = reader.Bool("APP_KEY_SCORECARD_WRITE", true);
  const std::string limits = reader.String("RATE_LIMITS", "");
  c.api.aggregate_budget_ms = reader.Int("AGGREGATE_BUDGET_MS", 5000, 10, 600000);
  c.api.agent_max_spans =
      static_cast<size_t>(reader.Int("AGENT_MAX_SPANS", 200'000, 1'000, 10'000'000));
  c.address = reader.String("ADDRESS", "0.0.0.0");
  c.port = static_cast<int>(reader.Int("HTTP_PORT", 8081, 0, 65535));
  c.admin_port = static_cast<int>(reader.Int("ADMIN_PORT", 9104, 0, 65535));
  c.max_connections = static_cast<unsigned>(reader.Int("MAX_CONNECTIONS", 128, 1, 4096));
  c.faults_json = reader.String("FAULTS", "");
  c.from = reader.String("FROM", "");
  c.to = reader.String("TO", "");
  c.traces = reader.Enum("TRACES", "all", {"all", "broken", "none"});
  c.truth_file = reader.String("TRUTH", "");
  c.statsd = telemetry::DogStatsdExporterOptions::Read(reader, "apmcov-ddsim");
  if (!start.empty()) {
    auto t = ParseDatadogTime(start, now_ns);
    if (!t.ok())
      reader.AddError("TRAFFIC_START", std::string(t.status().message()));
    else
      c.traffic.traffic_start_ns = *t;
  } else {
    c.traffic.traffic_start_ns = now_ns - c.backfill_minutes * 60'000'000'000LL;
  }
  auto parsed = RateLimiter::ParseSpec(limits);
  if (!parsed.ok())
    reader.AddError("RATE_LIMITS", std::string(parsed.status().message()));
  else
    c.api.rate_limits = *parsed;
  if (!c.faults_json.empty()) {
    auto plan = ParseFaultPlan(c.faults_json);
    if (!plan.ok()) reader.AddError("FAULTS", std::string(plan.status().message()));
  }
  if (c.mode == "truth") {
    for (auto [var, val] : {std::pair<const char*, std::string*>{"FROM", &c.from}, {"TO", &c.to}}) {
      if (val->empty()) {
        reader.AddError(var, "is required by `apmcov-ddsim truth`");
        continue;
      }
      auto t = ParseDatadogTime(*val, now_ns);
      if (!t.ok()) reader.AddError(var, std::string(t.status().message()));
    }
  }
  if (absl::Status s = reader.Finish(); !s.ok()) return s;
  return c;
}

int RunTruth(const DdsimConfig& c, int64_t now_ns) {
  auto world = GenerateWorld(c.world);
  if (!world.ok()) {
    std::fprintf(stderr, "apmcov-ddsim: %s\n", std::string(world.status().message()).c_str());
    return 2;
  }
  TruthRequest req;
  req.from_ns = *ParseDatadogTime(c.from, now_ns);
  req.to_ns = *ParseDatadogTime(c.to, now_ns);
  if (req.from_ns > req.to_ns) {
    std::fprintf(stderr, "apmcov-ddsim: --from must not be after --to\n");
    return 2;
  }
  req.traces = c.traces == "all"      ? TruthRequest::Traces::kAll
               : c.traces == "broken" ? TruthRequest::Traces::kBroken
                                      : TruthRequest::Traces::kNone;
  const TrafficOptions traffic = c.traffic;
  const World& w = *world;
  const std::string json = GroundTruthJson(
      w, traffic, [&](int64_t b) { return GenerateBucket(w, traffic, b); }, req);
  if (c.truth_file.empty()) {
    std::cout << json << "\n";
    return 0;
  }
  std::ofstream out(c.truth_file);
  out << json << "\n";
  if (!out) {
    std::fprintf(stderr, "apmcov-ddsim: cannot write --truth %s\n", c.truth_file.c_str());
    return 1;
  }
  return 0;
}

int RunServe(const DdsimConfig& c) {
  static const Logger log("ddsim");
  auto world = GenerateWorld(c.world);
  if (!world.ok()) {
    log.Error("bad world options", {{"error", std::string(world.status().message())}});
    return 2;
  }
  RealClock clock;
  DdsimApi api(*world, c.traffic, c.api, clock);
  if (!c.faults_json.empty()) api.SetFaults(*ParseFaultPlan(c.faults_json));
  if (!c.truth_file.empty()) {
    // The truth of the backfilled traffic, written before serving (for scripts and demos).
    TruthRequest req;
    req.from_ns = c.traffic.traffic_start_ns;
    req.to_ns = clock.NowUnixNanos();
    req.traces = c.traces == "all"      ? TruthRequest::Traces::kAll
                 : c.traces == "broken" ? TruthRequest::Traces::kBroken
                                        : TruthRequest::Traces::kNone;
    std::ofstream out(c.truth_file);
    out << GroundTruthJson(
               *world, c.traffic, [&](int64_t b) { return GenerateBucket(*world, c.traffic, b); },
               req)
        << "\n";
    if (!out) {
      log.Error("cannot write --truth", {{"path", c.truth_file}});
      return 1;
    }
  }
  DdsimServer server(api, c.address, static_cast<uint16_t>(c.port), c.max_connections);
  if (absl::Status s = server.Start(); !s.ok()) {
    log.Error("cannot start", {{"error", std::string(s.message())}});
    return 1;
  }
  // The admin server every service runs: /metrics from the API's own request counts.
  auto registry = std::make_shared<prometheus::Registry>();
  auto& requests = prometheus::BuildCounter()
                       .Name("apmcov_ddsim_requests_total")
                       .Help("Requests served by the simulated Datadog API, by endpoint and status")
                       .Register(*registry);
  auto& spans = prometheus::BuildCounter()
                    .Name("apmcov_ddsim_spans_served_total")
                    .Help("Spans returned in span pages")
                    .Register(*registry)
                    .Add({});
  auto& received = prometheus::BuildCounter()
                       .Name("apmcov_ddsim_agent_spans_received_total")
                       .Help("Spans received on the Agent intake (/v0.4/traces)")
                       .Register(*registry)
                       .Add({});
  auto& held = prometheus::BuildGauge()
                   .Name("apmcov_ddsim_agent_spans_held")
                   .Help("Received spans ddsim keeps and serves (bounded by AGENT_MAX_SPANS)")
                   .Register(*registry)
                   .Add({});
  std::mutex scrape_mu;
  std::map<std::pair<std::string, int>, int64_t> reported;
  int64_t spans_reported = 0;
  int64_t received_reported = 0;
  telemetry::AdminServer admin(registry, c.address, static_cast<uint16_t>(c.admin_port));
  admin.EnableProcessMetrics("apmcov-ddsim", "");
  auto refresh_counts = [&] {
    std::lock_guard<std::mutex> lock(scrape_mu);
    for (const auto& [endpoint, by_status] : api.RequestCounts()) {
      for (const auto& [status, count] : by_status) {
        int64_t& seen = reported[{endpoint, status}];
        if (count > seen) {
          requests.Add({{"endpoint", endpoint}, {"status", std::to_string(status)}})
              .Increment(static_cast<double>(count - seen));
          seen = count;
        }
      }
    }
    const int64_t served = api.spans_served();
    if (served > spans_reported) {
      spans.Increment(static_cast<double>(served - spans_reported));
      spans_reported = served;
    }
    const int64_t got = api.agent_spans_received();
    if (got > received_reported) {
      received.Increment(static_cast<double>(got - received_reported));
      received_reported = got;
    }
    held.Set(static_cast<double>(api.received().size()));
  };
  admin.AddScrapeHook(refresh_counts);
  if (absl::Status s = admin.Start(); !s.ok()) {
    log.Error("cannot start the admin server",
              {{"error", std::string(s.message())}, {"port", c.admin_port}});
    server.Stop();
    return 1;
  }
  log.Info("ddsim serving", {{"address", c.address},
                             {"admin_port", static_cast<int>(admin.port())},
                             {"port", static_cast<int>(server.port())},
                             {"seed", c.world.seed},
                             {"services", c.world.services},
                             {"spans_per_second", c.traffic.spans_per_second},
                             {"traffic_start_ns", c.traffic.traffic_start_ns}});
  auto statsd = telemetry::MaybeStartDogStatsd(  // null: off
      c.statsd, registry, [&admin] { admin.RunScrapeHooks(); });
  // A machine-readable line for scripts that start ddsim on port 0.
  std::printf("{\"ddsim_port\":%u}\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  const int sig = WaitForShutdownSignal();
  log.Info("stopping", {{"signal", sig}});
  if (statsd) statsd->Stop();  // a last flush
  admin.Stop();
  server.Stop();
  return 0;
}

}  // namespace apmcov::ddsim
