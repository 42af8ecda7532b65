// Backpressure (design §3): the collector publishes spans only as fast as the analyzer group
// keeps up, so a slow analyzer never loses spans to retention. BackpressureReason() is the
// rule (pure); Backpressure::Wait() applies it before each span page: it reads where the
// group stands on every `spans` partition (LagProbe), and while the rule says pause it waits
// in 1 s steps of the Clock, counted in apmcov_collector_backpressure_wait_seconds_total, up
// to ten minutes. A reading that said "publish on" holds for kProbeInterval: against Kafka a
// reading is a metadata request, an offset fetch and two offset lists per partition (about 50
// round trips with 24 partitions), which before every page capped a sync at a few dozen
// pages a second; what the collector publishes within the interval (under a second of
// reading) is far inside both limits. Thread-safe as far as its collaborators are (the collector
// calls it from the sync thread only).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "apmcov/base/clock.h"
#include "apmcov/bus/bus.h"
#include "metrics.h"

namespace apmcov::collector {

// Why publishing must pause, given where the analyzer group stands on each `spans` partition,
// or "" to publish on. Pauses when the summed lag exceeds `max_lag_messages`
// (MAX_CONSUMER_LAG_MESSAGES), or when on a partition that retention has already trimmed (low
// watermark > 0) the analyzer's commit is more than `retention_share` of the retained messages
// behind: publishing on would push unread spans out of a small log (kafka-dev keeps about
// 5 MiB per partition) whatever MAX_CONSUMER_LAG_MESSAGES says.
std::string BackpressureReason(const std::vector<bus::PartitionLag>& lags, int64_t max_lag_messages,
                               double retention_share = 0.5);

class Backpressure {
 public:
  struct Options {
    std::string group;  // ANALYZER_GROUP
    std::string topic;  // the spans topic
    int64_t max_lag_messages = 0;
  };

  // `stopping` says whether the collector is stopping (checked between steps).
  Backpressure(Options options, bus::LagProbe& probe, Clock& clock, CollectorMetrics& metrics,
               std::function<bool()> stopping);

  // Returns once publishing may go on: OK when the rule says so (at once or after a pause),
  // and when the lag cannot be read (delivery itself reports an unreachable Kafka); Cancelled
  // when the collector stops meanwhile; ResourceExhausted after ten minutes of pause.
  // With `may_cut`, a reading that says pause returns Aborted (the reason) at once instead of
  // waiting: the caller has published spans the analyzer cannot commit before it gets their
  // watermark, so waiting for its commits would wait for ever; it publishes its progress,
  // then waits here without `may_cut`.
  absl::Status Wait(bool may_cut = false);

  static constexpr std::chrono::milliseconds kProbeInterval{500};

 private:
  const Options options_;
  bus::LagProbe& probe_;
  Clock& clock_;
  CollectorMetrics& metrics_;
  const std::function<bool()> stopping_;
  std::optional<Clock::TimePoint> last_go_;  // of the last reading that said publish on
};

}  // namespace apmcov::collector
