// Propagation codecs: inject → extract round trips for both styles, the precedence when both
// are present, carriers, and malformed input (never a crash, never a half-read context).
#include "apmcov/tracing/propagation.h"

#include <gtest/gtest.h>

#include <random>

namespace apmcov::tracing {
namespace {

SpanContext Sample(std::optional<int> priority = kUserKeep) {
  SpanContext c;
  c.trace_id = {0x6650a1b200000000ULL, 0xa3ce929d0e0e4736ULL};
  c.span_id = 0x00f067aa0ba902b7ULL;
  c.sampling_priority = priority;
  c.trace_tags = {{"_dd.p.dm", "-3"}};
  return c;
}

HeaderList Injected(const SpanContext& c, std::optional<PropagationStyle> style = {}) {
  HeaderList h;
  if (style) {
    InjectStyle(c, WriteTo(&h), *style);
  } else {
    Inject(c, WriteTo(&h));
  }
  return h;
}

std::string Get(const HeaderList& h, std::string_view name) {
  auto v = ReadFrom(h)(name);
  return v ? std::string(*v) : "<absent>";
}

TEST(PropagationTest, DatadogHeadersAsTheAgentDocumentsThem) {
  const HeaderList h = Injected(Sample(), PropagationStyle::kDatadog);
  EXPECT_EQ(Get(h, "x-datadog-trace-id"), std::to_string(0xa3ce929d0e0e4736ULL));
  EXPECT_EQ(Get(h, "x-datadog-parent-id"), std::to_string(0x00f067aa0ba902b7ULL));
  EXPECT_EQ(Get(h, "x-datadog-sampling-priority"), "2");
  EXPECT_EQ(Get(h, "x-datadog-tags"), "_dd.p.tid=6650a1b200000000,_dd.p.dm=-3");
  EXPECT_EQ(Get(h, "traceparent"), "<absent>");
}

TEST(PropagationTest, W3cHeadersCarryTheWholeIdAndTheDdMember) {
  const HeaderList h = Injected(Sample(), PropagationStyle::kW3c);
  EXPECT_EQ(Get(h, "traceparent"), "00-6650a1b200000000a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(Get(h, "tracestate"), "dd=s:2;p:00f067aa0ba902b7;t.tid:6650a1b200000000;t.dm:-3");
  const HeaderList dropped = Injected(Sample(kUserReject), PropagationStyle::kW3c);
  EXPECT_EQ(Get(dropped, "traceparent").substr(53), "00");
  EXPECT_EQ(Get(dropped, "x-datadog-trace-id"), "<absent>");
}

TEST(PropagationTest, EachStyleRoundTripsAlone) {
  for (PropagationStyle style : {PropagationStyle::kDatadog, PropagationStyle::kW3c}) {
    for (std::optional<int> priority : {std::optional<int>(kUserReject), std::optional<int>(0),
                                        std::optional<int>(1), std::optional<int>(2)}) {
      SpanContext in = Sample(priority);
      in.origin = "synthetics";
      const HeaderList h = Injected(in, style);
      std::optional<SpanContext> out = Extract(ReadFrom(h));
      ASSERT_TRUE(out.has_value());
      EXPECT_EQ(out->trace_id, in.trace_id);
      EXPECT_EQ(out->span_id, in.span_id);
      EXPECT_EQ(out->sampling_priority, in.sampling_priority);
      EXPECT_EQ(out->origin, "synthetics");
      EXPECT_EQ(out->trace_tags, in.trace_tags);
      EXPECT_TRUE(out->datadog_parent_hex.empty());
    }
  }
}

TEST(PropagationTest, A64BitTraceHasNoTid) {
  SpanContext in = Sample();
  in.trace_id.high = 0;
  const HeaderList h = Injected(in);
  EXPECT_EQ(Get(h, "x-datadog-tags"), "_dd.p.dm=-3");
  EXPECT_EQ(Get(h, "traceparent").substr(3, 16), "0000000000000000");
  auto out = Extract(ReadFrom(h));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->trace_id, in.trace_id);
}

TEST(PropagationTest, BothStylesAgreeingGiveOneContext) {
  const HeaderList h = Injected(Sample());
  auto out = Extract(ReadFrom(h));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->trace_id, Sample().trace_id);
  EXPECT_EQ(out->span_id, Sample().span_id);
  EXPECT_TRUE(out->datadog_parent_hex.empty());
}

TEST(PropagationTest, DatadogWinsOverAnotherTrace) {
  HeaderList h = Injected(Sample(kUserKeep), PropagationStyle::kDatadog);
  h.emplace_back("traceparent", "00-11111111111111112222222222222222-3333333333333333-00");
  auto out = Extract(ReadFrom(h));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->trace_id, Sample().trace_id);
  EXPECT_EQ(out->span_id, Sample().span_id);
  EXPECT_EQ(out->sampling_priority, kUserKeep);
  // Without (valid) Datadog headers, W3C is used.
  HeaderList w3c_only = {{"traceparent", "00-11111111111111112222222222222222-3333333333333333-01"},
                         {"x-datadog-trace-id", "not-a-number"},
                         {"x-datadog-parent-id", "5"}};
  out = Extract(ReadFrom(w3c_only));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->trace_id, (TraceId{0x1111111111111111ULL, 0x2222222222222222ULL}));
  EXPECT_EQ(out->span_id, 0x3333333333333333ULL);
  EXPECT_EQ(out->sampling_priority, kAutoKeep);
}

