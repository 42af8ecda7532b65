// ddsim as a Datadog Agent (design §12): the spans it received on /v0.4/traces, decoded,
// normalised like the Agent does, and kept so that they join the simulated organisation
// (spans endpoints, aggregates, the APM service list, the trace endpoint, the ground truth).
//
// Received spans are facts ddsim did not decide: they are stored as received (after the
// normalisation below), never regenerated, and bounded in number (the oldest seconds are
// evicted first).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "ddsim/traffic/span_fields.h"

namespace apmcov::ddsim {

// One span as the Agent intake received it.
struct ReceivedSpan {
  uint64_t trace_lo = 0;
  uint64_t trace_hi = 0;  // from `_dd.p.tid` on a span of its chunk; 0 when unknown
  uint64_t span_id = 0;
  uint64_t parent_id = 0;
  int64_t start_ns = 0;
  int64_t duration_ns = 0;
  bool error = false;
  std::string service, name, resource, type;
  std::string env;       // meta env, else "none" (as Datadog files spans without one)
  std::string version;   // meta version ("" when absent)
  std::string language;  // meta language, else the request's Datadog-Meta-Lang
  std::string host;      // meta _dd.hostname, else the intake's host name
  std::vector<std::pair<std::string, std::string>> meta;  // sorted by key
  std::vector<std::pair<std::string, double>> metrics;    // sorted by key

  // Value of meta `key`, or null.
  const std::string* Meta(std::string_view key) const;
};

// What the request said beyond its body.
struct IntakeRequestInfo {
  std::string language;  // Datadog-Meta-Lang
  std::string host = "ddsim-agent";
  int64_t now_ns = 0;  // spans starting before 2000-01-01 are moved to now - duration
};

// The result of decoding one /v0.4/traces body.
struct DecodedPayload {
  std::vector<ReceivedSpan> spans;
  size_t traces = 0;
  size_t dropped_spans = 0;  // zero ids, or chunks mixing trace ids (the Agent drops these)
};

// Decodes a v0.4 msgpack payload: an array of traces, each an array of span maps. Decoding is
// lenient where the Agent is (ids as any integer, numbers as int or float, str or bin for
// strings, nil for empty, unknown keys ignored) and strict about structure: InvalidArgument,
// naming the trace, span and field, for anything else (not msgpack, truncated, trailing
// bytes, a trace that is not an array, a span that is not a map, a field of the wrong type,
// nesting deeper than 32). It walks the bytes with msgpack-cxx's visitor parser and allocates
// only for the spans it keeps, so a declared array size never reserves memory. Normalisation
// as the Agent's: service and name cut to 100 bytes (empty: "unnamed-service",
// "unnamed_operation"), resource to 5000 (empty: the name), negative durations to 0.
absl::StatusOr<DecodedPayload> DecodeTracesV04(std::string_view body,
                                               const IntakeRequestInfo& info);

// A received span's value for a query or group-by field, as SpanFieldValue() is for
// generated spans (the same names: @peer.service is meta peer.service, ...). Received
// spans are whole traces: retained_by is flat_sampled, ingestion_reason auto.
bool ReceivedFieldValue(const ReceivedSpan& span, SpanField field, std::string& scratch,
                        std::string_view* out);

// Received spans by the second they start in. Thread-safe; readers get immutable snapshots.
class ReceivedStore {
 public:
  using SecondSpans = std::shared_ptr<const std::vector<ReceivedSpan>>;

  explicit ReceivedStore(size_t max_spans = 200'000);

  // Adds spans; when more than max_spans are held, whole seconds are evicted, oldest first.
  // Returns how many spans were evicted.
  size_t Add(std::vector<ReceivedSpan> spans);

  bool empty() const { return size_.load(std::memory_order_relaxed) == 0; }
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  int64_t evicted() const { return evicted_.load(std::memory_order_relaxed); }

  // The spans starting in unix second `second`, sorted by (start, span id); null when none.
  SecondSpans Second(int64_t second) const;
  // Every second in [from_s, to_s] that holds spans, in order.
  std::vector<std::pair<int64_t, SecondSpans>> Range(int64_t from_s, int64_t to_s) const;
  // The seconds holding spans of the trace with these low 64 bits, ascending.
  std::vector<int64_t> SecondsOfTrace(uint64_t trace_lo) const;

  struct ServiceEnv {
    std::string service, env;
    int64_t first_start_ns = 0;  // the earliest span start ever received (kept past eviction)
    int64_t spans = 0;
  };
  // Every (service, env) ever received, sorted by service then env.
  std::vector<ServiceEnv> ServiceEnvs() const;

 private:
  const size_t max_spans_;
  mutable std::shared_mutex mu_;
  std::map<int64_t, SecondSpans> seconds_;
  std::unordered_map<uint64_t, std::vector<int64_t>> trace_seconds_;
  std::map<std::pair<std::string, std::string>, ServiceEnv> service_envs_;
  std::atomic<size_t> size_{0};
  std::atomic<int64_t> evicted_{0};
};

}  // namespace apmcov::ddsim
