// Request parameters as Datadog reads them: integers, times (ISO 8601, epoch milliseconds,
// now-15m), aggregate intervals (5m), and query strings for the links ddsim writes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace apmcov::ddsim {

// The integer value of query parameter `name` (`value` null: absent, gives `def`).
absl::StatusOr<int64_t> ParseInt(std::string_view name, const std::string* value, int64_t def);

// Parses a Datadog time: ISO 8601, epoch milliseconds, or `now`, `now-15m` (s, m, h, d, w).
absl::StatusOr<int64_t> ParseDatadogTime(std::string_view text, int64_t now_ns);

// An aggregate timeseries interval ("30s", "5m", "1h", "1d") in nanoseconds.
absl::StatusOr<int64_t> ParseInterval(std::string_view s);

// Appends `key=value` to a query string, both percent-encoded (RFC 3986 unreserved kept).
void AppendQueryParam(std::string& out, std::string_view key, std::string_view value);

}  // namespace apmcov::ddsim
