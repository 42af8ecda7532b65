// The HTTP adapter against a real HTTP server on 127.0.0.1 (port 0): keys, gzip, keep-alive,
// rate limits, retries, timeouts, error bodies and paging. Waits go through a ManualClock, so
// a 429 with a 7-second reset takes no real time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>

#include "apmcov/base/clock.h"
#include "apmcov/datadog/http_client.h"
#include "apmcov/datadog/parse.h"
#include "fixtures.h"
#include "test_http_server.h"

namespace apmcov::datadog {
namespace {

using ::testing::HasSubstr;
using testing::LoadFixture;
using ::testing::Not;
using testing::TestHttpServer;
using testing::TestRequest;
using testing::TestResponse;

constexpr char kApiKey[] = "api-key-0123456789abcdef";
constexpr char kAppKey[] = "app-key-fedcba9876543210";

struct RecordingObserver : ApiObserver {
  std::mutex mu;
  std::vector<std::pair<std::string, int>> calls;
  std::vector<std::pair<std::string, double>> waits;
  void OnApiCall(const std::string& endpoint, int status, double) override {
    std::lock_guard lock(mu);
    calls.emplace_back(endpoint, status);
  }
  void OnRateLimitWait(const std::string& bucket, double seconds) override {
    std::lock_guard lock(mu);
    waits.emplace_back(bucket, seconds);
  }
};

double Seconds(Clock::Duration d) { return std::chrono::duration<double>(d).count(); }

class ClientTest : public ::testing::Test {
 protected:
  void Start(TestHttpServer::Handler handler, int max_retries = 4, int64_t timeout_ms = 5000) {
    server_ = std::make_unique<TestHttpServer>(std::move(handler));
    TransportOptions t;
    t.total_timeout_ms = timeout_ms;
    t.connect_timeout_ms = 1000;
    transport_ = std::make_unique<CurlTransport>(t);
    ClientOptions o;
    o.base_url = server_->base_url();
    o.site = "datadoghq.example";
    o.api_key = kApiKey;
    o.app_key = kAppKey;
    o.max_retries = max_retries;
    o.jitter_seed = 42;
    client_ = std::make_unique<DatadogHttpClient>(o, *transport_, clock_, &observer_);
    source_ = std::make_unique<HttpDatadogSource>(*client_);
  }

  ManualClock clock_;
  RecordingObserver observer_;
  std::unique_ptr<TestHttpServer> server_;
  std::unique_ptr<CurlTransport> transport_;
  std::unique_ptr<DatadogHttpClient> client_;
  std::unique_ptr<HttpDatadogSource> source_;
};

TEST_F(ClientTest, SendsKeysAcceptsGzipAndReusesTheConnection) {
  std::string body = LoadFixture("service_definitions_list_ok.json").body;
  Start([&](const TestRequest&) {
    TestResponse r;
    r.body = body;
    r.gzip = true;
    return r;
  });
  for (int i = 0; i < 3; ++i) {
    auto page = source_->ListServiceDefinitions(i, 100);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->services.size(), 100u);
    EXPECT_TRUE(page->has_more);
  }
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].headers.at("dd-api-key"), kApiKey);
  EXPECT_EQ(reqs[0].headers.at("dd-application-key"), kAppKey);
  EXPECT_THAT(reqs[0].headers.at("accept-encoding"), HasSubstr("gzip"));
  EXPECT_EQ(reqs[2].path, "/api/v2/services/definitions");
  EXPECT_EQ(reqs[2].query.at("page[number]"), "2");
  EXPECT_EQ(reqs[2].query.at("page[size]"), "100");
  EXPECT_EQ(server_->connections(), 1);  // keep-alive
  ASSERT_EQ(observer_.calls.size(), 3u);
  EXPECT_EQ(observer_.calls[0], std::make_pair(std::string("service_definitions"), 200));
}

