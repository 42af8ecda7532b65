// The analyzer App on the real adapters: Kafka protocol (kafka-dev, or the cluster named by
// KAFKA_BROKERS) and PostgreSQL (a private database on the server of DATABASE_URL).
// Unique topic prefix and group ids per run, so runs never collide.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <thread>

#include "apmcov/bus/kafka.h"
#include "apmcov/bus/proto.h"
#include "apmcov/bus/testing/kafka_dev_process.h"
#include "apmcov/store/postgres_store.h"
#include "apmcov/v1/events.pb.h"
#include "app.h"
#include "fixtures.h"
#include "test_database.h"

namespace apmcov::analyzer {
namespace {

namespace v1 = apmcov::v1;
using google::protobuf::util::TimeUtil;
using testing::kSec;
using testing::kT0;
using testing::MakeJob;
using testing::MakeSpan;

class AnalyzerIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<store::testing::TestDatabase> db = store::testing::TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_.emplace(std::move(*db));
    const char* brokers = std::getenv("KAFKA_BROKERS");
    if (brokers != nullptr && *brokers != '\0') {
      kafka_.brokers = brokers;
    } else {
      auto dev = bus::testing::KafkaDevProcess::Start();
      ASSERT_TRUE(dev.ok()) << "KAFKA_BROKERS is not set and kafka-dev could not be started: "
                            << dev.status();
      kafka_dev_ = std::move(*dev);
      kafka_.brokers = kafka_dev_->bootstraps();
    }
    prefix_ = "it" + std::to_string(getpid()) + "_" + std::to_string(std::rand() % 100000) + ".";
    topics_ = bus::TopicNames(prefix_);
    auto producer = bus::KafkaPublisher::Create(kafka_);
    ASSERT_TRUE(producer.ok()) << producer.status();
    producer_ = std::move(*producer);
    store_ = std::make_unique<store::PostgresCoverageStore>(db_->url());
  }

  void Publish(const std::string& topic, const std::string& key, const google::protobuf::Message& m,
               std::optional<int32_t> partition = {}) {
    ASSERT_TRUE(bus::PublishProto(*producer_, topic, key, m, partition).ok());
  }

  // Runs a fresh App of `group` until `done()` holds (or 90 s pass), then stops it.
  void RunUntil(const std::string& group, const std::function<bool(const App&)>& done) {
    auto subscriber = bus::KafkaSubscriber::Create(kafka_, group);
    ASSERT_TRUE(subscriber.ok()) << subscriber.status();
    auto dlq = bus::KafkaPublisher::Create(kafka_);
    ASSERT_TRUE(dlq.ok()) << dlq.status();
    auto probe = bus::KafkaLagProbe::Create(kafka_);
    ASSERT_TRUE(probe.ok()) << probe.status();
    prometheus::Registry registry;
    AppOptions options;
    options.topic_prefix = prefix_;
    options.trace_grace_ns = 10 * kSec;
    options.poll_timeout = std::chrono::milliseconds(100);
    options.directory_refresh = std::chrono::seconds(0);
    {
      App app(options, AppPorts{**subscriber, **dlq, *store_, clock_, registry, **probe});
      ASSERT_TRUE(app.Start().ok());
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
      while (!done(app) && std::chrono::steady_clock::now() < deadline) {
        absl::StatusOr<size_t> n = app.RunOnce();
        ASSERT_TRUE(n.ok()) << n.status();
      }
      // A few more polls so every commit of the processed messages is in.
      for (int i = 0; i < 5; ++i) ASSERT_TRUE(app.RunOnce().ok());
      dlq_messages_ += app.dlq_messages();
      committed_ = app.committed();
    }
    (*subscriber)->Close();
  }

