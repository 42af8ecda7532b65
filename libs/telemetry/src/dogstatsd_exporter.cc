#include "apmcov/telemetry/dogstatsd_exporter.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "apmcov/base/config.h"
#include "apmcov/base/log.h"
#include "apmcov/base/process.h"

namespace apmcov::telemetry {
namespace {

using Tags = std::vector<std::pair<std::string, std::string>>;

Tags LabelTags(const prometheus::ClientMetric& metric) {
  Tags tags;
  tags.reserve(metric.label.size());
  for (const auto& label : metric.label) {
    // An empty label value is the same series as no label at all in Prometheus.
    if (!label.value.empty()) tags.emplace_back(label.name, label.value);
  }
  return tags;
}

// A key naming one series of one counter-like value: name, then each label, NUL-separated
// (label order from prometheus-cpp is stable for a series).
std::string SeriesKey(std::string_view name, const prometheus::ClientMetric& metric) {
  std::string key(name);
  for (const auto& label : metric.label) {
    key.push_back('\0');
    key += label.name;
    key.push_back('\0');
    key += label.value;
  }
  return key;
}

std::string FormatQuantile(double q) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), q);
  return ec == std::errc() ? std::string(buf, end) : std::string("nan");
}

void AddGauge(std::vector<DogStatsdPoint>* out, std::string name, double value, Tags tags) {
  out->push_back({std::move(name), value, DogStatsdType::kGauge, std::move(tags)});
}

}  // namespace

DogStatsdExporterOptions DogStatsdExporterOptions::Read(ConfigReader& reader,
                                                        std::string_view default_service) {
  DogStatsdExporterOptions options;
  options.sink = DogStatsdConfig::Read(reader);
  const double seconds = reader.Double("DOGSTATSD_FLUSH_SECONDS", 10, 0.1, 3600);
  options.interval = std::chrono::milliseconds(static_cast<int64_t>(std::llround(
      (std::isfinite(seconds) && seconds >= 0.1 && seconds <= 3600 ? seconds : 10) * 1000)));
  const std::string service = reader.String("DD_SERVICE", default_service);
  const std::string env = reader.String("DD_ENV", "");
  const std::string version = reader.String("DD_VERSION", "");
  if (!service.empty()) options.sink.constant_tags.emplace_back("service", service);
  if (!env.empty()) options.sink.constant_tags.emplace_back("env", env);
  if (!version.empty()) options.sink.constant_tags.emplace_back("version", version);
  return options;
}

void DogStatsdTranslator::AddCount(std::vector<DogStatsdPoint>* out, std::string name,
                                   const std::string& key, double total, bool reset,
                                   const Tags& tags) {
  auto it = last_.find(key);
  double delta;
  if (it == last_.end()) {
    delta = total;  // first sight: the full value, so the series exists even at 0
    last_.emplace(key, total);
  } else {
    delta = reset ? total : total - it->second;
    it->second = total;
    if (delta == 0) return;
  }
  out->push_back({std::move(name), delta, DogStatsdType::kCount, tags});
}

