// Field-by-field shape comparison of ddsim's responses with real recorded Datadog responses
// ($APMCOV_FIXTURES_DIR/*.json): status, content type, key sets and value types. Keys that
// appear in every recorded element are required; keys seen in only some are optional; a
// ddsim key never seen in the recordings fails, except inside free-form objects (`custom`,
// service-definition `schema`, `extensions`, `integrations`).
#include <cstdlib>
#include <fstream>
#include <set>

#include "apmcov/tracing/msgpack_v04.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_server.h"

namespace apmcov::ddsim::testing {
namespace {

using nlohmann::json;

json LoadFixture(const std::string& name) {
  const char* dir = std::getenv("APMCOV_FIXTURES_DIR");
  if (dir == nullptr) {
    ADD_FAILURE() << "APMCOV_FIXTURES_DIR is not set (ctest sets it to tests/fixtures/datadog)";
    return json();
  }
  std::ifstream in(std::string(dir) + "/" + name);
  if (!in) {
    ADD_FAILURE() << "cannot read fixture " << dir << "/" << name;
    return json();
  }
  return json::parse(in);
}

std::string Kind(const json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "bool";
  if (j.is_number()) return "number";
  if (j.is_string()) return "string";
  if (j.is_array()) return "array";
  return "object";
}

// Free-form objects: only the types of keys both sides have are compared.
bool IsOpen(const std::string& path) {
  for (const char* part : {".custom", ".schema", ".extensions", ".integrations"}) {
    const size_t at = path.find(part);
    if (at != std::string::npos) {
      const size_t end = at + std::string_view(part).size();
      if (end == path.size() || path[end] == '.' || path[end] == '[') return true;
    }
  }
  return false;
}

// Keys every recording has but ddsim may leave out, with the reason.
bool IsOptional(const std::string& path) {
  // An entity of a service without a team has no owner; the recording holds only owned ones.
  return path == "$.data[].attributes.owner";
}

void CompareShape(const std::vector<const json*>& samples, const json& actual,
                  const std::string& path, std::vector<std::string>& errors) {
  std::set<std::string> kinds;
  for (const json* s : samples) kinds.insert(Kind(*s));
  if (samples.empty()) return;
  if (!kinds.count(Kind(actual))) {
    errors.push_back(path + ": ddsim has " + Kind(actual) + ", recordings have " + *kinds.begin());
    return;
  }
  if (actual.is_object()) {
    std::map<std::string, int> seen;
    int objects = 0;
    for (const json* s : samples) {
      if (!s->is_object()) continue;
      ++objects;
      for (auto it = s->begin(); it != s->end(); ++it) ++seen[it.key()];
    }
    const bool open = IsOpen(path);
    for (const auto& [key, count] : seen) {
      if (count == objects && !actual.contains(key) && !open && !IsOptional(path + "." + key))
        errors.push_back(path + "." + key + ": missing in ddsim");
    }
    for (auto it = actual.begin(); it != actual.end(); ++it) {
      if (!seen.count(it.key())) {
        if (!open) errors.push_back(path + "." + it.key() + ": not in the recordings");
        continue;
      }
      std::vector<const json*> sub;
      for (const json* s : samples) {
        if (s->is_object() && s->contains(it.key())) sub.push_back(&(*s)[it.key()]);
      }
      CompareShape(sub, it.value(), path + "." + it.key(), errors);
    }
  } else if (actual.is_array()) {
    std::vector<const json*> elems;
    for (const json* s : samples) {
      if (s->is_array()) {
        for (const auto& e : *s) elems.push_back(&e);
      }
    }
    if (elems.empty()) return;
    for (const auto& e : actual) CompareShape(elems, e, path + "[]", errors);
  }
}

class ShapeTest : public ::testing::Test {
 protected:
  // Compares one reply with one or more recordings of the same endpoint.
  void Expect(const Reply& r, const std::vector<std::string>& fixtures) {
    std::vector<json> recs;
    for (const auto& f : fixtures) recs.push_back(LoadFixture(f)["response"]);
    ASSERT_FALSE(recs.empty());
    EXPECT_EQ(r.status, recs[0]["status"].get<long>()) << fixtures[0] << ": " << r.body;
    EXPECT_EQ(r.content_type(), recs[0]["headers"]["content-type"].get<std::string>())
        << fixtures[0];
    json body = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << r.body;
    std::vector<const json*> samples;
    for (const auto& rec : recs) samples.push_back(&rec["body"]);
    std::vector<std::string> errors;
    CompareShape(samples, body, "$", errors);
    for (const auto& e : errors) ADD_FAILURE() << fixtures[0] << " " << e;
  }
  static std::string Body(const std::string& fixture) {
    return LoadFixture(fixture)["request"]["body"].dump();
  }

