// The Agent intake without sockets: decoding v0.4 payloads (lenient where the Agent is,
// strict about structure, never crashing on random bytes), the store of received spans
// (ordering, eviction, lookups), and the judgement of received traces.
#include <msgpack.hpp>
#include <random>

#include "apmcov/tracing/msgpack_v04.h"
#include "ddsim/intake/received.h"
#include "ddsim/intake/received_truth.h"
#include "gtest/gtest.h"

namespace apmcov::ddsim {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

void Str(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

IntakeRequestInfo Info() {
  IntakeRequestInfo info;
  info.language = "cpp";
  info.now_ns = 1'795'300'000'000'000'000LL;
  return info;
}

TEST(IntakeDecodeTest, TakesWhatTheAgentTakes) {
  // One span written the loose way other tracers do: ids as signed ints, strings as bin,
  // metrics as ints, error as a bool, nil values, and keys the intake does not use.
  msgpack::sbuffer buf;
  Packer p(buf);
  p.pack_array(1);
  p.pack_array(1);
  p.pack_map(13);
  Str(p, "trace_id");
  p.pack_int64(-1);  // the Agent reads it as uint64 2^64-1
  Str(p, "span_id");
  p.pack_int32(7);
  Str(p, "parent_id");
  p.pack_nil();
  Str(p, "service");
  p.pack_bin(4);
  p.pack_bin_body("svc1", 4);
  Str(p, "name");
  Str(p, "");
  Str(p, "resource");
  p.pack_nil();
  Str(p, "start");
  p.pack_int64(0);  // before 2000: moved to now - duration
  Str(p, "duration");
  p.pack_int64(-5);
  Str(p, "error");
  p.pack_true();
  Str(p, "meta");
  p.pack_map(3);
  Str(p, "env");
  Str(p, "staging");
  Str(p, "language");
  p.pack_nil();
  Str(p, std::string("bad\xff", 4));
  Str(p, std::string("v\xc3", 2));
  Str(p, "metrics");
  p.pack_map(2);
  Str(p, "int");
  p.pack_int32(3);
  Str(p, "float");
  p.pack_float(0.5f);
  Str(p, "span_links");
  p.pack_array(1);
  p.pack_map(1);
  Str(p, "attributes");
  p.pack_map(0);
  Str(p, "meta_struct");
  p.pack_map(1);
  Str(p, "x");
  p.pack_bin(2);
  p.pack_bin_body("\x01\x02", 2);
  auto d = DecodeTracesV04(std::string_view(buf.data(), buf.size()), Info());
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->spans.size(), 1u);
  const ReceivedSpan& s = d->spans[0];
  EXPECT_EQ(s.trace_lo, UINT64_MAX);
  EXPECT_EQ(s.span_id, 7u);
  EXPECT_EQ(s.parent_id, 0u);
  EXPECT_EQ(s.service, "svc1");
  EXPECT_EQ(s.name, "unnamed_operation");
  EXPECT_EQ(s.resource, "unnamed_operation");
  EXPECT_EQ(s.duration_ns, 0);
  EXPECT_EQ(s.start_ns, Info().now_ns);
  EXPECT_TRUE(s.error);
  EXPECT_EQ(s.env, "staging");
  EXPECT_EQ(s.language, "cpp");  // the request's Datadog-Meta-Lang
  EXPECT_EQ(s.host, "ddsim-agent");
  ASSERT_NE(s.Meta("bad\xEF\xBF\xBD"), nullptr);  // invalid UTF-8 replaced
  EXPECT_EQ(*s.Meta("bad\xEF\xBF\xBD"), "v\xEF\xBF\xBD");
  ASSERT_EQ(s.metrics.size(), 2u);
  EXPECT_EQ(s.metrics[0], (std::pair<std::string, double>{"float", 0.5}));
  EXPECT_EQ(s.metrics[1], (std::pair<std::string, double>{"int", 3}));
}

TEST(IntakeDecodeTest, NormalisesAsTheAgentDoes) {
  tracing::SpanData s;
  s.trace_id = {0x1234, 5};
  s.span_id = 6;
  s.service = std::string(150, 's');
  s.name = std::string(99, 'n') + "\xc3\xa9";  // a 2-byte character across the 100-byte cut
  s.resource = std::string(6000, 'r');
  s.start_ns = 1'795'300'000'000'000'000LL;
  s.duration_ns = 10;
  s.meta["_dd.p.tid"] = "0000000000001234";
  tracing::SpanData child = s;
  child.span_id = 7;
  child.parent_id = 6;
  child.meta.clear();
  child.service = "";
  auto d = DecodeTracesV04(tracing::EncodeTracesV04({{s, child}}), Info());
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->spans.size(), 2u);
  EXPECT_EQ(d->spans[0].service.size(), 100u);
  EXPECT_EQ(d->spans[0].name, std::string(99, 'n'));
  EXPECT_EQ(d->spans[0].resource.size(), 5000u);
  EXPECT_EQ(d->spans[0].env, "none");
  EXPECT_EQ(d->spans[1].service, "unnamed-service");
  // The chunk root's _dd.p.tid names the whole chunk's 128-bit trace.
  EXPECT_EQ(d->spans[0].trace_hi, 0x1234u);
  EXPECT_EQ(d->spans[1].trace_hi, 0x1234u);
}

