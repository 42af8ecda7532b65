// The exporter contract against AgentExporter, sending over real sockets to a fake Agent on
// 127.0.0.1 (a free port) that decodes each payload with msgpack-cxx and checks the headers
// the Agent reads. Also: the request itself, and Stop() cutting a hung request short.
#include "apmcov/tracing/agent_exporter.h"

#include <condition_variable>
#include <mutex>

#include "exporter_contract.h"
#include "test_http_server.h"

namespace apmcov::tracing::contract {
namespace {

using datadog::testing::TestHttpServer;
using datadog::testing::TestRequest;
using datadog::testing::TestResponse;

// A Datadog Agent's trace intake, as far as an exporter can tell.
class FakeAgent {
 public:
  FakeAgent() : server_([this](const TestRequest& r) { return Handle(r); }) {}
  ~FakeAgent() { Block(false); }

  std::string url() const { return server_.base_url(); }
  std::vector<TraceChunk> Delivered() {
    std::lock_guard<std::mutex> lock(mu_);
    return delivered_;
  }
  std::vector<std::string> Problems() {
    std::lock_guard<std::mutex> lock(mu_);
    return problems_;
  }
  std::vector<TestRequest> Requests() const { return server_.requests(); }
  void FailNext(int count) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_ = count;
  }
  void Block(bool blocked) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocked_ = blocked;
    }
    cv_.notify_all();
  }

 private:
  TestResponse Handle(const TestRequest& r) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !blocked_; });
    if (r.method != "PUT" || r.path != "/v0.4/traces") {
      problems_.push_back("unexpected " + r.method + " " + r.path);
      return {404, {}, "{}"};
    }
    auto header = [&r](const std::string& name) {
      auto it = r.headers.find(name);
      return it == r.headers.end() ? std::string("<missing>") : it->second;
    };
    if (header("content-type") != "application/msgpack") problems_.push_back("content-type");
    if (header("datadog-meta-lang") != "cpp") problems_.push_back("datadog-meta-lang");
    if (header("datadog-meta-lang-version") == "<missing>") problems_.push_back("lang-version");
    if (header("datadog-meta-tracer-version") == "<missing>") problems_.push_back("tracer-version");
    if (fail_next_ > 0) {
      --fail_next_;
      return {500, {}, "{\"error\":\"refused\"}"};
    }
    std::vector<TraceChunk> chunks;
    try {
      chunks = testing::DecodeV04(r.body);
    } catch (const std::exception& e) {
      problems_.push_back(std::string("undecodable payload: ") + e.what());
      return {400, {}, "{}"};
    }
    if (header("x-datadog-trace-count") != std::to_string(chunks.size())) {
      problems_.push_back("x-datadog-trace-count " + header("x-datadog-trace-count") + " for " +
                          std::to_string(chunks.size()) + " traces");
    }
    for (TraceChunk& c : chunks) delivered_.push_back(std::move(c));
    return {200, {{"Content-Type", "application/json"}}, R"({"rate_by_service":{}})"};
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool blocked_ = false;
  int fail_next_ = 0;
  std::vector<TraceChunk> delivered_;
  std::vector<std::string> problems_;
  TestHttpServer server_;  // last: its threads stop before the state above goes
};

struct AgentBackend {
  static constexpr const char* kName = "agent";

  ~AgentBackend() {
    agent_.Block(false);
    EXPECT_TRUE(agent_.Problems().empty()) << agent_.Problems().front();
  }
  std::unique_ptr<TraceExporter> NewExporter(size_t max_queued_spans,
                                             std::shared_ptr<ExporterMetrics> metrics) {
    AgentExporterOptions o;
    o.agent_url = agent_.url();
    o.max_queued_spans = max_queued_spans;
    o.flush_interval = std::chrono::hours(1);  // only Flush(), Stop() or a half-full queue
    o.request_timeout = std::chrono::seconds(20);
    auto exporter = AgentExporter::Create(o, std::move(metrics));
    EXPECT_TRUE(exporter.ok()) << exporter.status();
    return std::move(*exporter);
  }
  std::vector<TraceChunk> Delivered() { return agent_.Delivered(); }
  void FailNext(int count) { agent_.FailNext(count); }
  void Block(bool blocked) { agent_.Block(blocked); }

