// apmcov-collector end to end: the real binary (--once) against ddsim and kafka-dev
// (KAFKA_BROKERS when set, else a private apmcov-kafka-dev), checked by consuming the topics
// against ddsim's ground truth (/_ddsim/ground-truth) over the same windows.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apmcov/bus/kafka.h"
#include "apmcov/bus/testing/kafka_dev_process.h"
#include "apmcov/datadog/http_client.h"
#include "apmcov/datadog/testing/ddsim_process.h"
#include "apmcov/v1/events.pb.h"

namespace apmcov::collector {
namespace {

using ::testing::HasSubstr;

std::string BinaryDir() {
  const char* dir = std::getenv("APMCOV_BINARY_DIR");
  if (dir == nullptr) throw std::runtime_error("APMCOV_BINARY_DIR is not set (run under ctest)");
  return dir;
}

using datadog::testing::DdsimProcess;

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Keys go in the environment: the collector refuses them as flags.
RunResult RunCollector(const std::vector<std::string>& args, const std::string& api_key = "key-a") {
  std::string cmd = "DD_API_KEY='" + api_key + "' DD_APP_KEY='key-b' " + BinaryDir() +
                    "/services/collector/apmcov-collector";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  RunResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

struct Topics {
  std::vector<bus::IncomingMessage> catalog, spans, state, jobs;
};

class CollectorE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::mt19937_64 rng(std::random_device{}());
    prefix_ = "e2e" + std::to_string(rng() % 1000000) + ".";
    if (const char* b = std::getenv("KAFKA_BROKERS"); b != nullptr && *b != '\0') {
      brokers_ = b;
    } else {
      auto kd = bus::testing::KafkaDevProcess::Start("", {"--topic-prefix=" + prefix_});
      if (!kd.ok()) throw std::runtime_error(std::string(kd.status().message()));
      kafka_dev_ = kd->release();
      brokers_ = kafka_dev_->bootstraps();
    }
    auto started = DdsimProcess::Start(
        {"serve", "--seed=21", "--services=150", "--spans-per-second=30", "--backfill-minutes=20",
         "--http-port=0", "--admin-port=0", "--address=127.0.0.1", "--api-key=key-a",
         "--app-key=key-b", "--rate-limits=unlimited,spans_list=1000000/2", "--log-level=warn"});
    if (!started.ok()) throw std::runtime_error(std::string(started.status().message()));
    ddsim_ = started->release();
  }
  static void TearDownTestSuite() {
    delete ddsim_;
    delete kafka_dev_;
  }

