// ddsim over real sockets: keys, paging to the end in each style, filters, limits, rate
// limiting, faults, trace by id, and the ground truth against an independent recomputation
// from the served spans.
#include <chrono>
#include <map>
#include <set>

#include "apmcov/base/time.h"
#include "ddsim/traffic/query.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "recompute.h"
#include "test_server.h"

namespace apmcov::ddsim::testing {
namespace {

using nlohmann::json;

std::string Ms(int64_t seconds) { return std::to_string(seconds * 1000); }

// Spans the generator made with start in [from_s, to_s), optionally matching a query.
size_t DirectCount(DdsimApi& api, const World& w, int64_t from_s, int64_t to_s,
                   const std::string& q = "*") {
  auto query = SpanQuery::Parse(q);
  size_t n = 0;
  for (int64_t b = from_s - 1; b < to_s; ++b) {
    for (const Span& s : api.GetBucket(b)->spans) {
      if (s.start_ns >= from_s * kBucketNanos && s.start_ns < to_s * kBucketNanos &&
          query->Matches(w, s))
        ++n;
    }
  }
  return n;
}

// Spans the generator made with start in [from_ns, to_ns) matching `q`, by service.
std::map<std::string, int64_t> DirectCountByService(DdsimApi& api, const World& w, int64_t from_ns,
                                                    int64_t to_ns, const std::string& q) {
  auto query = SpanQuery::Parse(q);
  std::map<std::string, int64_t> n;
  for (int64_t b = from_ns / kBucketNanos - 1; b <= (to_ns - 1) / kBucketNanos; ++b) {
    for (const Span& s : api.GetBucket(b)->spans) {
      if (s.start_ns >= from_ns && s.start_ns < to_ns && query->Matches(w, s))
        ++n[w.services[s.service].name];
    }
  }
  return n;
}

// Follows links.next from a first GET until the bare {"data": []}.
std::vector<json> PageAllGet(Client& c, const std::string& first, int* pages = nullptr) {
  std::vector<json> out;
  Reply r = c.Get(first);
  int n = 0;
  while (true) {
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) break;
    json j = json::parse(r.body);
    ++n;
    if (j["data"].empty()) {
      EXPECT_EQ(r.body, "{\"data\":[]}");
      EXPECT_EQ(r.content_type(), "application/json");
      break;
    }
    EXPECT_EQ(r.content_type(), "application/vnd.api+json");
    for (auto& s : j["data"]) out.push_back(s);
    EXPECT_FALSE(j["meta"]["page"]["after"].get<std::string>().empty());
    r = c.GetUrl(j["links"]["next"].get<std::string>());
  }
  if (pages) *pages = n;
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  DdsimHarness h_;
  Client c_{h_.port()};
};

TEST_F(ServerTest, KeysAreChecked) {
  Reply ok = c_.Get("/api/v1/validate");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(json::parse(ok.body), json({{"valid", true}}));
  Reply missing = c_.Get("/api/v1/validate", /*keys=*/false);
  EXPECT_EQ(missing.status, 403);
  EXPECT_EQ(json::parse(missing.body), json::parse(R"({"errors":["API key required"]})"));
  Reply wrong = c_.Do("GET", "/api/v1/validate", "", false, {"DD-API-KEY: nope"});
  EXPECT_EQ(wrong.status, 403);
  EXPECT_EQ(json::parse(wrong.body), json::parse(R"({"errors":["Forbidden"]})"));
  // validate needs no application key; everything else does.
  EXPECT_EQ(
      c_.Do("GET", "/api/v1/validate", "", false, {std::string("DD-API-KEY: ") + kApiKey}).status,
      200);
  Reply no_app = c_.Do("GET", "/api/v2/services/definitions", "", false,
                       {std::string("DD-API-KEY: ") + kApiKey});
  EXPECT_EQ(no_app.status, 403);
  Reply bad_app = c_.Do("GET", "/api/v2/spans/events", "", false,
                        {std::string("DD-API-KEY: ") + kApiKey, "DD-APPLICATION-KEY: wrong"});
  EXPECT_EQ(bad_app.status, 403);
  EXPECT_EQ(c_.Get("/api/v2/nothing-here").status, 404);
}

TEST_F(ServerTest, ServiceDefinitionsPageByNumberToTheEnd) {
  std::set<std::string> ids, names;
  for (int page = 0;; ++page) {
    Reply r = c_.Get("/api/v2/services/definitions?page%5Bsize%5D=100&page%5Bnumber%5D=" +
                     std::to_string(page));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type(), "application/json");
    EXPECT_EQ(r.headers.count("x-ratelimit-limit"), 1u);
    json j = json::parse(r.body);
    ASSERT_EQ(j.size(), 1u);  // only data
    for (const auto& d : j["data"]) {
      ids.insert(d["id"].get<std::string>());
      const json& s = d["attributes"]["schema"];
      names.insert(s.contains("info") ? s["info"]["dd-service"].get<std::string>()
                                      : s["dd-service"].get<std::string>());
    }
    if (j["data"].size() < 100) break;
  }
  // The generated catalog and the tracker's own three entries.
  EXPECT_EQ(ids.size(), h_.world().catalog_order.size() + 3);
  EXPECT_EQ(names.count("apmcov-collector"), 1u);
  EXPECT_EQ(names.size(), ids.size());
  EXPECT_EQ(c_.Get("/api/v2/services/definitions?page%5Bsize%5D=101").status, 400);
  const std::string name = *names.begin();
  Reply one = c_.Get("/api/v2/services/definitions/" + name + "?schema_version=v2.2");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(json::parse(one.body)["data"]["attributes"]["schema"]["dd-service"], name);
  Reply missing = c_.Get("/api/v2/services/definitions/not-a-service");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body),
            json::parse(R"({"errors":["Not Found"],"error_details":[{}]})"));
}