  std::string Dump() {
    std::string out;
    const auto services = *store_->LoadServices(true);
    for (const auto& s : services) {
      out += s.catalog.name + (s.removed_at_ns ? " removed" : "") + ";";
    }
    const auto apm = *store_->LoadApmServices();
    for (const auto& a : apm) {
      out += a.service + "/" + a.env + (a.traced ? " traced" : "") + ";";
    }
    const std::vector<uint64_t> ids = *store_->ListBrokenTraceIds();
    for (uint64_t id : ids) {
      auto t = **store_->LoadBrokenTrace(id);
      out += std::to_string(id) + " " + std::to_string(t.detected_at_ns) + " " +
             std::to_string(t.gaps.size()) + ";";
    }
    const auto deps = *store_->LoadDependencies();
    for (const auto& d : deps) {
      out += d.from_service + ">" + d.to_name + "=" + std::to_string(d.count) + ";";
    }
    return out;
  }

  std::optional<store::testing::TestDatabase> db_;
  std::unique_ptr<bus::testing::KafkaDevProcess> kafka_dev_;
  bus::KafkaConfig kafka_;
  std::string prefix_;
  bus::TopicNames topics_;
  std::unique_ptr<bus::KafkaPublisher> producer_;
  std::unique_ptr<store::PostgresCoverageStore> store_;
  ManualClock clock_;
  int64_t dlq_messages_ = 0;
  std::map<bus::TopicPartition, int64_t> committed_;
};

TEST_F(AnalyzerIntegrationTest, EndToEndThroughKafkaIntoPostgresAndReplayChangesNothing) {
  for (const char* name : {"frontend", "checkout", "payments", "gone"}) {
    v1::CatalogService s;
    s.set_snapshot_id("s1");
    s.set_name(name);
    s.set_team("core");
    s.add_envs("prod");
    *s.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(kT0);
    Publish(topics_.catalog, name, s);
  }
  v1::CatalogSnapshotEnd end1;
  end1.set_snapshot_id("s1");
  end1.set_count(4);
  *end1.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(kT0);
  Publish(topics_.catalog, std::string("\0snapshot-end", 13), end1);
  for (const char* name : {"frontend", "checkout", "payments"}) {
    v1::CatalogService s;
    s.set_snapshot_id("s2");
    s.set_name(name);
    s.set_team("core");
    s.add_envs("prod");
    *s.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(kT0 + 60 * kSec);
    Publish(topics_.catalog, name, s);
  }
  v1::CatalogSnapshotEnd end2 = end1;
  end2.set_snapshot_id("s2");
  end2.set_count(3);
  end2.set_job_id("job-1");  // the span watermarks of job-1 wait for this snapshot
  *end2.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(kT0 + 60 * kSec);
  Publish(topics_.catalog, std::string("\0snapshot-end", 13), end2);

  v1::SpanBatch trace;
  for (auto s : {MakeSpan(1001, 1, 0, "frontend", "server", kT0),
                 MakeSpan(1001, 2, 1, "frontend", "client", kT0 + 10, "checkout"),
                 MakeSpan(1001, 3, 2, "checkout", "server", kT0 + 20),
                 MakeSpan(1001, 4, 3, "checkout", "client", kT0 + 30, "payments:8443")}) {
    *trace.add_spans() = s;
  }
  Publish(topics_.spans, "1001", trace);
  bus::OutgoingMessage poison;
  poison.topic = topics_.spans;
  poison.key = "1002";
  poison.value = "\xff\xfe garbage";
  poison.headers = {{"content-type", "application/x-protobuf"}, {"type", "apmcov.v1.SpanBatch"}};
  ASSERT_TRUE(producer_->Publish(poison).ok());
  ASSERT_TRUE(producer_->Flush(std::chrono::seconds(30)).ok());
  absl::StatusOr<int32_t> partitions = producer_->PartitionCount(topics_.spans);
  ASSERT_TRUE(partitions.ok()) << partitions.status();
  for (int32_t p = 0; p < *partitions; ++p) {
    v1::SpanBatch wm;
    wm.set_watermark_unix_nano(kT0 + 120 * kSec);
    wm.set_job_id("job-1");
    Publish(topics_.spans, "", wm, p);
  }
  Publish(topics_.sync_jobs, "job-1",
          MakeJob("job-1", v1::SYNC_STATE_SUCCEEDED, 4, kT0, kT0 + 130 * kSec));
  ASSERT_TRUE(producer_->Flush(std::chrono::seconds(30)).ok());

  const std::string group = prefix_ + "analyzer";
  const int64_t published = 4 + 1 + 3 + 1 + 2 + *partitions + 1;
  auto all_committed = [&](const App& app) {
    int64_t sum = 0;
    for (const auto& [tp, off] : app.committed()) sum += off;
    return sum == published;
  };
  RunUntil(group, [&](const App& app) {
    if (!all_committed(app)) return false;
    auto rows = store_->LoadCoverageSnapshot(kT0 + 130 * kSec);
    auto traces = store_->ListBrokenTraceIds();
    auto services = store_->LoadServices(false);
    return rows.ok() && !rows->empty() && traces.ok() && traces->size() == 1 && services.ok() &&
           services->size() == 3;
  });

  auto t = store_->LoadBrokenTrace(1001);
  ASSERT_TRUE(t.ok() && t->has_value());
  EXPECT_EQ((*t)->missing_services, (std::vector<std::string>{"payments"}));
  EXPECT_EQ((*t)->gap_kinds, (std::vector<std::string>{"uninstrumented_callee"}));
  auto services = *store_->LoadServices(true);
  ASSERT_EQ(services.size(), 4u);
  EXPECT_EQ(services[2].catalog.name, "gone");  // sorted by name
  EXPECT_TRUE(services[2].removed_at_ns.has_value());
  EXPECT_FALSE(services[0].removed_at_ns.has_value());
  auto rows = *store_->LoadCoverageSnapshot(kT0 + 130 * kSec);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0].dimension, "env");  // sorted: env, infra, language, lifecycle, overall, ...
  bool saw_overall = false;
  for (const auto& r : rows) {
    if (r.dimension == "overall") {
      saw_overall = true;
      EXPECT_EQ(r.total, 3);
      EXPECT_EQ(r.instrumented, 2);
    }
  }
  EXPECT_TRUE(saw_overall);
  EXPECT_EQ((*store_->LoadSyncJob("job-1"))->state, "succeeded");
  EXPECT_EQ(dlq_messages_, 1);
  int64_t committed = 0;  // everything consumed is committed: no trace is in flight
  for (const auto& [tp, off] : committed_) committed += off;
  EXPECT_EQ(committed, published);

  // Replay: a group that never committed reads it all again, an hour later: nothing changes.
  const std::string before = Dump();
  clock_.Advance(std::chrono::hours(1));
  RunUntil(prefix_ + "replay", all_committed);
  EXPECT_EQ(Dump(), before);
  EXPECT_EQ(dlq_messages_, 1) << "the replay dead-lettered the poison message again";
}