  std::vector<std::string> Args(std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"--once",
                                  "--dd-api-base-url=" + ddsim_->url(),
                                  "--kafka-brokers=" + brokers_,
                                  "--kafka-topic-prefix=" + prefix_,
                                  "--span-backfill-minutes=10",
                                  "--span-window-seconds=120",
                                  "--log-level=warn"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Everything on the four topics, read from the beginning by a fresh group.
  Topics ReadAll() {
    bus::KafkaConfig kc;
    kc.brokers = brokers_;
    static int n = 0;
    auto sub = bus::KafkaSubscriber::Create(kc, prefix_ + "reader-" + std::to_string(++n));
    EXPECT_TRUE(sub.ok()) << sub.status();
    Topics t;
    if (!sub.ok()) return t;
    EXPECT_TRUE((*sub)
                    ->Subscribe({prefix_ + "catalog", prefix_ + "spans",
                                 prefix_ + "collector-state", prefix_ + "sync-jobs"})
                    .ok());
    int quiet = 0;
    for (int i = 0; i < 200 && quiet < 4; ++i) {
      auto batch = (*sub)->Poll(10000, std::chrono::milliseconds(1000));
      if (!batch.ok() || batch->empty()) {
        ++quiet;
        continue;
      }
      quiet = 0;
      for (auto& m : *batch) {
        if (m.topic == prefix_ + "catalog") t.catalog.push_back(m);
        if (m.topic == prefix_ + "spans") t.spans.push_back(m);
        if (m.topic == prefix_ + "collector-state") t.state.push_back(m);
        if (m.topic == prefix_ + "sync-jobs") t.jobs.push_back(m);
      }
    }
    (*sub)->Close();
    return t;
  }

  // One trace of ddsim's ground truth: what it generated, not what its API renders, read with
  // a JSON parser of the test's own rather than the product's span parsing, so that a parsing
  // bug cannot hide on both sides of the comparison.
  struct TruthTrace {
    uint64_t span_count = 0;
    bool judged = false;  // false: a retention filter's single span
    std::set<uint64_t> gap_span_ids;
  };

  // Every trace whose earliest span starts in [from, to) (ddsim widens both to whole seconds),
  // by trace id (lower 64 bits).
  std::map<uint64_t, TruthTrace> GroundTruth(int64_t from, int64_t to) {
    datadog::CurlTransport http;
    datadog::HttpRequest r;
    r.url = ddsim_->url() +
            "/_ddsim/ground-truth?traces=all&from=" + std::to_string(from / 1'000'000) +
            "&to=" + std::to_string(to / 1'000'000);
    auto resp = http.Send(r);
    std::map<uint64_t, TruthTrace> traces;
    EXPECT_TRUE(resp.ok() && resp->status == 200) << r.url;
    if (!resp.ok()) return traces;
    const nlohmann::json truth = nlohmann::json::parse(resp->body);
    for (const auto& t : truth.at("traces")) {
      TruthTrace& tt = traces[std::stoull(t.at("trace_id").get<std::string>())];
      tt.span_count = t.at("span_count").get<uint64_t>();
      tt.judged = t.at("judged").get<bool>();
      for (const auto& g : t.at("gaps")) {
        tt.gap_span_ids.insert(std::stoull(g.at("span_id").get<std::string>()));
      }
    }
    return traces;
  }

  static std::string prefix_;
  static std::string brokers_;
  static bus::testing::KafkaDevProcess* kafka_dev_;
  static DdsimProcess* ddsim_;
};

std::string CollectorE2E::prefix_;
std::string CollectorE2E::brokers_;
bus::testing::KafkaDevProcess* CollectorE2E::kafka_dev_ = nullptr;
DdsimProcess* CollectorE2E::ddsim_ = nullptr;

TEST_F(CollectorE2E, ABadKeyStopsAtStartWithTheMessage) {
  RunResult r = RunCollector(Args(), "wrong-key-4d1f");
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_THAT(r.output, HasSubstr("DD_API_KEY"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("wrong-key-4d1f")));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("key-b")));  // nor the application key
}

TEST_F(CollectorE2E, AKeyGivenAsAFlagIsRefusedBeforeAnyCall) {
  auto args = Args();
  args.push_back("--dd-api-key=key-a");
  RunResult r = RunCollector(args, "");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("DD_API_KEY: is a secret and cannot be given as --dd-api-key"));
}

