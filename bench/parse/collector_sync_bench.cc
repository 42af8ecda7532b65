// One collector sync against ddsim, publishing into a counting publisher (no Kafka): spans/s
// from ddsim through HTTP, parsing and batching; spans per spans-list call; Datadog calls for
// catalog + inventory against the budget 3 + ceil(services/100) (design §11).
//
//   apmcov-bench-collector-sync --ddsim PATH [--services N] [--spans-per-second N]
//                               [--minutes N] [--kafka-dev PATH]
// With --kafka-dev the spans go to a private apmcov-kafka-dev through the Kafka adapter
// (idempotent producer, acks=all) instead of a counting publisher.
// Prints one JSON line.
#include <prometheus/registry.h>

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

#include "apmcov/base/clock.h"
#include "apmcov/bus/kafka.h"
#include "apmcov/bus/testing/kafka_dev_process.h"
#include "apmcov/datadog/http_client.h"
#include "apmcov/datadog/testing/ddsim_process.h"
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
  return r.state == v1::SYNC_STATE_SUCCEEDED ? 0 : 1;
}
