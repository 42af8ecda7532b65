// The gateway over real PostgreSQL and real sockets: every REST endpoint with its filters,
// errors and auth, the OpenAPI document checked against real responses, CSV round-trip, the
// gRPC API (parity with REST, status codes, deadlines, WatchSyncJobs), metrics and readiness.
#include <curl/curl.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <tuple>

#include "absl/strings/escaping.h"
#include "apmcov/base/clock.h"
#include "apmcov/base/time.h"
#include "apmcov/store/postgres_read_model.h"
#include "apmcov/store/postgres_store.h"
#include "apmcov/v1/coverage_service.grpc.pb.h"
#include "apmcov/v1/events.pb.h"
#include "app.h"
#include "gateway_test_env.h"
#include "rest/client_input.h"
#include "test_database.h"
#include "usm_world.h"

namespace apmcov::gateway {
namespace {

using nlohmann::json;
using store::testing::TestDatabase;
using testing::RecordingPublisher;

struct Response {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lowercase names
  json Json() const { return json::parse(body, nullptr, false); }
};

size_t Collect(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}
size_t CollectHeader(char* p, size_t size, size_t n, void* out) {
  std::string line(p, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return size * n;
}

Response Http(const std::string& method, const std::string& url, const std::string& body = "",
              const std::vector<std::string>& headers = {}) {
  Response r;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  if (list) curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  CURLcode rc = curl_easy_perform(c);
  EXPECT_EQ(rc, CURLE_OK) << url << ": " << curl_easy_strerror(rc);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  return r;
}

// ---- A small OpenAPI 3 schema checker: $ref, allOf, type, nullable, required, properties,
// items, enum. Appends one message per violation.
void CheckSchema(const json& doc, const json& schema, const json& v, const std::string& at,
                 std::vector<std::string>& errors) {
  if (schema.contains("$ref")) {
    std::string ref = schema["$ref"];
    const std::string prefix = "#/components/schemas/";
    ASSERT_EQ(ref.rfind(prefix, 0), 0u) << ref;
    CheckSchema(doc, doc["components"]["schemas"][ref.substr(prefix.size())], v, at, errors);
    return;
  }
  if (v.is_null()) {
    if (!schema.value("nullable", false)) errors.push_back(at + ": null but not nullable");
    return;
  }
  if (schema.contains("allOf")) {
    for (const auto& s : schema["allOf"]) CheckSchema(doc, s, v, at, errors);
  }
  if (!schema.contains("type")) return;
  std::string type = schema["type"];
  bool ok = (type == "object" && v.is_object()) || (type == "array" && v.is_array()) ||
            (type == "string" && v.is_string()) || (type == "integer" && v.is_number_integer()) ||
            (type == "number" && v.is_number()) || (type == "boolean" && v.is_boolean());
  if (!ok) {
    errors.push_back(at + ": expected " + type + ", got " + v.dump().substr(0, 60));
    return;
  }
  if (schema.contains("enum")) {
    bool found = false;
    for (const auto& e : schema["enum"]) found = found || e == v;
    if (!found) errors.push_back(at + ": " + v.dump() + " not in enum");
  }
  if (type == "object") {
    for (const auto& r : schema.value("required", json::array())) {
      if (!v.contains(r.get<std::string>())) errors.push_back(at + ": missing " + r.dump());
    }
    const json props = schema.value("properties", json::object());
    for (const auto& [name, sub] : props.items()) {
      if (v.contains(name)) CheckSchema(doc, sub, v[name], at + "." + name, errors);
    }
  }
  if (type == "array" && schema.contains("items")) {
    for (size_t i = 0; i < v.size(); ++i) {
      CheckSchema(doc, schema["items"], v[i], at + "[" + std::to_string(i) + "]", errors);
    }
  }
}

// RFC 4180 parser for the CSV round-trip.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      row.push_back(field);
      field.clear();
      rows.push_back(row);
      row.clear();
      ++i;
    } else {
      field += c;
    }
  }
  return rows;
}

class GatewayApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<TestDatabase> db = TestDatabase::Create();
    if (!db.ok()) {
      setup_error_ = db.status().ToString();
      return;
    }
    db_ = new TestDatabase(*std::move(db));
    writer_ = new store::PostgresCoverageStore(db_->url());
    if (absl::Status s = testing::SeedWorld(*writer_, RealClock().NowUnixNanos()); !s.ok()) {
      setup_error_ = s.ToString();
      return;
    }
    web_dir_ =
        std::filesystem::temp_directory_path() / ("apmcov-gw-web-" + std::to_string(::getpid()));
    std::filesystem::create_directories(web_dir_ / "assets");
    std::ofstream(web_dir_ / "index.html") << "<!doctype html><title>APM coverage</title>";
    std::ofstream(web_dir_ / "assets" / "app.js") << "console.log('x');";
  }
  static void TearDownTestSuite() {
    delete writer_;
    writer_ = nullptr;
    delete db_;
    db_ = nullptr;
    std::filesystem::remove_all(web_dir_);
  }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    store_ = std::make_unique<store::PostgresReadModel>(db_->url());
    StartApp(*store_);
  }
  void TearDown() override {
    if (app_) app_->Stop();
  }

  void StartApp(store::ReadModel& store, const std::string& token = "",
                const std::function<void(GatewayConfig&)>& tweak = {}) {
    GatewayConfig c;
    c.database_url = db_->url();
    c.kafka_brokers = "unused";
    c.bind_address = "127.0.0.1";
    c.http_port = 0;
    c.grpc_port = 0;
    c.admin_port = 0;
    c.api_token = token;
    c.web_dir = web_dir_.string();
    c.catalog_cache_ms = 0;
    c.watch_interval_ms = 50;
    if (tweak) tweak(c);
    if (app_) app_->Stop();
    app_ = std::make_unique<App>(c, store, publisher_, clock_);
    ASSERT_TRUE(app_->Start().ok());
    base_ = "http://127.0.0.1:" + std::to_string(app_->http_port());
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(app_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::CoverageService::NewStub(channel_);
  }

  Response Get(const std::string& path) { return Http("GET", base_ + path); }
  json GetJson(const std::string& path) {
    Response r = Get(path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return r.Json();
  }
  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }
  static const json* Bucket(const json& list, const std::string& key) {
    for (const auto& b : list) {
      if (b["key"] == key) return &b;
    }
    return nullptr;
  }

  // Writes as the analyzer does.
  static void Write(const store::WriteBatch& b) {
    absl::StatusOr<store::ApplyResult> r = writer_->Apply(b);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  static store::SyncJobRecord SyncJob(const std::string& id, const std::string& state,
                                      int64_t updated_at) {
    store::SyncJobRecord j;
    j.id = id;
    j.trigger = "manual";
    j.state = state;
    j.updated_at_ns = updated_at;
    return j;
  }

  static inline TestDatabase* db_ = nullptr;
  static inline store::PostgresCoverageStore* writer_ = nullptr;
  static inline std::string setup_error_;
  static inline std::filesystem::path web_dir_;
  RealClock clock_;
  RecordingPublisher publisher_;
  std::unique_ptr<store::PostgresReadModel> store_;
  std::unique_ptr<App> app_;
  std::string base_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CoverageService::Stub> stub_;
};

TEST_F(GatewayApiTest, StatsFollowTheDefinitions) {
  json st = GetJson("/api/stats");
  EXPECT_EQ(st["total_services"], 34);
  EXPECT_EQ(st["instrumented_services"], 17);
  EXPECT_EQ(st["coverage_pct"], 50.0);
  EXPECT_EQ(st["usm_only"], json::array({"payments"}));
  EXPECT_EQ(st["customer_facing_without_apm"], json::array({"payments"}));
  EXPECT_EQ(st["shadow_services"], 2);
  EXPECT_EQ(st["broken_traces"], 2);
  EXPECT_EQ(st["last_sync"]["id"], "job-2");
  EXPECT_EQ((*Bucket(st["by_team"], "filler"))["instrumented"], 15);
  EXPECT_EQ((*Bucket(st["by_team"], "Platform, \"Core\""))["total"], 1);
  EXPECT_EQ((*Bucket(st["by_infra"], "ecs"))["total"], 1);
  EXPECT_EQ((*Bucket(st["by_infra"], "unknown"))["total"], 31);
  EXPECT_EQ((*Bucket(st["by_env"], "prod"))["total"], 33);
  EXPECT_EQ((*Bucket(st["by_env"], "prod"))["instrumented"], 17);
  EXPECT_EQ((*Bucket(st["by_env"], "unknown"))["total"], 1);
  EXPECT_EQ((*Bucket(st["by_language"], "java"))["instrumented"], 1);
}

// A service traced three days ago and still seen through USM a minute ago: its apm_services row
// says traced, with a last_seen in the lookback; only last_traced says it stopped tracing.
// /api/stats counts it as the analyzer's coverage snapshots do: not instrumented, USM-only.
TEST_F(GatewayApiTest, StatsDoNotCountAServiceOnlyUsmStillSeesAsInstrumented) {
  absl::StatusOr<TestDatabase> db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  const int64_t now = clock_.NowUnixNanos();
  const store::WriteBatch b = testing::StoppedTracingButSeenByUsm(now);
  store::PostgresCoverageStore writer(db->url());
  ASSERT_TRUE(writer.Apply(b).ok());
  ASSERT_EQ(db->QueryOne("SELECT traced FROM apm_services WHERE service = 'stopped-tracing'"), "t");

  store::PostgresReadModel model(db->url());
  StartApp(model);
  json st = GetJson("/api/stats");
  EXPECT_EQ(st["total_services"], 2);
  EXPECT_EQ(st["instrumented_services"], 1);
  EXPECT_EQ(st["coverage_pct"], 50.0);
  EXPECT_EQ(st["usm_only"], json::array({"stopped-tracing"}));
  EXPECT_EQ(GetJson("/api/services/stopped-tracing")["instrumented"], false);
  v1::Stats grpc_stats;
  ASSERT_TRUE(stub_->GetStats(Ctx().get(), {}, &grpc_stats).ok());
  EXPECT_EQ(grpc_stats.instrumented_services(), 1u);
  app_->Stop();
  app_.reset();  // before `model` goes
}

// Design §7.1 over the seeded sample: 13 broken of 100 judged, sampled share 0.25.
TEST_F(GatewayApiTest, StatsCarryTheSampleEstimate) {
  json s = GetJson("/api/stats")["sample"];
  ASSERT_TRUE(s.is_object()) << s;
  EXPECT_EQ(s["sampled_share"], 0.25);  // (60 + 40) / (60 + 40 + 300)
  EXPECT_EQ(s["judged_traces"], 100);
  EXPECT_EQ(s["broken_traces"], 13);
  // 13 of 100: 0.13 [0.0776, 0.2098], computed by hand.
  EXPECT_DOUBLE_EQ(s["broken_rate"].get<double>(), 0.13);
  EXPECT_NEAR(s["broken_rate_low"].get<double>(), 0.0776, 5e-5);
  EXPECT_NEAR(s["broken_rate_high"].get<double>(), 0.2098, 5e-5);
  // 13 / 0.25 over the 24 lookback hours.
  EXPECT_DOUBLE_EQ(s["broken_traces_per_hour"].get<double>(), 52.0 / 24);

  ASSERT_EQ(s["by_root_service"].size(), 2u);
  EXPECT_EQ(s["by_root_service"][0]["key"], "checkout");
  EXPECT_EQ(s["by_root_service"][0]["judged"], 60);
  EXPECT_EQ(s["by_root_service"][0]["broken"], 8);
  EXPECT_TRUE(s["by_root_service"][1]["key"].is_null());  // rootless
  EXPECT_EQ(s["by_root_service"][1]["judged"], 40);
  EXPECT_NEAR(s["by_root_service"][1]["broken_rate_low"].get<double>(), 0.0546, 5e-5);  // 5/40
  EXPECT_NEAR(s["by_root_service"][1]["broken_rate_high"].get<double>(), 0.2611, 5e-5);

  // Numerators from broken_traces in the range (103 is 3 days old), denominator all judged.
  ASSERT_EQ(s["by_missing_service"].size(), 1u);
  const json& payments = s["by_missing_service"][0];
  EXPECT_EQ(payments["key"], "payments");
  EXPECT_EQ(payments["broken"], 1);
  EXPECT_FALSE(payments.contains("judged"));
  EXPECT_DOUBLE_EQ(payments["broken_rate"].get<double>(), 0.01);
  EXPECT_NEAR(payments["broken_rate_low"].get<double>(), 0.0018, 5e-5);  // 1 of 100
  EXPECT_NEAR(payments["broken_rate_high"].get<double>(), 0.0545, 5e-5);
  std::vector<std::string> kinds;
  for (const auto& k : s["by_gap_kind"]) kinds.push_back(k["key"]);
  EXPECT_EQ(kinds,
            (std::vector<std::string>{"missing_root", "orphan_span", "uninstrumented_callee"}));

  json jobs = GetJson("/api/sync-jobs")["jobs"];
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[1]["id"], "job-2");
  EXPECT_EQ(jobs[1]["sampled_seconds"], 40);
  EXPECT_EQ(jobs[1]["skipped_seconds"], 300);
  EXPECT_EQ(jobs[1]["edge_cut_traces"], 5);
}

TEST_F(GatewayApiTest, ServicesFiltersSearchSortAndPaging) {
  auto names = [&](const std::string& qs) {
    std::vector<std::string> out;
    json page = GetJson("/api/services?" + qs);
    for (const auto& s : page["services"]) out.push_back(s["name"]);
    return out;
  };
  EXPECT_EQ(names("team=web"), (std::vector<std::string>{"checkout", "inventory"}));
  EXPECT_EQ(names("team=web&include_deprecated=true"),
            (std::vector<std::string>{"checkout", "inventory", "legacy"}));
  EXPECT_EQ(names("env=staging"), (std::vector<std::string>{"checkout"}));
  EXPECT_EQ(names("infra=ecs"), (std::vector<std::string>{"inventory"}));
  EXPECT_EQ(names("language=python"), (std::vector<std::string>{"search"}));
  EXPECT_EQ(names("tier=1"), (std::vector<std::string>{"checkout", "payments"}));
  EXPECT_EQ(names("customer_facing=true&apm=false"), (std::vector<std::string>{"payments"}));
  EXPECT_EQ(names("apm=true&team=web&sort=-span_count"),
            (std::vector<std::string>{"checkout", "inventory"}));
  EXPECT_EQ(names("q=platform%2C+%22core"), (std::vector<std::string>{"search"}));
  EXPECT_EQ(names("q=CHECK"), (std::vector<std::string>{"checkout"}));

  std::vector<std::string> all, paged;
  json everything = GetJson("/api/services?sort=-last_seen&page_size=1000");
  for (const auto& s : everything["services"]) {
    all.push_back(s["name"]);
  }
  std::string token;
  int pages = 0;
  do {
    json page = GetJson("/api/services?sort=-last_seen&page_size=7" +
                        (token.empty() ? "" : "&page_token=" + token));
    EXPECT_EQ(page["total"], 34);
    for (const auto& s : page["services"]) paged.push_back(s["name"]);
    token = page["next_page_token"].is_null() ? "" : page["next_page_token"].get<std::string>();
    ++pages;
  } while (!token.empty() && pages < 20);
  EXPECT_EQ(pages, 5);
  EXPECT_EQ(paged, all);
}