TEST_F(AnalyzerIntegrationTest, RecordsPostgresRejectsGoToTheDlqAndConsumptionGoesOn) {
  auto service = [&](const std::string& name, int64_t synced_at) {
    v1::CatalogService s;
    s.set_snapshot_id("s1");
    s.set_name(name);
    s.add_envs("prod");
    *s.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(synced_at);
    return s;
  };
  Publish(topics_.catalog, "a", service("a", kT0), 0);
  // Valid JSON that jsonb cannot hold (22P05), refused before PostgreSQL sees it.
  v1::CatalogService nul = service("nul-link", kT0);
  nul.set_links_json(R"([{"name":"x\u0000","url":"https://x"}])");
  Publish(topics_.catalog, "nul-link", nul, 0);
  // A name too large for a btree index row: PostgreSQL's own verdict (SQLSTATE 54000).
  std::string huge;
  uint32_t x = 7;
  for (int i = 0; i < 8000; ++i) {
    x = x * 1103515245 + 12345;
    huge.push_back("abcdefghijklmnopqrstuvwxyz0123456789"[(x >> 16) % 36]);
  }
  Publish(topics_.catalog, "huge", service(huge, kT0), 0);
  Publish(topics_.catalog, "b", service("b", kT0), 0);
  ASSERT_TRUE(producer_->Flush(std::chrono::seconds(30)).ok());

  RunUntil(prefix_ + "analyzer", [&](const App& app) {
    auto it = app.committed().find({topics_.catalog, 0});
    return it != app.committed().end() && it->second == 4;
  });
  std::vector<std::string> names;
  const auto rows = store_->LoadServices(true);
  ASSERT_TRUE(rows.ok()) << rows.status();
  for (const auto& row : *rows) names.push_back(row.catalog.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(dlq_messages_, 2);
  EXPECT_EQ(committed_.at({topics_.catalog, 0}), 4);

  // Restart (the commit is in): nothing is read or dead-lettered again.
  RunUntil(prefix_ + "analyzer", [](const App&) { return true; });
  EXPECT_EQ(dlq_messages_, 2);
  // A replay from the start (a member that never committed): still no second dead letter.
  RunUntil(prefix_ + "replay", [&](const App& app) {
    auto it = app.committed().find({topics_.catalog, 0});
    return it != app.committed().end() && it->second == 4;
  });
  EXPECT_EQ(dlq_messages_, 2);
}

uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// The status line of GET `path` on 127.0.0.1:`port`, or "" when nothing answers.
std::string HttpStatusLine(uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[256];
      ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) out.assign(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out.substr(0, out.find('\r'));
}

TEST_F(AnalyzerIntegrationTest, BinaryMigratesServesReadinessAndDrainsOnSigterm) {
  const char* bin_dir = std::getenv("APMCOV_BINARY_DIR");
  ASSERT_NE(bin_dir, nullptr) << "APMCOV_BINARY_DIR is not set (run through ctest)";
  const std::string binary = std::string(bin_dir) + "/services/analyzer/apmcov-analyzer";
  for (const char* name : {"a", "b", "c"}) {
    v1::CatalogService s;
    s.set_snapshot_id("s1");
    s.set_name(name);
    *s.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(kT0);
    Publish(topics_.catalog, name, s);
  }
  ASSERT_TRUE(producer_->Flush(std::chrono::seconds(30)).ok());

  // A fresh database: the binary applies the migrations itself.
  absl::StatusOr<store::testing::TestDatabase> db =
      store::testing::TestDatabase::Create(/*migrate=*/false);
  ASSERT_TRUE(db.ok()) << db.status();
  const uint16_t admin_port = FreePort();
  const std::string group = prefix_ + "binary";
  std::vector<std::string> env = {"DATABASE_URL=" + db->url(),
                                  "KAFKA_BROKERS=" + kafka_.brokers,
                                  "KAFKA_TOPIC_PREFIX=" + prefix_,
                                  "ANALYZER_GROUP_ID=" + group,
                                  "ADMIN_PORT=" + std::to_string(admin_port),
                                  "LOG_LEVEL=warn"};
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string arg0 = binary;
  char* argv[] = {arg0.data(), nullptr};
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv, envp.data()), 0);

  store::PostgresCoverageStore store(db->url());
  bool stored = false, ready = false;
  for (int i = 0; i < 600 && !(stored && ready); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto services = store.LoadServices(false);
    stored = services.ok() && services->size() == 3;
    ready = ready || HttpStatusLine(admin_port, "/readyz").find(" 200") != std::string::npos;
  }
  EXPECT_TRUE(stored);
  EXPECT_TRUE(ready);
  EXPECT_NE(HttpStatusLine(admin_port, "/metrics").find(" 200"), std::string::npos);

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 300 && done == 0; ++i) {
    done = waitpid(pid, &status, WNOHANG);
    if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL() << "apmcov-analyzer did not stop within 30 s of SIGTERM";
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(db->QueryOne("SELECT max(version) FROM schema_migrations"),
            std::to_string(store::EmbeddedMigrations().back().version));
  // Drained: the group's committed offsets cover every catalog message.
  auto probe = bus::KafkaLagProbe::Create(kafka_);
  ASSERT_TRUE(probe.ok()) << probe.status();
  absl::StatusOr<int64_t> lag = (*probe)->GroupLag(group, topics_.catalog);
  ASSERT_TRUE(lag.ok()) << lag.status();
  EXPECT_EQ(*lag, 0);
}

