#include "apmcov/datadog/parse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <thread>
#include <vector>

#include "fixtures.h"

namespace apmcov::datadog {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::LoadFixture;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// ---- recorded responses ----

TEST(ServiceDefinitionsFixture, ParsesAllHundredV21Definitions) {
  auto page = ParseServiceDefinitions(LoadFixture("service_definitions_list_ok.json").body);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->raw_items, 100u);
  EXPECT_EQ(page->services.size(), 100u);
  EXPECT_TRUE(page->skipped.empty());
  const v1::CatalogService& first = page->services[0];
  EXPECT_EQ(first.name(),
            "service-testrubycreateorupdateservicedefinitionusingschemav21returnscreatedresponse"
            "1682562919");
  EXPECT_EQ(first.team(), "my-team");
  EXPECT_EQ(first.schema_version(), "v2.1");
  EXPECT_THAT(first.tags(), ElementsAre("my:tag", "service:tag"));
  EXPECT_THAT(first.links_json(), HasSubstr("\"url\":\"https://github.com/DataDog/schema\""));
  EXPECT_EQ(first.last_modified().seconds(), 1682562920);  // 2023-04-27T02:35:20Z
  for (const auto& svc : page->services) EXPECT_FALSE(svc.name().empty());
}

TEST(ServiceDefinitionsFixture, PaginatedPagesMixSchemaVersions) {
  auto p1 = ParseServiceDefinitions(LoadFixture("service_definitions_list_paginated_1.json").body);
  auto p2 = ParseServiceDefinitions(LoadFixture("service_definitions_list_paginated_2.json").body);
  ASSERT_TRUE(p1.ok()) << p1.status();
  ASSERT_TRUE(p2.ok()) << p2.status();
  EXPECT_EQ(p1->raw_items, 2u);
  EXPECT_EQ(p2->raw_items, 1u);
  std::set<std::string> versions;
  for (const auto* p : {&*p1, &*p2}) {
    for (const auto& s : p->services) versions.insert(s.schema_version());
  }
  EXPECT_THAT(versions, Contains("v2"));
  EXPECT_THAT(versions, Contains("v2.1"));
}

TEST(ServiceDefinitionsFixture, SingleGetSchemaNormalises) {
  std::string body = LoadFixture("service_definition_get_ok.json").body;
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(body);
  auto svc = ParseServiceSchema(simdjson::minify(root["data"]["attributes"]["schema"]));
  ASSERT_TRUE(svc.ok()) << svc.status();
  EXPECT_EQ(svc->name(), "service-definition-test");
  EXPECT_EQ(svc->schema_version(), "v2.1");
  // A single object is not a list page.
  auto page = ParseServiceDefinitions(body);
  EXPECT_FALSE(page.ok());
  EXPECT_THAT(Msg(page.status()), HasSubstr("no \"data\" array"));
}

TEST(CatalogEntitiesFixture, ServicesAndNextOffset) {
  auto page = ParseCatalogEntities(LoadFixture("catalog_entities_list_ok.json").body);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->raw_items, 100u);
  EXPECT_EQ(page->services.size(), 100u);
  ASSERT_TRUE(page->next_offset.has_value());
  EXPECT_EQ(*page->next_offset, 100);
  EXPECT_EQ(page->services[0].name(), "python-app-checks-enabled");
  EXPECT_EQ(page->services[0].team(), "intg-tools-libs");
}

TEST(CatalogRelationsFixture, NoServiceEntities) {
  // Relations are not entities: nothing of kind service, but a next offset.
  auto page = ParseCatalogEntities(LoadFixture("catalog_relations_list_ok.json").body);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->services.size(), 0u);
  EXPECT_TRUE(page->next_offset.has_value());
}

TEST(SpansFixture, ListPageFields) {
  auto page = ParseSpanPage(LoadFixture("spans_list_ok.json").body);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->spans.size(), 10);
  EXPECT_FALSE(page->next_cursor.empty());
  EXPECT_FALSE(page->partial);  // meta.status "done"
  const v1::Span& s = page->spans[0];
  EXPECT_EQ(s.trace_id(), 7817822160947910556ull);
  EXPECT_EQ(s.span_id(), 3601830290946202752ull);
  EXPECT_EQ(s.parent_id(), 449167507436699662ull);
  EXPECT_EQ(s.start_unix_nano(), 1688035736164ll * 1'000'000);
  EXPECT_EQ(s.duration_ns(), 514696);
  EXPECT_EQ(s.kind(), "server");
  EXPECT_EQ(s.language(), "jvm");
  EXPECT_EQ(s.service(), "java-sample-app-spartancrimson");
  EXPECT_EQ(s.env(), "pcf-spartancrimson");
  EXPECT_EQ(s.retained_by(), "diversity_sampling");
  EXPECT_EQ(s.resource(), "Controller.index");
  EXPECT_EQ(s.trace_id_high(), 0u);
  EXPECT_EQ(s.infra_hint(), "");
}

