// How the analyzer rides out a store or DLQ outage (app.h contract): an operation is run
// again with capped exponential backoff (200 ms doubling up to max_backoff, slept on the
// Clock in slices of at most 250 ms) while it fails with a retriable status (Unavailable,
// DeadlineExceeded, Aborted, ResourceExhausted), until it succeeds, fails for good, or a stop
// is requested (Cancelled). Holds its collaborators by reference; not thread-safe except for
// the stop flag, which any thread may set.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string_view>

#include "absl/status/status.h"
#include "apmcov/base/clock.h"

namespace apmcov::analyzer {

class Retrier {
 public:
  Retrier(Clock& clock, const std::atomic<bool>& stop, std::chrono::nanoseconds max_backoff)
      : clock_(clock), stop_(stop), max_backoff_(max_backoff) {}

  // `fn`'s status once it is OK or not retriable; Cancelled (naming `what`) when a stop was
  // requested or the clock was cancelled during a backoff.
  absl::Status Run(std::string_view what, const std::function<absl::Status()>& fn);

 private:
  Clock& clock_;
  const std::atomic<bool>& stop_;
  const std::chrono::nanoseconds max_backoff_;
};

}  // namespace apmcov::analyzer