TEST(PropagationTest, AW3cOnlyHopBetweenUsReparentsToItsSpan) {
  // Datadog headers from our last span; traceparent rewritten by a W3C-only proxy in between.
  HeaderList h = Injected(Sample(), PropagationStyle::kDatadog);
  h.emplace_back("traceparent", "00-6650a1b200000000a3ce929d0e0e4736-0000000000000abc-01");
  h.emplace_back("tracestate", "vendor=x,dd=s:2;p:00f067aa0ba902b7");
  auto out = Extract(ReadFrom(h));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->span_id, 0xabcu);
  EXPECT_EQ(out->datadog_parent_hex, "00f067aa0ba902b7");
  EXPECT_EQ(out->foreign_tracestate, "vendor=x");
  // Re-injected, the other vendor's member is forwarded after ours.
  SpanContext next = *out;
  next.span_id = 0x42;
  EXPECT_EQ(Get(Injected(next), "tracestate"),
            "dd=s:2;p:0000000000000042;t.tid:6650a1b200000000;t.dm:-3,vendor=x");
}

TEST(PropagationTest, DatadogHeadersWithoutTidTakeTheHighBitsFromTraceparent) {
  HeaderList h = {{"x-datadog-trace-id", std::to_string(0xa3ce929d0e0e4736ULL)},
                  {"x-datadog-parent-id", "77"},
                  {"traceparent", "00-6650a1b200000000a3ce929d0e0e4736-000000000000004d-01"}};
  auto out = Extract(ReadFrom(h));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->trace_id, Sample().trace_id);
  EXPECT_EQ(out->span_id, 77u);
  EXPECT_TRUE(out->datadog_parent_hex.empty());
}

TEST(PropagationTest, TheSampledFlagWinsOverAContradictingDdPriority) {
  HeaderList h = {{"traceparent", "00-6650a1b200000000a3ce929d0e0e4736-00f067aa0ba902b7-00"},
                  {"tracestate", "dd=s:2;o:rum"}};
  auto out = Extract(ReadFrom(h));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->sampling_priority, kAutoReject);
  EXPECT_EQ(out->origin, "rum");
  h[0].second.back() = '1';
  h[1].second = "dd=s:-1";
  EXPECT_EQ(Extract(ReadFrom(h))->sampling_priority, kAutoKeep);
  h[1].second = "dd=s:2";
  EXPECT_EQ(Extract(ReadFrom(h))->sampling_priority, kUserKeep);
}

