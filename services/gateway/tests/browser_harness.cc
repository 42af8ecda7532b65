// gateway_browser_harness: the gateway for the browser tests (tests/browser). Creates a private
// migrated database (libs/store's TestDatabase, on DATABASE_URL), writes the representative
// world of gateway_test_env.cc plus --extra-services N filler services (to exercise paging at
// scale) through CoverageStore::Apply, and runs App over the real PostgreSQL read model on free
// ports. Sync requests go to a simulated collector: a Publisher that, for each SyncRequest,
// writes the job's lifecycle (queued, running with growing progress, succeeded) as the
// collector and analyzer would. Prints one JSON line {"http_port","grpc_port","admin_port"} on
// stdout, then runs until SIGTERM/SIGINT and drops its database.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "apmcov/base/clock.h"
#include "apmcov/base/config.h"
#include "apmcov/base/process.h"
#include "apmcov/store/postgres_read_model.h"
#include "apmcov/store/postgres_store.h"
#include "apmcov/v1/events.pb.h"
#include "app.h"
#include "gateway_test_env.h"
#include "test_database.h"

namespace {

class SimulatedCollector final : public apmcov::bus::Publisher {
 public:
  SimulatedCollector(apmcov::store::CoverageStore& store, const apmcov::Clock& clock)
      : store_(store), clock_(clock) {}
  ~SimulatedCollector() override {
    for (auto& t : threads_) t.join();
  }
  absl::Status Publish(apmcov::bus::OutgoingMessage m) override {
    apmcov::v1::SyncRequest req;
    if (!req.ParseFromString(m.value)) return absl::InvalidArgumentError("not a SyncRequest");
    threads_.emplace_back([this, id = req.job_id()] { Run(id); });
    return absl::OkStatus();
  }
  absl::Status Flush(std::chrono::milliseconds) override { return absl::OkStatus(); }
  absl::StatusOr<int32_t> PartitionCount(const std::string&) override { return 1; }

 private:
  void Run(const std::string& id) {
    apmcov::store::SyncJobRecord job;
    job.id = id;
    job.trigger = "manual";
    auto write = [&](const std::string& state) {
      job.state = state;
      job.updated_at_ns = clock_.NowUnixNanos();
      apmcov::store::WriteBatch b;
      b.sync_jobs = {job};
      if (auto r = store_.Apply(b); !r.ok()) {
        std::fprintf(stderr, "simulated collector: %s\n", r.status().ToString().c_str());
      }
    };
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    write("queued");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    job.started_at_ns = clock_.NowUnixNanos();
    for (int i = 1; i <= 3; ++i) {
      job.api_calls += 2;
      job.pages += 1;
      job.spans += 1000;
      write("running");
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    job.finished_at_ns = clock_.NowUnixNanos();
    write("succeeded");
  }
  apmcov::store::CoverageStore& store_;  // thread-safe
  const apmcov::Clock& clock_;
  std::vector<std::thread> threads_;
};

}  // namespace

int main(int argc, char** argv) {
  apmcov::BlockShutdownSignals();
  apmcov::ConfigReader reader(argc, argv);
  apmcov::ConfigureLoggingFrom(reader, "gateway-browser-harness");
  std::string web_dir = reader.String("WEB_DIR", "");
  int64_t extra = reader.Int("EXTRA_SERVICES", 0, 0, 100000);
  std::string token = reader.String("GATEWAY_API_TOKEN", "", apmcov::Secret::kYes);
  if (auto s = reader.Finish(); !s.ok()) {
    std::fprintf(stderr, "harness: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  absl::StatusOr<apmcov::store::testing::TestDatabase> db =
      apmcov::store::testing::TestDatabase::Create();
  if (!db.ok()) {
    std::fprintf(stderr, "harness: %s\n", db.status().ToString().c_str());
    return 2;
  }
  apmcov::RealClock clock;
  apmcov::store::PostgresCoverageStore writer(db->url());
  absl::Status seeded = apmcov::gateway::testing::SeedWorld(writer, clock.NowUnixNanos());
  if (seeded.ok() && extra > 0) {
    seeded = apmcov::gateway::testing::SeedBulkServices(writer, clock.NowUnixNanos(), extra);
  }
  if (!seeded.ok()) {
    std::fprintf(stderr, "harness: seeding: %s\n", seeded.ToString().c_str());
    return 2;
  }
  apmcov::store::PostgresReadModel store(db->url());
  SimulatedCollector collector(writer, clock);
  apmcov::gateway::GatewayConfig c;
  c.database_url = db->url();
  c.kafka_brokers = "simulated";
  c.bind_address = "127.0.0.1";
  c.http_port = 0;
  c.grpc_port = 0;
  c.admin_port = 0;
  c.web_dir = web_dir;
  c.api_token = token;
  c.catalog_cache_ms = 500;
  apmcov::gateway::App app(c, store, collector, clock);
  if (auto s = app.Start(); !s.ok()) {
    std::fprintf(stderr, "harness: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("{\"http_port\":%d,\"grpc_port\":%d,\"admin_port\":%d}\n", app.http_port(),
              app.grpc_port(), app.admin_port());
  std::fflush(stdout);
  apmcov::WaitForShutdownSignal();
  app.Stop();
  return 0;
}