TEST(SpansFixture, SearchPageHasIdsAboveTwoToThe63) {
  auto page = ParseSpanPage(LoadFixture("spans_search_ok.json").body);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->spans.size(), 25);
  bool found = false;
  for (const auto& s : page->spans) found |= s.span_id() == 12722338338854837173ull;
  EXPECT_TRUE(found);
  const v1::Span& root = page->spans[0];
  EXPECT_EQ(root.span_id(), 9270756141854228302ull);
  EXPECT_EQ(root.parent_id(), 0u);
  EXPECT_EQ(root.target(), "localhost");  // host of custom.http.url
  EXPECT_EQ(root.duration_ns(), 3402932);
}

TEST(SpansFixture, CursorPagination) {
  auto p1 = ParseSpanPage(LoadFixture("spans_list_paginated_1.json").body);
  auto p2 = ParseSpanPage(LoadFixture("spans_list_paginated_2.json").body);
  auto p3 = ParseSpanPage(LoadFixture("spans_list_paginated_3.json").body);
  ASSERT_TRUE(p1.ok() && p2.ok() && p3.ok());
  EXPECT_EQ(p1->spans.size(), 2);
  EXPECT_EQ(p2->spans.size(), 1);
  EXPECT_EQ(p3->spans.size(), 0);
  EXPECT_FALSE(p1->next_cursor.empty());
  EXPECT_FALSE(p2->next_cursor.empty());  // a short page still has a cursor
  EXPECT_TRUE(p3->next_cursor.empty());
  for (const char* f : {"spans_search_paginated_1.json", "spans_search_paginated_2.json",
                        "spans_search_paginated_3.json"}) {
    auto p = ParseSpanPage(LoadFixture(f).body);
    EXPECT_TRUE(p.ok()) << f << ": " << p.status();
  }
}

TEST(SpansFixture, ErrorBodiesAreNotPages) {
  for (const char* f : {"spans_list_422.json", "spans_search_422.json"}) {
    auto fx = LoadFixture(f);
    EXPECT_EQ(fx.status, 422);
    auto p = ParseSpanPage(fx.body);
    EXPECT_FALSE(p.ok());
    EXPECT_THAT(Msg(p.status()), HasSubstr("error response"));
    EXPECT_THAT(DescribeErrorBody(fx.body), HasSubstr("Generic Error"));
  }
  EXPECT_THAT(DescribeErrorBody(LoadFixture("spans_list_422.json").body),
              HasSubstr("'from' should be anterior to 'to'"));
}

TEST(ErrorBodiesFixture, LegacyStrings) {
  EXPECT_EQ(DescribeErrorBody(LoadFixture("v1_validate_forbidden.json").body), "API key required");
  EXPECT_EQ(DescribeErrorBody(LoadFixture("service_definition_get_not_found.json").body),
            "Not Found");
}

TEST(AggregateFixture, TimeseriesC0IsSummed) {
  auto buckets = ParseAggregate(LoadFixture("spans_aggregate_ok.json").body);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  ASSERT_EQ(buckets->buckets.size(), 1u);
  EXPECT_EQ(buckets->buckets[0].count, 154 + 513 + 357 + 196);
  EXPECT_TRUE(buckets->buckets[0].by.empty());
}

TEST(Aggregate, TimeseriesPointsKeepTheirTimes) {
  auto b = ParseAggregate(
      R"({"data":[{"attributes":{"by":{},"compute":{"c0":[{"time":"2026-12-05T10:00:00.000Z",)"
      R"("value":7},{"time":"2026-12-05T10:01:00.000Z","value":null},)"
      R"({"time":"2026-12-05T10:02:00.000Z","value":5}]}}}]})");
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->buckets.size(), 1u);
  EXPECT_EQ(b->buckets[0].count, 12);
  ASSERT_EQ(b->buckets[0].points.size(), 2u);
  EXPECT_EQ(b->buckets[0].points[0].time_unix_nano, 1796464800000000000ll);
  EXPECT_EQ(b->buckets[0].points[1].time_unix_nano, 1796464800000000000ll + 120'000'000'000ll);
  EXPECT_EQ(b->buckets[0].points[1].value, 5);
}

TEST(OtherFixtures, ValidateAndScalarAreParseableJson) {
  EXPECT_EQ(LoadFixture("v1_validate_ok.json").body, R"({"valid":true})");
  for (const char* f :
       {"query_scalar_apm_metrics_ok.json", "query_scalar_apm_metrics_span_kind_ok.json"}) {
    EXPECT_EQ(LoadFixture(f).status, 200) << f;
  }
}

// ---- normalisation (design §5) ----

