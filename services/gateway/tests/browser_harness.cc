// gateway_browser_harness: the gateway for the browser tests (tests/browser). Creates a private
// database (DATABASE_URL), applies the migrations, seeds the representative world of
// gateway_test_env.cc plus --extra-services N filler services (to exercise paging at scale),
// and runs App over the real PostgreSQL read model on free ports. Sync requests go to a
// simulated collector: a Publisher that, for each SyncRequest, writes the job's lifecycle
// (queued, running with growing progress, succeeded) into sync_jobs as the collector and
// analyzer would. Prints one JSON line {"http_port","grpc_port","admin_port"} on stdout, then
// runs until SIGTERM/SIGINT and drops its database.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <pqxx/pqxx>
#include <string>
#include <thread>

#include "apmcov/base/clock.h"
#include "apmcov/base/config.h"
#include "apmcov/base/process.h"
#include "apmcov/v1/events.pb.h"
#include "app.h"
#include "gateway_test_env.h"
#include "query/pg_read_model.h"

namespace {

class SimulatedCollector final : public apmcov::bus::Publisher {
 public:
  explicit SimulatedCollector(std::string url) : url_(std::move(url)) {}
  ~SimulatedCollector() override {
    for (auto& t : threads_) t.join();
  }
  absl::Status Publish(apmcov::bus::OutgoingMessage m) override {
    apmcov::v1::SyncRequest req;
    if (!req.ParseFromString(m.value)) return absl::InvalidArgumentError("not a SyncRequest");
    threads_.emplace_back([url = url_, id = req.job_id()] { Run(url, id); });
    return absl::OkStatus();
  }
  absl::Status Flush(std::chrono::milliseconds) override { return absl::OkStatus(); }
  absl::StatusOr<int32_t> PartitionCount(const std::string&) override { return 1; }

 private:
  static void Run(const std::string& url, const std::string& id) {
    try {
      pqxx::connection c(url);
      auto exec = [&](const std::string& sql) {
        pqxx::work tx(c);
        tx.exec_params0(sql, id);
        tx.commit();
      };
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      exec(
          "INSERT INTO sync_jobs (id, trigger, state, updated_at) VALUES ($1, 'manual', "
          "'queued', now())");
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      for (int i = 1; i <= 3; ++i) {
        exec(
            "UPDATE sync_jobs SET state = 'running', started_at = COALESCE(started_at, now()), "
            "api_calls = api_calls + 2, pages = pages + 1, spans = spans + 1000, "
            "updated_at = now() WHERE id = $1");
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
      exec(
          "UPDATE sync_jobs SET state = 'succeeded', finished_at = now(), updated_at = now() "
          "WHERE id = $1");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "simulated collector: %s\n", e.what());
    }
  }
  std::string url_;
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
  apmcov::gateway::testing::TestDatabase db;
  if (db.url().empty()) return 2;
  db.Migrate();
  db.Seed();
  if (extra > 0) {
    db.Exec(
        "INSERT INTO services (name, team, tier, lifecycle, envs, customer_facing) SELECT "
        "'bulk-' || lpad(i::text, 5, '0'), 'team-' || (i % 40), (i % 3)::text, 'production', "
        "'{prod}', i % 7 = 0 FROM generate_series(1, " +
        std::to_string(extra) + ") i");
    db.Exec(
        "INSERT INTO apm_services (service, env, last_seen, span_count, traced, "
        "infra_hints) SELECT 'bulk-' || lpad(i::text, 5, '0'), 'prod', now() - interval "
        "'1 hour', i, true, '{kubernetes}' FROM generate_series(1, " +
        std::to_string(extra) + ", 3) i");
  }
  apmcov::RealClock clock;
  apmcov::gateway::PgReadModel store(db.url());
  SimulatedCollector collector(db.url());
  apmcov::gateway::GatewayConfig c;
  c.database_url = db.url();
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