TEST(IntakeDecodeTest, DropsZeroIdsAndChunksMixingTraces) {
  tracing::SpanData a;
  a.trace_id.low = 1;
  a.span_id = 1;
  a.service = "a";
  a.start_ns = 1'795'300'000'000'000'000LL;
  tracing::SpanData zero = a;
  zero.span_id = 0;
  tracing::SpanData other = a;
  other.trace_id.low = 2;
  other.span_id = 2;
  auto d = DecodeTracesV04(tracing::EncodeTracesV04({{a, zero}, {a, other}, {}}), Info());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->traces, 3u);
  EXPECT_EQ(d->spans.size(), 1u);
  EXPECT_EQ(d->dropped_spans, 3u);
}

TEST(IntakeDecodeTest, RandomAndMutatedBytesNeverCrash) {
  tracing::SpanData s;
  s.trace_id.low = 9;
  s.span_id = 9;
  s.service = "svc";
  s.start_ns = 1'795'300'000'000'000'000LL;
  s.meta = {{"span.kind", "client"}, {"peer.service", "x"}};
  s.metrics = {{"m", 1.5}};
  const std::string good = tracing::EncodeTracesV04({{s, s}, {s}});
  std::mt19937 rng(2024);
  int ok = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string body;
    if (i % 2 == 0) {
      body = good;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) body[rng() % body.size()] = static_cast<char>(rng());
      if (rng() % 4 == 0) body.resize(rng() % body.size());
    } else {
      body.resize(rng() % 64);
      for (char& c : body) c = static_cast<char>(rng());
    }
    auto d = DecodeTracesV04(body, Info());
    if (d.ok()) {
      ++ok;
      for (const ReceivedSpan& r : d->spans) {
        EXPECT_NE(r.trace_lo, 0u);
        EXPECT_NE(r.span_id, 0u);
        EXPECT_LE(r.service.size(), 100u);
      }
    } else {
      EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_FALSE(d.status().message().empty());
    }
  }
  EXPECT_GT(ok, 100);  // many mutations only change values
}

ReceivedSpan Rs(uint64_t trace, uint64_t id, uint64_t parent, std::string service, int64_t start_ms,
                std::vector<std::pair<std::string, std::string>> meta = {}) {
  ReceivedSpan s;
  s.trace_lo = trace;
  s.span_id = id;
  s.parent_id = parent;
  s.service = std::move(service);
  s.start_ns = 1'795'300'000'000'000'000LL + start_ms * 1'000'000;
  s.duration_ns = 1000;
  s.env = "test";
  std::sort(meta.begin(), meta.end());
  s.meta = std::move(meta);
  return s;
}

TEST(ReceivedStoreTest, OrdersBySecondAndEvictsTheOldestSeconds) {
  ReceivedStore store(5);
  EXPECT_TRUE(store.empty());
  EXPECT_EQ(store.Add({Rs(1, 3, 0, "a", 500), Rs(1, 2, 3, "a", 500), Rs(1, 1, 3, "a", 100),
                       Rs(2, 4, 0, "b", 1500)}),
            0u);
  const int64_t s0 = 1'795'300'000;
  auto first = store.Second(s0);
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[0].span_id, 1u);  // by start, then span id
  EXPECT_EQ((*first)[1].span_id, 2u);
  EXPECT_EQ((*first)[2].span_id, 3u);
  EXPECT_EQ(store.SecondsOfTrace(1), std::vector<int64_t>({s0}));
  EXPECT_EQ(store.Range(s0, s0 + 1).size(), 2u);
  // Two more spans a second later: 6 > 5, so the oldest second goes whole.
  EXPECT_EQ(store.Add({Rs(3, 5, 0, "c", 2100), Rs(3, 6, 5, "c", 2200)}), 3u);
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.evicted(), 3);
  EXPECT_EQ(store.Second(s0), nullptr);
  EXPECT_TRUE(store.SecondsOfTrace(1).empty());
  EXPECT_EQ(first->size(), 3u);  // a reader's snapshot outlives the eviction
  // Services are remembered past eviction, with their earliest start.
  auto services = store.ServiceEnvs();
  ASSERT_EQ(services.size(), 3u);
  EXPECT_EQ(services[0].service, "a");
  EXPECT_EQ(services[0].spans, 3);
  EXPECT_EQ(services[0].first_start_ns, 1'795'300'000'100'000'000LL);
}