TEST(ServiceSchema, V1Fields) {
  auto svc = ParseServiceSchema(R"({"schema-version":"v1",
    "info":{"dd-service":"billing","description":"Bills","service-tier":"1"},
    "org":{"team":"payments-team","application":"shop"},
    "external-resources":[{"name":"rb","type":"runbook","url":"https://rb"}],
    "tags":["env:prod","Infrastructure:VM"]})");
  ASSERT_TRUE(svc.ok()) << svc.status();
  EXPECT_EQ(svc->name(), "billing");
  EXPECT_EQ(svc->team(), "payments-team");
  EXPECT_EQ(svc->application(), "shop");
  EXPECT_EQ(svc->tier(), "1");
  EXPECT_EQ(svc->description(), "Bills");
  EXPECT_EQ(svc->schema_version(), "v1");
  EXPECT_THAT(svc->envs(), ElementsAre("prod"));
  EXPECT_EQ(svc->infra(), "vm");
  EXPECT_EQ(svc->links_json(), R"([{"name":"rb","type":"runbook","url":"https://rb"}])");
}

TEST(ServiceSchema, V2DdTeamAndReposDocs) {
  auto svc = ParseServiceSchema(R"({"schema-version":"v2","dd-service":"cart","dd-team":"t1",
    "repos":[{"name":"src","url":"https://g"}],"docs":[{"name":"d","url":"https://d"}],
    "tags":["platform:Lambda","env:staging","env:prod","env:prod"]})");
  ASSERT_TRUE(svc.ok()) << svc.status();
  EXPECT_EQ(svc->team(), "t1");
  EXPECT_EQ(svc->infra(), "lambda");
  EXPECT_THAT(svc->envs(), ElementsAre("staging", "prod"));
  EXPECT_EQ(svc->links_json(),
            R"([{"name":"src","url":"https://g"},{"name":"d","url":"https://d"}])");
}

TEST(ServiceSchema, NulEscapesInLinksAreDroppedSoTheServiceCanBeStored) {
  auto svc = ParseServiceSchema(R"({"schema-version":"v2","dd-service":"cart",
    "links":[{"name":"run\u0000book","url":"https://rb\u0000","note":"a\\u0000b"}]})");
  ASSERT_TRUE(svc.ok()) << svc.status();
  EXPECT_EQ(svc->links_json(), R"([{"name":"runbook","url":"https://rb","note":"a\\u0000b"}])");
}

TEST(ServiceSchema, V22LanguagesTierLifecycle) {
  auto svc = ParseServiceSchema(R"({"schema-version":"v2.2","dd-service":"api","team":"web",
    "dd-team":"ignored","tier":"High","lifecycle":"deprecated","type":"web",
    "languages":["Go","python"],"application":"storefront","unknown-field":{"x":[1,2]}})");
  ASSERT_TRUE(svc.ok()) << svc.status();
  EXPECT_EQ(svc->team(), "web");
  EXPECT_EQ(svc->tier(), "High");
  EXPECT_EQ(svc->lifecycle(), "deprecated");
  EXPECT_EQ(svc->type(), "web");
  EXPECT_THAT(svc->languages(), ElementsAre("go", "python"));
  EXPECT_EQ(svc->infra(), "");
  EXPECT_FALSE(svc->customer_facing());
}

TEST(ServiceSchema, CustomerFacingTagVariants) {
  for (const char* tag : {"customer-facing:true", "customer_facing:YES", "customer-facing:1"}) {
    auto svc = ParseServiceSchema(absl::StrCat(R"({"dd-service":"a","tags":[")", tag, R"("]})"));
    ASSERT_TRUE(svc.ok());
    EXPECT_TRUE(svc->customer_facing()) << tag;
  }
  for (const char* tag : {"customer-facing:false", "customer-facing:no", "customerfacing:true"}) {
    auto svc = ParseServiceSchema(absl::StrCat(R"({"dd-service":"a","tags":[")", tag, R"("]})"));
    ASSERT_TRUE(svc.ok());
    EXPECT_FALSE(svc->customer_facing()) << tag;
  }
}

TEST(ServiceSchema, CustomerFacingExtension) {
  auto a = ParseServiceSchema(R"({"dd-service":"a","extensions":{"acme/customer-facing":true}})");
  auto b = ParseServiceSchema(R"({"dd-service":"b","extensions":{"acme/customer-facing":"true"}})");
  auto c = ParseServiceSchema(R"({"dd-service":"c","extensions":{"acme/customer-facing":false}})");
  auto d = ParseServiceSchema(R"({"dd-service":"d","extensions":{"acme/customer-facing-x":true}})");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_TRUE(a->customer_facing());
  EXPECT_TRUE(b->customer_facing());
  EXPECT_FALSE(c->customer_facing());
  EXPECT_FALSE(d->customer_facing());
}

TEST(ServiceSchema, MalformedInputs) {
  EXPECT_THAT(Msg(ParseServiceSchema("{not json").status()), HasSubstr("not JSON"));
  EXPECT_THAT(Msg(ParseServiceSchema("[1,2]").status()), HasSubstr("not an object"));
  EXPECT_THAT(Msg(ParseServiceSchema(R"({"team":"x"})").status()), HasSubstr("no dd-service"));
}