TEST(PropagationTest, CarriersMatchNamesCaseInsensitivelyAndTheLastWins) {
  HeaderList h = {
      {"X-Datadog-Trace-Id", "1"}, {"x-datadog-parent-id", "2"}, {"x-datadog-trace-id", "3"}};
  auto out = Extract(ReadFrom(h));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->trace_id.low, 3u);
  // The writer replaces instead of repeating.
  Inject(Sample(), WriteTo(&h));
  int trace_ids = 0;
  for (const auto& [k, v] : h) trace_ids += k == "x-datadog-trace-id" || k == "X-Datadog-Trace-Id";
  EXPECT_EQ(trace_ids, 1);
  std::map<std::string, std::string> m = {{"Traceparent", "junk"}};
  Inject(Sample(), WriteTo(&m));
  EXPECT_EQ(m.count("Traceparent"), 0u);
  auto from_map = Extract(ReadFrom(m));
  ASSERT_TRUE(from_map);
  EXPECT_EQ(from_map->trace_id, Sample().trace_id);
  std::map<std::string, std::string> upper = {{"TRACEPARENT", m["traceparent"]}};
  EXPECT_TRUE(ExtractStyle(ReadFrom(upper), PropagationStyle::kW3c).has_value());
}

TEST(PropagationTest, MalformedHeadersAreIgnored) {
  const std::vector<HeaderList> invalid = {
      {},
      {{"x-datadog-trace-id", "1"}},                                 // no parent
      {{"x-datadog-trace-id", "0"}, {"x-datadog-parent-id", "1"}},   // zero trace
      {{"x-datadog-trace-id", "1"}, {"x-datadog-parent-id", "0"}},   // zero parent
      {{"x-datadog-trace-id", "-1"}, {"x-datadog-parent-id", "1"}},  // sign
      {{"x-datadog-trace-id", "18446744073709551616"}, {"x-datadog-parent-id", "1"}},  // overflow
      {{"x-datadog-trace-id", "12a"}, {"x-datadog-parent-id", "1"}},
      {{"x-datadog-trace-id", ""}, {"x-datadog-parent-id", ""}},
      {{"traceparent", "00-6650a1b200000000a3ce929d0e0e4736-00f067aa0ba902b7"}},       // short
      {{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}},    // zero id
      {{"traceparent", "00-6650a1b200000000a3ce929d0e0e4736-0000000000000000-01"}},    // zero span
      {{"traceparent", "00-6650A1B200000000A3CE929D0E0E4736-00f067aa0ba902b7-01"}},    // uppercase
      {{"traceparent", "ff-6650a1b200000000a3ce929d0e0e4736-00f067aa0ba902b7-01"}},    // version ff
      {{"traceparent", "00-6650a1b200000000a3ce929d0e0e4736-00f067aa0ba902b7-01-x"}},  // 00 + tail
      {{"traceparent", "00_6650a1b200000000a3ce929d0e0e4736_00f067aa0ba902b7_01"}},
      {{"traceparent", "00-6650a1b200000000a3ce929d0e0e473g-00f067aa0ba902b7-01"}},
  };
  for (const HeaderList& h : invalid) {
    EXPECT_FALSE(Extract(ReadFrom(h)).has_value()) << (h.empty() ? "" : h.back().second);
  }
  // A later version with more fields is read as version 00.
  EXPECT_TRUE(Extract(ReadFrom(HeaderList{
                          {"traceparent",
                           "01-6650a1b200000000a3ce929d0e0e4736-00f067aa0ba902b7-01-future"}}))
                  .has_value());
}

TEST(PropagationTest, AW3cIdWithZeroLow64BitsIsNotADatadogTrace) {
  HeaderList h = {{"traceparent", "00-00000500000000000000000000000000-00000000000000ff-01"}};
  EXPECT_FALSE(Extract(ReadFrom(h)).has_value());
  // With valid Datadog headers beside it, those are used and the W3C trace is another one.
  h.push_back({"x-datadog-trace-id", "7"});
  h.push_back({"x-datadog-parent-id", "9"});
  std::optional<SpanContext> c = Extract(ReadFrom(h));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->trace_id, (TraceId{0, 7}));
  EXPECT_EQ(c->span_id, 9u);
}

