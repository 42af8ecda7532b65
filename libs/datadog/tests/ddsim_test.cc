// The HTTP adapter against ddsim (services/ddsim, started here on port 0): keys, the three
// endpoints' paging, and the faults ddsim can inject (429 bursts, 5xx, slow and malformed
// responses). Waits run on a ManualClock; ddsim runs on real time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "apmcov/base/clock.h"
#include "apmcov/datadog/http_client.h"
#include "apmcov/datadog/parse.h"
#include "apmcov/datadog/testing/ddsim_process.h"
#include "source_contract.h"

namespace apmcov::datadog {
namespace {

using ::testing::HasSubstr;

constexpr char kApiKey[] = "ddsim-api-key";
constexpr char kAppKey[] = "ddsim-app-key";
constexpr int64_t kSec = 1'000'000'000;

using testing::DdsimProcess;

}  // namespace

namespace contract {

// HttpDatadogSource against one ddsim for the whole suite (started on first use, from the
// main thread, stopped at exit): 120 services, 400 spans a second for the last 20 minutes.
struct DdsimBackend {
  static constexpr const char* kName = "Ddsim";
  DdsimBackend() {
    static std::unique_ptr<DdsimProcess> ddsim = [] {
      auto started = DdsimProcess::Start(
          {"serve", "--seed=12", "--services=120", "--spans-per-second=400",
           "--backfill-minutes=20", "--http-port=0", "--admin-port=0", "--address=127.0.0.1",
           std::string("--api-key=") + kApiKey, std::string("--app-key=") + kAppKey,
           "--rate-limits=unlimited", "--log-level=warn"});
      if (!started.ok()) throw std::runtime_error(std::string(started.status().message()));
      return std::move(*started);
    }();
    ClientOptions o;
    o.base_url = ddsim->url();
    o.site = ddsim->url();
    o.api_key = kApiKey;
    o.app_key = kAppKey;
    client = std::make_unique<DatadogHttpClient>(o, transport, clock);
    http = std::make_unique<HttpDatadogSource>(*client);
    // Ten minutes back, three whole seconds: about 1,200 spans that are all generated.
    now_s = RealClock().NowUnixNanos() / kSec;
  }
  DatadogSource& source() { return *http; }
  int64_t window_from() const { return (now_s - 600) * kSec; }
  int64_t window_to() const { return (now_s - 597) * kSec; }
  // Before the traffic starts.
  int64_t empty_from() const { return (now_s - 7200) * kSec; }
  int64_t empty_to() const { return (now_s - 7190) * kSec; }

  ManualClock clock;
  CurlTransport transport;
  std::unique_ptr<DatadogHttpClient> client;
  std::unique_ptr<HttpDatadogSource> http;
  int64_t now_s = 0;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Ddsim, SourceContractTest, DdsimBackend);

}  // namespace contract

namespace {

struct Counting : ApiObserver {
  std::map<int, int> statuses;
  int waits = 0;
  void OnApiCall(const std::string&, int status, double) override { ++statuses[status]; }
  void OnRateLimitWait(const std::string&, double) override { ++waits; }
};

class DdsimTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = DdsimProcess::Start(
        {"serve", "--seed=11", "--services=230", "--spans-per-second=400", "--backfill-minutes=20",
         "--http-port=0", "--admin-port=0", "--address=127.0.0.1",
         std::string("--api-key=") + kApiKey, std::string("--app-key=") + kAppKey,
         "--rate-limits=unlimited", "--log-level=warn"});
    if (!started.ok()) throw std::runtime_error(std::string(started.status().message()));
    ddsim_ = started->release();
  }
  static void TearDownTestSuite() {
    delete ddsim_;
    ddsim_ = nullptr;
  }

  std::unique_ptr<HttpDatadogSource> Source(const std::string& api_key = kApiKey,
                                            int64_t timeout_ms = 10000) {
    TransportOptions t;
    t.total_timeout_ms = timeout_ms;
    transport_ = std::make_unique<CurlTransport>(t);
    ClientOptions o;
    o.base_url = ddsim_->url();
    o.site = ddsim_->url();
    o.api_key = api_key;
    o.app_key = kAppKey;
    o.max_retries = 6;
    o.max_rate_limit_wait_s = 1e9;  // the ManualClock waits for free
    o.jitter_seed = 3;
    client_ = std::make_unique<DatadogHttpClient>(o, *transport_, clock_, &observer_);
    return std::make_unique<HttpDatadogSource>(*client_);
  }

  // A raw call to ddsim's control endpoints.
  HttpResponse Control(const std::string& method, const std::string& path,
                       const std::string& body = "") {
    CurlTransport t;
    HttpRequest r;
    r.method = method;
    r.url = ddsim_->url() + path;
    r.body = body;
    r.headers = {{"Content-Type", "application/json"}};
    auto resp = t.Send(r);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : HttpResponse{};
  }