TEST_F(ClientTest, ValidateSendsNoAppKeyThenChecksTheAppKey) {
  std::string ok = LoadFixture("v1_validate_ok.json").body;
  std::string defs = LoadFixture("service_definitions_list_paginated_2.json").body;
  Start([&](const TestRequest& req) {
    TestResponse r;
    r.body = req.path == "/api/v1/validate" ? ok : defs;
    return r;
  });
  ASSERT_TRUE(source_->Validate().ok());
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].path, "/api/v1/validate");
  EXPECT_FALSE(reqs[0].HasHeader("dd-application-key"));
  EXPECT_EQ(reqs[1].query.at("page[size]"), "1");
}

TEST_F(ClientTest, Forbidden403NamesKeysAndSiteButNeverTheKey) {
  auto forbidden = LoadFixture("v1_validate_forbidden.json");
  Start([&](const TestRequest&) {
    TestResponse r;
    r.status = forbidden.status;
    r.body = forbidden.body;
    return r;
  });
  absl::Status s = source_->Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  std::string msg(s.message());
  EXPECT_THAT(msg, HasSubstr("API key required"));
  EXPECT_THAT(msg, HasSubstr("DD_API_KEY"));
  EXPECT_THAT(msg, HasSubstr("datadoghq.example"));
  EXPECT_THAT(msg, Not(HasSubstr(kApiKey)));
  EXPECT_THAT(msg, Not(HasSubstr(kAppKey)));
  EXPECT_EQ(server_->requests().size(), 1u);  // 403 is not retried
}

TEST_F(ClientTest, MissingScopeJsonApiBodyNamesTheScope) {
  Start([&](const TestRequest&) {
    TestResponse r;
    r.status = 403;
    r.body = R"({"errors":[{"title":"Forbidden"}]})";
    return r;
  });
  auto page = source_->ListSpans(SpanQuery{.from_unix_nano = 1, .to_unix_nano = 2});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(page.status().message()), HasSubstr("apm_read scope"));
  EXPECT_THAT(std::string(page.status().message()), HasSubstr("Forbidden"));
}

TEST_F(ClientTest, Unprocessable422IsInvalidArgumentWithDetail) {
  auto f = LoadFixture("spans_list_422.json");
  Start([&](const TestRequest&) {
    TestResponse r;
    r.status = f.status;
    r.body = f.body;
    return r;
  });
  auto page = source_->ListSpans(SpanQuery{.from_unix_nano = 2, .to_unix_nano = 1});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(page.status().message()), HasSubstr("'from' should be anterior"));
  EXPECT_EQ(server_->requests().size(), 1u);
}

TEST_F(ClientTest, RateLimited429WaitsTheResetThenSucceeds) {
  std::atomic<int> n{0};
  std::string page = LoadFixture("spans_list_paginated_1.json").body;
  Start([&](const TestRequest&) {
    TestResponse r;
    if (n++ == 0) {
      r.status = 429;
      r.body = R"({"errors":[{"status":"429","title":"Too many requests"}]})";
      r.headers = {{"X-RateLimit-Limit", "300"},
                   {"X-RateLimit-Period", "3600"},
                   {"X-RateLimit-Remaining", "0"},
                   {"X-RateLimit-Reset", "7"},
                   {"X-RateLimit-Name", "spans_list"}};
    } else {
      r.body = page;
      r.headers = {{"X-RateLimit-Remaining", "299"},
                   {"X-RateLimit-Reset", "3593"},
                   {"X-RateLimit-Name", "spans_list"}};
    }
    return r;
  });
  auto result = source_->ListSpans(SpanQuery{.from_unix_nano = 1, .to_unix_nano = 2});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->spans.size(), 2);
  EXPECT_DOUBLE_EQ(Seconds(clock_.TotalSlept()), 7.0);
  ASSERT_EQ(observer_.waits.size(), 1u);
  EXPECT_EQ(observer_.waits[0].first, "spans_list");
  EXPECT_DOUBLE_EQ(observer_.waits[0].second, 7.0);
  EXPECT_EQ(client_->buckets().at("spans_list").remaining, 299);
}