TEST(ServiceDefinitions, ItemsWithoutNameAreSkippedAndReported) {
  auto page = ParseServiceDefinitions(R"({"data":[
    {"id":"1","attributes":{"schema":{"dd-service":"ok"}}},
    {"id":"2","attributes":{"schema":{"team":"nameless"}}},
    {"id":"3"}]})");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->raw_items, 3u);
  ASSERT_EQ(page->services.size(), 1u);
  ASSERT_EQ(page->skipped.size(), 2u);
  EXPECT_THAT(page->skipped[0], HasSubstr("id 2"));
  EXPECT_FALSE(ParseServiceDefinitions(R"({"data":{}})").ok());
  EXPECT_FALSE(ParseServiceDefinitions("").ok());
}

// ---- APM service list and aggregate ----

TEST(ApmServices, ParallelArrays) {
  auto obs = ParseApmServices(R"({"data":{"id":"x","type":"services_list","attributes":{
    "services":["checkout","payments","legacy"],
    "metadata":[{"isTraced":true,"isUsm":false},{"isTraced":true,"isUsm":true},
                {"isTraced":false,"isUsm":true}]}}})");
  ASSERT_TRUE(obs.ok()) << obs.status();
  ASSERT_EQ(obs->size(), 3u);
  EXPECT_EQ((*obs)[2].service(), "legacy");
  EXPECT_FALSE((*obs)[2].traced());
  EXPECT_TRUE((*obs)[2].usm());
  EXPECT_TRUE((*obs)[0].traced());
  EXPECT_EQ((*obs)[0].env(), "*");
  EXPECT_EQ((*obs)[0].source(), "service_list");
  auto no_meta = ParseApmServices(R"({"data":{"attributes":{"services":["a"]}}})");
  ASSERT_TRUE(no_meta.ok());
  EXPECT_TRUE((*no_meta)[0].traced());
  EXPECT_FALSE(ParseApmServices(R"({"data":{"attributes":{"services":[1]}}})").ok());
  EXPECT_FALSE(ParseApmServices(R"({"data":[]})").ok());
}

TEST(Aggregate, GroupedComputeAndComputes) {
  auto b = ParseAggregate(R"({"data":[
    {"type":"bucket","attributes":{"by":{"service":"a","env":"prod"},"compute":{"c0":12}}},
    {"type":"bucket","attributes":{"by":{"service":"b","env":"dev"},"computes":{"c0":3.0}}},
    {"type":"bucket","attributes":{"by":{"service":"c"},"computes":{"count":7}}}]})");
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->buckets.size(), 3u);
  EXPECT_EQ(b->buckets[0].by.at("service"), "a");
  EXPECT_EQ(b->buckets[0].by.at("env"), "prod");
  EXPECT_EQ(b->buckets[0].count, 12);
  EXPECT_EQ(b->buckets[1].count, 3);
  EXPECT_EQ(b->buckets[2].count, 7);
  EXPECT_THAT(Msg(ParseAggregate(R"({"data":[{"attributes":{"by":{}}}]})").status()),
              HasSubstr("no compute"));
  EXPECT_THAT(Msg(ParseAggregate(R"({"data":[{"attributes":{"compute":{"c0":"x"}}}]})").status()),
              HasSubstr("not a number"));
  EXPECT_FALSE(b->partial);
}

// meta.status "timeout": Datadog stopped counting early; the counts it has are kept.
TEST(Aggregate, ATimeoutIsPartial) {
  auto t = ParseAggregate(R"({"data":[{"attributes":{"by":{"service":"a"},"compute":{"c0":5}}}],)"
                          R"("meta":{"elapsed":5012,"status":"timeout"}})");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->partial);
  ASSERT_EQ(t->buckets.size(), 1u);
  EXPECT_EQ(t->buckets[0].count, 5);
  auto done = ParseAggregate(R"({"data":[],"meta":{"elapsed":3,"status":"done"}})");
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(done->partial);
}

// ---- spans: synthetic cases ----

std::string SpanJson(const std::string& attrs_extra, const std::string& custom,
                     const std::string& tags = "[]") {
  return absl::StrCat(
      R"({"data":[{"id":"e1","type":"spans","attributes":{"service":"web","env":"prod",)",
      R"("trace_id":"18446744073709551615","span_id":"42","parent_id":"7","type":"http",)",
      R"("start_timestamp":"2024-01-02T03:04:05.123456Z","end_timestamp":"2024-01-02T03:04:05.200Z",)",
      attrs_extra, R"("tags":)", tags, R"(,"custom":)", custom,
      R"(}}],"meta":{"page":{"after":"CUR"}}})");
}

