// The metrics every service exposes the same way, so one dashboard fits them all:
//
//   apmcov_build_info{service,version}        gauge, always 1
//   apmcov_process_start_time_seconds         gauge, Unix time the process started
//   apmcov_process_resident_memory_bytes      gauge, resident set size, updated by Refresh()
//
// AdminServer::EnableProcessMetrics wires this up and calls Refresh() on every scrape; use the
// class directly only when serving metrics some other way.
//
// The registry must outlive the object. Refresh() is thread-safe (gauges are atomic).
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace prometheus {
class Gauge;
class Registry;
}  // namespace prometheus

namespace apmcov::telemetry {

class ProcessMetrics {
 public:
  ProcessMetrics(prometheus::Registry& registry, std::string_view service,
                 std::string_view version);
  ProcessMetrics(const ProcessMetrics&) = delete;
  ProcessMetrics& operator=(const ProcessMetrics&) = delete;

  // Reads /proc/self/statm into apmcov_process_resident_memory_bytes. On a read or parse
  // failure the gauge keeps its last value.
  void Refresh();

 private:
  prometheus::Gauge* resident_bytes_;
};

// Resident bytes from the text of /proc/<pid>/statm (second field, in pages).
absl::StatusOr<uint64_t> ParseStatmResidentBytes(std::string_view statm, uint64_t page_size);

// Process start as Unix seconds, from /proc/<pid>/stat (field 22, clock ticks since boot) and
// /proc/stat (`btime`, boot time in Unix seconds).
absl::StatusOr<double> ParseProcessStartTime(std::string_view pid_stat, std::string_view proc_stat,
                                             uint64_t clock_ticks_per_second);

}  // namespace apmcov::telemetry
