// Span traffic over the world's call graph, generated per one-second time bucket as a pure
// function of (seed, bucket index): ddsim never stores its traffic, it regenerates a bucket
// whenever a request needs it. Each generated trace carries the truth ddsim decided while
// building it (broken or not, its gaps with span ids, its missing services), recorded from
// the generator's own decisions, never recomputed by product code.
//
// Trace ids encode their bucket (a keyed 64-bit bijection of bucket<<22 | index), so a trace
// is found by id without an index: DecodeTraceId() gives the bucket back.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ddsim/world/world.h"

namespace apmcov::ddsim {

inline constexpr int64_t kBucketNanos = 1'000'000'000;
// Every trace ends within this long after it starts, so slice k holds only spans of
// buckets k-1 and k.
inline constexpr int64_t kMaxTraceNanos = 900'000'000;

enum class GapKind : uint8_t {
  kUninstrumentedHop,
  kUninstrumentedCallee,
  kPropagationBreak,
  kMissingRoot,
  kOrphanSpan,
};
inline constexpr int kNumGapKinds = 5;
std::string_view GapKindName(GapKind k);  // design §6 spelling, e.g. "uninstrumented_hop"

enum class SpanKind : uint8_t { kServer, kClient, kProducer, kConsumer, kInternal };
std::string_view SpanKindName(SpanKind k);

enum class Retention : uint8_t { kFlatSampled, kDiversitySampling, kRetentionFilter };
std::string_view RetentionName(Retention r);

inline constexpr uint32_t kNoService = 0xFFFFFFFFu;

// One generated span: compact, rendered to JSON on demand.
struct Span {
  uint64_t trace_lo = 0;
  uint64_t trace_hi = 0;  // upper 64 bits (_dd.p.tid) or 0 for a 64-bit trace
  uint64_t span_id = 0;
  uint64_t parent_id = 0;
  int64_t start_ns = 0;
  int64_t duration_ns = 0;
  uint32_t service = 0;      // index into World::services
  uint32_t target = 0;       // Dependency::index for client/producer spans
  uint32_t trace_index = 0;  // index of its trace in Bucket::traces
  uint16_t resource = 0;     // resource variant
  uint16_t http_status = 200;
  uint8_t env = 0;
  SpanKind kind = SpanKind::kServer;
  DepKind target_kind = DepKind::kService;
  TargetForm target_form = TargetForm::kPeerService;
  Retention retained_by = Retention::kDiversitySampling;
  bool chunk_root = false;  // first span of its service's chunk: carries _dd.p.tid
  bool error = false;
};

struct Gap {
  GapKind kind;
  uint64_t span_id = 0;
  uint32_t from_service = 0;
  uint32_t to_service = kNoService;  // T for the three client-span kinds
  std::string peer;                  // raw target text; "" for missing_root / orphan_span
};

// What ddsim decided about one trace.
struct TraceTruth {
  uint64_t trace_lo = 0;
  uint64_t trace_hi = 0;
  int64_t start_ns = 0;                // earliest span start
  uint32_t root_service = kNoService;  // kNoService when the root was dropped
  uint8_t env = 0;
  uint32_t span_count = 0;
  uint32_t first_span = 0;  // its spans are Bucket::spans[first_span, first_span + span_count)
  bool judged = true;       // false: single spans kept by a retention filter (never judged)
  std::vector<Gap> gaps;
  std::vector<uint32_t> services;          // distinct reporting services, sorted by name
  std::vector<uint32_t> missing_services;  // sorted by name, distinct
  bool broken() const { return !gaps.empty(); }
};

struct TrafficOptions {
  uint64_t seed = 1;
  double spans_per_second = 200;
  // Traffic exists from this instant on (ns since the epoch); earlier buckets are empty.
  int64_t traffic_start_ns = 0;
  // Per-trace probability of each injected gap kind (design §6), in GapKind order.
  double gap_rates[kNumGapKinds] = {0.04, 0.05, 0.03, 0.02, 0.03};
  double single_span_rate = 0.03;  // retention_filter single spans (must be ignored)
  double trace128_rate = 0.6;      // traces with a 128-bit id (_dd.p.tid)
  double flat_sampled_rate = 0.3;  // else diversity_sampling
};

// All spans and traces of one bucket. Spans are grouped by trace, in generation order.
struct Bucket {
  int64_t index = 0;  // unix seconds of the bucket start
  std::vector<Span> spans;
  std::vector<TraceTruth> traces;
};

// Generates bucket `index` (unix seconds). Pure: same inputs, same output.
std::shared_ptr<const Bucket> GenerateBucket(const World& world, const TrafficOptions& options,
                                             int64_t index);

// Trace id encoding: lower 64 bits from (seed, bucket, index in bucket) and back.
uint64_t EncodeTraceId(uint64_t seed, int64_t bucket, uint32_t index);
struct DecodedTraceId {
  int64_t bucket;
  uint32_t index;
};
// nullopt when the id could not have come from this seed's generator.
std::optional<DecodedTraceId> DecodeTraceId(uint64_t seed, uint64_t trace_lo);

// The raw target text of a client span (what §6 calls the target), e.g.
// "payments.internal:8443", "api.stripe.com", "orders-events-topic-3".
std::string TargetText(const World& world, const Span& span);

}  // namespace apmcov::ddsim
