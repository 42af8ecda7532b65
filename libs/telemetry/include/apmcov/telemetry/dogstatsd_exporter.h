// Sends the metrics of a prometheus::Registry to a Datadog Agent over DogStatsD, so a team can
// watch the tracker in Datadog with the same counters, gauges and histograms /metrics serves.
// Off unless configured (see libs/telemetry/README.md):
//
//   DD_DOGSTATSD_URL                udp://host:port (wins when set)
//   DD_AGENT_HOST, DD_DOGSTATSD_PORT  the Agent's host; port defaults to 8125
//   DOGSTATSD_FLUSH_SECONDS         seconds between flushes (default 10, 0.1..3600)
//
//   // before reader.Finish():
//   auto statsd_options = telemetry::DogStatsdExporterOptions::Read(reader, kService);
//   ... reader.Finish() ...
//   auto statsd = telemetry::MaybeStartDogStatsd(statsd_options, registry);  // null when off
//
// Translation of one Registry::Collect() (metric names stay the Prometheus names, with '_';
// labels become tags "label:value", except empty values and exact repeats of a constant tag;
// service/env/version tags are added to every line):
//   counter           name:<increase since the last flush>|c
//                     (the first flush of a series sends its full value, even 0; later flushes
//                     skip a series that did not move; a counter that went down was reset and
//                     sends its new value; so a count is never negative)
//   gauge, untyped    name:<value>|g                      (every flush)
//   histogram         name.count:<new observations>|c and name.sum:<their sum>|c
//                     (the Datadog OpenMetrics names; buckets are not sent: individual
//                     observations cannot be recovered from buckets, so no |d distribution)
//   summary           name.count and name.sum as for a histogram, and
//                     name.quantile:<value>|g|#quantile:<q> per quantile
#pragma once

#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "apmcov/telemetry/dogstatsd.h"

namespace apmcov {
class ConfigReader;
}

namespace apmcov::telemetry {

struct DogStatsdExporterOptions {
  DogStatsdConfig sink;  // where to send, and the constant tags
  std::chrono::milliseconds interval{10000};

  // DogStatsdConfig::Read plus DOGSTATSD_FLUSH_SECONDS; constant tags service (DD_SERVICE or
  // `default_service`), env (DD_ENV) and version (DD_VERSION) when non-empty, read through
  // `reader` like ConfigureLoggingFrom() does. Errors land in reader.Finish().
  static DogStatsdExporterOptions Read(ConfigReader& reader, std::string_view default_service);
};

// One DogStatsD sample before formatting.
struct DogStatsdPoint {
  std::string name;
  double value = 0;
  DogStatsdType type = DogStatsdType::kGauge;
  std::vector<std::pair<std::string, std::string>> tags;
};

// The stateful Prometheus → DogStatsD translation described above: it remembers each
// counter-like series' last total to send increases. Not thread-safe (the exporter holds it
// under its flush lock).
class DogStatsdTranslator {
 public:
  std::vector<DogStatsdPoint> Translate(const std::vector<prometheus::MetricFamily>& families);

 private:
  // Appends a count point for the increase of series `key` to `total`; false when skipped.
  void AddCount(std::vector<DogStatsdPoint>* out, std::string name, const std::string& key,
                double total, bool reset,
                const std::vector<std::pair<std::string, std::string>>& tags);

  std::map<std::string, double> last_;  // series key -> total at the last flush
};

// Flushes a registry to a DogStatsdSink every `interval` on a background thread, on FlushNow()
// and once more on Stop(). Send failures are counted (send_errors()), never thrown or logged
// per datagram. All methods are thread-safe; Stop() is idempotent and the destructor calls it.
class DogStatsdExporter {
 public:
  // InvalidArgument for a bad config or a non-positive interval, Unavailable when the Agent's
  // host does not resolve. A disabled config gives an exporter whose flushes send nothing.
  // `before_collect` (may be empty) runs before each Collect(), e.g. to refresh counters that
  // a service otherwise updates only in an AdminServer scrape hook.
  static absl::StatusOr<std::unique_ptr<DogStatsdExporter>> Create(
      const DogStatsdExporterOptions& options, std::shared_ptr<prometheus::Registry> registry,
      std::function<void()> before_collect = {});

  ~DogStatsdExporter();
  DogStatsdExporter(const DogStatsdExporter&) = delete;
  DogStatsdExporter& operator=(const DogStatsdExporter&) = delete;

  // Starts the flush thread; no-op if already started or stopped.
  void Start();
  // Collects and sends now, on the caller's thread.
  void FlushNow();
  // Stops the thread, then flushes once more. Idempotent.
  void Stop();

  uint64_t flushes() const { return flushes_.load(std::memory_order_relaxed); }
  uint64_t sent() const { return sink_->sent(); }
  uint64_t send_errors() const { return sink_->send_errors(); }

 private:
  DogStatsdExporter(std::unique_ptr<DogStatsdSink> sink,
                    std::vector<std::pair<std::string, std::string>> constant_tags,
                    std::chrono::milliseconds interval,
                    std::shared_ptr<prometheus::Registry> registry,
                    std::function<void()> before_collect);
  void Run();

  const std::unique_ptr<DogStatsdSink> sink_;
  const std::vector<std::pair<std::string, std::string>> constant_tags_;
  const std::chrono::milliseconds interval_;
  const std::shared_ptr<prometheus::Registry> registry_;
  const std::function<void()> before_collect_;

  std::mutex flush_mu_;  // serialises flushes; guards translator_
  DogStatsdTranslator translator_;
  std::atomic<uint64_t> flushes_{0};

  std::mutex mu_;  // guards the fields below
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

// Null when `options.sink` is disabled; otherwise a started exporter. A sink that cannot be
// created (the Agent's host does not resolve) is logged as a warning and gives null: the
// service runs on without DogStatsD rather than failing.
std::unique_ptr<DogStatsdExporter> MaybeStartDogStatsd(
    const DogStatsdExporterOptions& options, std::shared_ptr<prometheus::Registry> registry,
    std::function<void()> before_collect = {});

}  // namespace apmcov::telemetry