  FakeAgent agent_;
};

using Backends = ::testing::Types<AgentBackend>;
INSTANTIATE_TYPED_TEST_SUITE_P(Agent, ExporterContractTest, Backends);

TEST(AgentExporterTest, PutsMsgpackWithTheAgentHeadersAndSplitsLargeBatches) {
  FakeAgent agent;
  AgentExporterOptions o;
  o.agent_url = agent.url() + "/";
  o.flush_interval = std::chrono::hours(1);
  o.max_payload_bytes = 2000;  // a few chunks per request
  o.tracer_version = "9.8.7";
  auto exporter = AgentExporter::Create(o);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  for (uint64_t n = 1; n <= 20; ++n) ASSERT_TRUE((*exporter)->Export(SampleChunk(n, 3)));
  ASSERT_TRUE((*exporter)->Flush(std::chrono::seconds(10)).ok());
  EXPECT_EQ(SpanCount(agent.Delivered()), 60u);
  const std::vector<TestRequest> requests = agent.Requests();
  ASSERT_GT(requests.size(), 2u);
  size_t traces = 0;
  for (const TestRequest& r : requests) {
    EXPECT_EQ(r.method, "PUT");
    EXPECT_EQ(r.path, "/v0.4/traces");
    EXPECT_EQ(r.headers.at("datadog-meta-tracer-version"), "9.8.7");
    EXPECT_EQ(r.headers.at("datadog-meta-lang-version"), std::to_string(__cplusplus));
    EXPECT_EQ(r.headers.count("expect"), 0u);
    traces += std::stoul(r.headers.at("x-datadog-trace-count"));
    // One chunk may exceed the limit on its own; several never do.
    if (std::stoul(r.headers.at("x-datadog-trace-count")) > 1) {
      EXPECT_LE(r.body.size(), 2000u);
    }
  }
  EXPECT_EQ(traces, 20u);
  EXPECT_TRUE(agent.Problems().empty());
}

TEST(AgentExporterTest, NoAgentListeningCountsSendErrorsAndNeverBlocksExport) {
  std::string url;
  {
    FakeAgent gone;  // a port that was just free: nothing listens there any more
    url = gone.url();
  }
  AgentExporterOptions o;
  o.agent_url = url;
  o.flush_interval = std::chrono::hours(1);
  o.request_timeout = std::chrono::milliseconds(500);
  auto exporter = AgentExporter::Create(o);
  ASSERT_TRUE(exporter.ok());
  EXPECT_TRUE((*exporter)->Export(SampleChunk(1, 2)));
  EXPECT_EQ((*exporter)->Flush(std::chrono::seconds(10)).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*exporter)->stats().send_errors, 1u);
  EXPECT_EQ((*exporter)->stats().spans_lost, 2u);
}

TEST(AgentExporterTest, StopCutsAHungRequestShortAtItsDeadline) {
  FakeAgent agent;
  agent.Block(true);
  AgentExporterOptions o;
  o.agent_url = agent.url();
  o.flush_interval = std::chrono::hours(1);
  o.request_timeout = std::chrono::seconds(30);
  auto exporter = AgentExporter::Create(o);
  ASSERT_TRUE(exporter.ok());
  EXPECT_TRUE((*exporter)->Export(SampleChunk(1, 2)));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ((*exporter)->Stop(std::chrono::milliseconds(300)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_FALSE((*exporter)->Export(SampleChunk(2, 1)));
  agent.Block(false);
}

TEST(AgentExporterTest, RefusesUrlsThatAreNotTheAgentsHttpPort) {
  for (const char* bad : {"", "localhost:8126", "https://agent:8126", "http://",
                          "http://agent:8126/v0.4/traces", "http://user@agent:8126"}) {
    AgentExporterOptions o;
    o.agent_url = bad;
    EXPECT_EQ(AgentExporter::Create(o).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace apmcov::tracing::contract