TEST_F(GatewayApiTest, EveryEndpointMatchesTheOpenApiDocument) {
  json doc = GetJson("/api/openapi.json");
  ASSERT_EQ(doc["openapi"], "3.0.3");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/api/stats", "/api/stats"},
      {"/api/services?page_size=5", "/api/services"},
      {"/api/services/checkout", "/api/services/{name}"},
      {"/api/services/gone", "/api/services/{name}"},
      {"/api/coverage?by=team", "/api/coverage"},
      {"/api/coverage/history?by=overall&since=2000-01-01T00:00:00Z", "/api/coverage/history"},
      {"/api/traces", "/api/traces"},
      {"/api/traces/101", "/api/traces/{trace_id}"},
      {"/api/traces/102", "/api/traces/{trace_id}"},
      {"/api/dependencies", "/api/dependencies"},
      {"/api/recommendations", "/api/recommendations"},
      {"/api/service-map", "/api/service-map"},
      {"/api/service-map?externals=expand", "/api/service-map"},
      {"/api/shadow-services", "/api/shadow-services"},
      {"/api/sync-jobs", "/api/sync-jobs"},
      {"/api/sync-jobs/job-1", "/api/sync-jobs/{id}"},
  };
  for (const auto& [url, path] : cases) {
    ASSERT_TRUE(doc["paths"].contains(path)) << path;
    json schema =
        doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    std::vector<std::string> errors;
    CheckSchema(doc, schema, GetJson(url), url, errors);
    EXPECT_TRUE(errors.empty()) << url << ":\n" << ::testing::PrintToString(errors);
  }
  // Errors too.
  json err_schema = doc["components"]["schemas"]["Error"];
  std::vector<std::string> errors;
  CheckSchema(doc, err_schema, Get("/api/services?page_size=0").Json(), "400", errors);
  CheckSchema(doc, err_schema, Get("/api/traces/999").Json(), "404", errors);
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  // Every documented path exists (no 404 "no such endpoint").
  for (const auto& [path, ops] : doc["paths"].items()) {
    if (path.find('{') != std::string::npos || !ops.contains("get")) continue;
    std::string url = path == "/api/coverage" ? path + "?by=env" : path;
    EXPECT_EQ(Get(url).status, 200) << url;
  }
}

TEST_F(GatewayApiTest, ServiceAndTraceDetail) {
  json svc = GetJson("/api/services/checkout");
  EXPECT_EQ(svc["infra"], "kubernetes");
  EXPECT_EQ(svc["instrumented"], true);
  EXPECT_EQ(svc["apm"].size(), 2u);
  EXPECT_EQ(svc["dependencies"].size(), 2u);
  ASSERT_EQ(svc["broken_traces"].size(), 2u);
  EXPECT_EQ(svc["links"][0]["name"], "runbook");
  EXPECT_EQ(GetJson("/api/services/gone")["removed_at"].is_string(), true);

  json t = GetJson("/api/traces/101");
  EXPECT_EQ(t["root_service"], "checkout");
  EXPECT_EQ(t["missing_services"], json::array({"payments"}));
  ASSERT_EQ(t["spans"].size(), 3u);
  EXPECT_EQ(t["spans"][0]["span_id"], "1");
  EXPECT_EQ(t["spans"][1]["service"], "inventory");  // by start time
  ASSERT_EQ(t["gaps"].size(), 1u);
  EXPECT_EQ(t["gaps"][0]["to_service"], "payments");
  EXPECT_TRUE(GetJson("/api/traces/102")["root_service"].is_null());
  EXPECT_EQ(GetJson("/api/traces/18446744073709551615")["env"], "staging");
}

TEST_F(GatewayApiTest, TracesFiltersAndPaging) {
  EXPECT_EQ(GetJson("/api/traces")["total"], 3);
  EXPECT_EQ(GetJson("/api/traces?missing=payments")["total"], 1);
  EXPECT_EQ(GetJson("/api/traces?service=inventory")["total"], 2);
  EXPECT_EQ(GetJson("/api/traces?kind=orphan_span")["traces"][0]["trace_id"], "102");
  EXPECT_EQ(GetJson("/api/traces?env=staging")["total"], 1);
  EXPECT_EQ(GetJson("/api/traces?since=" +
                    FormatRfc3339(clock_.NowUnixNanos() - int64_t{3600} * 1'000'000'000))["total"],
            2);
  json p1 = GetJson("/api/traces?page_size=2");
  ASSERT_EQ(p1["traces"].size(), 2u);
  EXPECT_EQ(p1["traces"][0]["trace_id"], "101");
  json p2 =
      GetJson("/api/traces?page_size=2&page_token=" + p1["next_page_token"].get<std::string>());
  ASSERT_EQ(p2["traces"].size(), 1u);
  EXPECT_EQ(p2["traces"][0]["trace_id"], "18446744073709551615");
  EXPECT_TRUE(p2["next_page_token"].is_null());
}

TEST_F(GatewayApiTest, OtherReads) {
  json cov = GetJson("/api/coverage?by=infra");
  EXPECT_EQ(cov["by"], "infra");
  EXPECT_EQ((*Bucket(cov["buckets"], "kubernetes"))["coverage_pct"], 100.0);
  json hist = GetJson("/api/coverage/history");
  ASSERT_EQ(hist["points"].size(), 2u);
  EXPECT_EQ(hist["points"][1]["buckets"][0]["coverage_pct"], 50.0);
  EXPECT_EQ(GetJson("/api/coverage/history?by=team")["points"][0]["buckets"].size(), 2u);
  EXPECT_EQ(GetJson("/api/dependencies?service=checkout")["dependencies"].size(), 2u);
  json shadow = GetJson("/api/shadow-services")["services"];
  ASSERT_EQ(shadow.size(), 2u);
  EXPECT_EQ(shadow[0]["name"], "ghost");
  EXPECT_EQ(shadow[0]["span_count"], 77);
  json jobs = GetJson("/api/sync-jobs")["jobs"];
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0]["id"], "job-3");
  EXPECT_TRUE(jobs[0]["finished_at"].is_null());
  EXPECT_EQ(jobs[1]["error"], "span budget reached");
  EXPECT_EQ(GetJson("/api/sync-jobs?limit=1")["jobs"].size(), 1u);
}