TEST_F(ClientTest, RateLimited429WithoutResetBacksOffTwoTimesTwoToTheN) {
  std::atomic<int> n{0};
  Start([&](const TestRequest&) {
    TestResponse r;
    if (n++ < 2) {
      r.status = 429;
      r.body = R"({"errors":["Too many requests"]})";
    } else {
      r.body = R"({"data":{"attributes":{"services":["a"]}}})";
    }
    return r;
  });
  auto result = source_->ListApmServices();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_DOUBLE_EQ(Seconds(clock_.TotalSlept()), 2.0 + 4.0);
}

TEST_F(ClientTest, RateLimitExhaustedIsResourceExhausted) {
  Start(
      [&](const TestRequest&) {
        TestResponse r;
        r.status = 429;
        r.body = R"({"errors":["Too many requests"]})";
        r.headers = {{"X-RateLimit-Reset", "3"}};
        return r;
      },
      /*max_retries=*/2);
  auto result = source_->ListApmServices();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("rate limited"));
  EXPECT_EQ(server_->requests().size(), 3u);
  EXPECT_DOUBLE_EQ(Seconds(clock_.TotalSlept()), 6.0);
}

TEST_F(ClientTest, RemainingZeroWaitsBeforeTheNextCall) {
  std::string page = LoadFixture("spans_list_paginated_3.json").body;
  Start([&](const TestRequest&) {
    TestResponse r;
    r.body = page;
    r.headers = {{"X-RateLimit-Remaining", "0"},
                 {"X-RateLimit-Reset", "30"},
                 {"X-RateLimit-Name", "spans_bucket"}};
    return r;
  });
  ASSERT_TRUE(source_->ListSpans(SpanQuery{.from_unix_nano = 1, .to_unix_nano = 2}).ok());
  EXPECT_DOUBLE_EQ(Seconds(clock_.TotalSlept()), 0.0);
  clock_.Advance(std::chrono::seconds(10));
  ASSERT_TRUE(source_->ListSpans(SpanQuery{.from_unix_nano = 1, .to_unix_nano = 2}).ok());
  EXPECT_DOUBLE_EQ(Seconds(clock_.TotalSlept()), 20.0);  // the 30 s reset minus 10 s passed
  ASSERT_EQ(observer_.waits.size(), 1u);
  EXPECT_EQ(observer_.waits[0].first, "spans_bucket");
}

TEST_F(ClientTest, ARemainingZeroWaitIsBoundedByTheMaximumWait) {
  std::string page = LoadFixture("spans_list_paginated_3.json").body;
  Start([&](const TestRequest&) {
    TestResponse r;
    r.body = page;
    // A reset in milliseconds where seconds are expected: about 23 days.
    r.headers = {{"X-RateLimit-Remaining", "0"}, {"X-RateLimit-Reset", "2000000000"}};
    return r;
  });
  ASSERT_TRUE(source_->ListSpans(SpanQuery{.from_unix_nano = 1, .to_unix_nano = 2}).ok());
  ASSERT_TRUE(source_->ListSpans(SpanQuery{.from_unix_nano = 1, .to_unix_nano = 2}).ok());
  EXPECT_DOUBLE_EQ(Seconds(clock_.TotalSlept()), client_->options().max_rate_limit_wait_s);
}

TEST_F(ClientTest, ACancelledClockEndsTheCallInsteadOfWaiting) {
  Start([&](const TestRequest&) {
    TestResponse r;
    r.status = 503;
    r.body = "{}";
    return r;
  });
  clock_.Cancel();  // shutdown: the backoff after the first 503 does not happen
  auto page = source_->ListSpans(SpanQuery{.from_unix_nano = 1, .to_unix_nano = 2});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kCancelled) << page.status();
  EXPECT_LE(server_->requests().size(), 1u);
  EXPECT_DOUBLE_EQ(Seconds(clock_.TotalSlept()), 0.0);
}

