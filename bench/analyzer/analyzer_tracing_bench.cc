// The analyzer's tracing overhead (design §12; design §11 asks for at most 3%): the analyzer
// App consumes the same span batches twice per round, once with tracing off and once with
// tracing on (a consumer span per batch, with its parent or links from the records' headers,
// and a client span per store transaction, exported by the AgentExporter to ddsim as the
// Agent), alternating which goes first, over the in-memory bus and store so that Kafka and
// PostgreSQL do not drown the figure. The batches carry trace headers in both modes, as the
// collector's do. Prints one JSON line with the core count.
//
//   apmcov-bench-analyzer-tracing [--ddsim PATH] [--traces N] [--rounds N]
//
// Figures: the best rate of each mode and their ratio, and the medians over rounds of the
// on/off ratios of the wall time and of the process CPU time (the steadier on a shared host).
#include <prometheus/registry.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../common/bench_stats.h"
#include "apmcov/base/clock.h"
#include "apmcov/bus/memory_bus.h"
#include "apmcov/bus/proto.h"
#include "apmcov/datadog/testing/ddsim_process.h"
#include "apmcov/store/memory_store.h"
#include "apmcov/tracing/agent_exporter.h"
#include "apmcov/tracing/tracer.h"
#include "apmcov/v1/events.pb.h"
#include "app.h"
#include "fixtures.h"

