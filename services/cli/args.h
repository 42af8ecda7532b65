// The `apmcov` command line (design §8): flags and environment to one Invocation, or a usage
// error. Pure: the environment and the current time are passed in.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gate.h"

namespace apmcov::cli {

enum class Format { kText, kJson, kMarkdown };

struct Invocation {
  std::string command;                     // check, report, services, sync, help
  std::string gateway = "127.0.0.1:9090";  // --gateway, else APMCOV_GATEWAY
  std::string token;                       // GATEWAY_API_TOKEN (never a flag: see design §9)
  Format format = Format::kText;
  int64_t timeout_ms = 10'000;            // --timeout SECONDS: each call's deadline
  CheckOptions check;                     // check; team/env also filter services
  std::string apm;                        // services --apm=true|false ("" = both)
  bool wait = false;                      // sync --wait
  int64_t wait_timeout_ms = 15 * 60'000;  // sync --wait-timeout SECONDS
};

// Reads "7d", "36h", "90m", "1w2d", "45s" (units s, m, h, d, w; summed) as a duration, or an
// RFC 3339 time or a date (YYYY-MM-DD, midnight UTC) as a point in time; returns the start of
// the window in Unix ns. InvalidArgument otherwise, or for a zero duration or a future time.
absl::StatusOr<int64_t> ParseSince(std::string_view text, int64_t now_ns);

// argv without the program name. `getenv` looks up APMCOV_GATEWAY and GATEWAY_API_TOKEN.
// InvalidArgument with a message naming the flag for anything unknown, missing or malformed.
absl::StatusOr<Invocation> ParseArgs(
    const std::vector<std::string>& args,
    const std::function<std::optional<std::string>(const std::string&)>& getenv, int64_t now_ns);

// The usage text (--help, and after a usage error).
std::string Usage();

}  // namespace apmcov::cli