TEST(PropagationTest, BadOptionalPartsAreDroppedAndTheRestKept) {
  HeaderList h = {{"x-datadog-trace-id", " 42 "},
                  {"x-datadog-parent-id", "7"},
                  {"x-datadog-sampling-priority", "high"},
                  {"x-datadog-tags", "_dd.p.dm=-3,not_ours=1"}};
  auto out = Extract(ReadFrom(h));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->trace_id.low, 42u);
  EXPECT_FALSE(out->sampling_priority.has_value());
  EXPECT_TRUE(out->trace_tags.empty());  // a malformed list is dropped whole
  h[3].second = "_dd.p.tid=XYZ,_dd.p.dm=-3";
  out = Extract(ReadFrom(h));
  EXPECT_EQ(out->trace_id.high, 0u);  // a bad tid alone is dropped
  EXPECT_EQ(out->trace_tags.size(), 1u);
  h[3].second = "_dd.p.dm=" + std::string(600, 'x');  // longer than 512 bytes
  EXPECT_TRUE(Extract(ReadFrom(h))->trace_tags.empty());
  HeaderList w3c = {{"traceparent", "00-6650a1b200000000a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                    {"tracestate", "dd=s:x;p:zz;t.dm:-4;junk,=novalue,b=2"}};
  out = Extract(ReadFrom(w3c));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->sampling_priority, kAutoKeep);
  EXPECT_TRUE(out->datadog_parent_hex.empty());
  ASSERT_EQ(out->trace_tags.size(), 1u);
  EXPECT_EQ(out->trace_tags[0].second, "-4");
  EXPECT_EQ(out->foreign_tracestate, "b=2");
}

TEST(PropagationTest, InjectedValuesStayWithinTheHeaderGrammar) {
  SpanContext c = Sample();
  c.origin = "a,b;c=d~e\x01";
  c.trace_tags.emplace_back("_dd.p.usr", "x=y,z");
  const HeaderList h = Injected(c, PropagationStyle::kW3c);
  const std::string state = Get(h, "tracestate");
  EXPECT_EQ(state,
            "dd=s:2;p:00f067aa0ba902b7;o:a_b_c~d_e_;t.tid:6650a1b200000000;t.dm:-3;t.usr:x~y_z");
  auto out = Extract(ReadFrom(h));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->trace_tags.back().second, "x=y_z");
  // Nothing is injected for an invalid context.
  EXPECT_TRUE(Injected(SpanContext{}).empty());
}

TEST(PropagationTest, RandomBytesNeverCrashAndNeverYieldAnInvalidContext) {
  std::mt19937 rng(12345);
  const std::vector<std::string> names = {
      "x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority",
      "x-datadog-tags",     "x-datadog-origin",    "traceparent",
      "tracestate"};
  static constexpr char kAlphabet[] = "0123456789abcdefABCDEF-_=,;:~ .tdp\x00\xff";
  const std::string alphabet(kAlphabet, sizeof(kAlphabet) - 1);
  for (int round = 0; round < 20000; ++round) {
    HeaderList h;
    for (const std::string& name : names) {
      if (rng() % 3 == 0) continue;
      std::string v;
      const size_t n = rng() % 70;
      for (size_t i = 0; i < n; ++i) v.push_back(alphabet[rng() % alphabet.size()]);
      if (name == "traceparent" && rng() % 2 == 0) {
        v = "00-" + std::string(32, "0123456789abcdef"[rng() % 16]) + "-" +
            std::string(16, "0123456789abcdef"[rng() % 16]) + "-0" +
            std::string(1, "01"[rng() % 2]);
      }
      h.emplace_back(name, v);
    }
    auto out = Extract(ReadFrom(h));
    if (out) {
      EXPECT_TRUE(out->valid());
      HeaderList again = Injected(*out);  // whatever was read can be written back
      auto back = Extract(ReadFrom(again));
      ASSERT_TRUE(back);
      EXPECT_EQ(back->trace_id, out->trace_id);
      EXPECT_EQ(back->span_id, out->span_id);
    }
  }
}

}  // namespace
}  // namespace apmcov::tracing