// /api/dependencies and gRPC ListDependencies page in SQL with the same tokens: walking the
// pages returns every row once, in key order; a bad token is refused.
TEST_F(GatewayApiTest, DependenciesArePagedOverRestAndGrpcAlike) {
  const std::vector<std::string> all = {"checkout/payments/call", "checkout/postgres/db",
                                        "inventory/kafka/messaging"};
  auto key = [](const std::string& from, const std::string& to, const std::string& kind) {
    return from + "/" + to + "/" + kind;
  };
  for (int size : {1, 2, 3}) {
    std::vector<std::string> rest, grpc_keys;
    std::string token;
    int pages = 0;
    do {
      json page = GetJson("/api/dependencies?page_size=" + std::to_string(size) +
                          (token.empty() ? "" : "&page_token=" + token));
      EXPECT_EQ(page["total"], 3);
      for (const auto& d : page["dependencies"])
        rest.push_back(key(d["from_service"], d["to_name"], d["kind"]));
      token = page["next_page_token"].is_null() ? "" : page["next_page_token"].get<std::string>();
    } while (!token.empty() && ++pages < 10);
    EXPECT_EQ(rest, all) << size;

    v1::ListDependenciesRequest req;
    req.set_page_size(static_cast<uint32_t>(size));
    pages = 0;
    do {
      v1::ListDependenciesResponse resp;
      grpc::Status st = stub_->ListDependencies(Ctx().get(), req, &resp);
      ASSERT_TRUE(st.ok()) << st.error_message();
      EXPECT_EQ(resp.total(), 3u);
      for (const auto& d : resp.dependencies())
        grpc_keys.push_back(key(d.from_service(), d.to_name(), d.kind()));
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty() && ++pages < 10);
    EXPECT_EQ(grpc_keys, all) << size;
  }
  // The REST token works on gRPC and the other way round; a filter pages too.
  json first = GetJson("/api/dependencies?service=checkout&page_size=1");
  EXPECT_EQ(first["total"], 2);
  v1::ListDependenciesRequest req;
  req.set_service("checkout");
  req.set_page_size(1);
  req.set_page_token(first["next_page_token"].get<std::string>());
  v1::ListDependenciesResponse second;
  ASSERT_TRUE(stub_->ListDependencies(Ctx().get(), req, &second).ok());
  ASSERT_EQ(second.dependencies_size(), 1);
  EXPECT_EQ(second.dependencies(0).to_name(), "postgres");
  EXPECT_TRUE(second.next_page_token().empty());
  req.set_page_token("");
  v1::ListDependenciesResponse one;
  ASSERT_TRUE(stub_->ListDependencies(Ctx().get(), req, &one).ok());
  EXPECT_EQ(GetJson("/api/dependencies?service=checkout&page_size=1&page_token=" +
                    one.next_page_token())["dependencies"][0]["to_name"],
            "postgres");
  // Without paging parameters: the default page, every seeded row.
  v1::ListDependenciesResponse everything;
  ASSERT_TRUE(stub_->ListDependencies(Ctx().get(), {}, &everything).ok());
  EXPECT_EQ(everything.dependencies_size(), 3);
  EXPECT_TRUE(everything.next_page_token().empty());

  // Tokens that this API did not issue for this list.
  const std::string services_token =
      GetJson("/api/services?page_size=1")["next_page_token"].get<std::string>();
  for (const std::string& bad : {std::string("bogus"), services_token}) {
    Response r = Get("/api/dependencies?page_token=" + bad);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.Json()["error"]["code"], "invalid_argument");
    EXPECT_EQ(r.Json()["error"]["message"].get<std::string>().rfind("page_token:", 0), 0u);
    v1::ListDependenciesRequest bad_req;
    bad_req.set_page_token(bad);
    v1::ListDependenciesResponse resp;
    grpc::Status st = stub_->ListDependencies(Ctx().get(), bad_req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_EQ(st.error_message().rfind("page_token:", 0), 0u) << st.error_message();
  }
  v1::ListDependenciesRequest too_big;
  too_big.set_page_size(5001);
  v1::ListDependenciesResponse resp;
  EXPECT_EQ(stub_->ListDependencies(Ctx().get(), too_big, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Get("/api/dependencies?page_size=5001").status, 400);
}

TEST_F(GatewayApiTest, RecommendationsRankServicesWithoutApmOverRestAndGrpc) {
  json all = GetJson("/api/recommendations?limit=500");
  // Exactly the services the catalog reports without APM (USM-only included), nothing else.
  std::set<std::string> want, got;
  const json without = GetJson("/api/services?apm=false&page_size=1000");
  for (const auto& s : without["services"]) want.insert(s["name"].get<std::string>());
  for (const auto& r : all["recommendations"]) got.insert(r["name"].get<std::string>());
  EXPECT_EQ(got, want);
  EXPECT_EQ(all["total"], want.size());
  EXPECT_EQ(all["sampled_share"], 0.25);
  EXPECT_EQ(all["lookback_hours"], 24);
  // payments broke trace 101 (checkout called it); everything else broke nothing.
  const json& top = all["recommendations"][0];
  EXPECT_EQ(top["name"], "payments");
  EXPECT_EQ(top["team"], "payments");
  EXPECT_EQ(top["usm_only"], true);
  EXPECT_EQ(top["customer_facing"], true);
  EXPECT_EQ(top["broken_traces"], 1);
  EXPECT_NEAR(top["broken_traces_per_hour"].get<double>(), 1 / 0.25 / 24, 1e-9);
  EXPECT_EQ(top["callers"], json::array({"checkout"}));
  EXPECT_EQ(top["teams_affected"], json::array({"web"}));  // checkout's and inventory's team
  EXPECT_EQ(top["example_trace_ids"], json::array({"101"}));
  // The rest in the ranking's order: broken, callers, customer-facing, name.
  auto key = [](const json& r) {
    return std::make_tuple(-r["broken_traces"].get<int64_t>(),
                           -static_cast<int64_t>(r["callers"].size()),
                           !r["customer_facing"].get<bool>(), r["name"].get<std::string>());
  };
  for (size_t i = 1; i < all["recommendations"].size(); ++i) {
    EXPECT_LT(key(all["recommendations"][i - 1]), key(all["recommendations"][i])) << i;
    EXPECT_EQ(all["recommendations"][i]["broken_traces"], 0);
    EXPECT_EQ(all["recommendations"][i]["broken_traces_per_hour"], 0.0);
  }
  json two = GetJson("/api/recommendations?limit=2");
  ASSERT_EQ(two["recommendations"].size(), 2u);
  EXPECT_EQ(two["recommendations"][1], all["recommendations"][1]);
  EXPECT_EQ(two["total"], all["total"]);
  json team = GetJson("/api/recommendations?team=payments");
  ASSERT_EQ(team["recommendations"].size(), 1u);
  EXPECT_EQ(team["recommendations"][0]["name"], "payments");
  EXPECT_EQ(GetJson("/api/recommendations?env=nowhere")["recommendations"].size(), 0u);

  // gRPC answers the same rows.
  v1::ListRecommendationsRequest req;
  req.set_limit(500);
  v1::ListRecommendationsResponse resp;
  ASSERT_TRUE(stub_->ListRecommendations(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(static_cast<size_t>(resp.recommendations_size()), all["recommendations"].size());
  for (int i = 0; i < resp.recommendations_size(); ++i) {
    const auto& r = resp.recommendations(i);
    const json& j = all["recommendations"][i];
    EXPECT_EQ(r.name(), j["name"]);
    EXPECT_EQ(r.broken_traces(), j["broken_traces"].get<uint64_t>());
    EXPECT_EQ(static_cast<size_t>(r.callers_size()), j["callers"].size());
    ASSERT_TRUE(r.has_broken_traces_per_hour());
    EXPECT_DOUBLE_EQ(r.broken_traces_per_hour(), j["broken_traces_per_hour"].get<double>());
  }
  EXPECT_EQ(resp.recommendations(0).example_trace_ids(0), "101");
  EXPECT_EQ(resp.total(), all["total"].get<uint64_t>());
  EXPECT_DOUBLE_EQ(resp.sampled_share(), 0.25);

  // Bad parameters name themselves, over both.
  for (const char* bad : {"limit=0", "limit=501", "limit=x"}) {
    Response r = Get(std::string("/api/recommendations?") + bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.Json()["error"]["message"].get<std::string>().rfind("limit:", 0), 0u) << r.body;
  }
  EXPECT_EQ(Get("/api/recommendations?sort=name").status, 400);
  req.set_limit(501);
  grpc::Status st = stub_->ListRecommendations(Ctx().get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message().rfind("limit:", 0), 0u) << st.error_message();
}

TEST_F(GatewayApiTest, ServiceMapOverRestAndGrpc) {
  json m = GetJson("/api/service-map");
  std::map<std::string, std::string> kinds;
  for (const auto& n : m["nodes"]) kinds[n["id"]] = n["kind"];
  const bool inventory_traced = GetJson("/api/services/inventory")["instrumented"].get<bool>();
  EXPECT_EQ(kinds, (std::map<std::string, std::string>{
                       {"checkout", "instrumented"},
                       {"datastore:postgres", "datastore"},
                       {"inventory", inventory_traced ? "instrumented" : "uninstrumented"},
                       {"payments", "usm_only"},
                       {"queue:kafka", "queue"}}));
  ASSERT_EQ(m["edges"].size(), 3u);
  EXPECT_EQ(m["edges"][0], json({{"from", "checkout"},
                                 {"to", "datastore:postgres"},
                                 {"kind", "db"},
                                 {"traces", 40},
                                 {"broken_traces", 0},
                                 {"gap_kinds", json::array()}}));
  EXPECT_EQ(m["edges"][1], json({{"from", "checkout"},
                                 {"to", "payments"},
                                 {"kind", "call"},
                                 {"traces", 12},
                                 {"broken_traces", 1},
                                 {"gap_kinds", json::array({"uninstrumented_callee"})}}));
  EXPECT_EQ(m["edges"][2]["to"], "queue:kafka");
  EXPECT_EQ(m["edges"][2]["kind"], "queue");
  EXPECT_EQ(m["truncated"], false);
  // team: the edges touching it; env: the callers seen there, broken counts of that env.
  json team = GetJson("/api/service-map?team=payments");
  ASSERT_EQ(team["edges"].size(), 1u);
  EXPECT_EQ(team["edges"][0]["to"], "payments");
  json staging = GetJson("/api/service-map?env=staging");
  ASSERT_EQ(staging["edges"].size(), 2u);  // checkout's; inventory was seen in prod only
  EXPECT_EQ(staging["edges"][1]["broken_traces"], 0);

  v1::GetServiceMapRequest req;
  v1::ServiceMap resp;
  ASSERT_TRUE(stub_->GetServiceMap(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.nodes_size(), 5);
  ASSERT_EQ(resp.edges_size(), 3);
  EXPECT_EQ(resp.edges(1).to(), "payments");
  EXPECT_EQ(resp.edges(1).broken_traces(), 1u);
  EXPECT_EQ(resp.edges(1).gap_kinds(0), "uninstrumented_callee");
  EXPECT_EQ(resp.nodes(3).kind(), "usm_only");

  Response bad = Get("/api/service-map?externals=all");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.Json()["error"]["message"].get<std::string>().rfind("externals:", 0), 0u);
  req.set_externals("all");
  EXPECT_EQ(stub_->GetServiceMap(Ctx().get(), req, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GatewayApiTest, ErrorsAreJsonAndNameTheParameter) {
  auto check = [&](const std::string& method, const std::string& path, long status,
                   const std::string& code, const std::string& mention) {
    Response r = Http(method, base_ + path);
    EXPECT_EQ(r.status, status) << path << ": " << r.body;
    json j = r.Json();
    ASSERT_TRUE(j.contains("error")) << path << ": " << r.body;
    EXPECT_EQ(j["error"]["code"], code) << path;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(mention), std::string::npos)
        << path << ": " << j["error"]["message"];
    EXPECT_EQ(r.headers["content-type"], "application/json") << path;
  };
  check("GET", "/api/services?page_size=0", 400, "invalid_argument", "page_size");
  check("GET", "/api/services?page_size=x", 400, "invalid_argument", "page_size");
  check("GET", "/api/services?sort=color", 400, "invalid_argument", "sort");
  check("GET", "/api/services?apm=maybe", 400, "invalid_argument", "apm");
  check("GET", "/api/services?customer_facing=2", 400, "invalid_argument", "customer_facing");
  check("GET", "/api/services?include_deprecated=y", 400, "invalid_argument", "include_deprecated");
  check("GET", "/api/services?page_token=bogus", 400, "invalid_argument", "page_token");
  check("GET", "/api/services?colour=red", 400, "invalid_argument", "colour");
  check("GET", "/api/coverage", 400, "invalid_argument", "by");
  check("GET", "/api/coverage?by=color", 400, "invalid_argument", "by");
  check("GET", "/api/coverage/history?since=yesterday", 400, "invalid_argument", "since");
  check("GET", "/api/traces?kind=weird", 400, "invalid_argument", "kind");
  check("GET", "/api/traces?since=soon", 400, "invalid_argument", "since");
  check("GET", "/api/traces/abc", 400, "invalid_argument", "trace_id");
  check("GET", "/api/sync-jobs?limit=0", 400, "invalid_argument", "limit");
  check("GET", "/api/services/nope", 404, "not_found", "nope");
  check("GET", "/api/services/checkout%00x", 400, "invalid_argument", "name");
  check("GET", "/api/traces?service=checkout%00", 400, "invalid_argument", "service");
  check("GET", "/api/services/with%20space", 404, "not_found", "with space");
  check("GET", "/api/traces/4242", 404, "not_found", "4242");
  check("GET", "/api/sync-jobs/nope", 404, "not_found", "nope");
  check("GET", "/api/nothing", 404, "not_found", "/api/nothing");
  check("GET", "/no/such/page", 404, "not_found", "/no/such/page");
  check("DELETE", "/api/stats", 405, "method_not_allowed", "GET");
  check("GET", "/api/sync", 405, "method_not_allowed", "POST");
}

TEST_F(GatewayApiTest, SecurityHeadersOnEveryResponse) {
  for (const std::string path : {"/api/stats", "/api/nothing", "/", "/assets/app.js",
                                 "/api/services.csv", "/api/services?page_size=0"}) {
    Response r = Get(path);
    const std::string csp = r.headers["content-security-policy"];
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << path;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << path;
    EXPECT_EQ(r.headers["x-content-type-options"], "nosniff") << path;
    EXPECT_EQ(r.headers["referrer-policy"], "no-referrer") << path;
  }
  EXPECT_EQ(Get("/").headers["content-type"], "text/html; charset=utf-8");
  EXPECT_EQ(Get("/services/checkout").status, 200);
  EXPECT_EQ(Get("/traces/101").status, 200);
  EXPECT_EQ(Get("/assets/app.js").headers["content-type"], "text/javascript; charset=utf-8");
  EXPECT_EQ(Get("/assets/..%2Fapp.js").status, 404);
  EXPECT_EQ(Get("/assets/missing.js").status, 404);
}

TEST_F(GatewayApiTest, RequestSizeIsLimited) {
  Response r = Http("POST", base_ + "/api/sync", std::string(200 * 1024, 'x'));
  EXPECT_EQ(r.status, 413);
}

TEST_F(GatewayApiTest, SyncPublishesARequestAndHonoursTheToken) {
  Response open = Http("POST", base_ + "/api/sync", "");
  ASSERT_EQ(open.status, 202) << open.body;
  std::string id = open.Json()["job_id"];
  EXPECT_EQ(id.size(), 36u);
  // The Location answers at once: a synthetic queued job until the collector records the row.
  EXPECT_EQ(open.headers["location"], "/api/sync-jobs/" + id);
  Response queued = Get("/api/sync-jobs/" + id);
  ASSERT_EQ(queued.status, 200) << queued.body;
  EXPECT_EQ(queued.Json()["id"], id);
  EXPECT_EQ(queued.Json()["trigger"], "manual");
  EXPECT_EQ(queued.Json()["state"], "queued");
  EXPECT_TRUE(queued.Json()["started_at"].is_null());
  EXPECT_TRUE(queued.Json()["finished_at"].is_null());
  EXPECT_EQ(queued.Json()["api_calls"], 0);
  EXPECT_TRUE(queued.Json()["updated_at"].is_string());
  store::WriteBatch recorded;
  recorded.sync_jobs = {SyncJob(id, "running", clock_.NowUnixNanos())};
  recorded.sync_jobs[0].started_at_ns = clock_.NowUnixNanos();
  recorded.sync_jobs[0].pages = 5;
  Write(recorded);
  Response running = Get("/api/sync-jobs/" + id);
  EXPECT_EQ(running.Json()["state"], "running");
  EXPECT_EQ(running.Json()["pages"], 5);
  db_->QueryOne("DELETE FROM sync_jobs WHERE id = '" + id + "'");
  auto msgs = publisher_.messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].topic, "apmcov.commands");
  EXPECT_EQ(msgs[0].partition, 0) << "the leading collector owns partition 0";
  EXPECT_EQ(msgs[0].key, "sync");
  v1::SyncRequest req;
  ASSERT_TRUE(req.ParseFromString(msgs[0].value));
  EXPECT_EQ(req.job_id(), id);
  EXPECT_EQ(req.requested_by(), "api");
  EXPECT_NE(std::find(msgs[0].headers.begin(), msgs[0].headers.end(),
                      std::make_pair(std::string("type"), std::string("apmcov.v1.SyncRequest"))),
            msgs[0].headers.end());

  EXPECT_EQ(Http("POST", base_ + "/api/sync", "not json").status, 400);
  EXPECT_EQ(Http("POST", base_ + "/api/sync", R"({"requested_by":"alice"})").status, 202);

  StartApp(*store_, "s3cret");
  Response no = Http("POST", base_ + "/api/sync");
  EXPECT_EQ(no.status, 401);
  EXPECT_EQ(no.Json()["error"]["code"], "unauthenticated");
  EXPECT_EQ(Http("POST", base_ + "/api/sync", "", {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(Http("POST", base_ + "/api/sync", "", {"Authorization: Bearer s3cret"}).status, 202);
  EXPECT_EQ(Get("/api/stats").status, 200);  // reads stay open

  publisher_.fail = true;
  Response down = Http("POST", base_ + "/api/sync", "", {"Authorization: Bearer s3cret"});
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.Json()["error"]["code"], "unavailable");
  publisher_.fail = false;
}

TEST_F(GatewayApiTest, CsvRoundTripsTheFilteredList) {
  for (const std::string path : {"/api/services.csv", "/services/export"}) {
    Response r = Get(path + "?team=Platform%2C%20%22Core%22&include_deprecated=true");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["content-type"], "text/csv; charset=utf-8");
    EXPECT_EQ(r.headers["transfer-encoding"], "chunked");  // streamed, not one body
    EXPECT_NE(r.body.find("\"Platform, \"\"Core\"\"\""), std::string::npos) << r.body;
    auto rows = ParseCsv(r.body);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[1][0], "search");
    EXPECT_EQ(rows[1][1], "Platform, \"Core\"");
  }
  Response all = Get("/api/services.csv?sort=name");
  auto rows = ParseCsv(all.body);
  json list = GetJson("/api/services?sort=name&page_size=1000")["services"];
  ASSERT_EQ(rows.size(), list.size() + 1);
  EXPECT_EQ(rows[0][0], "name");
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& row = rows[i + 1];
    const auto& s = list[i];
    EXPECT_EQ(row[0], s["name"]);
    EXPECT_EQ(row[1], s["team"]);
    EXPECT_EQ(row[3], s["infra"]);
    EXPECT_EQ(row[8], s["instrumented"].get<bool>() ? "true" : "false");
    EXPECT_EQ(row[10], std::to_string(s["span_count"].get<int64_t>()));
    EXPECT_EQ(row[11], s["last_seen"].is_null() ? "" : s["last_seen"].get<std::string>());
  }
}

TEST_F(GatewayApiTest, GrpcAnswersTheSameAsRest) {
  v1::Stats st;
  ASSERT_TRUE(stub_->GetStats(Ctx().get(), {}, &st).ok());
  json rest = GetJson("/api/stats");
  EXPECT_EQ(st.total_services(), rest["total_services"]);
  EXPECT_EQ(st.instrumented_services(), rest["instrumented_services"]);
  EXPECT_EQ(st.coverage_pct(), rest["coverage_pct"]);
  ASSERT_EQ(static_cast<size_t>(st.by_team_size()), rest["by_team"].size());
  for (int i = 0; i < st.by_team_size(); ++i) {
    EXPECT_EQ(st.by_team(i).key(), rest["by_team"][i]["key"]);
    EXPECT_EQ(st.by_team(i).instrumented(), rest["by_team"][i]["instrumented"]);
  }
  EXPECT_EQ(st.shadow_services(), rest["shadow_services"]);
  EXPECT_EQ(st.broken_traces(), rest["broken_traces"]);
  EXPECT_EQ(st.last_sync().id(), rest["last_sync"]["id"]);
  EXPECT_EQ(st.last_sync().sampled_seconds(), rest["last_sync"]["sampled_seconds"]);
  EXPECT_EQ(st.last_sync().skipped_seconds(), rest["last_sync"]["skipped_seconds"]);
  EXPECT_EQ(st.last_sync().edge_cut_traces(), rest["last_sync"]["edge_cut_traces"]);
  {
    const v1::SampleEstimate& g = st.sample();
    const json& r = rest["sample"];
    ASSERT_TRUE(g.has_sampled_share());
    EXPECT_EQ(g.sampled_share(), r["sampled_share"]);
    EXPECT_EQ(g.judged_traces(), r["judged_traces"]);
    EXPECT_EQ(g.broken_traces(), r["broken_traces"]);
    EXPECT_EQ(g.broken_rate(), r["broken_rate"]);
    EXPECT_EQ(g.broken_rate_low(), r["broken_rate_low"]);
    EXPECT_EQ(g.broken_rate_high(), r["broken_rate_high"]);
    ASSERT_TRUE(g.has_broken_traces_per_hour());
    EXPECT_EQ(g.broken_traces_per_hour(), r["broken_traces_per_hour"]);
    auto same = [](const auto& grpc_list, const json& rest_list, bool rootless_null) {
      ASSERT_EQ(static_cast<size_t>(grpc_list.size()), rest_list.size());
      for (int i = 0; i < grpc_list.size(); ++i) {
        const auto& b = grpc_list.Get(i);
        const json& j = rest_list[static_cast<size_t>(i)];
        if (rootless_null && b.key().empty()) {
          EXPECT_TRUE(j["key"].is_null());
        } else {
          EXPECT_EQ(b.key(), j["key"]);
        }
        if (j.contains("judged")) {
          EXPECT_EQ(b.judged(), j["judged"]);
        }
        EXPECT_EQ(b.broken(), j["broken"]);
        EXPECT_EQ(b.broken_rate(), j["broken_rate"]);
        EXPECT_EQ(b.broken_rate_low(), j["broken_rate_low"]);
        EXPECT_EQ(b.broken_rate_high(), j["broken_rate_high"]);
      }
    };
    same(g.by_root_service(), r["by_root_service"], true);
    same(g.by_missing_service(), r["by_missing_service"], false);
    same(g.by_gap_kind(), r["by_gap_kind"], false);
    EXPECT_EQ(g.by_missing_service(0).judged(), g.judged_traces());  // the denominator
  }

  v1::ListServicesRequest lreq;
  lreq.set_team("filler");
  lreq.set_sort("-span_count");
  lreq.set_page_size(4);
  v1::ListServicesResponse lresp;
  ASSERT_TRUE(stub_->ListServices(Ctx().get(), lreq, &lresp).ok());
  json lrest = GetJson("/api/services?team=filler&sort=-span_count&page_size=4");
  EXPECT_EQ(lresp.total(), lrest["total"]);
  EXPECT_EQ(lresp.next_page_token(), lrest["next_page_token"]);
  for (int i = 0; i < lresp.services_size(); ++i) {
    EXPECT_EQ(lresp.services(i).name(), lrest["services"][i]["name"]);
    EXPECT_EQ(lresp.services(i).span_count(), lrest["services"][i]["span_count"]);
  }
  // The REST token works on gRPC and the other way round.
  lreq.set_page_token(lrest["next_page_token"]);
  v1::ListServicesResponse next;
  ASSERT_TRUE(stub_->ListServices(Ctx().get(), lreq, &next).ok());
  EXPECT_EQ(next.services(0).name(),
            GetJson("/api/services?team=filler&sort=-span_count&page_size=4&page_token=" +
                    lresp.next_page_token())["services"][0]["name"]);

  v1::GetTraceRequest treq;
  treq.set_trace_id("101");
  v1::TraceDetail trace;
  ASSERT_TRUE(stub_->GetTrace(Ctx().get(), treq, &trace).ok());
  json trest = GetJson("/api/traces/101");
  EXPECT_EQ(trace.trace().missing_services(0), trest["missing_services"][0]);
  EXPECT_EQ(static_cast<size_t>(trace.spans_size()), trest["spans"].size());
  EXPECT_EQ(trace.gaps(0).to_service(), trest["gaps"][0]["to_service"]);

  v1::GetCoverageRequest creq;
  creq.set_by("env");
  v1::CoverageResponse cov;
  ASSERT_TRUE(stub_->GetCoverage(Ctx().get(), creq, &cov).ok());
  json crest = GetJson("/api/coverage?by=env");
  ASSERT_EQ(static_cast<size_t>(cov.buckets_size()), crest["buckets"].size());
  for (int i = 0; i < cov.buckets_size(); ++i) {
    EXPECT_EQ(cov.buckets(i).key(), crest["buckets"][i]["key"]);
    EXPECT_EQ(cov.buckets(i).total(), crest["buckets"][i]["total"]);
  }

  v1::ListTracesRequest trq;
  trq.set_service("inventory");
  v1::ListTracesResponse traces;
  ASSERT_TRUE(stub_->ListTraces(Ctx().get(), trq, &traces).ok());
  EXPECT_EQ(traces.total(), GetJson("/api/traces?service=inventory")["total"]);

  v1::GetServiceRequest sreq;
  sreq.set_name("checkout");
  v1::ServiceDetail sd;
  ASSERT_TRUE(stub_->GetService(Ctx().get(), sreq, &sd).ok());
  EXPECT_EQ(sd.service().infra(), "kubernetes");
  EXPECT_EQ(sd.dependencies_size(), 2);
  EXPECT_EQ(sd.broken_traces_size(), 2);

  v1::ListShadowServicesResponse shadows;
  ASSERT_TRUE(stub_->ListShadowServices(Ctx().get(), {}, &shadows).ok());
  EXPECT_EQ(shadows.services(0).name(), GetJson("/api/shadow-services")["services"][0]["name"]);
  v1::ListSyncJobsResponse jobs;
  ASSERT_TRUE(stub_->ListSyncJobs(Ctx().get(), {}, &jobs).ok());
  EXPECT_EQ(jobs.jobs(0).id(), "job-3");
  json rest_jobs = GetJson("/api/sync-jobs")["jobs"];
  ASSERT_EQ(static_cast<size_t>(jobs.jobs_size()), rest_jobs.size());
  for (int i = 0; i < jobs.jobs_size(); ++i) {
    const json& rj = rest_jobs[static_cast<size_t>(i)];
    EXPECT_EQ(jobs.jobs(i).sampled_seconds(), rj["sampled_seconds"]);
    EXPECT_EQ(jobs.jobs(i).skipped_seconds(), rj["skipped_seconds"]);
    EXPECT_EQ(jobs.jobs(i).edge_cut_traces(), rj["edge_cut_traces"]);
  }
  EXPECT_EQ(jobs.jobs(1).skipped_seconds(), 300u);
  v1::ListDependenciesResponse deps;
  ASSERT_TRUE(stub_->ListDependencies(Ctx().get(), {}, &deps).ok());
  EXPECT_EQ(static_cast<size_t>(deps.dependencies_size()),
            GetJson("/api/dependencies")["dependencies"].size());
  v1::GetCoverageHistoryRequest hreq;
  v1::CoverageHistoryResponse hist;
  ASSERT_TRUE(stub_->GetCoverageHistory(Ctx().get(), hreq, &hist).ok());
  EXPECT_EQ(hist.points_size(), 2);

  v1::TriggerSyncResponse trig;
  ASSERT_TRUE(stub_->TriggerSync(Ctx().get(), {}, &trig).ok());
  v1::SyncRequest published;
  ASSERT_TRUE(published.ParseFromString(publisher_.messages().back().value));
  EXPECT_EQ(published.job_id(), trig.job_id());

  // Watching the job just triggered: queued at once (before the collector records it).
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::WatchSyncJobsRequest wreq;
  wreq.set_job_id(trig.job_id());
  auto reader = stub_->WatchSyncJobs(&watch_ctx, wreq);
  v1::SyncJobView first;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_EQ(first.id(), trig.job_id());
  EXPECT_EQ(first.state(), "queued");
  EXPECT_EQ(first.trigger(), "manual");
  watch_ctx.TryCancel();
  while (reader->Read(&first)) {
  }
  reader->Finish();
}

TEST_F(GatewayApiTest, GrpcStatusCodesAndDeadlines) {
  v1::ListServicesRequest bad;
  bad.set_sort("color");
  v1::ListServicesResponse resp;
  grpc::Status s = stub_->ListServices(Ctx().get(), bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("sort"), std::string::npos);
  v1::GetServiceRequest missing;
  missing.set_name("nope");
  v1::ServiceDetail d;
  EXPECT_EQ(stub_->GetService(Ctx().get(), missing, &d).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::GetTraceRequest t;
  t.set_trace_id("x");
  v1::TraceDetail td;
  EXPECT_EQ(stub_->GetTrace(Ctx().get(), t, &td).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext expired;
  expired.set_deadline(std::chrono::system_clock::now() - std::chrono::seconds(1));
  v1::Stats st;
  EXPECT_EQ(stub_->GetStats(&expired, {}, &st).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);

  // A store that cannot be reached: UNAVAILABLE on gRPC, 503 on REST, /readyz names it.
  store::PostgresReadModel down("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1");
  StartApp(down);
  {
    auto ctx = Ctx();
    grpc::Status down_status = stub_->GetStats(ctx.get(), {}, &st);
    EXPECT_EQ(down_status.error_code(), grpc::StatusCode::UNAVAILABLE);
    // The client learns the code and a request id; the connection error stays in the log.
    EXPECT_EQ(down_status.error_message().find("postgres"), std::string::npos)
        << down_status.error_message();
    const auto& trailers = ctx->GetServerTrailingMetadata();
    auto id = trailers.find("x-request-id");
    ASSERT_NE(id, trailers.end());
    EXPECT_NE(down_status.error_message().find(std::string(id->second.data(), id->second.size())),
              std::string::npos);
  }
  Response r = Get("/api/stats");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Json()["error"]["code"], "unavailable");
  EXPECT_EQ(r.body.find("postgres"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("127.0.0.1"), std::string::npos) << r.body;
  EXPECT_EQ(r.Json()["error"]["request_id"], r.headers["x-request-id"]);
  Response ready =
      Http("GET", "http://127.0.0.1:" + std::to_string(app_->admin_port()) + "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("postgres"), std::string::npos);
}

TEST_F(GatewayApiTest, WatchSyncJobsStreamsChanges) {
  grpc::ClientContext ctx;
  v1::WatchSyncJobsRequest req;
  req.set_job_id("job-watch");
  auto reader = stub_->WatchSyncJobs(&ctx, req);
  store::WriteBatch job;
  job.sync_jobs = {SyncJob("job-watch", "queued", clock_.NowUnixNanos())};
  Write(job);
  v1::SyncJobView view;
  ASSERT_TRUE(reader->Read(&view));
  EXPECT_EQ(view.id(), "job-watch");
  EXPECT_EQ(view.state(), "queued");
  job.sync_jobs = {SyncJob("job-watch", "running", clock_.NowUnixNanos())};
  job.sync_jobs[0].started_at_ns = clock_.NowUnixNanos();
  job.sync_jobs[0].pages = 3;
  Write(job);
  ASSERT_TRUE(reader->Read(&view));
  EXPECT_EQ(view.state(), "running");
  EXPECT_EQ(view.pages(), 3u);
  job.sync_jobs[0].state = "succeeded";
  job.sync_jobs[0].finished_at_ns = job.sync_jobs[0].updated_at_ns = clock_.NowUnixNanos();
  Write(job);
  ASSERT_TRUE(reader->Read(&view));
  EXPECT_EQ(view.state(), "succeeded");
  ctx.TryCancel();
  while (reader->Read(&view)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  db_->QueryOne("DELETE FROM sync_jobs WHERE id = 'job-watch'");
}

TEST_F(GatewayApiTest, ServerReflectionListsTheService) {
  // A raw call to grpc.reflection.v1alpha (what grpcurl uses): ServerReflectionRequest with
  // list_services (field 7) = "*"; the answer names every service.
  grpc::GenericStub stub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  auto wait = [&cq](intptr_t want) {
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), want);
    return ok;
  };
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(wait(1));
  const char request[] = {0x3a, 0x01, '*'};
  grpc::Slice slice(request, sizeof request);
  grpc::ByteBuffer out(&slice, 1);
  call->Write(out, reinterpret_cast<void*>(2));
  ASSERT_TRUE(wait(2));
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(3));
  ASSERT_TRUE(wait(3));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(in.Dump(&slices).ok());
  std::string answer;
  for (const auto& sl : slices) answer.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  EXPECT_NE(answer.find("apmcov.v1.CoverageService"), std::string::npos);
  call->WritesDone(reinterpret_cast<void*>(4));
  wait(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  wait(5);
  EXPECT_TRUE(status.ok()) << status.error_message();
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(GatewayApiTest, MetricsAndReadiness) {
  Get("/api/stats");
  Get("/api/services/nope");
  v1::Stats st;
  stub_->GetStats(Ctx().get(), {}, &st);
  std::string admin = "http://127.0.0.1:" + std::to_string(app_->admin_port());
  Response m = Http("GET", admin + "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(
      m.body.find(R"(apmcov_http_requests_total{method="GET",route="/api/stats",status="200"})"),
      std::string::npos)
      << m.body.substr(0, 2000);
  EXPECT_NE(m.body.find(R"(route="/api/services/{name}",status="404")"), std::string::npos);
  EXPECT_NE(m.body.find("apmcov_http_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(m.body.find(R"(apmcov_grpc_requests_total{code="OK",method="GetStats"})"),
            std::string::npos);
  EXPECT_EQ(Http("GET", admin + "/readyz").status, 200);
  EXPECT_EQ(Http("GET", admin + "/healthz").status, 200);
}

TEST_F(GatewayApiTest, GrpcTriggerSyncRequiresTheTokenWhenSet) {
  StartApp(*store_, "s3cret");
  const size_t before = publisher_.messages().size();
  v1::TriggerSyncResponse trig;
  grpc::Status none = stub_->TriggerSync(Ctx().get(), {}, &trig);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << none.error_message();
  for (const std::string bad : {"Bearer wrong", "Bearer s3cre", "Bearer s3cret ", "s3cret",
                                "bearer s3cret", "Basic czNjcmV0"}) {
    auto ctx = Ctx();
    ctx->AddMetadata("authorization", bad);
    EXPECT_EQ(stub_->TriggerSync(ctx.get(), {}, &trig).error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << bad;
  }
  // Authentication comes before the request is looked at: a request that would be refused as
  // invalid is still UNAUTHENTICATED without the token, as POST /api/sync answers 401.
  v1::TriggerSyncRequest invalid;
  invalid.set_requested_by(std::string("a\0b", 3));
  grpc::Status refused = stub_->TriggerSync(Ctx().get(), invalid, &trig);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED) << refused.error_message();
  EXPECT_EQ(publisher_.messages().size(), before);  // nothing was published
  auto ctx = Ctx();
  ctx->AddMetadata("authorization", "Bearer s3cret");
  grpc::Status ok = stub_->TriggerSync(ctx.get(), {}, &trig);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(trig.job_id().size(), 36u);
  EXPECT_EQ(publisher_.messages().size(), before + 1);
  v1::Stats st;
  EXPECT_TRUE(stub_->GetStats(Ctx().get(), {}, &st).ok());  // reads stay open
}

TEST_F(GatewayApiTest, WatchSyncJobsStreamsAreCappedAndEnd) {
  StartApp(*store_, "", [](GatewayConfig& c) {
    c.grpc_max_watch_streams = 2;
    c.grpc_watch_idle_seconds = 2;
  });
  struct Watch {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::SyncJobView>> reader;
  };
  auto open = [&](Watch& w) {
    w.ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    w.reader = stub_->WatchSyncJobs(&w.ctx, {});  // every job: the seeded ones arrive at once
  };
  Watch a, b, c;
  v1::SyncJobView view;
  open(a);
  ASSERT_TRUE(a.reader->Read(&view));
  open(b);
  ASSERT_TRUE(b.reader->Read(&view));
  open(c);
  EXPECT_FALSE(c.reader->Read(&view));
  grpc::Status refused = c.reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();

  // A stream in which nothing changes ends by itself (OK) after the idle time, freeing its slot.
  const auto start = std::chrono::steady_clock::now();
  while (a.reader->Read(&view)) {
  }
  EXPECT_TRUE(a.reader->Finish().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  b.ctx.TryCancel();
  while (b.reader->Read(&view)) {
  }
  b.reader->Finish();
  bool reopened = false;
  for (int i = 0; i < 50 && !reopened; ++i) {
    Watch d;
    open(d);
    reopened = d.reader->Read(&view);
    d.ctx.TryCancel();
    while (d.reader->Read(&view)) {
    }
    d.reader->Finish();
    if (!reopened) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(reopened);
}

TEST_F(GatewayApiTest, GrpcRequestsAreBounded) {
  // Bigger than GRPC_MAX_RECEIVE_BYTES: refused before the handler runs.
  StartApp(*store_, "", [](GatewayConfig& c) { c.grpc_max_receive_bytes = 4096; });
  v1::ListServicesRequest big;
  big.set_q(std::string(8192, 'q'));
  v1::ListServicesResponse resp;
  EXPECT_EQ(stub_->ListServices(Ctx().get(), big, &resp).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // String fields are checked like REST parameters.
  v1::ListServicesRequest nul;
  nul.set_team(std::string("a\0b", 3));
  grpc::Status s = stub_->ListServices(Ctx().get(), nul, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("team:", 0), 0u) << s.error_message();
  v1::ListTracesRequest token;
  token.set_page_token(std::string(2000, 'A'));
  v1::ListTracesResponse traces;
  s = stub_->ListTraces(Ctx().get(), token, &traces);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("page_token:", 0), 0u) << s.error_message();
  // A well-formed token whose decoded sort is not UTF-8: refused, and the message that names
  // the sort stays UTF-8, as grpc-message must be.
  v1::ListServicesRequest foreign;
  foreign.set_page_token(absl::WebSafeBase64Escape("s1\x1f\x98[[e\x1f\x1f\x63"));
  s = stub_->ListServices(Ctx().get(), foreign, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("page_token:", 0), 0u) << s.error_message();
  EXPECT_TRUE(IsValidUtf8(s.error_message())) << ::testing::PrintToString(s.error_message());
}

TEST_F(GatewayApiTest, HostileQueryBytesAre400NotDatabaseErrors) {
  auto check = [&](const std::string& path, const std::string& param) {
    Response r = Get(path);
    EXPECT_EQ(r.status, 400) << path << ": " << r.body;
    json j = r.Json();
    ASSERT_TRUE(j.contains("error")) << path << ": " << r.body;
    EXPECT_EQ(j["error"]["code"], "invalid_argument") << path;
    EXPECT_EQ(j["error"]["message"].get<std::string>().rfind(param + ":", 0), 0u)
        << path << ": " << j["error"]["message"];
    EXPECT_FALSE(r.headers["x-request-id"].empty()) << path;
  };
  for (const std::string bytes : {"%FF", "%C0%AF", "%C0%80", "%E0%80%AF", "%F0%80%80%AF",
                                  "%ED%A0%80", "%F4%90%80%80", "a%00b", "%00"}) {
    check("/api/services?team=" + bytes, "team");
    check("/api/services?q=" + bytes, "q");
    check("/api/traces?service=" + bytes, "service");
    check("/api/traces?missing=" + bytes, "missing");
    check("/api/coverage/history?since=" + bytes, "since");
    check("/api/services.csv?env=" + bytes, "env");
    check("/api/dependencies?service=" + bytes, "service");
    check("/api/services/" + bytes, "name");
    check("/api/traces/" + bytes, "trace_id");
    check("/api/sync-jobs/" + bytes, "id");
  }
  check("/api/services?page_token=" + std::string(10000, 'A'), "page_token");
  check("/api/traces?page_token=" + std::string(10000, 'A'), "page_token");
}

TEST_F(GatewayApiTest, SyncRequestsAreRateLimited) {
  StartApp(*store_, "", [](GatewayConfig& c) {
    c.sync_rate_per_second = 0.01;
    c.sync_burst = 2;
  });
  EXPECT_EQ(Http("POST", base_ + "/api/sync").status, 202);
  v1::TriggerSyncResponse trig;
  EXPECT_TRUE(stub_->TriggerSync(Ctx().get(), {}, &trig).ok());  // one bucket for both
  Response limited = Http("POST", base_ + "/api/sync");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.Json()["error"]["code"], "resource_exhausted");
  EXPECT_FALSE(limited.headers["retry-after"].empty());
  EXPECT_EQ(stub_->TriggerSync(Ctx().get(), {}, &trig).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

}  // namespace
}  // namespace apmcov::gateway