TEST_F(ServerTest, CatalogEntitiesPageByOffsetFollowingRelativeLinks) {
  std::string next = "/api/v2/catalog/entity?page%5Blimit%5D=50";
  size_t total = 0;
  int pages = 0;
  while (!next.empty()) {
    Reply r = c_.Get(next);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type(), "application/vnd.api+json");
    json j = json::parse(r.body);
    EXPECT_EQ(j["meta"]["count"].get<size_t>(), j["data"].size());
    total += j["data"].size();
    ++pages;
    next = j["links"].contains("next") ? j["links"]["next"].get<std::string>() : "";
    if (pages > 1) {
      EXPECT_TRUE(j["links"].contains("previous"));
    }
  }
  EXPECT_EQ(total, h_.world().catalog_order.size() + h_.world().self_services.size());
  EXPECT_GT(pages, 1);
}

TEST_F(ServerTest, ApmServiceListNeedsEnvAndFlagsUsmOnly) {
  EXPECT_EQ(c_.Get("/api/v2/apm/services").status, 400);
  Reply r = c_.Get("/api/v2/apm/services?filter%5Benv%5D=%2A");
  ASSERT_EQ(r.status, 200);
  json a = json::parse(r.body)["data"]["attributes"];
  ASSERT_EQ(a["services"].size(), a["metadata"].size());
  int usm = 0;
  for (size_t i = 0; i < a["services"].size(); ++i) {
    const Service* s = h_.world().Find(a["services"][i].get<std::string>());
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(a["metadata"][i]["isTraced"].get<bool>(), s->reports_spans());
    EXPECT_EQ(a["metadata"][i]["isUsm"].get<bool>(), s->state == Instrumentation::kUsmOnly);
    usm += s->state == Instrumentation::kUsmOnly;
  }
  EXPECT_GT(usm, 0);
}