TEST(CurlTransportTest, ATransferInFlightIsAbortedWhenCancelled) {
  std::atomic<bool> cancel{false};
  TestHttpServer server([&](const TestRequest&) {
    cancel = true;  // the request arrived: cancel while the answer is slow
    TestResponse r;
    r.delay_ms = 6000;
    r.body = "{}";
    return r;
  });
  TransportOptions t;
  t.total_timeout_ms = 60'000;
  t.cancelled = [&cancel] { return cancel.load(); };
  CurlTransport transport(t);
  HttpRequest req;
  req.url = server.base_url() + "/slow";
  auto start = std::chrono::steady_clock::now();
  auto response = transport.Send(req);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kCancelled) << response.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

// A body given back is written into by the next response (no fresh buffer grown per page).
TEST(CurlTransportTest, TheNextResponseIsWrittenIntoTheBodyGivenBack) {
  const std::string big(300'000, 'x'), small(1000, 'y');
  std::atomic<int> n{0};
  TestHttpServer server([&](const TestRequest&) {
    TestResponse r;
    r.body = n++ == 0 ? big : small;
    return r;
  });
  CurlTransport transport;
  HttpRequest req;
  req.url = server.base_url() + "/page";
  auto first = transport.Send(req);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->body, big);
  const char* buffer = first->body.data();
  transport.RecycleBody(std::move(first->body));
  auto second = transport.Send(req);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->body, small);
  EXPECT_EQ(second->body.data(), buffer);
  EXPECT_GE(second->body.capacity(), big.size());
  // A smaller buffer given back does not replace the larger one kept.
  transport.RecycleBody(std::string(10, 'z'));
  transport.RecycleBody(std::move(second->body));
  auto third = transport.Send(req);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->body.data(), buffer);
}

TEST_F(ClientTest, ServerErrorsAreRetriedWithCappedJitteredBackoff) {
  std::atomic<int> n{0};
  Start([&](const TestRequest&) {
    TestResponse r;
    int i = n++;
    if (i == 0) {
      r.status = 503;
      r.body = "<html>upstream</html>";
    } else if (i == 1) {
      r.status = 500;
      r.body = R"({"errors":["Internal Server Error"]})";
    } else {
      r.body = R"({"data":{"attributes":{"services":["a","b"]}}})";
    }
    return r;
  });
  auto result = source_->ListApmServices();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->size(), 2u);
  double slept = Seconds(clock_.TotalSlept());
  EXPECT_GE(slept, 0.5 + 1.0);  // attempt 0: [0.5, 1] s; attempt 1: [1, 2] s
  EXPECT_LE(slept, 1.0 + 2.0);
  EXPECT_TRUE(observer_.waits.empty());  // backoff is not a rate-limit wait
}

TEST_F(ClientTest, ServerErrorsExhaustRetries) {
  Start(
      [&](const TestRequest&) {
        TestResponse r;
        r.status = 502;
        r.body = R"({"errors":["Bad Gateway"]})";
        return r;
      },
      /*max_retries=*/2);
  auto result = source_->ListApmServices();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("after 3 attempts"));
  EXPECT_EQ(server_->requests().size(), 3u);
}

TEST_F(ClientTest, BodyCutShortIsAskedForAgain) {
  const std::string full = LoadFixture("spans_list_paginated_1.json").body;
  std::atomic<int> n{0};
  Start([&](const TestRequest&) {
    TestResponse r;
    r.body = n++ == 0 ? full.substr(0, full.size() / 2) : full;  // 200 with half a body first
    return r;
  });
  auto page =
      source_->ListSpans({.query = "*", .from_unix_nano = 0, .to_unix_nano = 1, .limit = 10});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->spans.size(), ParseSpanPage(full)->spans.size());
  EXPECT_EQ(server_->requests().size(), 2u);
  EXPECT_GE(Seconds(clock_.TotalSlept()), 0.5);  // the same backoff as a 5xx
}