TEST(AnalyzerShutdownTest, TheBinaryStopsWithin10SecondsOfSigtermWithBrokerAndDatabaseDown) {
  const char* bin_dir = std::getenv("APMCOV_BINARY_DIR");
  ASSERT_NE(bin_dir, nullptr) << "APMCOV_BINARY_DIR is not set (run through ctest)";
  const std::string binary = std::string(bin_dir) + "/services/analyzer/apmcov-analyzer";
  // Nothing listens on either port: the analyzer waits for its database at start (a minute
  // of retries), the outage a SIGTERM must cut short.
  std::vector<std::string> env = {
      "DATABASE_URL=postgresql://apmcov@127.0.0.1:" + std::to_string(FreePort()) +
          "/apmcov?sslmode=disable&connect_timeout=2",
      "KAFKA_BROKERS=127.0.0.1:" + std::to_string(FreePort()),
      "ADMIN_PORT=" + std::to_string(FreePort()), "LOG_LEVEL=warn"};
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string arg0 = binary;
  char* argv[] = {arg0.data(), nullptr};
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv, envp.data()), 0);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // well into the retries
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, WNOHANG), 0) << "it gave up before the SIGTERM";
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  pid_t done = 0;
  while (done == 0 && std::chrono::steady_clock::now() - sent < std::chrono::seconds(10)) {
    done = waitpid(pid, &status, WNOHANG);
    if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL() << "apmcov-analyzer was still running 10 s after SIGTERM";
  }
  EXPECT_TRUE(WIFEXITED(status));
}