TEST_F(ServerTest, SpansGetPagesToTheEndInBothOrders) {
  const int64_t from = kNowSeconds - 120, to = kNowSeconds - 110;
  const size_t expected = DirectCount(h_.api(), h_.world(), from, to);
  ASSERT_GT(expected, 2000u);
  int pages = 0;
  auto desc = PageAllGet(c_,
                         "/api/v2/spans/events?page%5Blimit%5D=1000&filter%5Bfrom%5D=" + Ms(from) +
                             "&filter%5Bto%5D=" + Ms(to),
                         &pages);
  EXPECT_EQ(desc.size(), expected);
  EXPECT_EQ(pages, static_cast<int>((expected + 999) / 1000) + 1);  // + the final empty page
  for (size_t i = 1; i < desc.size(); ++i) {
    EXPECT_GE(desc[i - 1]["attributes"]["start_timestamp"].get<std::string>(),
              desc[i]["attributes"]["start_timestamp"].get<std::string>());
  }
  auto asc = PageAllGet(
      c_, "/api/v2/spans/events?sort=timestamp&page%5Blimit%5D=700&filter%5Bfrom%5D=" + Ms(from) +
              "&filter%5Bto%5D=" + Ms(to));
  EXPECT_EQ(asc.size(), expected);
  std::set<std::string> ids;
  for (const auto& s : asc)
    ids.insert(s["attributes"]["span_id"].get<std::string>() + "/" +
               s["attributes"]["trace_id"].get<std::string>());
  EXPECT_EQ(ids.size(), expected);
  for (size_t i = 1; i < asc.size(); ++i) {
    EXPECT_LE(asc[i - 1]["attributes"]["start_timestamp"].get<std::string>(),
              asc[i]["attributes"]["start_timestamp"].get<std::string>());
  }
}

