// One collector sync against ddsim, publishing into a counting publisher (no Kafka): spans/s
// from ddsim through HTTP, parsing and batching; spans per spans-list call; Datadog calls for
// catalog + inventory against the budget 3 + ceil(services/100) (design §11).
//
//   apmcov-bench-collector-sync --ddsim PATH [--services N] [--spans-per-second N]
//                               [--minutes N] [--kafka-dev PATH]
// With --kafka-dev the spans go to a private apmcov-kafka-dev through the Kafka adapter
// (idempotent producer, acks=all) instead of a counting publisher.
// Prints one JSON line.
//
// Tracing overhead (design §12, §11: at most 3%): with --tracing-rounds N the same sync runs
// 2N times in the same process, alternately with tracing off and on (the sync span, a client
// span per Datadog call with its headers injected, a producer span per group of records
// published (a page of span batches, the catalog, ...) with its context in the batch's headers,
// which every record carries; exported by the AgentExporter to the same ddsim, which is also
// an Agent), each on a fresh App reading the same range; it prints one more JSON line with
// both rates (best round of each), their ratio, the medians over rounds of the on/off ratios
// of the wall rate and of the CPU time per span, and the core count. With --tracing-control
// both sides of every round run with tracing off (an A/A run): the "overhead" it prints is
// the bench's own noise floor, to read the on/off figure against.
#include <prometheus/registry.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../common/bench_stats.h"
#include "apmcov/base/clock.h"
#include "apmcov/bus/kafka.h"
#include "apmcov/bus/testing/kafka_dev_process.h"
#include "apmcov/datadog/http_client.h"
#include "apmcov/datadog/testing/ddsim_process.h"
#include "apmcov/tracing/agent_exporter.h"
#include "apmcov/tracing/tracer.h"
#include "app.h"

namespace {

using namespace apmcov;

class CountingPublisher : public bus::Publisher {
 public:
  absl::Status Publish(bus::OutgoingMessage m) override {
    std::lock_guard lock(mu_);
    ++messages_;
    bytes_ += m.value.size();
    return absl::OkStatus();
  }
  // Like the Kafka adapter, takes a batch's headers once for all its records.
  absl::Status PublishBatch(bus::OutgoingBatch b) override {
    std::lock_guard lock(mu_);
    messages_ += b.records.size();
    for (const bus::OutgoingRecord& r : b.records) bytes_ += r.value.size();
    return absl::OkStatus();
  }
  absl::Status Flush(std::chrono::milliseconds) override { return absl::OkStatus(); }
  absl::StatusOr<int32_t> PartitionCount(const std::string&) override { return 8; }
  uint64_t messages() const { return messages_; }
  uint64_t bytes() const { return bytes_; }

 private:
  std::mutex mu_;
  uint64_t messages_ = 0, bytes_ = 0;
};

class NoLag : public bus::LagProbe {
 public:
  absl::StatusOr<std::vector<bus::PartitionLag>> PartitionLags(const std::string&,
                                                               const std::string&) override {
    return std::vector<bus::PartitionLag>{};
  }
  absl::StatusOr<std::pair<int64_t, int64_t>> Watermarks(const std::string&, int32_t) override {
    return std::make_pair(int64_t{0}, int64_t{0});
  }
};

// Counts calls per endpoint and forwards to the collector's metrics.
class CallCounter : public datadog::ApiObserver {
 public:
  explicit CallCounter(datadog::ApiObserver& next) : next_(next) {}
  void OnApiCall(const std::string& endpoint, int status, double seconds) override {
    ++calls[endpoint];
    next_.OnApiCall(endpoint, status, seconds);
  }
  void OnRateLimitWait(const std::string& bucket, double seconds) override {
    next_.OnRateLimitWait(bucket, seconds);
  }
  std::map<std::string, int> calls;

