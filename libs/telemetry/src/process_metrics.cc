#include "apmcov/telemetry/process_metrics.h"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace apmcov::telemetry {
namespace {

std::optional<std::string> ReadSmallFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool ParseUint(std::string_view text, uint64_t* out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// Splits on runs of spaces (and trailing newline) and returns field `index` (0-based).
std::optional<std::string_view> Field(std::string_view text, size_t index) {
  size_t i = 0;
  size_t n = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n')) ++i;
    if (i >= text.size()) break;
    size_t end = i;
    while (end < text.size() && text[end] != ' ' && text[end] != '\n') ++end;
    if (n == index) return text.substr(i, end - i);
    ++n;
    i = end;
  }
  return std::nullopt;
}

double NowUnixSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double StartTimeOrNow() {
  std::optional<std::string> pid_stat = ReadSmallFile("/proc/self/stat");
  std::optional<std::string> proc_stat = ReadSmallFile("/proc/stat");
  long ticks = sysconf(_SC_CLK_TCK);
  if (pid_stat && proc_stat && ticks > 0) {
    absl::StatusOr<double> start =
        ParseProcessStartTime(*pid_stat, *proc_stat, static_cast<uint64_t>(ticks));
    if (start.ok()) return *start;
  }
  return NowUnixSeconds();
}

}  // namespace

absl::StatusOr<uint64_t> ParseStatmResidentBytes(std::string_view statm, uint64_t page_size) {
  std::optional<std::string_view> field = Field(statm, 1);
  uint64_t pages = 0;
  if (!field || !ParseUint(*field, &pages)) {
    return absl::InvalidArgumentError("statm: no resident page count in the second field");
  }
  return pages * page_size;
}

absl::StatusOr<double> ParseProcessStartTime(std::string_view pid_stat, std::string_view proc_stat,
                                             uint64_t clock_ticks_per_second) {
  if (clock_ticks_per_second == 0) {
    return absl::InvalidArgumentError("clock ticks per second must be positive");
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')': fields after it
  // are counted from the last ')'.
  size_t close = pid_stat.rfind(')');
  if (close == std::string_view::npos) {
    return absl::InvalidArgumentError("stat: no ')' closing the command name");
  }
  // After ")" come field 3 (state) onwards; starttime is field 22, index 19 from there.
  std::optional<std::string_view> start_field = Field(pid_stat.substr(close + 1), 19);
  uint64_t start_ticks = 0;
  if (!start_field || !ParseUint(*start_field, &start_ticks)) {
    return absl::InvalidArgumentError("stat: no start time in field 22");
  }
  uint64_t boot_time = 0;
  bool found = false;
  size_t pos = 0;
  while (pos < proc_stat.size()) {
    size_t end = proc_stat.find('\n', pos);
    if (end == std::string_view::npos) end = proc_stat.size();
    std::string_view line = proc_stat.substr(pos, end - pos);
    if (line.substr(0, 6) == "btime ") {
      found = ParseUint(line.substr(6), &boot_time);
      break;
    }
    pos = end + 1;
  }
  if (!found) return absl::InvalidArgumentError("/proc/stat: no valid btime line");
  return static_cast<double>(boot_time) +
         static_cast<double>(start_ticks) / static_cast<double>(clock_ticks_per_second);
}

ProcessMetrics::ProcessMetrics(prometheus::Registry& registry, std::string_view service,
                               std::string_view version) {
  prometheus::BuildGauge()
      .Name("apmcov_build_info")
      .Help("Always 1; labels name the running service and its version.")
      .Register(registry)
      .Add({{"service", std::string(service)}, {"version", std::string(version)}})
      .Set(1);
  prometheus::BuildGauge()
      .Name("apmcov_process_start_time_seconds")
      .Help("Start time of the process since the Unix epoch, in seconds.")
      .Register(registry)
      .Add({})
      .Set(StartTimeOrNow());
  resident_bytes_ = &prometheus::BuildGauge()
                         .Name("apmcov_process_resident_memory_bytes")
                         .Help("Resident memory size of the process, in bytes.")
                         .Register(registry)
                         .Add({});
  Refresh();
}

void ProcessMetrics::Refresh() {
  std::optional<std::string> statm = ReadSmallFile("/proc/self/statm");
  long page_size = sysconf(_SC_PAGESIZE);
  if (!statm || page_size <= 0) return;
  absl::StatusOr<uint64_t> bytes =
      ParseStatmResidentBytes(*statm, static_cast<uint64_t>(page_size));
  if (bytes.ok()) resident_bytes_->Set(static_cast<double>(*bytes));
}

}  // namespace apmcov::telemetry