TEST_F(ServerTest, SpansSearchPagesWithTheCursorInTheBody) {
  const int64_t from = kNowSeconds - 300, to = kNowSeconds - 295;
  const std::string q = "retained_by:(flat_sampled OR diversity_sampling)";
  const size_t expected = DirectCount(h_.api(), h_.world(), from, to, q);
  size_t got = 0;
  std::string cursor;
  for (int i = 0; i < 100; ++i) {
    json body = {{"data",
                  {{"type", "search_request"},
                   {"attributes",
                    {{"filter", {{"query", q}, {"from", Ms(from)}, {"to", Ms(to)}}},
                     {"sort", "timestamp"},
                     {"page", {{"limit", 500}}}}}}}};
    if (!cursor.empty()) body["data"]["attributes"]["page"]["cursor"] = cursor;
    Reply r = c_.Post("/api/v2/spans/events/search", body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    json j = json::parse(r.body);
    if (j["data"].empty()) break;
    for (const auto& s : j["data"]) EXPECT_NE(s["attributes"]["retained_by"], "retention_filter");
    got += j["data"].size();
    cursor = j["meta"]["page"]["after"];
    EXPECT_NE(j["links"]["next"].get<std::string>().find("/api/v2/spans/events?"),
              std::string::npos);
  }
  EXPECT_EQ(got, expected);
  EXPECT_LT(expected, DirectCount(h_.api(), h_.world(), from, to));  // retention_filter spans exist
}

TEST_F(ServerTest, FiltersAndTimeForms) {
  const Service& svc = h_.world().services[h_.world().reporting_by_env[0][0]];
  const int64_t from = kNowSeconds - 60, to = kNowSeconds;
  auto by_service =
      PageAllGet(c_, "/api/v2/spans/events?page%5Blimit%5D=1000&filter%5Bquery%5D=service%3A" +
                         svc.name + "&filter%5Bfrom%5D=" + Ms(from) + "&filter%5Bto%5D=" + Ms(to));
  EXPECT_EQ(by_service.size(), DirectCount(h_.api(), h_.world(), from, to, "service:" + svc.name));
  for (const auto& s : by_service) EXPECT_EQ(s["attributes"]["service"], svc.name);
  // Epoch ms, ISO and now-1m name the same window (now is fixed).
  std::string iso_from = FormatRfc3339(from * kBucketNanos);  // "2026-11-21T22:25:40Z"
  iso_from.replace(iso_from.find(':'), 1, "%3A");
  iso_from.replace(iso_from.find(':'), 1, "%3A");
  auto iso =
      PageAllGet(c_, "/api/v2/spans/events?page%5Blimit%5D=1000&filter%5Bquery%5D=service%3A" +
                         svc.name + "&filter%5Bfrom%5D=" + iso_from + "&filter%5Bto%5D=now");
  auto rel =
      PageAllGet(c_, "/api/v2/spans/events?page%5Blimit%5D=1000&filter%5Bquery%5D=service%3A" +
                         svc.name + "&filter%5Bfrom%5D=now-1m&filter%5Bto%5D=now");
  EXPECT_EQ(rel.size(), by_service.size());
  EXPECT_EQ(FormatRfc3339(from * kBucketNanos), "2026-11-21T22:25:40Z");
  EXPECT_EQ(iso.size(), by_service.size());
  auto staging = PageAllGet(
      c_,
      "/api/v2/spans/"
      "events?page%5Blimit%5D=1000&filter%5Bquery%5D=env%3Astaging&filter%5Bfrom%5D=now-10s");
  ASSERT_FALSE(staging.empty());
  for (const auto& s : staging) EXPECT_EQ(s["attributes"]["env"], "staging");
  // Form encoding: '+' is a space (as Python's requests and browsers send it), %2B a plus.
  const std::string env = by_service[0]["attributes"]["env"];
  auto plus = PageAllGet(c_, "/api/v2/spans/events?page%5Blimit%5D=1000&filter%5Bquery%5D=env%3A" +
                                 env + "+service%3A" + svc.name + "&filter%5Bfrom%5D=" + Ms(from) +
                                 "&filter%5Bto%5D=" + Ms(to));
  EXPECT_GT(plus.size(), 0u);
  EXPECT_EQ(plus.size(),
            DirectCount(h_.api(), h_.world(), from, to, "env:" + env + " service:" + svc.name));
  EXPECT_EQ(c_.Get("/api/v2/spans/events?filter%5Bquery%5D=service%3Aa%2Bb").status, 200);
  // One trace by id.
  const std::string tid = by_service[0]["attributes"]["trace_id"];
  auto trace =
      PageAllGet(c_, "/api/v2/spans/events?page%5Blimit%5D=1000&filter%5Bquery%5D=trace_id%3A" +
                         tid + "&filter%5Bfrom%5D=now-20m");
  ASSERT_FALSE(trace.empty());
  for (const auto& s : trace) EXPECT_EQ(s["attributes"]["trace_id"], tid);
}

TEST_F(ServerTest, LimitsAndWindowErrors) {
  Reply big = c_.Get("/api/v2/spans/events?page%5Blimit%5D=1001");
  EXPECT_EQ(big.status, 400);
  EXPECT_EQ(big.content_type(), "application/vnd.api+json");
  EXPECT_TRUE(json::parse(big.body)["errors"][0].is_object());
  Reply inverted = c_.Get("/api/v2/spans/events?filter%5Bfrom%5D=now&filter%5Bto%5D=now-1m");
  EXPECT_EQ(inverted.status, 422);
  EXPECT_EQ(
      json::parse(inverted.body),
      json::parse(
          R"j({"errors":[{"title":"Generic Error","detail":"invalid_argument(Field 'filter.from,to' is invalid: 'from' should be anterior to 'to')"}]})j"));
  EXPECT_EQ(c_.Get("/api/v2/spans/events?filter%5Bquery%5D=%28env%3Aprod").status, 400);
  EXPECT_EQ(c_.Get("/api/v2/spans/events?filter%5Bfrom%5D=yesterday").status, 400);
  EXPECT_EQ(c_.Get("/api/v2/spans/events?page%5Bcursor%5D=garbage").status, 400);
  Reply search422 = c_.Post(
      "/api/v2/spans/events/search",
      R"({"data":{"type":"search_request","attributes":{"filter":{"from":"now","to":"now-1m"}}}})");
  EXPECT_EQ(search422.status, 422);
}

TEST_F(ServerTest, AggregateCountsByServiceAndEnv) {
  json body = json::parse(R"({"data":{"type":"aggregate_request","attributes":{
    "filter":{"query":"*","from":"now-30s","to":"now"},
    "compute":[{"aggregation":"count","type":"total"}],
    "group_by":[{"facet":"service","limit":10000},{"facet":"env","limit":10}]}}})");
  Reply r = c_.Post("/api/v2/spans/analytics/aggregate", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type(), "application/json");
  json j = json::parse(r.body);
  EXPECT_EQ(j["meta"]["status"], "done");
  int64_t sum = 0;
  std::set<std::pair<std::string, std::string>> keys;
  for (const auto& b : j["data"]) {
    sum += b["attributes"]["compute"]["c0"].get<int64_t>();
    keys.insert({b["attributes"]["by"]["service"].get<std::string>(),
                 b["attributes"]["by"]["env"].get<std::string>()});
    const Service* s = h_.world().Find(b["attributes"]["by"]["service"].get<std::string>());
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(s->reports_spans());
  }
  EXPECT_EQ(static_cast<size_t>(sum),
            DirectCount(h_.api(), h_.world(), kNowSeconds - 30, kNowSeconds));
  EXPECT_EQ(keys.size(), j["data"].size());
  // Default group limit is 10.
  body["data"]["attributes"]["group_by"] = json::parse(R"([{"facet":"service"}])");
  EXPECT_EQ(
      json::parse(c_.Post("/api/v2/spans/analytics/aggregate", body.dump()).body)["data"].size(),
      10u);
}