TEST(SpanPage, TargetPrecedence) {
  struct Case {
    std::string custom;
    std::string target;
  } cases[] = {
      {R"({"peer":{"service":"payments","hostname":"h"},"out":{"host":"o"}})", "payments"},
      {R"({"peer":{"hostname":"h"},"out":{"host":"o"}})", "h"},
      {R"({"out":{"host":"o"},"net":{"peer":{"name":"n"}}})", "o"},
      {R"({"net":{"peer":{"name":"n"}},"server":{"address":"s"}})", "n"},
      {R"({"server":{"address":"s"},"network":{"destination":{"name":"d"}}})", "s"},
      {R"({"network":{"destination":{"name":"d"}},"http":{"url":"https://u:8443/x"}})", "d"},
      {R"({"http":{"url":"https://user@payments.internal:8443/x?y"},"rpc":{"service":"r"}})",
       "payments.internal"},
      {R"({"rpc":{"service":"r"},"messaging":{"destination":{"name":"q"}}})", "r"},
      {R"({"messaging":{"destination":{"name":"q"}}})", "q"},
      {R"({"peer.service":"flat"})", "flat"},
      {R"({})", ""},
  };
  for (const Case& c : cases) {
    auto page = ParseSpanPage(SpanJson("", c.custom));
    ASSERT_TRUE(page.ok()) << c.custom << ": " << page.status();
    EXPECT_EQ(page->spans[0].target(), c.target) << c.custom;
  }
}

TEST(SpanPage, AllFields) {
  auto page = ParseSpanPage(SpanJson(
      R"("retained_by":"flat_sampled","host":"h1","resource_name":"GET /x","unknown":{"a":[1]},)",
      R"({"span":{"kind":"client"},"db":{"system":"postgresql"},"messaging":{"system":"kafka"},
          "language":"go","operation_name":"http.request","_dd":{"p":{"tid":"6560a0b100000000"}},
          "error":{"message":"boom"}})",
      R"(["kube_namespace:x","env:prod"])"));
  ASSERT_TRUE(page.ok()) << page.status();
  const v1::Span& s = page->spans[0];
  EXPECT_EQ(s.trace_id(), 18446744073709551615ull);
  EXPECT_EQ(s.trace_id_high(), 0x6560a0b100000000ull);
  EXPECT_EQ(s.span_id(), 42u);
  EXPECT_EQ(s.parent_id(), 7u);
  EXPECT_EQ(s.kind(), "client");
  EXPECT_EQ(s.db_system(), "postgresql");
  EXPECT_EQ(s.messaging_system(), "kafka");
  EXPECT_EQ(s.language(), "go");
  EXPECT_EQ(s.operation(), "http.request");
  EXPECT_EQ(s.retained_by(), "flat_sampled");
  EXPECT_EQ(s.host(), "h1");
  EXPECT_EQ(s.resource(), "GET /x");
  EXPECT_EQ(s.type(), "http");
  EXPECT_EQ(s.infra_hint(), "kubernetes");
  EXPECT_TRUE(s.error());
  // 2024-01-02T03:04:05.123456Z
  EXPECT_EQ(s.start_unix_nano(), 1704164645123456000ll);
  // no custom.duration: end - start
  EXPECT_EQ(s.duration_ns(), 1704164645200000000ll - 1704164645123456000ll);
  EXPECT_EQ(page->next_cursor, "CUR");
  auto timeout = ParseSpanPage(R"({"data":[],"meta":{"status":"timeout","page":{"after":"x"}}})");
  ASSERT_TRUE(timeout.ok());
  EXPECT_TRUE(timeout->partial);
}

TEST(SpanPage, EscapedAndSpacedStringsAreUnescaped) {
  // Plain strings are read in place; escaped ones, and whitespace around values, take the
  // general path. Both must give the same text.
  auto page = ParseSpanPage(
      SpanJson(R"("resource_name" : "GET /a\"b\\c\u00e9" ,"host":"h\/1" , )",
               R"({"peer" : { "service" : "pay\u0020ments" } , "language" : "go" })", R"([])"));
  ASSERT_TRUE(page.ok()) << page.status();
  const v1::Span& s = page->spans[0];
  EXPECT_EQ(s.resource(), "GET /a\"b\\c\xc3\xa9");
  EXPECT_EQ(s.host(), "h/1");
  EXPECT_EQ(s.target(), "pay ments");
  EXPECT_EQ(s.language(), "go");
}

TEST(SpanPage, RunsTheBestSimdjsonKernelTheCpuSupports) {
  // The parser is compiled once per kernel; the one chosen is simdjson's own pick for this
  // CPU, so never "fallback" where AVX2 is available.
  const std::string active = simdjson::get_active_implementation()->name();
  const std::string_view ours = SpanPageSimdjsonKernel();
  if (active == "icelake" || active == "haswell" || active == "westmere") {
    EXPECT_EQ(ours, active);
  } else {
    EXPECT_EQ(ours, simdjson::builtin_implementation()->name());
  }
  EXPECT_TRUE(ParseSpanPage(R"({"data":[]})").ok());
}

TEST(SpanPage, InfraHintsAndTidTag) {
  auto ecs = ParseSpanPage(SpanJson("", "{}", R"(["task_arn:arn:aws:ecs:x"])"));
  auto ecs2 = ParseSpanPage(SpanJson("", "{}", R"(["ecs_cluster_name:c"])"));
  auto lambda = ParseSpanPage(SpanJson("", "{}", R"(["function_arn:arn:aws:lambda:x"])"));
  auto lambda2 = ParseSpanPage(SpanJson("", "{}", R"(["aws_lambda:true"])"));
  auto tid = ParseSpanPage(SpanJson("", R"({"duration":5})", R"(["_dd.p.tid:00000000000000ff"])"));
  ASSERT_TRUE(ecs.ok() && ecs2.ok() && lambda.ok() && lambda2.ok() && tid.ok());
  EXPECT_EQ(ecs->spans[0].infra_hint(), "ecs");
  EXPECT_EQ(ecs2->spans[0].infra_hint(), "ecs");
  EXPECT_EQ(lambda->spans[0].infra_hint(), "serverless");
  EXPECT_EQ(lambda2->spans[0].infra_hint(), "serverless");
  EXPECT_EQ(tid->spans[0].trace_id_high(), 0xffu);
  EXPECT_EQ(tid->spans[0].duration_ns(), 5);
}