// The collector's way (ScanSpans, then FinishParse): a body cut short fails the scan, so it is
// asked for again too, before the page's cursor is handed out.
TEST_F(ClientTest, BodyCutShortIsAskedForAgainWhenOnlyScanned) {
  const std::string full = LoadFixture("spans_list_paginated_1.json").body;
  std::atomic<int> n{0};
  Start([&](const TestRequest&) {
    TestResponse r;
    r.body = n++ == 0 ? full.substr(0, full.size() - 3) : full;  // the end of meta cut off
    return r;
  });
  SpanPage page;
  ASSERT_TRUE(
      source_->ScanSpans({.query = "*", .from_unix_nano = 0, .to_unix_nano = 1, .limit = 10}, &page)
          .ok());
  EXPECT_EQ(server_->requests().size(), 2u);
  auto whole = ParseSpanPage(full);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(page.next_cursor, whole->next_cursor);
  EXPECT_FALSE(page.next_cursor.empty());
  EXPECT_EQ(page.items, static_cast<size_t>(whole->spans.size()));
  ASSERT_TRUE(page.FinishParse().ok());
  EXPECT_EQ(page.spans.size(), whole->spans.size());
}

TEST_F(ClientTest, BodyThatNeverParsesFailsAfterTheRetries) {
  Start(
      [&](const TestRequest&) {
        TestResponse r;
        r.body = R"({"data":{"attributes":{"services":["a",)";
        return r;
      },
      /*max_retries=*/2);
  auto result = source_->ListApmServices();
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("does not parse, 3 times"));
  EXPECT_EQ(server_->requests().size(), 3u);
}

TEST_F(ClientTest, TimeoutIsRetried) {
  std::atomic<int> n{0};
  Start(
      [&](const TestRequest&) {
        TestResponse r;
        if (n++ == 0) r.delay_ms = 1500;
        r.body = R"({"data":{"attributes":{"services":["a"]}}})";
        return r;
      },
      4, /*timeout_ms=*/300);
  auto result = source_->ListApmServices();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_GE(observer_.calls.size(), 2u);
  EXPECT_EQ(observer_.calls[0].second, 0);  // no response: the timeout
  EXPECT_EQ(observer_.calls.back().second, 200);
}

TEST_F(ClientTest, TimeoutsExhaustRetriesAsDeadlineExceeded) {
  Start(
      [&](const TestRequest&) {
        TestResponse r;
        r.delay_ms = 600;
        return r;
      },
      1, /*timeout_ms=*/200);
  auto result = source_->ListApmServices();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("DD_API_BASE_URL"));
}

TEST_F(ClientTest, SpanCursorPagingToTheEnd) {
  auto p1 = LoadFixture("spans_list_paginated_1.json").body;
  auto p2 = LoadFixture("spans_list_paginated_2.json").body;
  auto p3 = LoadFixture("spans_list_paginated_3.json").body;
  std::string c1 = ParseSpanPage(p1)->next_cursor;
  std::string c2 = ParseSpanPage(p2)->next_cursor;
  Start([&](const TestRequest& req) {
    TestResponse r;
    auto it = req.query.find("page[cursor]");
    if (it == req.query.end()) {
      r.body = p1;
    } else if (it->second == c1) {
      r.body = p2;
    } else if (it->second == c2) {
      r.body = p3;
    } else {
      r.status = 400;
      r.body = R"({"errors":[{"title":"bad cursor"}]})";
    }
    return r;
  });
  SpanQuery q{.query = "retained_by:(flat_sampled OR diversity_sampling)",
              .from_unix_nano = 1'700'000'000'000'000'000,
              .to_unix_nano = 1'700'000'060'000'000'000,
              .limit = 2};
  size_t total = 0, pages = 0;
  while (true) {
    auto page = source_->ListSpans(q);
    ASSERT_TRUE(page.ok()) << page.status();
    total += page->spans.size();
    ++pages;
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
  }
  EXPECT_EQ(total, 3u);
  EXPECT_EQ(pages, 3u);
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].query.at("filter[query]"), "retained_by:(flat_sampled OR diversity_sampling)");
  EXPECT_EQ(reqs[0].query.at("filter[from]"), "1700000000000");
  EXPECT_EQ(reqs[0].query.at("filter[to]"), "1700000060000");
  EXPECT_EQ(reqs[0].query.at("page[limit]"), "2");
  EXPECT_EQ(reqs[0].query.count("page[cursor]"), 0u);
}