// Retention on PostgreSQL (design §4): twelve syncs, one every 12 simulated hours, with a
// one-day retention and two-row delete batches. Broken traces (with their spans), sync jobs
// and judged-trace counts stay bounded by what a day writes; old coverage snapshots are
// thinned to one a day; the latest sync is whole.
TEST_F(AnalyzerIntegrationTest, RetentionKeepsPostgresBoundedOverManySyncs) {
  constexpr int64_t kHour = 3600 * kSec;
  constexpr int64_t kDay = 24 * kHour;
  absl::StatusOr<int32_t> partitions = producer_->PartitionCount(topics_.spans);
  ASSERT_TRUE(partitions.ok()) << partitions.status();
  auto subscriber = bus::KafkaSubscriber::Create(kafka_, prefix_ + "retention");
  ASSERT_TRUE(subscriber.ok()) << subscriber.status();
  auto dlq = bus::KafkaPublisher::Create(kafka_);
  ASSERT_TRUE(dlq.ok()) << dlq.status();
  auto probe = bus::KafkaLagProbe::Create(kafka_);
  ASSERT_TRUE(probe.ok()) << probe.status();
  prometheus::Registry registry;
  AppOptions options;
  options.topic_prefix = prefix_;
  options.trace_grace_ns = 10 * kSec;
  options.poll_timeout = std::chrono::milliseconds(100);
  options.directory_refresh = std::chrono::seconds(0);
  options.retention.broken_trace_ns = kDay;
  options.retention.sync_job_ns = kDay;
  options.retention.snapshot_full_ns = 2 * kDay;
  options.retention_interval = std::chrono::hours(1);
  options.retention_batch_rows = 2;
  App app(options, AppPorts{**subscriber, **dlq, *store_, clock_, registry, **probe});
  ASSERT_TRUE(app.Start().ok());

  constexpr int kSyncs = 12;
  auto sync_at = [](int n) { return kT0 + n * 12 * kHour; };
  auto job_of = [](int n) { return "job-" + std::to_string(n); };
  for (int n = 0; n < kSyncs; ++n) {
    const int64_t t = sync_at(n);
    const std::string job = job_of(n);
    clock_.Set(Clock::TimePoint(std::chrono::nanoseconds(t + 100 * kSec)));
    for (const char* name : {"frontend", "checkout", "payments"}) {
      v1::CatalogService s;
      s.set_snapshot_id(job);
      s.set_name(name);
      s.set_team("core");
      s.add_envs("prod");
      *s.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(t);
      Publish(topics_.catalog, name, s);
    }
    v1::CatalogSnapshotEnd end;
    end.set_snapshot_id(job);
    end.set_count(3);
    end.set_job_id(job);
    *end.mutable_synced_at() = TimeUtil::NanosecondsToTimestamp(t);
    Publish(topics_.catalog, std::string("\0snapshot-end", 13), end);
    const uint64_t id = 7000 + static_cast<uint64_t>(n);
    v1::SpanBatch trace;
    for (auto sp : {MakeSpan(id, 1, 0, "frontend", "server", t),
                    MakeSpan(id, 2, 1, "frontend", "client", t + 10, "checkout"),
                    MakeSpan(id, 3, 2, "checkout", "server", t + 20),
                    MakeSpan(id, 4, 3, "checkout", "client", t + 30, "payments:8443")}) {
      *trace.add_spans() = sp;
    }
    Publish(topics_.spans, std::to_string(id), trace);
    for (int32_t p = 0; p < *partitions; ++p) {
      v1::SpanBatch wm;
      wm.set_watermark_unix_nano(t + 60 * kSec);
      wm.set_job_id(job);
      Publish(topics_.spans, "", wm, p);
    }
    Publish(topics_.sync_jobs, job, MakeJob(job, v1::SYNC_STATE_SUCCEEDED, 4, t, t + 120 * kSec));
    ASSERT_TRUE(producer_->Flush(std::chrono::seconds(30)).ok());

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool written = false;
    while (!written && std::chrono::steady_clock::now() < deadline) {
      ASSERT_TRUE(app.RunOnce().ok());
      auto rows = store_->LoadCoverageSnapshot(t + 120 * kSec);
      auto got = store_->LoadBrokenTrace(id);
      written = rows.ok() && !rows->empty() && got.ok() && got->has_value();
    }
    ASSERT_TRUE(written) << "sync " << n << " was not applied";
    ASSERT_TRUE(app.RunOnce().ok());  // the clock moved: the prune is due at once

    // A day of syncs (2) plus the one that just came in.
    EXPECT_LE(store_->ListBrokenTraceIds()->size(), 3u) << n;
    int jobs = 0;
    for (int k = 0; k <= n; ++k) jobs += store_->LoadSyncJob(job_of(k))->has_value() ? 1 : 0;
    EXPECT_LE(jobs, 3) << n;
    EXPECT_LE(store_->LoadJudgements(0)->size(), 3u) << n;
  }
  const int last = kSyncs - 1;
  EXPECT_EQ(*store_->ListBrokenTraceIds(), (std::vector<uint64_t>{7000 + last - 1, 7000 + last}));
  EXPECT_EQ((*store_->LoadBrokenTrace(7000 + last))->spans.size(), 4u);
  EXPECT_FALSE(store_->LoadSyncJob(job_of(0))->has_value());
  EXPECT_TRUE(store_->LoadSyncJob(job_of(last))->has_value());
  const int64_t newest = sync_at(last) + 100 * kSec;
  std::map<int64_t, int> old_per_day;
  for (int k = 0; k < kSyncs; ++k) {
    const int64_t taken = sync_at(k) + 120 * kSec;
    const bool present = !store_->LoadCoverageSnapshot(taken)->empty();
    if (taken >= newest - 2 * kDay) {
      EXPECT_TRUE(present) << k;
    } else if (present) {
      ++old_per_day[taken / kDay];
    }
  }
  EXPECT_FALSE(old_per_day.empty());
  for (const auto& [day, count] : old_per_day) EXPECT_EQ(count, 1) << day;
  (*subscriber)->Close();
}

}  // namespace
}  // namespace apmcov::analyzer
