// An optional DogStatsD sink: sends counts, gauges and distributions to a Datadog Agent over
// UDP, for teams that watch the tracker itself in Datadog rather than (or as well as)
// Prometheus. Off unless configured:
//
//   DD_DOGSTATSD_URL   udp://host:port (wins when set)
//   DD_AGENT_HOST      host of the Agent; DD_DOGSTATSD_PORT (default 8125) gives the port
//
//   DogStatsdConfig cfg = DogStatsdConfig::Read(reader);   // errors land in reader.Finish()
//   cfg.constant_tags = {{"service", "apmcov-collector"}, {"env", env}};
//   APMCOV_ASSIGN_OR_RETURN(auto sink, DogStatsdSink::Create(cfg));
//   sink->Count("apmcov.collector.api_calls", 1, {{"endpoint", "spans"}, {"status", "200"}});
//
// Lines follow the DogStatsD datagram format, one metric per datagram:
//   name:value|c|#k:v,k2:v2      (|g for gauges, |d for distributions)
//
// Sending never blocks and never throws: a datagram the kernel will not take right away, or
// one refused by the network, is dropped and counted in send_errors(). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace apmcov {
class ConfigReader;
}

namespace apmcov::telemetry {

struct DogStatsdConfig {
  bool enabled = false;
  std::string host;  // name or IP literal of the Agent
  uint16_t port = 8125;
  // Tags added to every line (service, env, version, ...).
  std::vector<std::pair<std::string, std::string>> constant_tags;

  // OK when disabled, or when enabled with a non-empty host and a port in 1..65535.
  absl::Status Validate() const;

  // Reads DD_DOGSTATSD_URL, DD_AGENT_HOST and DD_DOGSTATSD_PORT; a bad value is recorded in
  // `reader` under the variable's name (reported by reader.Finish()) and leaves the sink off.
  static DogStatsdConfig Read(ConfigReader& reader);
};

// Parses `udp://host:port` (IPv6 hosts in brackets: udp://[::1]:8125) into host and port.
absl::Status ParseDogStatsdUrl(std::string_view url, std::string* host, uint16_t* port);

enum class DogStatsdType { kCount, kGauge, kDistribution };

struct DogStatsdTag {
  std::string_view key;
  std::string_view value;
};
using DogStatsdTags = std::vector<DogStatsdTag>;

// One DogStatsD line without a trailing newline. Characters that would break the format are
// replaced by '_': in the name anything but [A-Za-z0-9_.], in tags '|', ',', '#', ':' (in
// keys), and control characters. `constant_tags` is an already formatted "k:v,k2:v2" list
// appended after the call's own tags (may be empty). The value is written in the shortest
// form that reads back exactly. InvalidArgument for an empty name or a non-finite value.
absl::StatusOr<std::string> FormatDogStatsdLine(std::string_view name, double value,
                                                DogStatsdType type, const DogStatsdTags& tags,
                                                std::string_view constant_tags = {});

class DogStatsdSink {
 public:
  // A sink that drops everything (enabled() false).
  static std::unique_ptr<DogStatsdSink> Disabled();
  // Validates `config`, resolves the host and opens a non-blocking UDP socket connected to
  // it. A disabled config gives Disabled(). InvalidArgument for a bad config, Unavailable
  // when the host does not resolve or the socket cannot be opened.
  static absl::StatusOr<std::unique_ptr<DogStatsdSink>> Create(const DogStatsdConfig& config);

  ~DogStatsdSink();
  DogStatsdSink(const DogStatsdSink&) = delete;
  DogStatsdSink& operator=(const DogStatsdSink&) = delete;

  void Count(std::string_view name, double value, const DogStatsdTags& tags = {});
  void Gauge(std::string_view name, double value, const DogStatsdTags& tags = {});
  void Distribution(std::string_view name, double value, const DogStatsdTags& tags = {});

  bool enabled() const { return fd_ >= 0; }
  uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }
  // Datagrams dropped: send failures and lines that could not be formatted.
  uint64_t send_errors() const { return send_errors_.load(std::memory_order_relaxed); }

 private:
  DogStatsdSink(int fd, std::string constant_tags);
  void Send(std::string_view name, double value, DogStatsdType type, const DogStatsdTags& tags);

  int fd_;
  std::string constant_tags_;  // formatted once
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> send_errors_{0};
};

}  // namespace apmcov::telemetry