namespace {

using namespace apmcov;
using analyzer::testing::kSec;

std::string Arg(int argc, char** argv, const char* name, const char* def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return def;
}

// The spans are the analyzer tests' (services/analyzer/tests/fixtures.h).
using analyzer::testing::MakeSpan;
std::string Svc(int i) { return "svc-" + std::to_string(i); }

// The messages a sync of `traces` traces of 6 spans publishes: one SpanBatch per trace, the
// context of one producer span per page of 1,000 traces in their headers, then watermarks.
std::vector<bus::OutgoingMessage> Messages(int traces, const std::string& topic, int partitions) {
  std::vector<bus::OutgoingMessage> out;
  const int64_t t0 = RealClock().NowUnixNanos() - 3600 * kSec;
  bus::Headers headers;
  for (int t = 0; t < traces; ++t) {
    if (t % 1000 == 0) {
      tracing::SpanContext producer;
      producer.trace_id = {0x6568a1b200000000ULL, 0x9000 + static_cast<uint64_t>(t / 1000)};
      producer.span_id = 0x7000 + static_cast<uint64_t>(t);
      producer.sampling_priority = 1;
      headers.clear();
      tracing::Inject(producer, tracing::WriteTo(&headers));
    }
    const uint64_t trace = 1000 + static_cast<uint64_t>(t);
    const int64_t start = t0 + int64_t{t} * 10'000'000;
    v1::SpanBatch b;
    const int a = t % 50, c = (t + 1) % 50;
    *b.add_spans() = MakeSpan(trace, 1, 0, Svc(a), "server", start);
    *b.add_spans() = MakeSpan(trace, 2, 1, Svc(a), "client", start + 1000, Svc(c));
    *b.add_spans() = MakeSpan(trace, 3, 2, Svc(c), "server", start + 2000);
    *b.add_spans() = MakeSpan(trace, 4, 3, Svc(c), "client", start + 3000, Svc((t + 2) % 50));
    *b.add_spans() = MakeSpan(trace, 5, 4, Svc((t + 2) % 50), "server", start + 4000);
    *b.add_spans() = MakeSpan(trace, 6, 5, Svc((t + 2) % 50), "internal", start + 5000);
    auto m = bus::MakeProtoMessage(topic, std::to_string(trace), b, std::nullopt, headers);
    if (m.ok()) out.push_back(*std::move(m));
  }
  for (int32_t p = 0; p < partitions; ++p) {
    v1::SpanBatch mark;
    mark.set_watermark_unix_nano(t0 + int64_t{traces} * 10'000'000 + 600 * kSec);
    auto m = bus::MakeProtoMessage(topic, "", mark, p, headers);
    if (m.ok()) out.push_back(*std::move(m));
  }
  return out;
}

using bench::Median;
using bench::ProcessCpuSeconds;

// Consumes `messages` with a fresh App; returns the seconds it took (-1 on error) and, in
// *cpu, this process's CPU seconds meanwhile (the exporter's thread included: it is flushed).
double Round(const std::vector<bus::OutgoingMessage>& messages, tracing::Tracer* tracer,
             tracing::TraceExporter* exporter, double* cpu) {
  bus::MemoryBroker broker;
  analyzer::AppOptions options;
  options.topic_prefix = "b.";
  options.poll_timeout = std::chrono::milliseconds(1);
  options.trace_grace_ns = 10 * kSec;
  options.directory_refresh = std::chrono::seconds(0);
  options.retention_interval = std::chrono::seconds(0);
  const bus::TopicNames topics(options.topic_prefix);
  for (const std::string& t : topics.All()) (void)broker.CreateTopic(t, t == topics.spans ? 4 : 1);
  auto producer = broker.NewPublisher();
  for (const bus::OutgoingMessage& m : messages) (void)producer->Publish(m);
  (void)producer->Flush(std::chrono::seconds(10));
  auto subscriber = broker.NewSubscriber("bench");
  auto dlq = broker.NewPublisher();
  auto probe = broker.NewLagProbe();
  store::MemoryCoverageStore store;
  RealClock clock;
  prometheus::Registry registry;
  analyzer::App app(options, {*subscriber, *dlq, store, clock, registry, *probe, nullptr, tracer});
  if (!app.Start().ok()) return -1;
  const double cpu0 = ProcessCpuSeconds();
  const auto start = std::chrono::steady_clock::now();
  int idle = 0;
  while (idle < 3) {
    absl::StatusOr<size_t> n = app.RunOnce();
    if (!n.ok()) return -1;
    idle = *n == 0 ? idle + 1 : 0;
  }
  if (tracer != nullptr) (void)exporter->Flush(std::chrono::seconds(5));
  *cpu = ProcessCpuSeconds() - cpu0;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const char* build_dir = std::getenv("APMCOV_BINARY_DIR");
  const std::string default_ddsim =
      build_dir != nullptr ? std::string(build_dir) + "/services/ddsim/apmcov-ddsim" : "";
  const std::string ddsim = Arg(argc, argv, "--ddsim", default_ddsim.c_str());
  const int traces = std::stoi(Arg(argc, argv, "--traces", "20000"));
  const int rounds = std::stoi(Arg(argc, argv, "--rounds", "3"));
  if (ddsim.empty()) {
    std::fprintf(stderr, "usage: %s --ddsim PATH/apmcov-ddsim [--traces N] [--rounds N]\n",
                 argv[0]);
    return 2;
  }
  auto agent = datadog::testing::DdsimProcess::Start(
      {"serve", "--seed=5", "--services=100", "--spans-per-second=1", "--http-port=0",
       "--admin-port=0", "--address=127.0.0.1", "--log-level=warn"},
      ddsim);
  if (!agent.ok()) {
    std::fprintf(stderr, "ddsim did not start: %s\n",
                 std::string(agent.status().message()).c_str());
    return 1;
  }
  tracing::AgentExporterOptions eo;
  eo.agent_url = (*agent)->url();
  auto exporter = tracing::AgentExporter::Create(eo);
  if (!exporter.ok()) return 1;
  RealClock clock;
  tracing::TracerOptions to;
  to.service = "apmcov-analyzer";
  to.env = "bench";
  tracing::Tracer tracer(to, exporter->get(), clock);

  const std::vector<bus::OutgoingMessage> messages =
      Messages(traces, bus::TopicNames("b.").spans, 4);
  // Off and on back to back each round (the order alternates): the best wall time of each
  // mode, and the medians over rounds of the on/off ratios of wall time and of CPU time (the
  // machine is shared: the CPU ratio is the steadier one).
  double best_off = 1e18, best_on = 1e18;
  std::vector<double> wall_ratios, cpu_ratios;
  for (int r = 0; r < rounds; ++r) {
    const bool on_first = r % 2 == 1;
    double wall[2] = {0, 0}, cpu[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
      const bool on = (k == 0) == on_first;
      const double s = Round(messages, on ? &tracer : nullptr, exporter->get(), &cpu[on]);
      if (s < 0) {
        std::fprintf(stderr, "a round failed\n");
        return 1;
      }
      wall[on] = s;
      (on ? best_on : best_off) = std::min(on ? best_on : best_off, s);
    }
    wall_ratios.push_back(wall[0] / wall[1]);  // rate on / rate off
    cpu_ratios.push_back(cpu[1] / cpu[0]);
  }
  (void)(*exporter)->Stop(std::chrono::seconds(5));
  const tracing::ExporterStats st = (*exporter)->stats();
  agent->reset();  // stopped by its PID
  const double spans = traces * 6.0;
  const double off_rate = spans / best_off, on_rate = spans / best_on;
  std::printf(
      "{\"bench\":\"analyzer_tracing_overhead\",\"cores\":%u,\"rounds\":%d,\"spans\":%.0f,"
      "\"off_spans_per_s\":%.0f,\"on_spans_per_s\":%.0f,\"on_off_ratio\":%.4f,"
      "\"median_wall_ratio\":%.4f,\"median_cpu_ratio\":%.4f,\"overhead_pct_cpu\":%.2f,"
      "\"target_pct\":3,\"tracer_spans_sent\":%llu,\"tracer_spans_dropped\":%llu}\n",
      std::thread::hardware_concurrency(), rounds, spans, off_rate, on_rate, on_rate / off_rate,
      Median(wall_ratios), Median(cpu_ratios), 100.0 * (Median(cpu_ratios) - 1.0),
      static_cast<unsigned long long>(st.spans_sent),
      static_cast<unsigned long long>(st.spans_dropped));
  return 0;
}