TEST(SpanPage, MalformedPagesGiveClearErrors) {
  auto msg = [](const std::string& body) { return Msg(ParseSpanPage(body).status()); };
  EXPECT_THAT(msg("not json"), HasSubstr("malformed Datadog span page"));
  EXPECT_THAT(msg(R"({"meta":{}})"), HasSubstr("no \"data\" array"));
  EXPECT_THAT(msg(R"({"data":{}})"), HasSubstr("data"));
  // Truncated: the whole page is unusable (the client asks for it again).
  EXPECT_THAT(msg(R"({"data":[{"attributes":{"trace_id":"1","span_id":"1"}},)"),
              HasSubstr("malformed"));
}

// One bad span costs only itself: it is skipped with its ids and the reason, and the spans
// around it are kept (design §7).
TEST(SpanPage, BadSpansAreSkippedAndTheRestOfThePageKept) {
  auto skipped = [](const std::string& bad) -> std::string {
    const std::string body =
        absl::StrCat(R"({"data":[{"attributes":{"trace_id":"10","span_id":"11","service":"a"}},)",
                     bad, R"(,{"attributes":{"trace_id":"30","span_id":"31","service":"c"}}],)",
                     R"("meta":{"page":{"after":"CUR"}}})");
    auto page = ParseSpanPage(body);
    if (!page.ok()) return absl::StrCat("page failed: ", page.status().message());
    EXPECT_EQ(page->spans.size(), 2) << bad;
    if (page->spans.size() == 2) {
      EXPECT_EQ(page->spans[0].span_id(), 11u);
      EXPECT_EQ(page->spans[1].span_id(), 31u);
      EXPECT_EQ(page->spans[1].service(), "c");
    }
    EXPECT_EQ(page->next_cursor, "CUR");
    if (page->skipped.size() != 1) return "not skipped";
    return page->skipped[0].reason;
  };
  EXPECT_THAT(skipped(R"({"attributes":{"span_id":"1"}})"), HasSubstr("data[1] has no trace_id"));
  EXPECT_THAT(skipped(R"({"attributes":{"trace_id":"1"}})"), HasSubstr("no span_id"));
  EXPECT_THAT(skipped(R"({"id":"x"})"), HasSubstr("data[1] has no attributes"));
  EXPECT_THAT(skipped(R"({"attributes":{"trace_id":"12a","span_id":"1"}})"),
              HasSubstr("not a decimal number"));
  EXPECT_THAT(skipped(R"({"attributes":{"trace_id":"18446744073709551616","span_id":"1"}})"),
              HasSubstr("does not fit in 64 bits"));
  EXPECT_THAT(skipped(R"({"attributes":{"trace_id":"-1","span_id":"1"}})"),
              HasSubstr("not a decimal number"));
  // A non-string service early in the object: the rest of it is still read for its ids.
  EXPECT_THAT(skipped(R"({"attributes":{"service":5,"trace_id":"1","span_id":"2","x":[1,{}]}})"),
              HasSubstr("service is not a string"));
  EXPECT_THAT(
      skipped(
          R"({"attributes":{"trace_id":"1","span_id":"2","custom":{"_dd":{"p":{"tid":"xyz"}}}}})"),
      HasSubstr("_dd.p.tid"));
  EXPECT_THAT(
      skipped(R"({"attributes":{"trace_id":"1","span_id":"2","start_timestamp":"yesterday"}})"),
      HasSubstr("start_timestamp"));

  // The skipped span is named by its ids when they could be read.
  auto page = ParseSpanPage(SpanJson("", R"({"_dd":{"p":{"tid":"xyz"}}})"));
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->spans.size(), 0);
  ASSERT_EQ(page->skipped.size(), 1u);
  EXPECT_EQ(page->skipped[0].trace_id, 18446744073709551615ull);
  EXPECT_EQ(page->skipped[0].span_id, 42u);
  // A page of only bad spans keeps its cursor: the range goes on.
  EXPECT_EQ(page->next_cursor, "CUR");
}

// A skipped span is named by the ids that could be read; an id that could not is 0, never
// the digits before the first bad character.
TEST(SpanPage, UnreadableIdsOfASkippedSpanAreZero) {
  auto page = ParseSpanPage(R"({"data":[{"attributes":{"trace_id":"12a","span_id":"34"}}]})");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->skipped.size(), 1u);
  EXPECT_EQ(page->skipped[0].trace_id, 0u);
  EXPECT_EQ(page->skipped[0].span_id, 34u);
  EXPECT_THAT(page->skipped[0].reason, HasSubstr("not a decimal number"));
}