TEST(ReceivedTruthTest, JudgesTheDesignsGapKinds) {
  ReceivedStore store;
  store.Add({
      // healthy: a call answered by its target; a database call is a dependency
      Rs(1, 10, 0, "web", 0),
      Rs(1, 11, 10, "web", 1, {{"span.kind", "client"}, {"peer.service", "api"}}),
      Rs(1, 12, 11, "api", 2, {{"span.kind", "server"}}),
      Rs(1, 13, 12, "api", 3, {{"span.kind", "client"}, {"db.system", "postgresql"}}),
      Rs(1, 12, 11, "api", 2, {{"span.kind", "server"}}),  // a duplicate span id
      // a hop: the call's child belongs to another service
      Rs(2, 20, 0, "web", 10),
      Rs(2, 21, 20, "web", 11, {{"span.kind", "client"}, {"http.url", "http://dark.internal/x"}}),
      Rs(2, 22, 21, "api", 12),
      // a callee that never reports, and one that reports but did not continue the trace
      Rs(3, 30, 0, "web", 20),
      Rs(3, 31, 30, "web", 21, {{"span.kind", "producer"}, {"peer.hostname", "dark:8443"}}),
      Rs(3, 32, 30, "web", 22, {{"span.kind", "client"}, {"out.host", "api.internal"}}),
      // rootless, with an orphan
      Rs(4, 40, 99, "api", 30),
  });
  const std::set<std::string> catalog = {"web", "api", "dark"};
  auto t = JudgeReceived(
      store, 1'795'300'000'000'000'000LL, 1'795'300'001'000'000'000LL,
      [&](const std::string& n) { return catalog.count(n) > 0; },
      [](const std::string& n) { return n == "web" || n == "api"; });
  ASSERT_EQ(t.traces.size(), 4u);
  EXPECT_TRUE(t.traces[0].gaps.empty());
  EXPECT_EQ(t.traces[0].span_count, 4u);
  EXPECT_EQ(t.traces[0].root_service, "web");
  ASSERT_EQ(t.traces[1].gaps.size(), 1u);
  EXPECT_EQ(t.traces[1].gaps[0].kind, "uninstrumented_hop");
  EXPECT_EQ(t.traces[1].gaps[0].to_service, "dark");
  EXPECT_EQ(t.traces[1].gaps[0].peer, "dark.internal");
  EXPECT_EQ(t.traces[1].missing_services, std::vector<std::string>({"dark"}));
  ASSERT_EQ(t.traces[2].gaps.size(), 2u);
  EXPECT_EQ(t.traces[2].gaps[0].kind, "uninstrumented_callee");
  EXPECT_EQ(t.traces[2].gaps[1].kind, "propagation_break");
  EXPECT_EQ(t.traces[2].gaps[1].to_service, "api");
  EXPECT_EQ(t.traces[2].missing_services, std::vector<std::string>({"dark"}));
  ASSERT_EQ(t.traces[3].gaps.size(), 2u);
  EXPECT_EQ(t.traces[3].gaps[0].kind, "orphan_span");
  EXPECT_EQ(t.traces[3].gaps[1].kind, "missing_root");
  EXPECT_EQ(t.traces[3].root_service, "");
  EXPECT_TRUE(t.services.at("api").seen_in_range);
  EXPECT_EQ(t.services.at("api").infra, "host");
  EXPECT_EQ(t.services.at("web").envs, std::set<std::string>({"test"}));
}

TEST(ReceivedTruthTest, ATraceBelongsToTheRangeItsEarliestSpanStartsIn) {
  ReceivedStore store;
  store.Add({Rs(1, 1, 0, "web", 900), Rs(1, 2, 1, "web", 1200)});
  auto yes = [](const std::string&) { return true; };
  const int64_t t0 = 1'795'300'000'000'000'000LL;
  EXPECT_EQ(JudgeReceived(store, t0, t0 + 1'000'000'000, yes, yes).traces.size(), 1u);
  const auto next = JudgeReceived(store, t0 + 1'000'000'000, t0 + 2'000'000'000, yes, yes);
  EXPECT_TRUE(next.traces.empty());
  EXPECT_TRUE(next.services.at("web").seen_in_range);
}

}  // namespace
}  // namespace apmcov::ddsim
