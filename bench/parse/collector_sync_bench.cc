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
// 3N more times in the same process: each round tracing off, on and off again, in an order
// cycling through the six permutations, each on a fresh App reading the same ddsim. On means
// the sync span, a client span per Datadog call with its headers injected, a producer span
// per group of records published (a page of span batches, the catalog, ...) with its
// context in the batch's headers; exported by the AgentExporter to a second ddsim acting as
// the Agent. It prints one JSON line per side (rusage medians per million spans, and the CPU
// the API's ddsim and the Agent took meanwhile) and one with the best wall rate of each side,
// the medians over rounds of on/off and of off-again/off (the A/A control: the bench's own
// bias in the same run) for the wall rate and the CPU time per span, and the core count.
// With --tracing-export none the spans are counted and freed where they finish, never
// encoded or sent: the instrumentation's cost without the export's.
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

// Counts the spans it is given and frees them at once, on the thread that finished them.
class CountingExporter : public tracing::TraceExporter {
 public:
  bool Export(tracing::TraceChunk chunk) override {
    std::lock_guard lock(mu_);
    stats_.spans_sent += chunk.size();
    stats_.traces_sent += 1;
    return true;
  }
  absl::Status Flush(std::chrono::milliseconds) override { return absl::OkStatus(); }
  absl::Status Stop(std::chrono::milliseconds) override { return absl::OkStatus(); }
  tracing::ExporterStats stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  mutable std::mutex mu_;
  tracing::ExporterStats stats_;
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
  if (rounds <= 0) return 0;
  // "agent": the spans go to an Agent (the figure of design §11); "none": they are counted and
  // freed at once, so that the instrumentation's own cost shows apart from the export's. (Not
  // kept in memory: a heap that grows with every traced sync slows the syncs of both sides.)
  const std::string export_to = Arg(argc, argv, "--tracing-export", "agent");
  if (export_to != "agent" && export_to != "none") {
    std::fprintf(stderr, "--tracing-export must be agent or none, not %s\n", export_to.c_str());
    return 2;
  }