// The inventory aggregate of design 7.2: infra tag facets with a `missing` bucket, each
// service under exactly the tag its platform writes.
TEST_F(ServerTest, AggregateGroupsByInfraTagsWithMissingBuckets) {
  json body = json::parse(R"({"data":{"type":"aggregate_request","attributes":{
    "filter":{"query":"*","from":"now-30s","to":"now"},
    "compute":[{"aggregation":"count","type":"total"}],
    "group_by":[{"facet":"service","limit":10000},
                {"facet":"kube_cluster_name","limit":100,"missing":"none"},
                {"facet":"ecs_cluster_name","limit":100,"missing":"none"},
                {"facet":"function_arn","limit":100,"missing":"none"},
                {"facet":"@language","limit":100,"missing":"none"}]}}})");
  Reply r = c_.Post("/api/v2/spans/analytics/aggregate", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  int64_t sum = 0;
  std::set<Infra> seen;
  for (const auto& b : j["data"]) {
    const json& by = b["attributes"]["by"];
    sum += b["attributes"]["compute"]["c0"].get<int64_t>();
    const Service* s = h_.world().Find(by["service"].get<std::string>());
    ASSERT_NE(s, nullptr);
    seen.insert(s->infra);
    EXPECT_EQ(by["kube_cluster_name"] != "none", s->infra == Infra::kKubernetes) << by.dump();
    EXPECT_EQ(by["ecs_cluster_name"] != "none", s->infra == Infra::kEcs) << by.dump();
    EXPECT_EQ(by["function_arn"] != "none", s->infra == Infra::kServerless) << by.dump();
    EXPECT_NE(by["@language"], "none");
  }
  EXPECT_EQ(static_cast<size_t>(sum),
            DirectCount(h_.api(), h_.world(), kNowSeconds - 30, kNowSeconds));
  EXPECT_GE(seen.size(), 3u) << "the world spreads services over the platforms";
}

// The density of design 7.1: a count timeseries, one point per interval.
TEST_F(ServerTest, AggregateTimeseriesCountsPerInterval) {
  json body = json::parse(R"({"data":{"type":"aggregate_request","attributes":{
    "filter":{"query":"*","from":"now-180s","to":"now-60s"},
    "compute":[{"aggregation":"count","type":"timeseries","interval":"1m"}]}}})");
  Reply r = c_.Post("/api/v2/spans/analytics/aggregate", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  ASSERT_EQ(j["data"].size(), 1u);
  int64_t sum = 0;
  for (const auto& p : j["data"][0]["attributes"]["compute"]["c0"])
    sum += p["value"].get<int64_t>();
  EXPECT_GE(j["data"][0]["attributes"]["compute"]["c0"].size(), 2u);
  EXPECT_EQ(static_cast<size_t>(sum),
            DirectCount(h_.api(), h_.world(), kNowSeconds - 180, kNowSeconds - 60));
}