// Ids are read eight digits at a time: every length, the 20th digit's overflow check, and
// leading zeros beyond 20 digits give what a digit-by-digit reading gives.
TEST(SpanPage, DecimalIdsOfEveryLength) {
  const std::string ids[] = {"0",
                             "7",
                             "12345678",
                             "123456789",
                             "1234567890123456",
                             "12345678901234567",
                             "9999999999999999999",
                             "10000000000000000000",
                             "18446744073709551615",
                             "0000000000000000000000018446744073709551615"};
  for (const std::string& id : ids) {
    auto page = ParseSpanPage(
        absl::StrCat(R"({"data":[{"attributes":{"trace_id":")", id, R"(","span_id":"1"}}]})"));
    ASSERT_TRUE(page.ok()) << id << ": " << page.status();
    ASSERT_EQ(page->spans.size(), 1) << id;
    EXPECT_EQ(page->spans[0].trace_id(), std::stoull(id)) << id;
  }
  for (const char* bad : {"18446744073709551616", "99999999999999999999", "1234567a", "12345678a",
                          "1234567812345678:", "-1", "+1", " 1"}) {
    auto page = ParseSpanPage(
        absl::StrCat(R"({"data":[{"attributes":{"trace_id":")", bad, R"(","span_id":"1"}}]})"));
    ASSERT_TRUE(page.ok()) << bad << ": " << page.status();
    EXPECT_EQ(page->spans.size(), 0) << bad;
    EXPECT_EQ(page->skipped.size(), 1u) << bad;
  }
}

TEST(SpanPage, ToleratesNullsNumbersAndUnknowns) {
  auto page = ParseSpanPage(
      R"({"data":[{"attributes":{"trace_id":5,"span_id":"6","service":null,"custom":null,"tags":null,
          "new_field":[{"x":1}],"start_timestamp":"2024-01-02T03:04:05+01:00"}}],"links":{"next":"u"}})");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->spans[0].trace_id(), 5u);
  EXPECT_EQ(page->spans[0].parent_id(), 0u);
  EXPECT_EQ(page->spans[0].service(), "");
  EXPECT_EQ(page->spans[0].start_unix_nano(), 1704161045000000000ll);
  EXPECT_TRUE(page->next_cursor.empty());
}

// ---- a page read in two steps (ScanSpanPage, then FinishParse) ----

// What the collector publishes of a page: its spans' bytes, skipped ids and reasons, paging.
std::string Published(const SpanPage& page) {
  std::string out;
  for (const v1::Span& s : page.spans) absl::StrAppend(&out, s.SerializeAsString(), "|");
  for (const SpanPage::SkippedSpan& s : page.skipped) {
    absl::StrAppend(&out, "skip ", s.trace_id, " ", s.span_id, " ", s.reason, "|");
  }
  absl::StrAppend(&out, "cursor ", page.next_cursor, " partial ", page.partial, " items ",
                  page.items);
  return out;
}

// A body as the HTTP client leaves it: kJsonPadding bytes of spare capacity.
std::string Padded(const std::string& json) {
  std::string body;
  body.reserve(json.size() + kJsonPadding);
  body.assign(json);
  return body;
}

TEST(SpanPageScan, ScanKnowsThePagingFirstAndTheFinishGivesWhatOnePassGives) {
  const std::string with_bad =
      R"({"data":[{"attributes":{"trace_id":"10","span_id":"11","service":"a"}},)"
      R"({"attributes":{"trace_id":"12a","span_id":"34"}},)"
      R"({"attributes":{"trace_id":"30","span_id":"31","service":"c"}}],)"
      R"("meta":{"status":"timeout","page":{"after":"CUR"}}})";
  std::vector<std::string> bodies = {with_bad, R"({"meta":{"page":{"after":"X"}},"data":[]})"};
  for (const char* f : {"spans_list_ok.json", "spans_search_ok.json", "spans_list_paginated_1.json",
                        "spans_list_paginated_3.json"}) {
    bodies.push_back(LoadFixture(f).body);
  }
  for (const std::string& json : bodies) {
    auto whole = ParseSpanPage(json);
    ASSERT_TRUE(whole.ok()) << whole.status();
    SpanPage page;
    std::string body = Padded(json);
    ASSERT_TRUE(ScanSpanPage(&body, &page).ok()) << json.substr(0, 80);
    // Scanned: the paging is known, no span is parsed yet.
    EXPECT_EQ(page.items, static_cast<size_t>(whole->spans.size()) + whole->skipped.size());
    EXPECT_EQ(page.next_cursor, whole->next_cursor);
    EXPECT_EQ(page.partial, whole->partial);
    EXPECT_EQ(page.spans.size(), 0);
    ASSERT_TRUE(page.scan != nullptr && page.scan->pending());
    ASSERT_TRUE(page.FinishParse().ok());
    EXPECT_EQ(Published(page), Published(*whole));
    EXPECT_FALSE(page.scan->pending());
    // A second finish has nothing left to do.
    ASSERT_TRUE(page.FinishParse().ok());
    EXPECT_EQ(Published(page), Published(*whole));
  }
}