  // Tracing off and on, same process, same range (a fixed end: the clock of a fresh App each).
  // Every sync reads the same ddsim; the spans go to a second one acting only as the Agent, as
  // a real Agent is not the Datadog API (spans sent to the API's ddsim would join the org that
  // the next syncs read, and its intake would compete with the reads they time).
  auto agent = datadog::testing::DdsimProcess::Start(
      {"serve", "--seed=5", "--services=10", "--spans-per-second=1", "--backfill-minutes=1",
       "--http-port=0", "--admin-port=0", "--address=127.0.0.1", "--rate-limits=unlimited",
       "--log-level=warn"},
      ddsim);
  if (!agent.ok()) return 1;
  tracing::AgentExporterOptions eo;
  eo.agent_url = (*agent)->url();
  auto exporter = tracing::AgentExporter::Create(eo);
  if (!exporter.ok()) return 1;
  tracing::TracerOptions to;
  to.service = "apmcov-collector";
  to.env = "bench";
  CountingExporter counting_exporter;
  tracing::TraceExporter& sink_of_spans =
      export_to == "none" ? static_cast<tracing::TraceExporter&>(counting_exporter) : **exporter;
  tracing::Tracer tracer(to, &sink_of_spans, clock);
  // Wall time and this process's CPU time (every thread: prefetch, exporter) of one sync.
  // Per sync, the rusage deltas that tell where CPU time goes besides the code: system time,
  // page faults, context switches (voluntary: waits; involuntary: preemption).
  // Besides: the CPU the API's ddsim and the Agent's took meanwhile (other processes on the
  // same cores: an Agent busy with the spans competes with the sync for them).
  struct Usage {
    double user = 0, sys = 0, minflt = 0, nvcsw = 0, nivcsw = 0, api_cpu = 0, agent_cpu = 0;
  };
  auto usage_now = [&] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return Usage{u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6,
                 u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6,
                 static_cast<double>(u.ru_minflt),
                 static_cast<double>(u.ru_nvcsw),
                 static_cast<double>(u.ru_nivcsw),
                 bench::ChildCpuSeconds((*ddsim_process)->pid()),
                 bench::ChildCpuSeconds((*agent)->pid())};
  };
  std::vector<Usage> per_side[3];
  auto one = [&](bool on, uint64_t* spans, double* cpu, Usage* used) -> double {
    datadog::ClientOptions co = o;
    co.base_url = co.site = base;
    co.tracer = on ? &tracer : nullptr;
    datadog::DatadogHttpClient c(co, transport, clock, &metrics);
    datadog::HttpDatadogSource s(c);
    CountingPublisher sink;
    collector::App a(cfg, {s, sink, lag, clock, metrics, nullptr, nullptr, on ? &tracer : nullptr});
    const double cpu0 = ProcessCpuSeconds();
    const Usage u0 = usage_now();
    const auto t0 = std::chrono::steady_clock::now();
    const collector::SyncResult res = a.RunSync(v1::SYNC_TRIGGER_SCHEDULE);
    if (on) (void)sink_of_spans.Flush(std::chrono::seconds(5));  // the export's cost counts
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    *cpu = ProcessCpuSeconds() - cpu0;
    const Usage u1 = usage_now();
    const double n = std::max<double>(1, res.spans) / 1e6;  // per million spans
    *used = Usage{(u1.user - u0.user) / n,          (u1.sys - u0.sys) / n,
                  (u1.minflt - u0.minflt) / n,      (u1.nvcsw - u0.nvcsw) / n,
                  (u1.nivcsw - u0.nivcsw) / n,      (u1.api_cpu - u0.api_cpu) / n,
                  (u1.agent_cpu - u0.agent_cpu) / n};
    *spans = res.spans;
    return res.state == v1::SYNC_STATE_SUCCEEDED ? secs : -1;
  };
  // Each round runs three syncs: tracing off, on, and off again (the A/A control), in an order
  // that cycles through the six permutations, so that no side always runs first or after the
  // same one. Figures: the best wall rate of each side, and the medians over rounds of
  // on/off and off-again/off, for the wall rate and for the CPU time per span (the machine is
  // shared: the CPU ratio is the steadier one). The A/A median is the bench's own bias and
  // noise in the same run: the tracing overhead is the on/off median against it.
  constexpr int kOff = 0, kOn = 1, kOffAgain = 2;
  constexpr int kOrders[6][3] = {{kOff, kOn, kOffAgain}, {kOn, kOffAgain, kOff},
                                 {kOffAgain, kOff, kOn}, {kOff, kOffAgain, kOn},
                                 {kOn, kOff, kOffAgain}, {kOffAgain, kOn, kOff}};
  double best_rate[3] = {0, 0, 0};
  std::vector<double> wall_on, cpu_on, wall_aa, cpu_aa;
  for (int round = 0; round < rounds; ++round) {
    double rate[3] = {0, 0, 0}, cpu_per_span[3] = {0, 0, 0};
    for (int side : kOrders[round % 6]) {
      uint64_t spans = 0;
      double cpu = 0;
      Usage used;
      const double secs = one(side == kOn, &spans, &cpu, &used);
      per_side[side].push_back(used);
      if (secs <= 0 || spans == 0) return 1;
      rate[side] = spans / secs;
      cpu_per_span[side] = cpu / spans;
      best_rate[side] = std::max(best_rate[side], rate[side]);
    }
    wall_on.push_back(rate[kOn] / rate[kOff]);
    cpu_on.push_back(cpu_per_span[kOn] / cpu_per_span[kOff]);
    wall_aa.push_back(rate[kOffAgain] / rate[kOff]);
    cpu_aa.push_back(cpu_per_span[kOffAgain] / cpu_per_span[kOff]);
  }
  // Medians per side, per million spans read: where a CPU difference lands (user code, the
  // kernel, page faults, waits, preemption).
  for (int side : {kOff, kOn, kOffAgain}) {
    auto med = [&](double Usage::*field) {
      std::vector<double> v;
      for (const Usage& u : per_side[side]) v.push_back(u.*field);
      return Median(v);
    };
    std::printf(
        "{\"bench\":\"collector_sync_tracing_usage\",\"side\":\"%s\",\"per_million_spans\":{"
        "\"user_s\":%.4f,\"sys_s\":%.4f,\"minor_faults\":%.0f,\"voluntary_switches\":%.0f,"
        "\"involuntary_switches\":%.0f,\"api_ddsim_cpu_s\":%.4f,\"agent_cpu_s\":%.4f}}\n",
        side == kOn    ? "on"
        : side == kOff ? "off"
                       : "off again",
        med(&Usage::user), med(&Usage::sys), med(&Usage::minflt), med(&Usage::nvcsw),
        med(&Usage::nivcsw), med(&Usage::api_cpu), med(&Usage::agent_cpu));
  }
  (void)(*exporter)->Stop(std::chrono::seconds(5));
  const tracing::ExporterStats st = sink_of_spans.stats();
  agent->reset();  // stopped by its PID
  auto pct = [](double ratio) { return 100.0 * (ratio - 1.0); };
  std::printf(
      "{\"bench\":\"collector_sync_tracing_overhead\",\"cores\":%u,\"rounds\":%d,"
      "\"off_spans_per_s\":%.0f,\"on_spans_per_s\":%.0f,\"off_again_spans_per_s\":%.0f,"
      "\"median_wall_ratio\":%.4f,\"median_cpu_per_span_ratio\":%.4f,"
      "\"aa_median_wall_ratio\":%.4f,\"aa_median_cpu_per_span_ratio\":%.4f,"
      "\"overhead_pct_cpu\":%.2f,\"aa_pct_cpu\":%.2f,\"overhead_minus_aa_pct_cpu\":%.2f,"
      "\"target_pct\":3,\"export\":\"%s\",\"tracer_spans_sent\":%llu,"
      "\"tracer_spans_dropped\":%llu}\n",
      std::thread::hardware_concurrency(), rounds, best_rate[kOff], best_rate[kOn],
      best_rate[kOffAgain], Median(wall_on), Median(cpu_on), Median(wall_aa), Median(cpu_aa),
      pct(Median(cpu_on)), pct(Median(cpu_aa)), pct(Median(cpu_on)) - pct(Median(cpu_aa)),
      export_to.c_str(), static_cast<unsigned long long>(st.spans_sent),
      static_cast<unsigned long long>(st.spans_dropped));
  return 0;
}