  // Every span id of [from, to), following cursors to the end.
  std::multiset<uint64_t> ReadWindow(DatadogSource& source, int64_t from, int64_t to, int* calls,
                                     int* full_pages) {
    std::multiset<uint64_t> ids;
    SpanQuery q{.query = "*", .from_unix_nano = from, .to_unix_nano = to, .limit = 1000};
    for (int i = 0; i < 1000; ++i) {
      auto page = source.ListSpans(q);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      ++*calls;
      if (page->spans.size() == 1000) ++*full_pages;
      for (const auto& s : page->spans) ids.insert(s.span_id());
      if (page->next_cursor.empty()) break;
      q.cursor = page->next_cursor;
    }
    return ids;
  }

  static DdsimProcess* ddsim_;
  ManualClock clock_;
  Counting observer_;
  std::unique_ptr<CurlTransport> transport_;
  std::unique_ptr<DatadogHttpClient> client_;
};

DdsimProcess* DdsimTest::ddsim_ = nullptr;

TEST_F(DdsimTest, KeysAreValidatedAndABadKeyIsNamed) {
  EXPECT_TRUE(Source()->Validate().ok());
  absl::Status bad = Source("wrong-key")->Validate();
  EXPECT_EQ(bad.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("DD_API_KEY"));
  EXPECT_THAT(std::string(bad.message()), ::testing::Not(HasSubstr("wrong-key")));
  EXPECT_THAT(std::string(bad.message()), ::testing::Not(HasSubstr(kAppKey)));
}

TEST_F(DdsimTest, CatalogPagesMatchTheGroundTruth) {
  auto source = Source();
  std::set<std::string> names;
  int pages = 0;
  for (int page = 0;; ++page) {
    auto r = source->ListServiceDefinitions(page, 100);
    ASSERT_TRUE(r.ok()) << r.status();
    ++pages;
    EXPECT_TRUE(r->skipped.empty());
    for (const auto& s : r->services) names.insert(s.name());
    if (!r->has_more) break;
  }
  HttpResponse truth = Control("GET", "/_ddsim/ground-truth?traces=none");
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(truth.body);
  std::set<std::string> expected;
  for (auto n : root["catalog"]["services"].get_array())
    expected.insert(std::string(n.get_string().value()));
  EXPECT_EQ(names, expected);
  EXPECT_EQ(pages, static_cast<int>(expected.size() / 100 + 1));  // page-number paging
}

TEST_F(DdsimTest, InventoryAndAggregate) {
  auto source = Source();
  auto apm = source->ListApmServices();
  ASSERT_TRUE(apm.ok()) << apm.status();
  EXPECT_GT(apm->size(), 0u);
  AggregateQuery q;
  q.to_unix_nano = RealClock().NowUnixNanos();
  q.from_unix_nano = q.to_unix_nano - 3600LL * 1'000'000'000;
  auto buckets = source->AggregateSpanCounts(q);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  double total = 0;
  EXPECT_FALSE(buckets->partial);
  for (const auto& b : buckets->buckets) {
    EXPECT_FALSE(b.by.at("service").empty());
    total += b.count;
  }
  EXPECT_GT(total, 0);
}

TEST_F(DdsimTest, SpanWindowSurvivesFaultsWithNothingLostOrRepeated) {
  const int64_t to = RealClock().NowUnixNanos() - 120LL * 1'000'000'000;
  const int64_t from = to - 600LL * 1'000'000'000;  // 10 minutes: ~240k spans at 400/s
  int calls = 0, full = 0;
  auto clean = ReadWindow(*Source(), from, to, &calls, &full);
  ASSERT_GT(clean.size(), 10'000u);
  EXPECT_EQ(std::set<uint64_t>(clean.begin(), clean.end()).size(), clean.size());
  EXPECT_GE(full, calls - 2);  // every page but the last (and a final empty one) is full

  // 429 burst, 5xx, and a slow response beyond the client's timeout, all on spans_list.
  Control(
      "POST", "/_ddsim/faults",
      R"({"rate_limit_burst":2,"server_errors":2,"slow_requests":1,"slow_ms":3000,"endpoint":"spans_list"})");
  int calls2 = 0, full2 = 0;
  auto faulty = ReadWindow(*Source(kApiKey, /*timeout_ms=*/1000), from, to, &calls2, &full2);
  Control("DELETE", "/_ddsim/faults");
  EXPECT_EQ(faulty, clean);
  EXPECT_GE(observer_.statuses[429], 2);
  EXPECT_GE(observer_.statuses[503], 1);  // ddsim may count a fault on a 429ed request
  EXPECT_GE(observer_.statuses[0], 1);    // the timeout
  EXPECT_GE(observer_.waits, 2);

  // A malformed page is asked for again, so the caller gets the page; one that stays
  // malformed through every attempt is an error naming it.
  Control("POST", "/_ddsim/faults", R"({"malformed":1,"endpoint":"spans_list"})");
  auto source = Source();
  SpanQuery q{.query = "*", .from_unix_nano = from, .to_unix_nano = to, .limit = 1000};
  const int before = observer_.statuses[200];
  auto good = source->ListSpans(q);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->spans.size(), 1000);
  EXPECT_EQ(observer_.statuses[200] - before, 2);  // the malformed answer, then the page
  Control("POST", "/_ddsim/faults", R"({"malformed":100,"endpoint":"spans_list"})");
  auto bad = source->ListSpans(q);
  Control("DELETE", "/_ddsim/faults");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("does not parse"));
}

}  // namespace
}  // namespace apmcov::datadog