// An aggregate asked again is answered from the per-bucket memo (aggregate_memo.h): the same
// counts as the first time and as a direct count, with bounds off whole seconds (the edge
// seconds are counted span by span); another query over the same seconds is its own shape.
TEST_F(ServerTest, AggregateAskedAgainCountsTheSameFromTheMemo) {
  const int64_t from_ms = (kNowSeconds - 40) * 1000 + 317, to_ms = (kNowSeconds - 5) * 1000 + 842;
  auto ask = [&](const std::string& query) {
    json body = {
        {"data",
         {{"type", "aggregate_request"},
          {"attributes",
           {{"filter",
             {{"query", query}, {"from", std::to_string(from_ms)}, {"to", std::to_string(to_ms)}}},
            {"compute",
             {{{"aggregation", "count"}, {"type", "total"}},
              {{"aggregation", "count"}, {"type", "timeseries"}, {"interval", "10s"}}}},
            {"group_by", {{{"facet", "service"}, {"limit", 10000}}}}}}}}};
    Reply r = c_.Post("/api/v2/spans/analytics/aggregate", body.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    json j = json::parse(r.body);
    EXPECT_EQ(j["meta"]["status"], "done");
    std::map<std::string, int64_t> by_service;
    for (const auto& b : j["data"]) {
      const int64_t total = b["attributes"]["compute"]["c0"].get<int64_t>();
      int64_t points = 0;
      for (const auto& p : b["attributes"]["compute"]["c1"]) points += p["value"].get<int64_t>();
      EXPECT_EQ(points, total) << b.dump();
      by_service[b["attributes"]["by"]["service"].get<std::string>()] = total;
    }
    return std::make_pair(by_service, j["data"]);
  };
  const auto [first, first_data] = ask("*");
  const auto [again, again_data] = ask("*");
  EXPECT_EQ(again_data, first_data);
  EXPECT_EQ(first, DirectCountByService(h_.api(), h_.world(), from_ms * 1'000'000,
                                        to_ms * 1'000'000, "*"));
  const std::string prod = "env:prod";
  const auto [filtered, filtered_data] = ask(prod);
  EXPECT_EQ(filtered, DirectCountByService(h_.api(), h_.world(), from_ms * 1'000'000,
                                           to_ms * 1'000'000, prod));
  EXPECT_NE(filtered, first);
}

TEST_F(ServerTest, TraceByIdInDecimalAndHex) {
  auto bucket = h_.api().GetBucket(kNowSeconds - 100);
  const TraceTruth* t = nullptr;
  for (const auto& tr : bucket->traces) {
    if (tr.trace_hi != 0 && tr.span_count > 3) {
      t = &tr;
      break;
    }
  }
  ASSERT_NE(t, nullptr);
  Reply dec = c_.Get("/api/v2/trace/" + std::to_string(t->trace_lo));
  ASSERT_EQ(dec.status, 200) << dec.body;
  json d = json::parse(dec.body)["data"];
  EXPECT_EQ(d["type"], "trace");
  ASSERT_EQ(d["attributes"]["spans"].size(), t->span_count);
  EXPECT_TRUE(d["attributes"]["spans"][0]["traceID"].is_number_unsigned());
  EXPECT_EQ(d["attributes"]["spans"][0]["traceID"].get<uint64_t>(), t->trace_lo);
  char hex[40];
  std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(t->trace_hi),
                static_cast<unsigned long long>(t->trace_lo));
  EXPECT_EQ(d["id"], hex);
  EXPECT_EQ(c_.Get(std::string("/api/v2/trace/") + hex).status, 200);
  EXPECT_EQ(c_.Get("/api/v2/trace/12345").status, 404);
  EXPECT_EQ(c_.Get("/api/v2/trace/not-an-id").status, 400);
}

