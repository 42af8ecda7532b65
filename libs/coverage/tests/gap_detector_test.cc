#include "apmcov/coverage/gap_detector.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace apmcov::coverage {
namespace {

using testing::Client;
using ::testing::ElementsAre;
using testing::Fields;
using ::testing::IsEmpty;
using testing::kSec;
using testing::Server;

// A gap with owned strings, for comparisons.
struct G {
  std::string kind;
  uint64_t span_id;
  std::string from;
  std::string to;  // "<null>" when there is no to_service
  std::string peer;
  bool operator==(const G&) const = default;
};
void PrintTo(const G& g, std::ostream* os) {
  *os << "{" << g.kind << " span " << g.span_id << " " << g.from << "->" << g.to << " peer '"
      << g.peer << "'}";
}

std::vector<G> Gaps(const TraceVerdict& v) {
  std::vector<G> out;
  for (const Gap& g : v.gaps) {
    out.push_back({std::string(GapKindName(g.kind)), g.span_id, std::string(g.from_service),
                   g.has_to_service ? std::string(g.to_service) : "<null>", std::string(g.peer)});
  }
  return out;
}

std::vector<std::string> Strings(const std::vector<std::string_view>& v) {
  return {v.begin(), v.end()};
}

std::vector<std::string> Kinds(const TraceVerdict& v) {
  std::vector<std::string> out;
  for (GapKind k : v.gap_kinds) out.emplace_back(GapKindName(k));
  return out;
}

std::vector<std::string> Edges(const TraceVerdict& v) {
  std::vector<std::string> out;
  for (const DependencyEdge& e : v.dependencies) {
    out.push_back(std::string(e.from_service) + ">" + std::string(e.to_name) + ":" +
                  std::string(DependencyKindName(e.kind)) + ":" +
                  std::string(PeerKindName(e.to_kind)) + ":" + std::to_string(e.count));
  }
  return out;
}

class GapDetectorTest : public ::testing::Test {
 protected:
  GapDetectorTest() {
    // checkout, payments (instrumented), ledger, gateway (catalog, not instrumented);
    // legacy-billing is a shadow service (seen in APM only).
    ServiceDirectory d;
    d.catalog = {"checkout", "payments", "ledger", "gateway", "orders"};
    d.instrumented = {"checkout", "payments", "orders"};
    d.apm_names = {"legacy-billing"};
    detector_.SetDirectory(d);
  }

  // Assembles `spans` as one trace (through the real assembler) and judges it.
  GapDetector::Outcome Judge(const std::vector<SpanFields>& spans) {
    TraceAssembler assembler;
    for (const SpanFields& f : spans) assembler.Add(interner_.Intern(f), 0, 0, NoSink);
    GapDetector::Outcome outcome = GapDetector::Outcome::kJudged;
    int traces = 0;
    assembler.OnWatermark(0, INT64_MAX, [&](const AssembledTrace& t) {
      outcome = detector_.Judge(t, &verdict_);
      ++traces;
    });
    EXPECT_EQ(traces, 1);
    return outcome;
  }
  static void NoSink(const AssembledTrace&) { FAIL() << "nothing should be forced"; }