// The collector recycles pages: a page scanned again (its body and parser reused) gives the
// new page only, and the finish may run on another thread than the scan.
TEST(SpanPageScan, ARecycledPageScannedAgainHoldsOnlyTheNewPage) {
  const std::string big = LoadFixture("spans_list_ok.json").body;
  const std::string small =
      R"({"data":[{"attributes":{"trace_id":"5","span_id":"6","service":"z"}}]})";
  auto expect_small = ParseSpanPage(small);
  ASSERT_TRUE(expect_small.ok());
  SpanPage page;
  std::string body = Padded(big);
  ASSERT_TRUE(ScanSpanPage(&body, &page).ok());
  ASSERT_TRUE(page.FinishParse().ok());
  page.Clear();
  body = Padded(small);
  ASSERT_TRUE(ScanSpanPage(&body, &page).ok());
  absl::Status finished;
  std::thread([&] { finished = page.FinishParse(); }).join();
  ASSERT_TRUE(finished.ok()) << finished;
  EXPECT_EQ(Published(page), Published(*expect_small));
  // Cleared after a scan, before its finish: the scan is dropped, not parsed into the page.
  body = Padded(big);
  ASSERT_TRUE(ScanSpanPage(&body, &page).ok());
  page.Clear();
  ASSERT_TRUE(page.FinishParse().ok());
  EXPECT_EQ(page.spans.size(), 0);
  EXPECT_EQ(page.items, 0u);
}

// What the scan rejects is asked for again by the client: a body cut short, an error body, a
// body without data. The body is given back untouched (the client logs its size).
TEST(SpanPageScan, TheScanRejectsAPageWhosePagingCannotBeReadAndGivesTheBodyBack) {
  for (const std::string& json :
       {std::string(R"({"data":[{"attributes":{"trace_id":"1","span_id":"1"}},)"),
        std::string(R"({"data":[{"attributes":{"trace_id":"1","span_id":"1"}})"),
        std::string(R"({"errors":["Rate limit exceeded"]})"), std::string(R"({"meta":{}})"),
        std::string("not json")}) {
    SpanPage page;
    std::string body = Padded(json);
    absl::Status s = ScanSpanPage(&body, &page);
    EXPECT_FALSE(s.ok()) << json;
    EXPECT_THAT(Msg(s), HasSubstr("malformed Datadog span page")) << json;
    EXPECT_EQ(body, json);
    EXPECT_TRUE(page.scan == nullptr || !page.scan->pending());
  }
}

// Past the paging, an item that is not an object fails the finish (the whole-page parse fails
// the same way), with where it was.
TEST(SpanPageScan, AnItemThatIsNotAnObjectFailsTheFinishWithItsPlace) {
  const std::string json =
      R"({"data":[{"attributes":{"trace_id":"1","span_id":"2"}},7],"meta":{"page":{"after":"C"}}})";
  SpanPage page;
  std::string body = Padded(json);
  ASSERT_TRUE(ScanSpanPage(&body, &page).ok());
  EXPECT_EQ(page.items, 2u);
  EXPECT_EQ(page.next_cursor, "C");
  absl::Status s = page.FinishParse();
  EXPECT_THAT(Msg(s), HasSubstr("data[1]"));
  EXPECT_THAT(Msg(ParseSpanPage(json).status()), HasSubstr("data[1]"));
}

TEST(DecimalId, Bounds) {
  EXPECT_EQ(*ParseDecimalId("0", "id"), 0u);
  EXPECT_EQ(*ParseDecimalId("18446744073709551615", "id"), UINT64_MAX);
  EXPECT_FALSE(ParseDecimalId("18446744073709551616", "id").ok());
  EXPECT_FALSE(ParseDecimalId("", "id").ok());
  EXPECT_FALSE(ParseDecimalId("1 ", "id").ok());
  EXPECT_THAT(Msg(ParseDecimalId("x", "trace_id").status()), HasSubstr("trace_id"));
}

TEST(UrlHostTest, Forms) {
  EXPECT_EQ(UrlHost("http://a.b:80/x"), "a.b");
  EXPECT_EQ(UrlHost("a.b/x"), "a.b");
  EXPECT_EQ(UrlHost("https://[::1]:8080/"), "::1");
}

TEST(ErrorBody, JsonApiObjectsAndText) {
  EXPECT_EQ(
      DescribeErrorBody(
          R"({"errors":[{"status":"400","title":"Bad Request","detail":"d","source":{"parameter":"limit"}}]})"),
      "400: Bad Request: d: parameter limit");
  EXPECT_EQ(DescribeErrorBody(R"({"errors":["a","b"]})"), "a; b");
  EXPECT_EQ(DescribeErrorBody("<html>gateway\ntimeout</html>"), "<html>gateway timeout</html>");
}

}  // namespace
}  // namespace apmcov::datadog
