#include "apmcov/base/time.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "apmcov/base/status.h"

namespace apmcov {

std::string FormatRfc3339(int64_t unix_nanos) {
  absl::Time t = absl::FromUnixNanos(unix_nanos);
  const char* fmt =
      (unix_nanos % 1'000'000'000 == 0) ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%dT%H:%M:%E3SZ";
  return absl::FormatTime(fmt, t, absl::UTCTimeZone());
}

absl::StatusOr<int64_t> ParseRfc3339(std::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, AbslView(text), &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", AbslView(text), "\" is not an RFC 3339 time: ", err));
  }
  return absl::ToUnixNanos(t);
}

}  // namespace apmcov