  StringPool pool_;
  SpanInterner interner_{pool_};
  GapDetector detector_{pool_, DetectorOptions{{"custom_whole"}}};
  TraceVerdict verdict_;
};

TEST_F(GapDetectorTest, HealthyCallIsNotBroken) {
  ASSERT_EQ(Judge({Server(Fields(1, 1, 0, "checkout", 100)),
                   Client(Fields(1, 2, 1, "checkout", 101), "payments"),
                   Server(Fields(1, 3, 2, "payments", 102))}),
            GapDetector::Outcome::kJudged);
  EXPECT_FALSE(verdict_.broken());
  EXPECT_THAT(Gaps(verdict_), IsEmpty());
  EXPECT_TRUE(verdict_.has_root);
  EXPECT_EQ(verdict_.root_service, "checkout");
  EXPECT_EQ(verdict_.env, "prod");
  EXPECT_EQ(verdict_.span_count, 3u);
  EXPECT_EQ(verdict_.started_ns, 100 * kSec);
  EXPECT_EQ(verdict_.duration_ns, 3 * kSec);
  EXPECT_THAT(verdict_.services, IsEmpty());  // only broken traces list their services
  EXPECT_THAT(verdict_.spans, IsEmpty());     // only broken traces carry spans
  EXPECT_THAT(Edges(verdict_), ElementsAre("checkout>payments:call:service:1"));
  EXPECT_EQ(detector_.counters().traces_judged, 1u);
  EXPECT_EQ(detector_.counters().traces_broken, 0u);
}

TEST_F(GapDetectorTest, UninstrumentedCalleeWithHostnameTarget) {
  Judge({Server(Fields(1, 1, 0, "checkout")),
         Client(Fields(1, 2, 1, "checkout"), "ledger.internal:8443")});
  EXPECT_TRUE(verdict_.broken());
  EXPECT_THAT(Gaps(verdict_), ElementsAre(G{"uninstrumented_callee", 2, "checkout", "ledger",
                                            "ledger.internal:8443"}));
  EXPECT_THAT(Strings(verdict_.missing_services), ElementsAre("ledger"));
  EXPECT_THAT(Strings(verdict_.services), ElementsAre("checkout"));
  EXPECT_THAT(Kinds(verdict_), ElementsAre("uninstrumented_callee"));
  EXPECT_EQ(verdict_.spans.size(), 2u);
  EXPECT_EQ(FormatGapDetail(verdict_.gaps[0]), "");
  EXPECT_EQ(detector_.counters().gaps[static_cast<int>(GapKind::kUninstrumentedCallee)], 1u);
  EXPECT_EQ(detector_.counters().traces_broken, 1u);
}

TEST_F(GapDetectorTest, PropagationBreakWhenTheCalleeIsInstrumented) {
  Judge({Server(Fields(1, 1, 0, "checkout")),
         Client(Fields(1, 2, 1, "checkout"), "http://payments.svc.cluster.local/v1/charge")});
  EXPECT_THAT(Gaps(verdict_), ElementsAre(G{"propagation_break", 2, "checkout", "payments",
                                            "http://payments.svc.cluster.local/v1/charge"}));
  EXPECT_THAT(verdict_.missing_services, IsEmpty());  // T does report: not missing
  EXPECT_THAT(Kinds(verdict_), ElementsAre("propagation_break"));
}

TEST_F(GapDetectorTest, UninstrumentedHopWhenChildrenAreOfAnotherService) {
  // checkout calls gateway; the next span is orders' server span: gateway did not report.
  Judge({Server(Fields(1, 1, 0, "checkout")), Client(Fields(1, 2, 1, "checkout"), "gateway"),
         Server(Fields(1, 3, 2, "orders"))});
  EXPECT_THAT(Gaps(verdict_),
              ElementsAre(G{"uninstrumented_hop", 2, "checkout", "gateway", "gateway"}));
  EXPECT_THAT(Strings(verdict_.missing_services), ElementsAre("gateway"));
  EXPECT_EQ(FormatGapDetail(verdict_.gaps[0]), "next hop reported by orders");
}

TEST_F(GapDetectorTest, AnyChildOfTheTargetMakesTheCallHealthy) {
  Judge({Server(Fields(1, 1, 0, "checkout")), Client(Fields(1, 2, 1, "checkout"), "payments"),
         Server(Fields(1, 3, 2, "orders")), Server(Fields(1, 4, 2, "payments"))});
  EXPECT_FALSE(verdict_.broken());
}

TEST_F(GapDetectorTest, ShadowAndExternalCalleesAreDependenciesNotGaps) {
  Judge({Server(Fields(1, 1, 0, "checkout")),
         Client(Fields(1, 2, 1, "checkout"), "legacy-billing.internal:9000"),
         Client(Fields(1, 3, 1, "checkout"), "api.stripe.com"),
         Client(Fields(1, 4, 1, "checkout"), "api.stripe.com"),
         Client(Fields(1, 5, 1, "checkout"), "10.0.0.7:8080")});
  EXPECT_FALSE(verdict_.broken());
  EXPECT_THAT(Edges(verdict_), ElementsAre("checkout>legacy-billing:call:service:1",
                                           "checkout>api.stripe.com:call:external:2",
                                           "checkout>10.0.0.7:8080:call:external:1"));
}

TEST_F(GapDetectorTest, DatastoreAndQueueCallsAreNeverFlagged) {
  SpanFields db = Client(Fields(1, 2, 1, "checkout"), "payments");  // even if it resolves
  db.db_system = "postgresql";
  SpanFields redis = Client(Fields(1, 3, 1, "checkout"), "ledger-cache.internal");
  redis.type = "redis";
  SpanFields kafka = Client(Fields(1, 4, 1, "checkout"), "ledger");
  kafka.kind = "producer";
  kafka.messaging_system = "kafka";
  SpanFields queue = Client(Fields(1, 5, 1, "checkout"), "");
  queue.type = "queue";
  SpanFields sql = Fields(1, 6, 1, "checkout");  // no span.kind, type sql, no target
  sql.type = "sql";
  sql.db_system = "mysql";
  Judge({Server(Fields(1, 1, 0, "checkout")), db, redis, kafka, queue, sql});
  EXPECT_FALSE(verdict_.broken());
  EXPECT_THAT(Edges(verdict_),
              ElementsAre("checkout>payments:db:datastore:1",
                          "checkout>ledger-cache.internal:db:datastore:1",
                          "checkout>ledger:messaging:queue:1", "checkout>queue:messaging:queue:1",
                          "checkout>mysql:db:datastore:1"));
}

TEST_F(GapDetectorTest, ProducerToACatalogServiceWithoutMessagingSystemIsJudged) {
  SpanFields p = Client(Fields(1, 2, 1, "checkout"), "ledger");
  p.kind = "producer";
  p.type = "";
  Judge({Server(Fields(1, 1, 0, "checkout")), p});
  EXPECT_THAT(Gaps(verdict_),
              ElementsAre(G{"uninstrumented_callee", 2, "checkout", "ledger", "ledger"}));
}

TEST_F(GapDetectorTest, SpansWithoutClientKindAreNotJudgedAsCalls) {
  SpanFields internal = Fields(1, 2, 1, "checkout");
  internal.target = "ledger";  // a target, but no span.kind client/producer
  SpanFields server = Server(Fields(1, 3, 1, "checkout"));
  server.target = "ledger";
  Judge({Server(Fields(1, 1, 0, "checkout")), internal, server});
  EXPECT_FALSE(verdict_.broken());
}

TEST_F(GapDetectorTest, MissingRootOnTheEarliestSpanAndOrphans) {
  // No span has parent 0. Span 7 starts first; spans 5 and 9 point to absent parents.
  Judge({Fields(1, 5, 99, "checkout", 200), Fields(1, 7, 5, "payments", 100),
         Fields(1, 9, 98, "orders", 300)});
  EXPECT_THAT(Gaps(verdict_), ElementsAre(G{"orphan_span", 5, "checkout", "<null>", ""},
                                          G{"missing_root", 7, "payments", "<null>", ""},
                                          G{"orphan_span", 9, "orders", "<null>", ""}));
  EXPECT_FALSE(verdict_.has_root);
  EXPECT_EQ(verdict_.env, "prod");
  EXPECT_THAT(Kinds(verdict_), ElementsAre("missing_root", "orphan_span"));
  EXPECT_THAT(verdict_.missing_services, IsEmpty());
  EXPECT_EQ(FormatGapDetail(verdict_.gaps[0]), "parent 99 not in trace");
  EXPECT_EQ(FormatGapDetail(verdict_.gaps[1]), "no span with parent id 0");
}

TEST_F(GapDetectorTest, MissingRootTieGoesToTheSmallestSpanId) {
  Judge({Fields(1, 8, 3, "a", 100), Fields(1, 4, 3, "b", 100)});
  ASSERT_EQ(verdict_.gaps.size(), 3u);
  EXPECT_EQ(verdict_.gaps[0].span_id, 4u);
  EXPECT_EQ(GapKindName(verdict_.gaps[0].kind), "missing_root");
}

TEST_F(GapDetectorTest, SingleOrphanInARootedTrace) {
  SpanFields root = Server(Fields(1, 1, 0, "checkout"));
  root.env = "staging";
  Judge({root, Fields(1, 2, 1, "checkout"), Server(Fields(1, 3, 77, "orders"))});
  EXPECT_THAT(Gaps(verdict_), ElementsAre(G{"orphan_span", 3, "orders", "<null>", ""}));
  EXPECT_EQ(verdict_.env, "staging");
  EXPECT_EQ(verdict_.root_service, "checkout");
}

TEST_F(GapDetectorTest, IdsAbove2To63And128BitTraceIds) {
  const uint64_t lo = 0x9000000000000001ull;
  SpanFields root = Server(Fields(lo, 0xF000000000000000ull, 0, "checkout"));
  root.trace_id_hi = 0x6553F0A200000000ull;
  SpanFields call =
      Client(Fields(lo, 0x8000000000000000ull, 0xF000000000000000ull, "checkout"), "ledger");
  SpanFields orphan = Fields(lo, 0xFFFFFFFFFFFFFFFFull, 0xEEEEEEEEEEEEEEEEull, "orders");
  Judge({root, call, orphan, Server(Fields(lo, 3, 0x8000000000000000ull, "orders"))});
  EXPECT_EQ(verdict_.trace_id_lo, lo);
  EXPECT_EQ(verdict_.trace_id_hi, 0x6553F0A200000000ull);
  EXPECT_THAT(
      Gaps(verdict_),
      ElementsAre(G{"uninstrumented_hop", 0x8000000000000000ull, "checkout", "ledger", "ledger"},
                  G{"orphan_span", 0xFFFFFFFFFFFFFFFFull, "orders", "<null>", ""}));
}

TEST_F(GapDetectorTest, DuplicatedSpansAreJudgedOnce) {
  const SpanFields root = Server(Fields(1, 1, 0, "checkout"));
  const SpanFields call = Client(Fields(1, 2, 1, "checkout"), "ledger");
  Judge({root, call, root, call, call});
  EXPECT_EQ(verdict_.span_count, 2u);
  EXPECT_EQ(verdict_.gaps.size(), 1u);
  EXPECT_EQ(verdict_.spans.size(), 2u);
}

TEST_F(GapDetectorTest, MissingServicesAreSortedAndDistinct) {
  Judge({Server(Fields(1, 1, 0, "checkout")), Client(Fields(1, 2, 1, "checkout"), "ledger"),
         Client(Fields(1, 3, 1, "checkout"), "gateway:80"),
         Client(Fields(1, 4, 1, "checkout"), "ledger.prod"),
         Client(Fields(1, 5, 1, "checkout"), "payments"),
         Client(Fields(1, 6, 1, "checkout"), "orders"), Server(Fields(1, 7, 6, "gateway"))});
  EXPECT_THAT(Strings(verdict_.missing_services), ElementsAre("gateway", "ledger", "orders"));
  EXPECT_THAT(Strings(verdict_.services), ElementsAre("checkout", "gateway"));
  EXPECT_THAT(Kinds(verdict_),
              ElementsAre("propagation_break", "uninstrumented_callee", "uninstrumented_hop"));
  EXPECT_EQ(verdict_.gaps.size(), 5u);
}

TEST_F(GapDetectorTest, ParentsAreLookedUpInTheTraceBeingJudgedOnly) {
  // The span-id table is reused from trace to trace: what an earlier, larger or smaller,
  // trace put there must not be found.
  std::vector<SpanFields> large;
  for (uint64_t id = 1; id <= 40; ++id) large.push_back(Fields(1, id, id - 1, "checkout"));
  Judge(large);
  EXPECT_FALSE(verdict_.broken());
  for (int round = 0; round < 3; ++round) {
    Judge({Fields(3, 1, 0, "checkout"), Fields(3, 7, 1, "orders")});  // 7 where it was
    EXPECT_FALSE(verdict_.broken());
    Judge({Fields(2, 100, 0, "checkout"), Fields(2, 101, 7, "orders")});
    EXPECT_THAT(Gaps(verdict_), ElementsAre(G{"orphan_span", 101, "orders", "<null>", ""}));
    Judge(large);
    EXPECT_FALSE(verdict_.broken());
  }
}

TEST_F(GapDetectorTest, ServicesAreInNameOrderPastTheirFirstEightBytes) {
  // An orphan makes the trace broken, so its services are listed. The names share prefixes of
  // eight bytes and more, are shorter than eight, and are interned in no particular order.
  std::vector<SpanFields> spans;
  uint64_t id = 1;
  for (const char* name : {"svc-9", "payments-worker", "svc-10", "pay", "payments", "payments-api",
                           "svc-1", "payments-api", "a\x7f", "a", "caf\xc3\xa9", "cafe"}) {
    spans.push_back(Fields(1, id, id == 1 ? 0 : 999, name));
    ++id;
  }
  Judge(spans);
  ASSERT_TRUE(verdict_.broken());
  EXPECT_THAT(Strings(verdict_.services),
              ElementsAre("a", "a\x7f", "cafe", "caf\xc3\xa9", "pay", "payments", "payments-api",
                          "payments-worker", "svc-1", "svc-10", "svc-9"));
}

TEST_F(GapDetectorTest, SkipsTracesNotRetainedWhole) {
  SpanFields single = Client(Fields(1, 2, 1, "checkout"), "ledger");
  single.retained_by = "retention_filter";
  EXPECT_EQ(Judge({single}), GapDetector::Outcome::kSkippedRetention);
  EXPECT_FALSE(verdict_.broken());
  EXPECT_EQ(detector_.counters().traces_skipped_retention, 1u);
  EXPECT_EQ(detector_.counters().traces_judged, 0u);

  SpanFields root = Server(Fields(2, 1, 0, "checkout"));
  root.retained_by = "diversity_sampling";
  SpanFields mixed = Fields(2, 2, 1, "checkout");
  mixed.retained_by = "retention_filter";
  EXPECT_EQ(Judge({root, mixed}), GapDetector::Outcome::kSkippedRetention);
  SpanFields unknown = Fields(2, 2, 1, "checkout");
  unknown.retained_by = "";
  EXPECT_EQ(Judge({root, unknown}), GapDetector::Outcome::kSkippedRetention);

  // WHOLE_TRACE_RETENTION extends the accepted values.
  SpanFields custom = Fields(3, 1, 99, "checkout");
  custom.retained_by = "custom_whole";
  EXPECT_EQ(Judge({custom}), GapDetector::Outcome::kJudged);
  EXPECT_THAT(Kinds(verdict_), ElementsAre("missing_root", "orphan_span"));
  EXPECT_EQ(detector_.counters().traces_skipped_retention, 3u);
}

TEST_F(GapDetectorTest, ServerWithoutSpanKindYieldsAnInboundEdge) {
  // An untyped internal span of checkout is the parent of a web span of orders with no
  // span.kind: orders is a server there, and the hop checkout → orders is a dependency.
  SpanFields web = Fields(1, 3, 2, "orders");
  web.type = "web";
  SpanFields same = Fields(1, 4, 3, "orders");
  same.type = "web";  // parent of the same service: not a server, no edge
  Judge({Server(Fields(1, 1, 0, "checkout")), Fields(1, 2, 1, "checkout"), web, same});
  EXPECT_FALSE(verdict_.broken());
  EXPECT_THAT(Edges(verdict_), ElementsAre("checkout>orders:call:service:1"));
}

TEST_F(GapDetectorTest, ResolvesTargetsToCatalogServicesOnly) {
  EXPECT_EQ(detector_.Resolve("payments"), "payments");
  EXPECT_EQ(detector_.Resolve("payments:8443"), "payments");
  EXPECT_EQ(detector_.Resolve("payments.internal:8443"), "payments");
  EXPECT_EQ(detector_.Resolve("payments.svc.cluster.local"), "payments");
  EXPECT_EQ(detector_.Resolve("https://payments.example.com:443/charge?x=1"), "payments");
  EXPECT_EQ(detector_.Resolve("grpc://user@ledger:50051"), "ledger");
  EXPECT_EQ(detector_.Resolve("paymentsx.internal"), "");
  EXPECT_EQ(detector_.Resolve("api.stripe.com"), "");
  EXPECT_EQ(detector_.Resolve("legacy-billing"), "");  // shadow: never resolves
  EXPECT_EQ(detector_.Resolve("10.1.2.3"), "");
  EXPECT_EQ(detector_.Resolve(""), "");
}

TEST_F(GapDetectorTest, DirectoryChangesTakeEffect) {
  Judge({Server(Fields(1, 1, 0, "checkout")), Client(Fields(1, 2, 1, "checkout"), "ledger")});
  EXPECT_EQ(GapKindName(verdict_.gaps.at(0).kind), "uninstrumented_callee");
  ServiceDirectory d;
  d.catalog = {"checkout", "ledger"};
  d.instrumented = {"checkout", "ledger"};
  detector_.SetDirectory(d);
  Judge({Server(Fields(2, 1, 0, "checkout")), Client(Fields(2, 2, 1, "checkout"), "ledger")});
  EXPECT_EQ(GapKindName(verdict_.gaps.at(0).kind), "propagation_break");
  detector_.SetDirectory(ServiceDirectory{});
  Judge({Server(Fields(3, 1, 0, "checkout")), Client(Fields(3, 2, 1, "checkout"), "ledger")});
  EXPECT_FALSE(verdict_.broken());
}

}  // namespace
}  // namespace apmcov::coverage