TEST_F(ServerTest, InjectedFaults) {
  EXPECT_EQ(c_.Post("/_ddsim/faults", R"({"server_errors":2})", false).status, 200);
  EXPECT_EQ(c_.Get("/api/v1/validate").status, 503);
  EXPECT_EQ(c_.Get("/api/v1/validate").status, 503);
  EXPECT_EQ(c_.Get("/api/v1/validate").status, 200);
  c_.Post("/_ddsim/faults", R"({"rate_limit_burst":1})", false);
  Reply limited = c_.Get("/api/v2/spans/events");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers["x-ratelimit-remaining"], "0");
  EXPECT_EQ(c_.Get("/api/v2/spans/events").status, 200);
  c_.Post("/_ddsim/faults", R"({"malformed":1})", false);
  Reply bad = c_.Get("/api/v2/spans/events");
  EXPECT_EQ(bad.status, 200);
  EXPECT_TRUE(json::parse(bad.body, nullptr, false).is_discarded());
  c_.Post("/_ddsim/faults", R"({"slow_requests":1,"slow_ms":300})", false);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c_.Get("/api/v1/validate").status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(290));
  c_.Post("/_ddsim/faults", R"({"drop":1})", false);
  EXPECT_TRUE(c_.Do("GET", "/api/v1/validate", "", true, {}, /*fresh=*/true).transport_error);
  EXPECT_EQ(c_.Get("/api/v1/validate").status, 200);
  EXPECT_EQ(c_.Post("/_ddsim/faults", R"({"explode":1})", false).status, 400);
  // On given request numbers.
  c_.Post("/_ddsim/faults", R"({"server_error_at":[2],"rate_limit_at":[3]})", false);
  EXPECT_EQ(c_.Get("/api/v1/validate").status, 200);
  EXPECT_EQ(c_.Get("/api/v1/validate").status, 503);
  EXPECT_EQ(c_.Get("/api/v1/validate").status, 429);
  EXPECT_EQ(c_.Get("/api/v1/validate").status, 200);
  c_.Do("DELETE", "/_ddsim/faults", "", false);
  json stats = json::parse(c_.Get("/_ddsim/stats", false).body);
  EXPECT_EQ(stats["requests"]["validate"]["by_status"]["503"], 3);
  EXPECT_EQ(stats["requests"]["spans_list"]["by_status"]["429"], 1);
  EXPECT_EQ(stats["requests"]["validate"]["by_status"]["0"], 1);  // the dropped one
}

TEST_F(ServerTest, GroundTruthEqualsAnIndependentRecomputationFromServedSpans) {
  const int64_t from = kNowSeconds - 200, to = kNowSeconds - 190;
  Reply tr = c_.Get("/_ddsim/ground-truth?from=" + Ms(from) + "&to=" + Ms(to), false);
  ASSERT_EQ(tr.status, 200);
  json truth = json::parse(tr.body);
  EXPECT_EQ(json::parse(c_.Get("/__truth?traces=none&from=" + Ms(from) + "&to=" + Ms(to), false)
                            .body)["coverage"],
            truth["coverage"]);
  // Catalog from the definitions API, instrumented from the APM list: what a collector sees.
  std::set<std::string> catalog, instrumented;
  for (int page = 0;; ++page) {
    json j =
        json::parse(c_.Get("/api/v2/services/definitions?page%5Bsize%5D=100&page%5Bnumber%5D=" +
                           std::to_string(page))
                        .body);
    for (const auto& d : j["data"]) {
      const json& s = d["attributes"]["schema"];
      catalog.insert(s.contains("info") ? s["info"]["dd-service"].get<std::string>()
                                        : s["dd-service"].get<std::string>());
    }
    if (j["data"].size() < 100) break;
  }
  json apm =
      json::parse(c_.Get("/api/v2/apm/services?filter%5Benv%5D=%2A").body)["data"]["attributes"];
  for (size_t i = 0; i < apm["services"].size(); ++i) {
    if (apm["metadata"][i]["isTraced"].get<bool>())
      instrumented.insert(apm["services"][i].get<std::string>());
  }
  // Every span of every trace that starts in the range (traces last < 1 s).
  auto items = PageAllGet(
      c_, "/api/v2/spans/events?sort=timestamp&page%5Blimit%5D=1000&filter%5Bfrom%5D=" + Ms(from) +
              "&filter%5Bto%5D=" + Ms(to + 2));
  std::vector<ServedSpan> spans;
  for (const auto& it : items) spans.push_back(FromSpanEvent(it));
  auto recomputed = Recompute(spans, catalog, instrumented);
  ASSERT_GT(truth["traces"].size(), 100u);
  int broken = 0;
  for (const auto& t : truth["traces"]) {
    const uint64_t id = std::stoull(t["trace_id"].get<std::string>());
    ASSERT_TRUE(recomputed.count(id));
    const RecomputedTrace& r = recomputed[id];
    EXPECT_EQ(r.judged, t["judged"].get<bool>());
    if (!r.judged) continue;
    std::set<std::tuple<std::string, uint64_t, std::string>> expected;
    for (const auto& g : t["gaps"]) {
      expected.insert({g["kind"], std::stoull(g["span_id"].get<std::string>()),
                       g["to_service"].is_null() ? "" : g["to_service"].get<std::string>()});
    }
    EXPECT_EQ(r.gaps, expected) << id;
    EXPECT_EQ(r.missing_services, t["missing_services"].get<std::vector<std::string>>());
    broken += !expected.empty();
  }
  EXPECT_EQ(broken, truth["trace_summary"]["broken"].get<int>());
  EXPECT_GT(broken, 10);
}

