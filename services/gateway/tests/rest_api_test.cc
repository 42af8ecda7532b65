// RestApi over the in-memory read model (seeded through CoverageStore::Apply): the answers cached
// by catalog generation (stats and service lists) are reused while the catalog is unchanged and
// never outlive it; hostile input (invalid UTF-8, overlong forms, NUL, huge values) is a 400 naming
// the parameter; server faults show a request id, not their detail; CSV cells cannot run as
// formulas; POST /api/sync is rate-limited; /api/dependencies is paged.
#include "rest/rest_api.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "apmcov/base/clock.h"
#include "apmcov/bus/memory_bus.h"
#include "apmcov/store/memory_read_model.h"
#include "apmcov/store/memory_store.h"
#include "query/query_service.h"
#include "rest/client_input.h"
#include "rest/json_views.h"
#include "rest/token_bucket.h"
#include "sync_trigger.h"

namespace apmcov::gateway {
namespace {

// Writes one catalog service, as the analyzer does.
void AddService(store::CoverageStore& store, const std::string& name) {
  store::CatalogServiceRecord r;
  r.snapshot_id = "s1";
  r.name = name;
  r.team = "core";
  r.lifecycle = "production";
  ASSERT_TRUE(store.Apply({.catalog_services = {r}}).ok());
}

class RestApiCacheTest : public ::testing::Test {
 protected:
  RestApiCacheTest()
      : clock_(std::chrono::system_clock::time_point(std::chrono::seconds(1'795'300'000))),
        queries_(model_, clock_, Options()),
        publisher_(broker_.NewPublisher()),
        sync_(*publisher_, clock_, "t."),
        api_(queries_, sync_, {}) {
    AddService(store_, "alpha");
  }

  static QueryOptions Options() {
    QueryOptions o;
    o.catalog_ttl = std::chrono::milliseconds(1000);  // reloaded in the request once expired
    return o;
  }

  HttpResponse Get(const std::string& path, std::map<std::string, std::string> query = {}) {
    HttpRequest r;
    r.method = "GET";
    r.path = path;
    r.query = std::move(query);
    return api_.Handle(r);
  }

  store::MemoryCoverageStore store_;
  store::MemoryReadModel model_{store_};
  ManualClock clock_;
  QueryService queries_;
  bus::MemoryBroker broker_;
  std::unique_ptr<bus::Publisher> publisher_;
  SyncTrigger sync_;
  RestApi api_;
};

TEST_F(RestApiCacheTest, AnswersFollowTheCatalogNotTheClockAlone) {
  const HttpResponse first = Get("/api/services");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_NE(first.body.find("\"alpha\""), std::string::npos);
  const HttpResponse stats = Get("/api/stats");
  ASSERT_EQ(stats.status, 200) << stats.body;
  EXPECT_NE(stats.body.find("\"total_services\":1"), std::string::npos) << stats.body;

  AddService(store_, "beta");  // within catalog_ttl: the catalog (and so every answer) is unchanged
  EXPECT_EQ(Get("/api/services").body, first.body);
  EXPECT_EQ(Get("/api/stats").body, stats.body);

  clock_.Advance(std::chrono::seconds(2));  // the catalog is reloaded: new answers
  const HttpResponse second = Get("/api/services");
  EXPECT_NE(second.body.find("\"beta\""), std::string::npos) << second.body;
  EXPECT_NE(Get("/api/stats").body.find("\"total_services\":2"), std::string::npos);

  // Each query string has its own answer.
  const HttpResponse only_beta = Get("/api/services", {{"q", "bet"}});
  EXPECT_NE(only_beta.body.find("\"beta\""), std::string::npos);
  EXPECT_EQ(only_beta.body.find("\"alpha\""), std::string::npos) << only_beta.body;
  EXPECT_EQ(Get("/api/services").body, second.body);
  // Errors are never cached.
  EXPECT_EQ(Get("/api/services", {{"page_size", "x"}}).status, 400);
  EXPECT_EQ(Get("/api/services", {{"page_size", "x"}}).status, 400);
}

TEST(QueryServiceGenerationTest, ChangesOnlyWhenTheCatalogIsReplaced) {
  store::MemoryCoverageStore store;
  store::MemoryReadModel model(store);
  ManualClock clock(std::chrono::system_clock::time_point(std::chrono::seconds(1'795'300'000)));
  QueryOptions o;
  o.catalog_ttl = std::chrono::milliseconds(1000);
  QueryService q(model, clock, o);
  const uint64_t g1 = *q.CatalogGeneration();
  EXPECT_EQ(*q.CatalogGeneration(), g1);
  clock.Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(*q.CatalogGeneration(), g1);
  clock.Advance(std::chrono::seconds(1));
  EXPECT_NE(*q.CatalogGeneration(), g1);
  store.SetUnavailable(true);  // no catalog at all: an error, not a stale number
  QueryService cold(model, clock, o);
  EXPECT_FALSE(cold.CatalogGeneration().ok());
}

using nlohmann::json;

std::string Header(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

class RestApiHostileInputTest : public ::testing::Test {
 protected:
  RestApiHostileInputTest()
      : clock_(std::chrono::system_clock::time_point(std::chrono::seconds(1'795'300'000))),
        queries_(model_, clock_, QueryOptions{}),
        publisher_(broker_.NewPublisher()),
        sync_(*publisher_, clock_, "t."),
        limit_(/*rate_per_second=*/1, /*burst=*/2, clock_),
        api_(queries_, sync_, RestApiOptions{"", "", &limit_}) {
    AddService(store_, "alpha");
  }

  HttpResponse Send(const std::string& method, const std::string& path,
                    std::map<std::string, std::string> query = {}) {
    HttpRequest r;
    r.method = method;
    r.path = path;
    r.query = std::move(query);
    return api_.Handle(r);
  }
  // Expects a 400 invalid_argument whose message starts with `param`.
  void ExpectRejected(const HttpResponse& r, const std::string& param, const std::string& what) {
    EXPECT_EQ(r.status, 400) << what << ": " << r.body;
    json j = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << what << ": " << r.body;
    EXPECT_EQ(j["error"]["code"], "invalid_argument") << what;
    EXPECT_EQ(j["error"]["message"].get<std::string>().rfind(param + ":", 0), 0u)
        << what << ": " << j["error"]["message"];
  }

  store::MemoryCoverageStore store_;
  store::MemoryReadModel model_{store_};
  ManualClock clock_;
  QueryService queries_;
  bus::MemoryBroker broker_;
  std::unique_ptr<bus::Publisher> publisher_;
  SyncTrigger sync_;
  TokenBucket limit_;
  RestApi api_;
};

TEST(ClientInputTest, Utf8ValidationRejectsEveryMalformedForm) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));  // é € 😀
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));                           // U+10FFFF
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));                               // U+D7FF
  for (const char* bad : {
           "\xFF",              // never valid
           "\x80",              // continuation first
           "\xC3",              // truncated
           "\xE2\x82",          // truncated
           "\xC0\xAF",          // overlong '/'
           "\xC1\xBF",          // overlong
           "\xE0\x80\xAF",      // overlong '/'
           "\xE0\x9F\xBF",      // overlong
           "\xF0\x80\x80\xAF",  // overlong '/'
           "\xF0\x8F\xBF\xBF",  // overlong
           "\xED\xA0\x80",      // surrogate U+D800
           "\xED\xBF\xBF",      // surrogate U+DFFF
           "\xF4\x90\x80\x80",  // U+110000
           "\xF5\x80\x80\x80",  // beyond
           "\xC3\x28",          // bad continuation
           "ok\xE2\x28\xA1",    // bad continuation mid-string
       }) {
    EXPECT_FALSE(IsValidUtf8(bad)) << ::testing::PrintToString(std::string(bad));
  }
}

TEST(ClientInputTest, ClientSafeTextReplacesWhatIsNotUtf8AndNul) {
  const std::string kFffd = "\xEF\xBF\xBD";
  EXPECT_EQ(ClientSafeText(""), "");
  EXPECT_EQ(ClientSafeText("caf\xC3\xA9 \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xF0\x9F\x98\x80");
  EXPECT_EQ(ClientSafeText("sort=\x98[[e"), "sort=" + kFffd + "[[e");
  EXPECT_EQ(ClientSafeText(std::string("a\0b", 3)), "a" + kFffd + "b");
  EXPECT_EQ(ClientSafeText("\xC0\xAF"), kFffd + kFffd);                     // overlong: each byte
  EXPECT_EQ(ClientSafeText("\xE2\x82"), kFffd + kFffd);                     // truncated at the end
  EXPECT_EQ(ClientSafeText("\xED\xA0\x80x"), kFffd + kFffd + kFffd + "x");  // surrogate
  EXPECT_TRUE(IsValidUtf8(ClientSafeText("ok\xE2\x28\xA1\xFF")));
}

TEST(ClientInputTest, BearerTokenMustMatchExactly) {
  EXPECT_TRUE(BearerTokenMatches("Bearer s3cret", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("Bearer s3cret2", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("Bearer S3cret", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("bearer s3cret", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("s3cret", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("", "s3cret"));
  EXPECT_FALSE(BearerTokenMatches("Bearer ", ""));  // no token configured never "matches"
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("abcd", "abc"));
}

TEST_F(RestApiHostileInputTest, MalformedQueryParametersAre400NamingThem) {
  const std::map<std::string, std::string> values = {
      {"invalid byte", "\xFF"},        {"overlong slash", "\xC0\xAF"},
      {"overlong NUL", "\xC0\x80"},    {"3-byte overlong", "\xE0\x80\xAF"},
      {"surrogate", "\xED\xA0\x80"},   {"truncated", "ab\xE2\x82"},
      {"NUL", std::string("a\0b", 3)}, {"lone NUL", std::string(1, '\0')},
  };
  const std::vector<std::pair<std::string, std::string>> params = {
      {"/api/services", "team"},          {"/api/services", "q"},
      {"/api/services", "sort"},          {"/api/services", "page_token"},
      {"/api/services.csv", "env"},       {"/services/export", "tier"},
      {"/api/traces", "service"},         {"/api/traces", "since"},
      {"/api/traces", "page_token"},      {"/api/coverage", "by"},
      {"/api/coverage/history", "since"}, {"/api/dependencies", "service"},
      {"/api/sync-jobs", "limit"},
  };
  for (const auto& [path, param] : params) {
    for (const auto& [what, value] : values) {
      ExpectRejected(Send("GET", path, {{param, value}}), param, path + "?" + param + " " + what);
    }
  }
  // Even an unknown name is checked first, and the message never echoes the bytes.
  HttpResponse r = Send("GET", "/api/services", {{"\xFF", "x"}});
  ExpectRejected(r, "query parameter name", "bad name");
}

TEST_F(RestApiHostileInputTest, MalformedPathParametersAre400NamingThem) {
  ExpectRejected(Send("GET", "/api/services/%FF"), "name", "invalid byte");
  ExpectRejected(Send("GET", "/api/services/%C0%AF"), "name", "overlong");
  ExpectRejected(Send("GET", "/api/services/a%00b"), "name", "NUL");
  ExpectRejected(Send("GET", "/api/traces/%E0%80%80"), "trace_id", "overlong");
  ExpectRejected(Send("GET", "/api/sync-jobs/%ED%A0%80"), "id", "surrogate");
  ExpectRejected(Send("GET", "/services/%FF"), "path", "dashboard route");
  ExpectRejected(Send("GET", "/api/%00"), "path", "api segment");
  EXPECT_EQ(Send("GET", "/api/services/caf%C3%A9").status, 404);  // valid UTF-8: just unknown
}

TEST_F(RestApiHostileInputTest, HugeValuesAre400) {
  ExpectRejected(Send("GET", "/api/services", {{"page_token", std::string(1025, 'A')}}),
                 "page_token", "1 KiB token");
  ExpectRejected(Send("GET", "/api/traces", {{"page_token", std::string(60000, 'A')}}),
                 "page_token", "60 KB token");
  ExpectRejected(Send("GET", "/api/services", {{"q", std::string(5000, 'q')}}), "q", "5 KB q");
  ExpectRejected(Send("GET", "/api/services/" + std::string(5000, 'n')), "name", "5 KB name");
  // A page token of plausible size that this API did not issue is still a 400, not a 500.
  ExpectRejected(Send("GET", "/api/services", {{"page_token", std::string(1000, 'A')}}),
                 "page_token", "forged token");
}

TEST_F(RestApiHostileInputTest, ServerFaultsShowARequestIdNotTheirDetail) {
  store_.SetUnavailable(true);
  for (const std::string path : {"/api/stats", "/api/traces", "/api/dependencies"}) {
    HttpResponse r = Send("GET", path);
    EXPECT_EQ(r.status, 503) << path;
    EXPECT_EQ(r.body.find("marked unavailable"), std::string::npos) << path << ": " << r.body;
    EXPECT_FALSE(r.fault_detail.empty()) << path;  // kept for the log
    json j = json::parse(r.body);
    EXPECT_EQ(j["error"]["code"], "unavailable");
    const std::string id = Header(r, "X-Request-Id");
    ASSERT_EQ(id.size(), 16u) << path;
    EXPECT_EQ(j["error"]["request_id"], id);
    EXPECT_NE(j["error"]["message"].get<std::string>().find(id), std::string::npos);
  }
  store_.SetUnavailable(false);
  // Every answer has an id, and two requests never share one.
  const std::string a = Header(Send("GET", "/api/stats"), "X-Request-Id");
  const std::string b = Header(Send("GET", "/api/stats"), "X-Request-Id");
  EXPECT_EQ(a.size(), 16u);
  EXPECT_NE(a, b);
}

TEST_F(RestApiHostileInputTest, SyncRequestsAreRateLimited) {
  EXPECT_EQ(Send("POST", "/api/sync").status, 202);
  EXPECT_EQ(Send("POST", "/api/sync").status, 202);  // burst of 2
  HttpResponse limited = Send("POST", "/api/sync");
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(json::parse(limited.body)["error"]["code"], "resource_exhausted");
  EXPECT_EQ(Header(limited, "Retry-After"), "1");
  clock_.Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(Send("POST", "/api/sync").status, 429);
  clock_.Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(Send("POST", "/api/sync").status, 202);  // one token per second
  EXPECT_EQ(Send("POST", "/api/sync").status, 429);
  // Refused requests (bad body) take no token.
  clock_.Advance(std::chrono::seconds(10));
  HttpRequest bad;
  bad.method = "POST";
  bad.path = "/api/sync";
  bad.body = "not json";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(api_.Handle(bad).status, 400);
  EXPECT_EQ(Send("POST", "/api/sync").status, 202);
}

TEST(TokenBucketTest, RefillsAtTheRateUpToTheBurst) {
  ManualClock clock;
  TokenBucket bucket(2, 3, clock);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(bucket.TryTake().count(), 0) << i;
  EXPECT_EQ(bucket.TryTake(), std::chrono::milliseconds(500));
  clock.Advance(std::chrono::milliseconds(250));
  EXPECT_EQ(bucket.TryTake(), std::chrono::milliseconds(250));
  clock.Advance(std::chrono::milliseconds(250));
  EXPECT_EQ(bucket.TryTake().count(), 0);
  clock.Advance(std::chrono::hours(1));  // never more than the burst
  for (int i = 0; i < 3; ++i) EXPECT_EQ(bucket.TryTake().count(), 0) << i;
  EXPECT_GT(bucket.TryTake().count(), 0);
  clock.Set(clock.Now() - std::chrono::hours(1));  // a clock stepping back adds nothing
  EXPECT_GT(bucket.TryTake().count(), 0);
}

TEST(CsvExportTest, FormulaCellsAreNeutralised) {
  ServiceView s;
  s.name = "=HYPERLINK(\"http://x\",\"y\")";
  s.team = "+cmd";
  s.infra = "-2+3";
  s.tier = "@SUM(A1)";
  s.lifecycle = "\tprod";
  s.envs = {"\rstaging"};
  s.languages = {"go"};
  const std::string csv = ServicesCsv({s});
  const std::string row = csv.substr(csv.find("\r\n") + 2);
  EXPECT_EQ(row,
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'+cmd,\"'\rstaging\",'-2+3,go,'@SUM(A1),"
            "'\tprod,false,false,false,0,\r\n");
  // Harmless cells are unchanged, including a quote or sign later in the cell.
  ServiceView plain;
  plain.name = "checkout";
  plain.team = "a=b";
  const std::string p = ServicesCsv({plain});
  EXPECT_NE(p.find("\r\ncheckout,a=b,"), std::string::npos) << p;
}

TEST(CsvExportTest, ChunksAddUpToTheWholeExport) {
  std::vector<ServiceView> rows;
  for (int i = 0; i < 500; ++i) {
    ServiceView s;
    s.name = "service-" + std::to_string(i);
    s.team = i % 2 ? "=odd" : "even, team";
    rows.push_back(s);
  }
  auto next = ServicesCsvChunks(rows, 1024);
  std::string all, chunk;
  int chunks = 0;
  while (next(chunk)) {
    EXPECT_LE(chunk.size(), 1024u + 200u);  // a chunk ends at the first row past the size
    all += chunk;
    ++chunks;
  }
  EXPECT_GT(chunks, 10);
  EXPECT_EQ(all, ServicesCsv(rows));
  EXPECT_FALSE(next(chunk));  // stays finished
}

TEST_F(RestApiHostileInputTest, CsvExportIsChunked) {
  for (const std::string path : {"/api/services.csv", "/services/export"}) {
    HttpResponse r = Send("GET", path);
    ASSERT_EQ(r.status, 200) << path;
    ASSERT_TRUE(r.next_chunk) << path;
    std::string body, chunk;
    while (r.next_chunk(chunk)) body += chunk;
    EXPECT_NE(body.find("\r\nalpha,core,"), std::string::npos) << body;
  }
}

TEST_F(RestApiHostileInputTest, DependenciesArePaged) {
  store::WriteBatch b;
  for (int i = 0; i < 7; ++i) {
    b.dependencies.push_back(
        {"alpha", "dep-" + std::to_string(i), "call", "service", static_cast<uint64_t>(i + 1), 0});
  }
  ASSERT_TRUE(store_.Apply(b).ok());
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    std::map<std::string, std::string> q = {{"page_size", "3"}};
    if (!token.empty()) q["page_token"] = token;
    HttpResponse r = Send("GET", "/api/dependencies", q);
    ASSERT_EQ(r.status, 200) << r.body;
    json j = json::parse(r.body);
    EXPECT_EQ(j["total"], 7);
    EXPECT_LE(j["dependencies"].size(), 3u);
    for (const auto& d : j["dependencies"]) seen.push_back(d["to_name"]);
    token = j["next_page_token"].is_null() ? "" : j["next_page_token"].get<std::string>();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{"dep-0", "dep-1", "dep-2", "dep-3", "dep-4", "dep-5",
                                            "dep-6"}));
  // Without paging parameters: every dependency, as before.
  EXPECT_EQ(json::parse(Send("GET", "/api/dependencies").body)["dependencies"].size(), 7u);
  // One service's, paged too.
  HttpResponse alpha = Send("GET", "/api/dependencies", {{"service", "alpha"}, {"page_size", "5"}});
  ASSERT_EQ(alpha.status, 200) << alpha.body;
  EXPECT_EQ(json::parse(alpha.body)["dependencies"].size(), 5u);
  EXPECT_EQ(json::parse(alpha.body)["total"], 7);
  EXPECT_EQ(json::parse(Send("GET", "/api/dependencies", {{"service", "beta"}}).body)["total"], 0);
  ExpectRejected(Send("GET", "/api/dependencies", {{"page_size", "0"}}), "page_size", "size 0");
  ExpectRejected(Send("GET", "/api/dependencies", {{"page_size", "5001"}}), "page_size",
                 "size 5001");
  ExpectRejected(Send("GET", "/api/dependencies", {{"page_token", "bogus"}}), "page_token",
                 "bogus token");
}

}  // namespace
}  // namespace apmcov::gateway