 private:
  datadog::ApiObserver& next_;
};

using bench::Median;
using bench::ProcessCpuSeconds;

std::string Arg(int argc, char** argv, const char* name, const char* def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return def;
}

bool HasFlag(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  // Default: the ddsim of the build tree scripts/bench.sh runs from (APMCOV_BINARY_DIR).
  const char* build_dir = std::getenv("APMCOV_BINARY_DIR");
  const std::string default_ddsim =
      build_dir != nullptr ? std::string(build_dir) + "/services/ddsim/apmcov-ddsim" : "";
  const std::string ddsim = Arg(argc, argv, "--ddsim", default_ddsim.c_str());
  const int services = std::stoi(Arg(argc, argv, "--services", "1000"));
  const std::string sps = Arg(argc, argv, "--spans-per-second", "2000");
  const int minutes = std::stoi(Arg(argc, argv, "--minutes", "30"));
  if (ddsim.empty()) {
    std::fprintf(stderr, "usage: %s --ddsim PATH/apmcov-ddsim [...]\n", argv[0]);
    return 2;
  }
  auto ddsim_process = datadog::testing::DdsimProcess::Start(
      {"serve", "--seed=5", "--services=" + std::to_string(services), "--spans-per-second=" + sps,
       "--backfill-minutes=" + std::to_string(minutes + 5), "--http-port=0", "--admin-port=0",
       "--address=127.0.0.1", "--rate-limits=unlimited", "--log-level=warn"},
      ddsim);
  if (!ddsim_process.ok()) {
    std::fprintf(stderr, "ddsim did not start: %s\n",
                 std::string(ddsim_process.status().message()).c_str());
    return 1;
  }
  const std::string base = (*ddsim_process)->url();

  prometheus::Registry registry;
  collector::CollectorMetrics metrics(registry);
  CallCounter counter(metrics);
  RealClock clock;
  datadog::CurlTransport transport;
  datadog::ClientOptions o;
  o.base_url = base;
  o.site = base;
  o.api_key = "k";
  o.app_key = "a";
  datadog::DatadogHttpClient client(o, transport, clock, &counter);
  datadog::HttpDatadogSource source(client);
  CountingPublisher counting;
  bus::Publisher* publisher = &counting;
  const std::string kafka_dev = Arg(argc, argv, "--kafka-dev", "");
  std::unique_ptr<bus::testing::KafkaDevProcess> kd;
  std::unique_ptr<bus::KafkaPublisher> kafka;
  if (!kafka_dev.empty()) {
    auto started = bus::testing::KafkaDevProcess::Start(kafka_dev);
    if (!started.ok()) {
      std::fprintf(stderr, "kafka-dev: %s\n", std::string(started.status().message()).c_str());
      return 1;
    }
    kd = std::move(*started);
    bus::KafkaConfig kc;
    kc.brokers = kd->bootstraps();
    auto p = bus::KafkaPublisher::Create(kc);
    if (!p.ok()) return 1;
    kafka = std::move(*p);
    publisher = kafka.get();
  }
  NoLag lag;
  collector::CollectorConfig cfg;
  cfg.span_backfill_minutes = minutes;
  cfg.span_page_budget = 100'000;
  collector::App app(cfg, {source, *publisher, lag, clock, metrics, nullptr, nullptr});

  auto start = std::chrono::steady_clock::now();
  collector::SyncResult r = app.RunSync(v1::SYNC_TRIGGER_SCHEDULE);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ddsim_process->reset();  // stopped by its PID

  const int catalog_inventory = counter.calls["service_definitions"] +
                                counter.calls["apm_services"] + counter.calls["spans_aggregate"];
  const int bound = 3 + static_cast<int>(std::ceil(r.catalog_services / 100.0));
  const int span_calls = counter.calls["spans_list"];
  std::printf(
      "{\"bench\":\"collector_sync_ddsim\",\"cores\":%u,\"state\":%d,\"catalog_services\":%llu,"
      "\"catalog_inventory_calls\":%d,\"calls_bound\":%d,\"span_calls\":%d,\"spans\":%llu,"
      "\"spans_per_call\":%.1f,\"windows\":%llu,\"seconds\":%.2f,\"spans_per_s\":%.0f,"
      "\"messages\":%llu,\"bytes\":%llu,\"publisher\":\"%s\"}\n",
      std::thread::hardware_concurrency(), static_cast<int>(r.state),
      static_cast<unsigned long long>(r.catalog_services), catalog_inventory, bound, span_calls,
      static_cast<unsigned long long>(r.spans),
      span_calls > 0 ? static_cast<double>(r.spans) / span_calls : 0.0,
      static_cast<unsigned long long>(r.windows), seconds, r.spans / seconds,
      static_cast<unsigned long long>(counting.messages()),
      static_cast<unsigned long long>(counting.bytes()),
      kafka ? "kafka-dev (messages/bytes not counted)" : "counting (no Kafka)");
  if (r.state != v1::SYNC_STATE_SUCCEEDED) return 1;
  const int rounds = std::stoi(Arg(argc, argv, "--tracing-rounds", "0"));
  const bool control = HasFlag(argc, argv, "--tracing-control");
  if (rounds <= 0) return 0;

  // Tracing off and on, same process, same range (a fixed end: the clock of a fresh App each).
  auto agent = datadog::testing::DdsimProcess::Start(
      {"serve", "--seed=5", "--services=" + std::to_string(services), "--spans-per-second=" + sps,
       "--backfill-minutes=" + std::to_string(minutes + 5), "--http-port=0", "--admin-port=0",
       "--address=127.0.0.1", "--rate-limits=unlimited", "--log-level=warn"},
      ddsim);
  if (!agent.ok()) return 1;
  tracing::AgentExporterOptions eo;
  eo.agent_url = (*agent)->url();
  auto exporter = tracing::AgentExporter::Create(eo);
  if (!exporter.ok()) return 1;
  tracing::TracerOptions to;
  to.service = "apmcov-collector";
  to.env = "bench";
  tracing::Tracer tracer(to, exporter->get(), clock);
  // Wall time and this process's CPU time (every thread: prefetch, exporter) of one sync.
  auto one = [&](bool on, uint64_t* spans, double* cpu) -> double {
    datadog::ClientOptions co = o;
    co.base_url = co.site = (*agent)->url();
    co.tracer = on ? &tracer : nullptr;
    datadog::DatadogHttpClient c(co, transport, clock, &metrics);
    datadog::HttpDatadogSource s(c);
    CountingPublisher sink;
    collector::App a(cfg, {s, sink, lag, clock, metrics, nullptr, nullptr, on ? &tracer : nullptr});
    const double cpu0 = ProcessCpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    const collector::SyncResult res = a.RunSync(v1::SYNC_TRIGGER_SCHEDULE);
    if (on) (void)(*exporter)->Flush(std::chrono::seconds(5));  // the export's cost counts
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    *cpu = ProcessCpuSeconds() - cpu0;
    *spans = res.spans;
    return res.state == v1::SYNC_STATE_SUCCEEDED ? secs : -1;
  };
  // Each round runs off and on back to back (the order alternates); the figures are the best
  // wall rate of each mode, and the medians over rounds of the on/off ratios of the wall rate
  // and of the CPU time per span (the machine is shared: the CPU ratio is the steadier one).
  double best_rate[2] = {0, 0};
  std::vector<double> wall_ratios, cpu_ratios;
  for (int round = 0; round < rounds; ++round) {
    double rate[2] = {0, 0}, cpu_per_span[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
      const bool side = (k == 0) == (round % 2 == 1);  // which side's figures this run fills
      const bool on = side && !control;
      uint64_t spans = 0;
      double cpu = 0;
      const double secs = one(on, &spans, &cpu);
      if (secs <= 0 || spans == 0) return 1;
      rate[side] = spans / secs;
      cpu_per_span[side] = cpu / spans;
      best_rate[side] = std::max(best_rate[side], rate[side]);
    }
    wall_ratios.push_back(rate[1] / rate[0]);
    cpu_ratios.push_back(cpu_per_span[1] / cpu_per_span[0]);
  }
  (void)(*exporter)->Stop(std::chrono::seconds(5));
  const tracing::ExporterStats st = (*exporter)->stats();
  agent->reset();  // stopped by its PID
  std::printf(
      "{\"bench\":\"collector_sync_tracing_overhead\",\"cores\":%u,\"rounds\":%d,\"control\":%s,"
      "\"off_spans_per_s\":%.0f,\"on_spans_per_s\":%.0f,\"on_off_ratio\":%.4f,"
      "\"median_wall_ratio\":%.4f,\"median_cpu_per_span_ratio\":%.4f,"
      "\"overhead_pct_cpu\":%.2f,\"target_pct\":3,\"tracer_spans_sent\":%llu,"
      "\"tracer_spans_dropped\":%llu}\n",
      std::thread::hardware_concurrency(), rounds, control ? "true" : "false", best_rate[0],
      best_rate[1], best_rate[1] / best_rate[0], Median(wall_ratios), Median(cpu_ratios),
      100.0 * (Median(cpu_ratios) - 1.0), static_cast<unsigned long long>(st.spans_sent),
      static_cast<unsigned long long>(st.spans_dropped));
  return 0;
}