TEST(ServerRateLimitTest, HeadersCountDownThen429) {
  auto limits = RateLimiter::Defaults();
  limits["spans_list"] = {5, 3600};
  DdsimHarness h(limits);
  Client c(h.port());
  for (int i = 0; i < 5; ++i) {
    Reply r = c.Get("/api/v2/spans/events?page%5Blimit%5D=1");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["x-ratelimit-limit"], "5");
    EXPECT_EQ(r.headers["x-ratelimit-period"], "3600");
    EXPECT_EQ(r.headers["x-ratelimit-remaining"], std::to_string(4 - i));
    EXPECT_EQ(r.headers["x-ratelimit-name"], "spans_list");
    const int reset = std::stoi(r.headers["x-ratelimit-reset"]);
    EXPECT_EQ(reset, 3600 - kNowSeconds % 3600);
  }
  Reply limited = c.Get("/api/v2/spans/events?page%5Blimit%5D=1");
  EXPECT_EQ(limited.status, 429);
  EXPECT_TRUE(json::parse(limited.body)["errors"][0].is_object());
  // Other buckets are independent; the next period starts fresh.
  EXPECT_EQ(c.Get("/api/v2/services/definitions").status, 200);
  h.clock().Advance(std::chrono::seconds(3600 - kNowSeconds % 3600));
  EXPECT_EQ(c.Get("/api/v2/spans/events?page%5Blimit%5D=1").status, 200);
}

TEST(ServerDeterminismTest, SameSeedSameBytes) {
  DdsimHarness a, b;
  Client ca(a.port()), cb(b.port());
  const std::string path = "/api/v2/spans/events?page%5Blimit%5D=200&filter%5Bfrom%5D=now-5m";
  json ja = json::parse(ca.Get(path).body), jb = json::parse(cb.Get(path).body);
  EXPECT_EQ(ja["data"].dump(), jb["data"].dump());
  EXPECT_EQ(ja["meta"]["page"], jb["meta"]["page"]);
  EXPECT_EQ(ca.Get("/api/v2/services/definitions?page%5Bsize%5D=100").body,
            cb.Get("/api/v2/services/definitions?page%5Bsize%5D=100").body);
  EXPECT_EQ(ca.Get("/_ddsim/ground-truth?from=now-2m&to=now-1m", false).body,
            cb.Get("/_ddsim/ground-truth?from=now-2m&to=now-1m", false).body);
}

}  // namespace
}  // namespace apmcov::ddsim::testing