TEST_F(ClientTest, ServiceDefinitionPageNumberPagingStopsOnShortPage) {
  auto p1 = LoadFixture("service_definitions_list_paginated_1.json").body;
  auto p2 = LoadFixture("service_definitions_list_paginated_2.json").body;
  Start([&](const TestRequest& req) {
    TestResponse r;
    r.body = req.query.at("page[number]") == "0" ? p1 : p2;
    return r;
  });
  auto a = source_->ListServiceDefinitions(0, 2);
  auto b = source_->ListServiceDefinitions(1, 2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->has_more);
  EXPECT_FALSE(b->has_more);
  EXPECT_EQ(a->services.size() + b->services.size(), 3u);
}

TEST_F(ClientTest, CatalogOffsetPaging) {
  auto body = LoadFixture("catalog_entities_list_ok.json").body;
  Start([&](const TestRequest&) {
    TestResponse r;
    r.body = body;
    return r;
  });
  auto full = source_->ListCatalogEntities(0, 100);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->next_offset, 100);
  auto shorter = source_->ListCatalogEntities(0, 500);  // fewer items than the limit: the end
  ASSERT_TRUE(shorter.ok());
  EXPECT_FALSE(shorter->next_offset.has_value());
}

TEST_F(ClientTest, AggregatePostsGroupByWithHighLimit) {
  auto body = LoadFixture("spans_aggregate_ok.json").body;
  Start([&](const TestRequest&) {
    TestResponse r;
    r.body = body;
    return r;
  });
  AggregateQuery q;
  q.query = "env:\"prod\"";
  q.from_unix_nano = 1'000'000'000'000;
  q.to_unix_nano = 2'000'000'000'000;
  auto buckets = source_->AggregateSpanCounts(q);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  EXPECT_EQ(buckets->buckets[0].count, 1220);
  EXPECT_FALSE(buckets->partial);
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/api/v2/spans/analytics/aggregate");
  EXPECT_EQ(reqs[0].headers.at("content-type"), "application/json");
  EXPECT_THAT(reqs[0].body, HasSubstr(R"("query":"env:\"prod\"")"));
  EXPECT_THAT(reqs[0].body, HasSubstr(R"({"facet":"service","limit":10000)"));
  EXPECT_THAT(reqs[0].body, HasSubstr(R"({"facet":"env","limit":10000)"));
  EXPECT_THAT(reqs[0].body, HasSubstr(R"("from":"1000000","to":"2000000")"));
}

TEST(ClientNoServer, ConnectionRefusedIsUnavailable) {
  uint16_t port;
  {
    TestHttpServer s([](const TestRequest&) { return TestResponse{}; });
    port = s.port();
  }
  ManualClock clock;
  CurlTransport transport;
  ClientOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port);
  o.max_retries = 1;
  DatadogHttpClient client(o, transport, clock);
  HttpDatadogSource source(client);
  auto r = source.ListApmServices();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_GT(clock.TotalSlept().count(), 0);
}

TEST(BaseUrl, SiteAndOverride) {
  EXPECT_EQ(*ResolveBaseUrl("datadoghq.eu", ""), "https://api.datadoghq.eu");
  EXPECT_EQ(*ResolveBaseUrl("datadoghq.com", "http://127.0.0.1:9000/"), "http://127.0.0.1:9000");
  EXPECT_THAT(std::string(ResolveBaseUrl("", "").status().message()), HasSubstr("DD_SITE"));
  EXPECT_THAT(std::string(ResolveBaseUrl("x", "ftp://a").status().message()),
              HasSubstr("DD_API_BASE_URL"));
  EXPECT_EQ(UrlEncode("retained_by:(a OR b)"), "retained_by%3A%28a%20OR%20b%29");
}

}  // namespace
}  // namespace apmcov::datadog