TEST_F(CollectorE2E, SyncsSurviveFaultsAndEverySpanArrivesOnce) {
  // First sync, clean.
  RunResult r1 = RunCollector(Args());
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  EXPECT_THAT(r1.output, HasSubstr("\"state\":\"succeeded\""));

  // Second sync with faults on the spans endpoint: a 429 burst, 5xx, a response slower than
  // the 1 s timeout. Then one malformed page (asked for again: succeeded), then a page that
  // stays malformed through every retry: partial, checkpoint kept at the last whole window.
  datadog::CurlTransport control;
  datadog::HttpRequest req;
  req.method = "POST";
  req.url = ddsim_->url() + "/_ddsim/faults";
  ::sleep(3);  // let a new window's worth of time pass the lag
  req.body =
      R"({"rate_limit_burst":2,"server_errors":2,"slow_requests":1,"slow_ms":2500,"endpoint":"spans_list"})";
  ASSERT_TRUE(control.Send(req).ok());
  RunResult r2 = RunCollector(Args({"--dd-http-timeout-seconds=1", "--span-lag-seconds=1"}));
  EXPECT_TRUE(r2.exit_code == 0 || r2.exit_code == 3) << r2.output;
  req.body = R"({"malformed":1,"endpoint":"spans_list"})";
  ::sleep(3);
  ASSERT_TRUE(control.Send(req).ok());
  RunResult r3 = RunCollector(Args({"--span-lag-seconds=1"}));
  EXPECT_EQ(r3.exit_code, 0) << r3.output;
  EXPECT_THAT(r3.output, HasSubstr("does not parse (cut short?); retrying"));
  req.body = R"({"malformed":3,"endpoint":"spans_list"})";
  ::sleep(3);
  ASSERT_TRUE(control.Send(req).ok());
  RunResult r3b = RunCollector(Args({"--span-lag-seconds=1", "--dd-max-retries=2"}));
  EXPECT_EQ(r3b.exit_code, 3) << r3b.output;
  EXPECT_THAT(r3b.output, HasSubstr("does not parse, 3 times"));
  RunResult r4 = RunCollector(Args({"--span-lag-seconds=1"}));
  EXPECT_EQ(r4.exit_code, 0) << r4.output;

  Topics t = ReadAll();
  // Catalog: 5 syncs, 5 snapshots of the same services, each with its end marker (every sync
  // read all catalog pages) counting exactly its snapshot's services.
  std::map<std::string, int> per_snapshot;
  std::map<std::string, uint32_t> end_counts;
  std::set<std::string> names;
  for (const auto& m : t.catalog) {
    auto type = m.Header("type");
    ASSERT_TRUE(type.has_value());
    if (*type == "apmcov.v1.CatalogSnapshotEnd") {
      v1::CatalogSnapshotEnd e;
      ASSERT_TRUE(e.ParseFromString(m.value));
      end_counts[e.snapshot_id()] = e.count();
    } else {
      v1::CatalogService s;
      ASSERT_TRUE(s.ParseFromString(m.value));
      ++per_snapshot[s.snapshot_id()];
      names.insert(s.name());
    }
  }
  EXPECT_EQ(end_counts.size(), 5u);
  for (const auto& [snap, count] : end_counts)
    EXPECT_EQ(per_snapshot[snap], static_cast<int>(count));
  EXPECT_GT(names.size(), 50u);

  // Spans: windows from the first window start to the last checkpoint; every span ddsim
  // generated there arrived, and only the window the malformed page interrupted came twice.
  int64_t first = INT64_MAX, last = 0;
  std::multiset<uint64_t> published;
  std::map<uint64_t, std::set<uint64_t>> spans_of;                // trace id -> distinct span ids
  std::map<std::string, std::set<int32_t>> watermark_partitions;  // window -> partitions
  std::set<int32_t> all_partitions;
  for (const auto& m : t.spans) {
    v1::SpanBatch b;
    ASSERT_TRUE(b.ParseFromString(m.value));
    all_partitions.insert(m.partition);
    if (b.spans_size() == 0) {
      watermark_partitions[b.window_id()].insert(m.partition);
      last = std::max(last, b.watermark_unix_nano());
      continue;
    }
    EXPECT_EQ(m.key, std::to_string(b.spans(0).trace_id()));
    int64_t start = std::stoll(b.window_id().substr(0, b.window_id().find('-')));
    first = std::min(first, start);
    for (const auto& s : b.spans()) {
      published.insert(s.span_id());
      spans_of[s.trace_id()].insert(s.span_id());
    }
  }
  std::set<uint64_t> distinct(published.begin(), published.end());
  // Against ddsim's ground truth. A trace lasts under a second, so each one starting in
  // [first, last - 1 s) lies whole in the windows read: all of its spans arrived, the spans
  // its gaps are recorded on among them. Each span read belongs to a whole trace starting in
  // [first - 1 s, last), and no trace has more spans than ddsim generated for it. Windows
  // need not start on a whole second and ddsim widens a range to whole seconds, so the range
  // that must have arrived whole is narrowed to whole seconds first.
  constexpr int64_t kSecond = 1'000'000'000;
  const int64_t whole_from = (first + kSecond - 1) / kSecond * kSecond;
  const int64_t whole_to = last / kSecond * kSecond - kSecond;
  ASSERT_LT(whole_from, whole_to);
  const std::map<uint64_t, TruthTrace> inside = GroundTruth(whole_from, whole_to);
  const std::map<uint64_t, TruthTrace> around = GroundTruth(first - kSecond, last);
  uint64_t whole_spans = 0;
  std::vector<std::string> missing, short_counts, missing_gap_spans, foreign, extra;
  for (const auto& [id, truth] : inside) {
    if (!truth.judged) continue;  // single spans: not retained by the query the collector reads
    whole_spans += truth.span_count;
    auto it = spans_of.find(id);
    if (it == spans_of.end()) {
      missing.push_back(std::to_string(id));
      continue;
    }
    if (it->second.size() != truth.span_count) {
      short_counts.push_back(absl::StrCat(id, ": ", it->second.size(), " of ", truth.span_count));
    }
    for (uint64_t span : truth.gap_span_ids) {
      if (it->second.count(span) == 0) missing_gap_spans.push_back(absl::StrCat(id, "/", span));
    }
  }
  for (const auto& [id, spans] : spans_of) {
    auto it = around.find(id);
    if (it == around.end() || !it->second.judged) {
      foreign.push_back(std::to_string(id));
    } else if (spans.size() > it->second.span_count) {
      extra.push_back(absl::StrCat(id, ": ", spans.size(), " of ", it->second.span_count));
    }
  }
  EXPECT_GT(whole_spans, 1000u);
  auto some = [](const std::vector<std::string>& v) {
    return absl::StrJoin(v.begin(), v.begin() + std::min<size_t>(v.size(), 5), ", ");
  };
  EXPECT_TRUE(missing.empty()) << missing.size() << " traces never arrived: " << some(missing)
                               << " (whole in [" << whole_from << ", " << whole_to << "))";
  EXPECT_TRUE(short_counts.empty())
      << short_counts.size() << " traces arrived in part: " << some(short_counts);
  EXPECT_TRUE(missing_gap_spans.empty())
      << missing_gap_spans.size() << " gap spans missing: " << some(missing_gap_spans);
  EXPECT_TRUE(foreign.empty()) << foreign.size()
                               << " traces ddsim never generated whole: " << some(foreign);
  EXPECT_TRUE(extra.empty()) << extra.size() << " traces with spans too many: " << some(extra);
  // Re-published: only the window each failed sync had started (at most one per sync).
  EXPECT_LT(published.size() - distinct.size(), published.size() / 3);
  // Every window's watermark reached every partition of the topic.
  ASSERT_FALSE(watermark_partitions.empty());
  for (const auto& [window, parts] : watermark_partitions)
    EXPECT_EQ(parts, all_partitions) << window;

  // Checkpoints advance; the last equals the last watermark.
  v1::CollectorCheckpoint cp;
  ASSERT_FALSE(t.state.empty());
  ASSERT_TRUE(cp.ParseFromString(t.state.back().value));
  EXPECT_EQ(cp.span_window_end_unix_nano(), last);

  // Job events: one partial with the reason.
  bool partial_malformed = false;
  int succeeded = 0;
  for (const auto& m : t.jobs) {
    v1::SyncJob j;
    ASSERT_TRUE(j.ParseFromString(m.value));
    if (j.state() == v1::SYNC_STATE_PARTIAL &&
        j.error().find("does not parse") != std::string::npos) {
      partial_malformed = true;
    }
    if (j.state() == v1::SYNC_STATE_SUCCEEDED) ++succeeded;
  }
  EXPECT_TRUE(partial_malformed);
  EXPECT_GE(succeeded, 2);
}

