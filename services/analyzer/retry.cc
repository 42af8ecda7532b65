#include "retry.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "logger.h"

namespace apmcov::analyzer {
namespace {

bool Retriable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsAborted(s) ||
         absl::IsResourceExhausted(s);
}

}  // namespace

absl::Status Retrier::Run(std::string_view what, const std::function<absl::Status()>& fn) {
  auto backoff = std::chrono::nanoseconds(std::chrono::milliseconds(200));
  for (int attempt = 1;; ++attempt) {
    absl::Status s = fn();
    if (s.ok() || !Retriable(s)) return s;
    Log().Warn("retrying",
               {{"what", what}, {"attempt", attempt}, {"error", std::string(s.message())}});
    // Sleep in slices so a stop request is noticed quickly.
    for (auto slept = std::chrono::nanoseconds(0); slept < backoff;) {
      if (stop_.load()) {
        return absl::CancelledError(
            absl::StrCat(AbslView(what), ": stopped while retrying: ", s.message()));
      }
      const auto slice =
          std::min(backoff - slept, std::chrono::nanoseconds(std::chrono::milliseconds(250)));
      if (!clock_.SleepFor(slice)) {  // the clock is cancelled: shutting down
        return absl::CancelledError(
            absl::StrCat(AbslView(what), ": stopped while retrying: ", s.message()));
      }
      slept += slice;
    }
    backoff = std::min(backoff * 2, max_backoff_);
  }
}

}  // namespace apmcov::analyzer
