#include "backpressure.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "internal.h"

namespace apmcov::collector {

using internal::Log;

std::string BackpressureReason(const std::vector<bus::PartitionLag>& lags, int64_t max_lag_messages,
                               double retention_share) {
  const int64_t total = bus::TotalLag(lags);
  if (total > max_lag_messages) {
    return absl::StrCat("the analyzer is ", total,
                        " messages behind on spans, above MAX_CONSUMER_LAG_MESSAGES (",
                        max_lag_messages, ")");
  }
  for (const bus::PartitionLag& p : lags) {
    const int64_t retained = p.high - p.low;
    if (p.low > 0 &&
        static_cast<double>(p.lag()) > retention_share * static_cast<double>(retained)) {
      return absl::StrCat("the analyzer is ", p.lag(), " messages behind on spans partition ",
                          p.partition, ", which retains only ", retained,
                          " (its oldest messages are already gone): publishing on would lose "
                          "spans to retention");
    }
  }
  return "";
}

Backpressure::Backpressure(Options options, bus::LagProbe& probe, Clock& clock,
                           CollectorMetrics& metrics, std::function<bool()> stopping)
    : options_(std::move(options)),
      probe_(probe),
      clock_(clock),
      metrics_(metrics),
      stopping_(std::move(stopping)) {}

absl::Status Backpressure::Wait(bool may_cut) {
  if (last_go_) {
    const Clock::Duration since = clock_.Now() - *last_go_;
    if (since >= Clock::Duration::zero() && since < kProbeInterval) return absl::OkStatus();
  }
  double waited = 0;
  constexpr double kMaxWaitSeconds = 600;
  std::string reason;
  while (true) {
    absl::StatusOr<std::vector<bus::PartitionLag>> lags =
        probe_.PartitionLags(options_.group, options_.topic);
    if (!lags.ok()) {
      // Without a reading, publish on: delivery itself reports an unreachable Kafka.
      Log().Warn("cannot read the analyzer lag", {{"error", StdView(lags.status().message())}});
      return absl::OkStatus();
    }
    const int64_t total = bus::TotalLag(*lags);
    metrics_.SetAnalyzerLag(total);
    reason = BackpressureReason(*lags, options_.max_lag_messages);
    if (reason.empty()) {
      last_go_ = clock_.Now();
      if (waited > 0) Log().Info("resuming: analyzer caught up", {{"paused_seconds", waited}});
      return absl::OkStatus();
    }
    if (may_cut) return absl::AbortedError(reason);
    if (stopping_()) return absl::CancelledError("collector stopping");
    if (waited >= kMaxWaitSeconds) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "paused ", static_cast<int64_t>(waited), " s and still ", reason,
          "; if the analyzer is running, its traces in flight (SPAN_WINDOW_SECONDS + "
          "TRACE_GRACE_SECONDS of spans) may not fit what Kafka retains: give the spans "
          "topic more partitions or retention, or shorten SPAN_WINDOW_SECONDS"));
    }
    if (waited == 0) Log().Info("pausing", {{"reason", reason}, {"lag", total}});
    if (!clock_.SleepFor(std::chrono::seconds(1))) {
      return absl::CancelledError("collector stopping");
    }
    metrics_.AddBackpressureWait(1.0);
    waited += 1;
  }
}

}  // namespace apmcov::collector