std::vector<DogStatsdPoint> DogStatsdTranslator::Translate(
    const std::vector<prometheus::MetricFamily>& families) {
  std::vector<DogStatsdPoint> out;
  for (const prometheus::MetricFamily& family : families) {
    for (const prometheus::ClientMetric& metric : family.metric) {
      Tags tags = LabelTags(metric);
      switch (family.type) {
        case prometheus::MetricType::Counter: {
          const std::string key = SeriesKey(family.name, metric);
          auto it = last_.find(key);
          const bool reset = it != last_.end() && metric.counter.value < it->second;
          AddCount(&out, family.name, key, metric.counter.value, reset, tags);
          break;
        }
        case prometheus::MetricType::Gauge:
          AddGauge(&out, family.name, metric.gauge.value, std::move(tags));
          break;
        case prometheus::MetricType::Untyped:
          AddGauge(&out, family.name, metric.untyped.value, std::move(tags));
          break;
        case prometheus::MetricType::Histogram:
        case prometheus::MetricType::Summary: {
          const bool histogram = family.type == prometheus::MetricType::Histogram;
          const double count = static_cast<double>(histogram ? metric.histogram.sample_count
                                                             : metric.summary.sample_count);
          const double sum = histogram ? metric.histogram.sample_sum : metric.summary.sample_sum;
          const std::string count_name = family.name + ".count";
          const std::string count_key = SeriesKey(count_name, metric);
          auto it = last_.find(count_key);
          // Fewer observations than last time: the series was reset; send both totals.
          const bool reset = it != last_.end() && count < it->second;
          AddCount(&out, count_name, count_key, count, reset, tags);
          AddCount(&out, family.name + ".sum", SeriesKey(family.name + ".sum", metric), sum, reset,
                   tags);
          if (!histogram) {
            for (const auto& q : metric.summary.quantile) {
              Tags qtags = tags;
              qtags.emplace_back("quantile", FormatQuantile(q.quantile));
              AddGauge(&out, family.name + ".quantile", q.value, std::move(qtags));
            }
          }
          break;
        }
        default:
          break;  // info / state-set types are not produced by prometheus-cpp's core builders
      }
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<DogStatsdExporter>> DogStatsdExporter::Create(
    const DogStatsdExporterOptions& options, std::shared_ptr<prometheus::Registry> registry,
    std::function<void()> before_collect) {
  if (registry == nullptr) return absl::InvalidArgumentError("DogStatsD exporter needs a registry");
  if (options.interval.count() <= 0) {
    return absl::InvalidArgumentError("DOGSTATSD_FLUSH_SECONDS: must be positive");
  }
  absl::StatusOr<std::unique_ptr<DogStatsdSink>> sink = DogStatsdSink::Create(options.sink);
  if (!sink.ok()) return sink.status();
  return std::unique_ptr<DogStatsdExporter>(
      new DogStatsdExporter(std::move(*sink), options.sink.constant_tags, options.interval,
                            std::move(registry), std::move(before_collect)));
}

DogStatsdExporter::DogStatsdExporter(std::unique_ptr<DogStatsdSink> sink,
                                     std::vector<std::pair<std::string, std::string>> constant_tags,
                                     std::chrono::milliseconds interval,
                                     std::shared_ptr<prometheus::Registry> registry,
                                     std::function<void()> before_collect)
    : sink_(std::move(sink)),
      constant_tags_(std::move(constant_tags)),
      interval_(interval),
      registry_(std::move(registry)),
      before_collect_(std::move(before_collect)) {}

DogStatsdExporter::~DogStatsdExporter() { Stop(); }

void DogStatsdExporter::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopped_) return;
  started_ = true;
  thread_ = std::thread([this] {
    NameThisThread("statsd-export");
    Run();
  });
}

void DogStatsdExporter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (cv_.wait_for(lock, interval_, [this] { return stopping_; })) break;
    lock.unlock();
    FlushNow();
    lock.lock();
  }
}

void DogStatsdExporter::FlushNow() {
  std::lock_guard<std::mutex> lock(flush_mu_);
  if (before_collect_) before_collect_();
  const std::vector<DogStatsdPoint> points = translator_.Translate(registry_->Collect());
  for (const DogStatsdPoint& p : points) {
    DogStatsdTags tags;
    tags.reserve(p.tags.size());
    for (const auto& [key, value] : p.tags) {
      // A label repeating a constant tag (build_info's service label) is sent once.
      if (std::find(constant_tags_.begin(), constant_tags_.end(),
                    std::pair<std::string, std::string>(key, value)) != constant_tags_.end()) {
        continue;
      }
      tags.push_back({key, value});
    }
    switch (p.type) {
      case DogStatsdType::kCount:
        sink_->Count(p.name, p.value, tags);
        break;
      case DogStatsdType::kGauge:
        sink_->Gauge(p.name, p.value, tags);
        break;
      case DogStatsdType::kDistribution:
        sink_->Distribution(p.name, p.value, tags);
        break;
    }
  }
  flushes_.fetch_add(1, std::memory_order_relaxed);
}

void DogStatsdExporter::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    thread = std::move(thread_);
  }
  cv_.notify_all();
  if (thread.joinable()) thread.join();
  FlushNow();  // the last increments since the previous flush
}

std::unique_ptr<DogStatsdExporter> MaybeStartDogStatsd(
    const DogStatsdExporterOptions& options, std::shared_ptr<prometheus::Registry> registry,
    std::function<void()> before_collect) {
  if (!options.sink.enabled) return nullptr;
  static const Logger log("telemetry.dogstatsd");
  auto exporter =
      DogStatsdExporter::Create(options, std::move(registry), std::move(before_collect));
  if (!exporter.ok()) {
    log.Warn("DogStatsD disabled", {{"error", std::string(exporter.status().message())}});
    return nullptr;
  }
  (*exporter)->Start();
  log.Info("DogStatsD exporting",
           {{"host", options.sink.host},
            {"port", static_cast<int64_t>(options.sink.port)},
            {"interval_ms", static_cast<int64_t>(options.interval.count())}});
  return std::move(*exporter);
}

}  // namespace apmcov::telemetry
