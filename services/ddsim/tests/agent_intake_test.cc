// ddsim as a Datadog Agent, over real sockets: msgpack PUT /v0.4/traces, then the received
// spans are served like generated ones (spans list, search, paging, aggregate, trace by id),
// their services join the APM service list, the tracker's three catalog entries are listed,
// and the ground truth judges the received traces. Malformed bodies get a 4xx and the server
// carries on. Also the tracer's own exporter (libs/tracing) delivering to ddsim.
#include <chrono>
#include <set>

#include "apmcov/tracing/agent_exporter.h"
#include "apmcov/tracing/msgpack_v04.h"
#include "apmcov/tracing/tracer.h"
#include "ddsim/http/json_writer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "recompute.h"
#include "test_server.h"

namespace apmcov::ddsim::testing {
namespace {

using nlohmann::json;
using tracing::SpanData;
using tracing::TraceChunk;

constexpr int64_t kT = kNowSeconds - 300;  // received spans start in [kT, kT + 1)
constexpr uint64_t kHigh = 0x6650a1b200000000ULL;

std::string Ms(int64_t seconds) { return std::to_string(seconds * 1000); }

SpanData Sd(uint64_t trace, uint64_t id, uint64_t parent, std::string service, std::string name,
            std::string resource, std::string type, int64_t offset_ms,
            std::map<std::string, std::string> meta, std::map<std::string, double> metrics = {}) {
  SpanData s;
  s.trace_id.low = trace;
  s.span_id = id;
  s.parent_id = parent;
  s.service = std::move(service);
  s.name = std::move(name);
  s.resource = std::move(resource);
  s.type = std::move(type);
  s.start_ns = kT * 1'000'000'000LL + offset_ms * 1'000'000LL;
  s.duration_ns = 4'000'000;
  for (const auto& [k, v] : meta) s.SetMeta(k, v);
  s.SetMeta("env", "test");
  for (const auto& [k, v] : metrics) s.SetMetric(k, v);
  return s;
}

// Trace A: the gateway takes POST /api/sync and publishes a sync request (64-bit id).
TraceChunk TraceA() {
  return {Sd(0x1111, 101, 0, "apmcov-gateway", "http.request", "POST /api/sync", "web", 100,
             {{"span.kind", "server"}, {"version", "0.1.0"}}, {{"_sampling_priority_v1", 1}}),
          Sd(0x1111, 102, 101, "apmcov-gateway", "kafka.produce", "apmcov.commands", "queue", 101,
             {{"span.kind", "producer"},
              {"messaging.system", "kafka"},
              {"messaging.destination.name", "apmcov.commands"}})};
}

// Trace B: a collector sync calling the Datadog API (a 128-bit id).
TraceChunk TraceB() {
  TraceChunk c = {Sd(0x2222, 201, 0, "apmcov-collector", "sync", "scheduled sync", "worker", 200,
                     {{"span.kind", "internal"}, {"_dd.p.tid", "6650a1b200000000"}},
                     {{"_sampling_priority_v1", 2}, {"process_id", 4242}}),
                  Sd(0x2222, 202, 201, "apmcov-collector", "http.request",
                     "GET /api/v2/spans/events", "http", 210,
                     {{"span.kind", "client"},
                      {"peer.service", "datadog-api"},
                      {"out.host", "127.0.0.1"},
                      {"http.status_code", "200"}})};
  c[1].error = 1;
  for (SpanData& s : c) s.trace_id.high = kHigh;
  return c;
}

Reply Put(Client& c, const std::string& body, std::string content_type = "application/msgpack") {
  return c.Do(
      "PUT", "/v0.4/traces", body, /*keys=*/false,
      {"Content-Type: " + content_type, "Datadog-Meta-Lang: cpp", "X-Datadog-Trace-Count: 1"});
}

std::vector<json> Received(Client& c, int64_t from_s, int64_t to_s) {
  Reply r = c.Get("/api/v2/spans/events?page%5Blimit%5D=1000&sort=timestamp&filter%5Bquery%5D=" +
                  std::string("service%3Aapmcov-%2A") + "&filter%5Bfrom%5D=" + Ms(from_s) +
                  "&filter%5Bto%5D=" + Ms(to_s));
  EXPECT_EQ(r.status, 200) << r.body;
  if (r.status != 200 || r.body == "{\"data\":[]}") return {};
  return json::parse(r.body)["data"].get<std::vector<json>>();
}

// A name → entry map of the APM service list for one env filter.
std::map<std::string, json> ApmList(Client& c, const std::string& env) {
  Reply r = c.Get("/api/v2/apm/services?filter%5Benv%5D=" + env);
  EXPECT_EQ(r.status, 200);
  const json a = json::parse(r.body)["data"]["attributes"];
  std::map<std::string, json> out;
  for (size_t i = 0; i < a["services"].size(); ++i) out[a["services"][i]] = a["metadata"][i];
  return out;
}

class AgentIntakeTest : public ::testing::Test {
 protected:
  DdsimHarness h_;
  Client c_{h_.port()};
};

TEST_F(AgentIntakeTest, TwoTracesPutAsMsgpackJoinTheOrg) {
  Reply put = Put(c_, tracing::EncodeTracesV04({TraceA(), TraceB()}));
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(json::parse(put.body)["rate_by_service"]["service:,env:"], 1);

  // The spans list serves them with the Spans API's fields.
  std::vector<json> spans = Received(c_, kT, kT + 1);
  ASSERT_EQ(spans.size(), 4u);
  std::map<std::string, json> by_id;
  for (const json& s : spans) by_id[s["attributes"]["span_id"]] = s["attributes"];
  const json& server = by_id.at("101");
  EXPECT_EQ(server["service"], "apmcov-gateway");
  EXPECT_EQ(server["resource_name"], "POST /api/sync");
  EXPECT_EQ(server["type"], "web");
  EXPECT_EQ(server["trace_id"], std::to_string(0x1111));
  EXPECT_EQ(server["parent_id"], "0");
  EXPECT_EQ(server["env"], "test");
  EXPECT_EQ(server["retained_by"], "flat_sampled");
  EXPECT_EQ(server["single_span"], false);
  std::string start;
  AppendIsoMillis(start, kT * 1'000'000'000LL + 100'000'000, /*quoted=*/false);
  EXPECT_EQ(server["start_timestamp"], start);
  EXPECT_EQ(server["custom"]["span"]["kind"], "server");
  EXPECT_EQ(server["custom"]["duration"], 4'000'000);
  EXPECT_EQ(server["custom"]["version"], "0.1.0");
  EXPECT_EQ(server["custom"]["language"], "cpp");  // from Datadog-Meta-Lang
  const json& producer = by_id.at("102");
  EXPECT_EQ(producer["parent_id"], "101");
  EXPECT_EQ(producer["custom"]["messaging"]["destination"]["name"], "apmcov.commands");
  EXPECT_EQ(producer["custom"]["messaging"]["system"], "kafka");
  const json& root_b = by_id.at("201");
  EXPECT_EQ(root_b["custom"]["_dd"]["p"]["tid"], "6650a1b200000000");
  EXPECT_EQ(root_b["custom"]["process_id"], 4242);
  const json& call = by_id.at("202");
  EXPECT_EQ(call["custom"]["peer"]["service"], "datadog-api");
  EXPECT_EQ(call["custom"]["http"]["status_code"], "200");
  EXPECT_EQ(call["custom"]["error"]["message"], "error");  // error 1 without error.* tags
  EXPECT_EQ(call["trace_id"], std::to_string(0x2222));

  // Search and a trace_id query find them too.
  json search = {{"data",
                  {{"type", "search_request"},
                   {"attributes",
                    {{"filter",
                      {{"query", "service:apmcov-collector @span.kind:client"},
                       {"from", Ms(kT)},
                       {"to", Ms(kT + 1)}}}}}}}};
  Reply sr = c_.Post("/api/v2/spans/events/search", search.dump());
  ASSERT_EQ(sr.status, 200);
  ASSERT_EQ(json::parse(sr.body)["data"].size(), 1u);
  EXPECT_EQ(json::parse(sr.body)["data"][0]["attributes"]["span_id"], "202");
  Reply by_trace =
      c_.Get("/api/v2/spans/events?filter%5Bquery%5D=trace_id%3A" + std::to_string(0x1111) +
             "&filter%5Bfrom%5D=" + Ms(kT - 60) + "&filter%5Bto%5D=" + Ms(kT + 60));
  ASSERT_EQ(by_trace.status, 200);
  EXPECT_EQ(json::parse(by_trace.body)["data"].size(), 2u);

  // The APM service list includes the services, traced, in their env only.
  auto all = ApmList(c_, "%2A");
  ASSERT_TRUE(all.count("apmcov-gateway"));
  EXPECT_EQ(all["apmcov-gateway"]["isTraced"], true);
  EXPECT_EQ(all["apmcov-gateway"]["isUsm"], false);
  EXPECT_TRUE(all.count("apmcov-collector"));
  EXPECT_FALSE(all.count("apmcov-analyzer"));
  EXPECT_TRUE(ApmList(c_, "test").count("apmcov-collector"));
  EXPECT_FALSE(ApmList(c_, "prod").count("apmcov-collector"));

  // The aggregate counts them.
  json agg = {{"data",
               {{"type", "aggregate_request"},
                {"attributes",
                 {{"filter", {{"query", "service:apmcov-*"}, {"from", Ms(kT)}, {"to", Ms(kT + 1)}}},
                  {"compute", {{{"aggregation", "count"}}}},
                  {"group_by", {{{"facet", "service"}}}}}}}}};
  Reply ar = c_.Post("/api/v2/spans/analytics/aggregate", agg.dump());
  ASSERT_EQ(ar.status, 200) << ar.body;
  std::map<std::string, int> counts;
  const json buckets = json::parse(ar.body)["data"];
  for (const json& b : buckets) {
    counts[b["attributes"]["by"]["service"]] = b["attributes"]["compute"]["c0"].get<int>();
  }
  EXPECT_EQ(counts, (std::map<std::string, int>{{"apmcov-collector", 2}, {"apmcov-gateway", 2}}));

  // Trace by id: 32 hex digits for the 128-bit trace, decimal for the 64-bit one.
  Reply tb = c_.Get("/api/v2/trace/6650a1b2000000000000000000002222");
  ASSERT_EQ(tb.status, 200) << tb.body;
  const json tj = json::parse(tb.body)["data"];
  EXPECT_EQ(tj["id"], "6650a1b2000000000000000000002222");
  ASSERT_EQ(tj["attributes"]["spans"].size(), 2u);
  EXPECT_EQ(tj["attributes"]["spans"][1]["meta"]["peer.service"], "datadog-api");
  EXPECT_EQ(c_.Get("/api/v2/trace/" + std::to_string(0x1111)).status, 200);
  EXPECT_EQ(c_.Get("/api/v2/trace/1234567").status, 404);

  // The catalog lists the tracker's three services, owned by apm-coverage.
  std::map<std::string, std::string> teams;
  for (int page = 0;; ++page) {
    json j =
        json::parse(c_.Get("/api/v2/services/definitions?page%5Bsize%5D=100&page%5Bnumber%5D=" +
                           std::to_string(page))
                        .body);
    for (const auto& d : j["data"]) {
      const json& s = d["attributes"]["schema"];
      if (s.contains("dd-service") && s.value("team", "") == "apm-coverage") {
        teams[s["dd-service"]] = s["team"];
        EXPECT_EQ(s["schema-version"], "v2.2");
        EXPECT_EQ(s["languages"], json::array({"cpp"}));
      }
    }
    if (j["data"].size() < 100) break;
  }
  EXPECT_EQ(teams.size(), 3u);
  for (const auto name : {"apmcov-analyzer", "apmcov-collector", "apmcov-gateway"}) {
    EXPECT_TRUE(teams.count(name)) << name;
    Reply one = c_.Get(std::string("/api/v2/services/definitions/") + name);
    EXPECT_EQ(one.status, 200) << name;
    Reply entity = c_.Get(std::string("/api/v2/catalog/entity?filter%5Bname%5D=") + name);
    ASSERT_EQ(entity.status, 200);
    ASSERT_EQ(json::parse(entity.body)["data"].size(), 1u) << name;
    EXPECT_EQ(json::parse(entity.body)["data"][0]["attributes"]["owner"], "apm-coverage");
  }

  // What ddsim counted.
  const json stats = json::parse(c_.Get("/_ddsim/stats", false).body);
  EXPECT_EQ(stats["agent"]["payloads"], 1);
  EXPECT_EQ(stats["agent"]["traces_received"], 2);
  EXPECT_EQ(stats["agent"]["spans_received"], 4);
  EXPECT_EQ(stats["requests"]["agent_traces"]["by_status"]["200"], 1);
}

TEST_F(AgentIntakeTest, PagesMergeReceivedAndGeneratedSpansInOrder) {
  ASSERT_EQ(Put(c_, tracing::EncodeTracesV04({TraceA(), TraceB()})).status, 200);
  const std::string window = "&filter%5Bfrom%5D=" + Ms(kT) + "&filter%5Bto%5D=" + Ms(kT + 2);
  size_t generated = 0;
  for (int64_t b = kT - 1; b < kT + 2; ++b) {
    for (const Span& s : h_.api().GetBucket(b)->spans) {
      generated += s.start_ns >= kT * kBucketNanos && s.start_ns < (kT + 2) * kBucketNanos;
    }
  }
  ASSERT_GT(generated, 300u);
  for (const std::string order : {"sort=timestamp", "sort=-timestamp"}) {
    std::vector<json> all;
    std::string next = "/api/v2/spans/events?page%5Blimit%5D=97&" + order + window;
    while (true) {
      Reply r = c_.Get(next);
      ASSERT_EQ(r.status, 200);
      const json j = json::parse(r.body);
      if (j["data"].empty()) break;
      for (const json& s : j["data"]) all.push_back(s);
      const std::string url = j["links"]["next"];
      next = url.substr(url.find('/', url.find("://") + 3));
    }
    EXPECT_EQ(all.size(), generated + 4) << order;
    std::set<std::string> ids;
    int received = 0;
    for (size_t i = 0; i < all.size(); ++i) {
      const json& a = all[i]["attributes"];
      ids.insert(a["trace_id"].get<std::string>() + "/" + a["span_id"].get<std::string>());
      received += a["service"].get<std::string>().rfind("apmcov-", 0) == 0;
      if (i == 0) continue;
      const std::string prev = all[i - 1]["attributes"]["start_timestamp"];
      if (order == "sort=timestamp") {
        EXPECT_LE(prev, a["start_timestamp"].get<std::string>());
      } else {
        EXPECT_GE(prev, a["start_timestamp"].get<std::string>());
      }
    }
    EXPECT_EQ(ids.size(), all.size());
    EXPECT_EQ(received, 4);
  }
}

TEST_F(AgentIntakeTest, TheGroundTruthJudgesReceivedTraces) {
  // C: the gateway calls the analyzer, which has sent nothing: an uninstrumented callee.
  TraceChunk c = {Sd(0x3333, 301, 0, "apmcov-gateway", "http.request", "GET /api/stats", "web", 300,
                     {{"span.kind", "server"}}),
                  Sd(0x3333, 302, 301, "apmcov-gateway", "grpc.client", "Coverage/Get", "rpc", 301,
                     {{"span.kind", "client"}, {"rpc.service", "apmcov-analyzer.internal:9090"}})};
  // D: a consumer whose producer never arrived: rootless, with an orphan.
  TraceChunk d = {Sd(0x4444, 401, 999, "apmcov-collector", "kafka.consume", "apmcov.commands",
                     "queue", 400, {{"span.kind", "consumer"}})};
  ASSERT_EQ(Put(c_, tracing::EncodeTracesV04({TraceA(), TraceB(), c, d})).status, 200);

  auto truth = [&] {
    Reply r = c_.Get("/_ddsim/ground-truth?from=" + Ms(kT) + "&to=" + Ms(kT + 1), false);
    EXPECT_EQ(r.status, 200);
    return json::parse(r.body);
  };
  json t = truth();
  std::map<std::string, json> received;
  for (const json& tr : t["traces"]) {
    if (tr.value("received", false)) received[tr["trace_id"]] = tr;
  }
  ASSERT_EQ(received.size(), 4u);
  const json& a = received.at(std::to_string(0x1111));
  EXPECT_EQ(a["broken"], false);
  EXPECT_EQ(a["judged"], true);
  EXPECT_EQ(a["root_service"], "apmcov-gateway");
  EXPECT_EQ(a["env"], "test");
  EXPECT_EQ(a["span_count"], 2);
  const json& b = received.at(std::to_string(0x2222));
  EXPECT_EQ(b["trace_id_128"], "6650a1b2000000000000000000002222");
  EXPECT_EQ(b["broken"], false);  // datadog-api is no catalog service: a dependency
  const json& cj = received.at(std::to_string(0x3333));
  EXPECT_EQ(cj["gap_kinds"], json::array({"uninstrumented_callee"}));
  EXPECT_EQ(cj["missing_services"], json::array({"apmcov-analyzer"}));
  EXPECT_EQ(cj["gaps"][0]["peer"], "apmcov-analyzer.internal:9090");
  EXPECT_EQ(cj["gaps"][0]["span_id"], "302");
  const json& dj = received.at(std::to_string(0x4444));
  EXPECT_EQ(dj["root_service"], nullptr);
  EXPECT_EQ(dj["gap_kinds"], json::array({"missing_root", "orphan_span"}));

  // Coverage: two of the tracker's services sent spans, the analyzer did not.
  const auto instrumented = t["catalog"]["instrumented"].get<std::set<std::string>>();
  EXPECT_TRUE(instrumented.count("apmcov-gateway"));
  EXPECT_TRUE(instrumented.count("apmcov-collector"));
  EXPECT_TRUE(
      t["catalog"]["not_instrumented"].get<std::set<std::string>>().count("apmcov-analyzer"));
  for (const json& row : t["coverage"]["by_team"]) {
    if (row["key"] != "apm-coverage") continue;
    EXPECT_EQ(row["total"], 3);
    EXPECT_EQ(row["instrumented"], 2);
  }
  bool test_env = false;
  for (const json& row : t["coverage"]["by_env"]) test_env |= row["key"] == "test";
  EXPECT_TRUE(test_env);

  // An independent recomputation from the served spans agrees with the truth.
  std::set<std::string> catalog, traced;
  for (int page = 0;; ++page) {
    json j =
        json::parse(c_.Get("/api/v2/services/definitions?page%5Bsize%5D=100&page%5Bnumber%5D=" +
                           std::to_string(page))
                        .body);
    for (const auto& def : j["data"]) {
      const json& s = def["attributes"]["schema"];
      catalog.insert(s.contains("info") ? s["info"]["dd-service"].get<std::string>()
                                        : s["dd-service"].get<std::string>());
    }
    if (j["data"].size() < 100) break;
  }
  for (const auto& [name, meta] : ApmList(c_, "%2A")) {
    if (meta["isTraced"].get<bool>()) traced.insert(name);
  }
  std::vector<ServedSpan> served;
  for (const json& s : Received(c_, kT, kT + 1)) served.push_back(FromSpanEvent(s));
  auto recomputed = Recompute(served, catalog, traced);
  for (const auto& [id, tr] : received) {
    const RecomputedTrace& r = recomputed.at(std::stoull(id));
    std::set<std::tuple<std::string, uint64_t, std::string>> expected;
    for (const auto& g : tr["gaps"]) {
      expected.insert({g["kind"], std::stoull(g["span_id"].get<std::string>()),
                       g["to_service"].is_null() ? "" : g["to_service"].get<std::string>()});
    }
    EXPECT_EQ(r.gaps, expected) << id;
    EXPECT_EQ(r.missing_services, tr["missing_services"].get<std::vector<std::string>>()) << id;
  }

  // Once the analyzer reports, the same call is a propagation break instead.
  TraceChunk e = {Sd(0x5555, 501, 0, "apmcov-analyzer", "kafka.consume", "apmcov.spans", "queue",
                     500, {{"span.kind", "consumer"}})};
  ASSERT_EQ(Put(c_, tracing::EncodeTracesV04({e})).status, 200);
  const json after = truth();
  int seen = 0;
  for (const json& tr : after["traces"]) {
    if (tr["trace_id"] == std::to_string(0x3333)) {
      ++seen;
      EXPECT_EQ(tr["gap_kinds"], json::array({"propagation_break"}));
      EXPECT_EQ(tr["missing_services"], json::array());
    }
  }
  EXPECT_EQ(seen, 1);
}

TEST(AgentIntakeErrorsTest, MalformedBodiesGetA4xxAndTheServerCarriesOn) {
  DdsimHarness h(DdsimHarness::Unlimited(), 200, 300, /*agent_max_body_bytes=*/64 << 10);
  Client c(h.port());
  const std::string good = tracing::EncodeTracesV04({TraceA()});
  struct Case {
    std::string name, body;
    std::string says;  // part of the error message
  };
  std::string wrong_type = good;
  // "service" value: the str header byte of "apmcov-gateway" turned into a positive fixint.
  wrong_type[wrong_type.find("apmcov-gateway") - 1] = 0x05;
  const std::vector<Case> cases = {
      {"not msgpack", "this is not msgpack", "not a msgpack array of traces"},
      {"empty", "", "empty body"},
      {"truncated", good.substr(0, good.size() / 2), "ends inside"},
      {"a map", std::string("\x81\xa1k\xa1v", 5), "not a msgpack array of traces"},
      {"trace is a number", std::string("\x91\x05", 2), "trace 0 is not an array"},
      {"span is a string", std::string("\x91\x91\xa1x", 4), "span is not a map"},
      {"wrong field type", wrong_type, "service is an integer"},
      {"trailing bytes", good + "\x90", "after the array of traces"},
      {"huge declared array", std::string("\xdd\xff\xff\xff\xff", 5), "ends inside"},
      {"nested too deep",
       std::string("\x91\x91\x81\xa1x", 5) + std::string(40, '\x91') + std::string("\xc0", 1),
       "deeper than 32"},
      {"never-used byte", std::string("\x91\xc1", 2), "not valid msgpack"},
  };
  for (const Case& k : cases) {
    Reply r = Put(c, k.body);
    EXPECT_EQ(r.status, 400) << k.name << ": " << r.body;
    const json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << k.name;
    const std::string message = j["errors"][0];
    EXPECT_NE(message.find(k.says), std::string::npos) << k.name << ": " << message;
  }
  EXPECT_EQ(Put(c, "[]", "application/json").status, 415);
  EXPECT_EQ(c.Get("/v0.4/traces", false).status, 405);
  EXPECT_EQ(Put(c, std::string(70 << 10, '\x90')).status, 413);
  // Nothing of the above was stored; the server still answers, and POST works like PUT.
  EXPECT_EQ(h.api().received().size(), 0u);
  Reply ok = c.Do("POST", "/v0.4/traces", good, false, {"Content-Type: application/msgpack"});
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(h.api().received().size(), 2u);
  Reply info = c.Get("/info", false);
  ASSERT_EQ(info.status, 200);
  const json ij = json::parse(info.body);
  EXPECT_EQ(ij["endpoints"], json::array({"/v0.4/traces", "/info"}));
  EXPECT_EQ(ij["config"]["max_request_bytes"], 64 << 10);
}

TEST(AgentIntakeTracerTest, TheTrackersOwnExporterDeliversToDdsim) {
  DdsimHarness h;
  tracing::AgentExporterOptions o;
  o.agent_url = "http://127.0.0.1:" + std::to_string(h.port());
  o.flush_interval = std::chrono::hours(1);
  auto exporter = tracing::AgentExporter::Create(o);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  ManualClock clock(Clock::TimePoint(std::chrono::seconds(kT + 10)));
  tracing::TracerOptions to;
  to.service = "apmcov-analyzer";
  to.env = "e2e";
  tracing::Tracer tracer(to, exporter->get(), clock);
  uint64_t trace_lo = 0;
  {
    tracing::Span batch =
        tracer.StartSpan("kafka.consume", {.type = "queue", .kind = tracing::kinds::kConsumer});
    tracing::ActiveSpanScope scope(batch);
    trace_lo = batch.trace_id().low;
    clock.Advance(std::chrono::milliseconds(3));
    tracing::Span tx =
        tracer.StartSpan("postgres.transaction", {.type = "sql", .kind = tracing::kinds::kClient});
    tx.SetTag(tracing::tags::kDbSystem, "postgresql");
    clock.Advance(std::chrono::milliseconds(7));
  }
  ASSERT_TRUE((*exporter)->Flush(std::chrono::seconds(10)).ok());
  Client c(h.port());
  Reply r = c.Get("/api/v2/spans/events?sort=timestamp&filter%5Bquery%5D=trace_id%3A" +
                  std::to_string(trace_lo) + "&filter%5Bfrom%5D=" + Ms(kT) +
                  "&filter%5Bto%5D=" + Ms(kT + 60));
  ASSERT_EQ(r.status, 200) << r.body;
  const json data = json::parse(r.body)["data"];
  ASSERT_EQ(data.size(), 2u);
  const json& root = data[0]["attributes"];
  EXPECT_EQ(root["service"], "apmcov-analyzer");
  EXPECT_EQ(root["env"], "e2e");
  EXPECT_EQ(root["custom"]["span"]["kind"], "consumer");
  EXPECT_EQ(root["custom"]["duration"], 10'000'000);
  EXPECT_EQ(root["custom"]["_dd"]["p"]["tid"].get<std::string>().size(), 16u);
  EXPECT_EQ(root["custom"]["language"], "cpp");
  const json& tx = data[1]["attributes"];
  EXPECT_EQ(tx["parent_id"], root["span_id"]);
  EXPECT_EQ(tx["custom"]["db"]["system"], "postgresql");
  EXPECT_TRUE(ApmList(c, "e2e").count("apmcov-analyzer"));
}

}  // namespace
}  // namespace apmcov::ddsim::testing