TEST_F(CollectorE2E, ServesSyncRequestsFromTheCommandsTopicAndReportsReadiness) {
  std::string log_path = "/tmp/apmcov-collector-e2e-" + std::to_string(::getpid()) + ".log";
  std::string bin = BinaryDir() + "/services/collector/apmcov-collector";
  std::vector<std::string> args = Args({"--admin-port=0", "--span-lag-seconds=1"});
  args.erase(args.begin());  // not --once
  for (auto& a : args) {
    if (a == "--log-level=warn") a = "--log-level=info";  // the admin port is logged at info
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::fopen(log_path.c_str(), "w");
    ::dup2(::fileno(f), 2);
    ::setenv("DD_API_KEY", "key-a", 1);  // keys only from the environment
    ::setenv("DD_APP_KEY", "key-b", 1);
    std::vector<char*> av{bin.data()};
    for (auto& a : args) av.push_back(a.data());
    av.push_back(nullptr);
    ::execv(bin.c_str(), av.data());
    std::_Exit(127);
  }
  // Stops the child on every path out of the test (an ASSERT included).
  struct ChildGuard {
    pid_t pid;
    ~ChildGuard() {
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  } guard{pid};
  auto read_log = [&] {
    std::FILE* f = std::fopen(log_path.c_str(), "r");
    std::string text;
    if (f == nullptr) return text;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
    std::fclose(f);
    return text;
  };
  int admin_port = 0;
  for (int i = 0; i < 300 && admin_port == 0; ++i) {
    std::string text = read_log();
    size_t at = text.find("\"admin_port\":");
    if (at != std::string::npos) admin_port = std::atoi(text.c_str() + at + 13);
    if (admin_port == 0) ::usleep(100'000);
  }
  ASSERT_GT(admin_port, 0) << read_log();
  datadog::CurlTransport http;
  auto get = [&](const std::string& path) {
    datadog::HttpRequest r;
    r.url = "http://127.0.0.1:" + std::to_string(admin_port) + path;
    auto resp = http.Send(r);
    return resp.ok() ? *resp : datadog::HttpResponse{};
  };
  int ready = 0;
  for (int i = 0; i < 300 && ready != 200; ++i) {
    ready = get("/readyz").status;
    if (ready != 200) ::usleep(100'000);
  }
  EXPECT_EQ(ready, 200);

  bus::KafkaConfig kc;
  kc.brokers = brokers_;
  auto pub = bus::KafkaPublisher::Create(kc);
  ASSERT_TRUE(pub.ok()) << pub.status();
  v1::SyncRequest req;
  req.set_job_id("manual-" + std::to_string(::getpid()));
  req.set_requested_by("e2e");
  bus::OutgoingMessage m;
  m.topic = prefix_ + "commands";
  m.key = "sync";
  m.value = req.SerializeAsString();
  m.headers = {{"content-type", "application/x-protobuf"}, {"type", "apmcov.v1.SyncRequest"}};
  ASSERT_TRUE((*pub)->Publish(m).ok());
  ASSERT_TRUE((*pub)->Flush(std::chrono::seconds(10)).ok());

  bool queued = false, succeeded = false;
  for (int round = 0; round < 20 && !succeeded; ++round) {
    Topics t = ReadAll();
    for (const auto& msg : t.jobs) {
      v1::SyncJob j;
      if (!j.ParseFromString(msg.value) || j.id() != req.job_id()) continue;
      queued |= j.state() == v1::SYNC_STATE_QUEUED;
      if (j.state() == v1::SYNC_STATE_SUCCEEDED) {
        succeeded = true;
        EXPECT_EQ(j.trigger(), v1::SYNC_TRIGGER_MANUAL);
        EXPECT_EQ(j.requested_by(), "e2e");
        EXPECT_GT(j.api_calls(), 0u);
      }
    }
  }
  EXPECT_TRUE(queued);
  EXPECT_TRUE(succeeded);
  std::string metrics = get("/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("apmcov_collector_syncs_total{state=\"succeeded\"}"));
  EXPECT_THAT(
      metrics,
      HasSubstr(
          "apmcov_collector_datadog_api_calls_total{endpoint=\"spans_list\",status=\"200\"}"));
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  guard.pid = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::string text = read_log();
  EXPECT_THAT(text, ::testing::Not(HasSubstr("key-a")));  // keys never logged
  EXPECT_THAT(text, ::testing::Not(HasSubstr("key-b")));
  std::remove(log_path.c_str());
}

// A port nothing listens on (bound, read, closed).
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Starts the collector with `flags` (keys in the environment), sends SIGTERM after 3 s and
// checks it exits within 10 s.
void ExpectItStopsWithin10SecondsOfSigterm(const std::vector<std::string>& flags) {
  std::string bin = BinaryDir() + "/services/collector/apmcov-collector";
  std::vector<std::string> args = {bin};
  args.insert(args.end(), flags.begin(), flags.end());
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("DD_API_KEY", "key-a", 1);
    ::setenv("DD_APP_KEY", "key-b", 1);
    std::vector<char*> av;
    for (auto& a : args) av.push_back(a.data());
    av.push_back(nullptr);
    ::execv(bin.c_str(), av.data());
    std::_Exit(127);
  }
  ASSERT_GT(pid, 0);
  ::sleep(3);  // into the outage
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "it gave up before the SIGTERM";
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  pid_t done = 0;
  while (done == 0 && std::chrono::steady_clock::now() - sent < std::chrono::seconds(10)) {
    done = ::waitpid(pid, &status, WNOHANG);
    if (done == 0) ::usleep(50'000);
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "apmcov-collector was still running 10 s after SIGTERM";
  }
  EXPECT_TRUE(WIFEXITED(status));
}

TEST(CollectorShutdownTest, StopsWithin10SecondsOfSigtermWhileDatadogAndKafkaAreDown) {
  // Datadog unreachable with many retries: the key check backs off for minutes.
  ExpectItStopsWithin10SecondsOfSigterm(
      {"--dd-api-base-url=http://127.0.0.1:" + std::to_string(ClosedPort()),
       "--kafka-brokers=127.0.0.1:" + std::to_string(ClosedPort()), "--dd-max-retries=10",
       "--log-level=warn"});
}

TEST_F(CollectorE2E, StopsWithin10SecondsOfSigtermWhileKafkaIsDown) {
  // The keys check out; reading the checkpoint from a broker that is down polls for a minute.
  ExpectItStopsWithin10SecondsOfSigterm(
      {"--dd-api-base-url=" + ddsim_->url(),
       "--kafka-brokers=127.0.0.1:" + std::to_string(ClosedPort()), "--log-level=warn"});
}

}  // namespace
}  // namespace apmcov::collector