  DdsimHarness h_;
  Client c_{h_.port()};
};

TEST_F(ShapeTest, Validate) {
  Expect(c_.Get("/api/v1/validate"), {"v1_validate_ok.json"});
  Expect(c_.Get("/api/v1/validate", false), {"v1_validate_forbidden.json"});
}

TEST_F(ShapeTest, ServiceDefinitions) {
  Expect(c_.Get("/api/v2/services/definitions?schema_version=v2.1&page%5Bsize%5D=100"),
         {"service_definitions_list_ok.json", "service_definitions_list_paginated_1.json",
          "service_definitions_list_paginated_2.json"});
  Expect(c_.Get("/api/v2/services/definitions?page%5Bsize%5D=2&page%5Bnumber%5D=1"),
         {"service_definitions_list_paginated_2.json", "service_definitions_list_paginated_1.json",
          "service_definitions_list_ok.json"});
  // A service with a team, rendered at v2.1 like the recording.
  std::string name;
  for (uint32_t i : h_.world().catalog_order) {
    if (!h_.world().services[i].team.empty()) {
      name = h_.world().services[i].name;
      break;
    }
  }
  Reply one = c_.Get("/api/v2/services/definitions/" + name + "?schema_version=v2.1");
  Expect(one, {"service_definition_get_ok.json"});
  const json schema = json::parse(one.body)["data"]["attributes"]["schema"];
  for (const char* key : {"schema-version", "dd-service", "team", "contacts", "links", "tags",
                          "integrations", "extensions"}) {
    EXPECT_TRUE(schema.contains(key)) << key;
  }
  Expect(c_.Get("/api/v2/services/definitions/not-a-service"),
         {"service_definition_get_not_found.json"});
}

TEST_F(ShapeTest, CatalogEntities) {
  Expect(c_.Get("/api/v2/catalog/entity?page%5Blimit%5D=100"), {"catalog_entities_list_ok.json"});
}

TEST_F(ShapeTest, SpansListAndPaging) {
  const std::vector<std::string> lists = {"spans_list_ok.json", "spans_list_paginated_1.json",
                                          "spans_list_paginated_2.json", "spans_search_ok.json"};
  Reply first = c_.Get("/api/v2/spans/events");
  Expect(first, lists);
  Reply p1 = c_.Get("/api/v2/spans/events?page%5Blimit%5D=2");
  Expect(p1, {"spans_list_paginated_1.json", "spans_list_ok.json"});
  // custom: the keys the recordings always carry, with nanosecond duration and nested span.kind.
  // (The parsed page is held by name: a range-for over a member of a temporary would iterate a
  // destroyed object.)
  const json first_page = json::parse(first.body);
  ASSERT_FALSE(first_page["data"].empty());
  for (const auto& item : first_page["data"]) {
    const json& custom = item["attributes"]["custom"];
    EXPECT_TRUE(custom["duration"].is_number_integer());
    EXPECT_TRUE(custom["env"].is_string());
    EXPECT_TRUE(custom["language"].is_string());
    EXPECT_TRUE(custom["version"].is_string());
    EXPECT_TRUE(custom["span"]["kind"].is_string());
    EXPECT_EQ(item["id"].get<std::string>().size(), 24u);
  }
  // Page a narrow window to its end: the last reply is the bare {"data": []}.
  std::string next =
      "/api/v2/spans/events?page%5Blimit%5D=1000&filter%5Bfrom%5D=now-2s&filter%5Bto%5D=now-1s";
  Reply r = c_.Get(next);
  for (int i = 0; i < 20 && json::parse(r.body)["data"].size() > 0; ++i) {
    r = c_.GetUrl(json::parse(r.body)["links"]["next"].get<std::string>());
  }
  Expect(r, {"spans_list_paginated_3.json"});
  EXPECT_EQ(json::parse(r.body), LoadFixture("spans_list_paginated_3.json")["response"]["body"]);
  Expect(c_.Get("/api/v2/spans/events?filter%5Bfrom%5D=now&filter%5Bto%5D=now-1m"),
         {"spans_list_422.json"});
}

TEST_F(ShapeTest, SpansReceivedByTheAgentIntakeHaveTheSameShape) {
  tracing::SpanData root;
  root.trace_id = {0x6650a1b200000000ULL, 77};
  root.span_id = 1;
  root.service = "apmcov-gateway";
  root.name = "http.request";
  root.resource = "GET /api/stats";
  root.type = "web";
  root.start_ns = (kNowSeconds - 30) * 1'000'000'000LL;
  root.duration_ns = 1'000'000;
  root.meta = {{"env", "test"},      {"span.kind", "server"}, {"_dd.p.tid", "6650a1b200000000"},
               {"version", "0.1.0"}, {"language", "cpp"},     {"http.status_code", "200"}};
  root.metrics = {{"_sampling_priority_v1", 1}};
  tracing::SpanData call = root;
  call.span_id = 2;
  call.parent_id = 1;
  call.type = "sql";
  call.meta = {{"env", "test"}, {"span.kind", "client"}, {"db.system", "postgresql"}};
  call.metrics.clear();
  Reply put = c_.Do("PUT", "/v0.4/traces", tracing::EncodeTracesV04({{root, call}}), false,
                    {"Content-Type: application/msgpack"});
  ASSERT_EQ(put.status, 200) << put.body;
  Reply r = c_.Get("/api/v2/spans/events?filter%5Bquery%5D=service%3Aapmcov-gateway");
  const json page = json::parse(r.body);
  ASSERT_EQ(page["data"].size(), 2u) << r.body;
  Expect(r, {"spans_list_ok.json", "spans_list_paginated_1.json", "spans_list_paginated_2.json",
             "spans_search_ok.json"});
  for (const auto& item : page["data"]) {
    const json& custom = item["attributes"]["custom"];
    EXPECT_TRUE(custom["duration"].is_number_integer());
    EXPECT_TRUE(custom["env"].is_string());
    EXPECT_TRUE(custom["span"]["kind"].is_string());
    EXPECT_EQ(item["id"].get<std::string>().size(), 24u);
  }
}

TEST_F(ShapeTest, SpansSearchAndPaging) {
  const std::vector<std::string> lists = {"spans_search_ok.json", "spans_search_paginated_1.json",
                                          "spans_search_paginated_2.json", "spans_list_ok.json"};
  Reply ok = c_.Post("/api/v2/spans/events/search", Body("spans_search_ok.json"));
  Expect(ok, lists);
  // The recording searched service:python*; ddsim's services have other names.
  json req = LoadFixture("spans_search_paginated_1.json")["request"]["body"];
  const std::string prefix =
      h_.world().services[h_.world().reporting_by_env[0][0]].name.substr(0, 4);
  req["data"]["attributes"]["filter"]["query"] = "service:" + prefix + "*";
  Reply p1 = c_.Post("/api/v2/spans/events/search", req.dump());
  Expect(p1, lists);
  EXPECT_EQ(json::parse(p1.body)["data"].size(), 2u);
  // Follow the cursor in the body to the end.
  req["data"]["attributes"]["filter"]["from"] = "now-2s";
  req["data"]["attributes"]["filter"]["to"] = "now-1s";
  req["data"]["attributes"]["page"]["limit"] = 1000;
  Reply r = c_.Post("/api/v2/spans/events/search", req.dump());
  for (int i = 0; i < 20 && json::parse(r.body)["data"].size() > 0; ++i) {
    req["data"]["attributes"]["page"]["cursor"] = json::parse(r.body)["meta"]["page"]["after"];
    r = c_.Post("/api/v2/spans/events/search", req.dump());
  }
  Expect(r, {"spans_search_paginated_3.json"});
  Expect(c_.Post("/api/v2/spans/events/search", Body("spans_search_422.json")),
         {"spans_search_422.json"});
}

TEST_F(ShapeTest, Aggregate) {
  Reply r = c_.Post("/api/v2/spans/analytics/aggregate", Body("spans_aggregate_ok.json"));
  Expect(r, {"spans_aggregate_ok.json"});
  const json b = json::parse(r.body)["data"][0]["attributes"];
  EXPECT_TRUE(b["compute"]["c0"].is_array());
  EXPECT_EQ(b["by"], json::object());
}

}  // namespace
}  // namespace apmcov::ddsim::testing
