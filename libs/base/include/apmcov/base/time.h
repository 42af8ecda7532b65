// Time formats used across the project: RFC 3339 UTC for JSON, Unix nanoseconds inside.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace apmcov {

// "2026-11-21T23:48:02.123Z" (milliseconds kept when non-zero, else whole seconds).
std::string FormatRfc3339(int64_t unix_nanos);

// Parses RFC 3339 / ISO 8601 with optional fraction and offset ("2023-06-29T09:50:52.472Z").
absl::StatusOr<int64_t> ParseRfc3339(std::string_view text);

}  // namespace apmcov
