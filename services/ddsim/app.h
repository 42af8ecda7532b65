// ddsim's configuration and its two modes: `serve` (the simulated Datadog API) and `truth`
// (print the ground truth for a range and exit). Every option is an env var and a --flag
// (ConfigReader): --seed, --services, --spans-per-second, --backfill-minutes, --api-key, ...
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "apmcov/base/config.h"
#include "apmcov/telemetry/dogstatsd_exporter.h"
#include "ddsim/http/api.h"
#include "ddsim/traffic/traffic.h"

namespace apmcov::ddsim {

struct DdsimConfig {
  std::string mode = "serve";  // serve | truth
  WorldOptions world;
  TrafficOptions traffic;
  ApiOptions api;
  int64_t backfill_minutes = 60;
  std::string address = "0.0.0.0";
  int port = 8081;
  int admin_port = 9104;           // /metrics, /healthz, /readyz; 0 picks a free port
  unsigned max_connections = 128;  // concurrent HTTP connections (one thread each)
  std::string faults_json;
  // truth mode
  std::string from, to;
  std::string traces = "all";
  std::string truth_file;                      // "" = stdout
  telemetry::DogStatsdExporterOptions statsd;  // serve: optional DogStatsD export
};

// Reads every option; traffic start defaults to now − backfill. Errors name the variable.
absl::StatusOr<DdsimConfig> ReadDdsimConfig(ConfigReader& reader, int64_t now_ns);

// Runs the server until SIGTERM/SIGINT. Returns the process exit code.
int RunServe(const DdsimConfig& config);
// Prints (or writes) the ground truth JSON. Returns the process exit code.
int RunTruth(const DdsimConfig& config, int64_t now_ns);

}  // namespace apmcov::ddsim
