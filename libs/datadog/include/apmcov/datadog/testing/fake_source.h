// FakeSource: an in-memory Datadog organisation behind the DatadogSource port (source.h), for
// tests of what reads Datadog (the collector) without a network. It passes the same source
// contract suite as the HTTP adapter against ddsim (libs/datadog/tests/source_contract.h):
//  - service definitions by page number (has_more when a page is full), catalog entities by
//    offset (next_offset while entities remain), the APM service list as set;
//  - spans of [from, to) in `spans` order, paged by an opaque cursor (one after every
//    non-empty page, so an empty page ends, like Datadog's); every span of the window once,
//    whatever the page size; the query text is recorded, not evaluated;
//  - aggregates counted from `spans`: grouped by the facets it knows (service, env,
//    @language, resource_name, operation_name, @span.kind, host); a span lacking a facet is
//    left out, or counted under `missing` for the facets after the first when it is set;
//    `group_limit` keeps the largest groups of each value of the levels before; a timeseries
//    (`interval` "30s", "1m", "1h") gives the counts per interval from `from` floored;
//  - errors: `before_call` sees every call first and may answer it with an error, as an
//    adapter would after its retries (rate limits, 5xx, a malformed page).
// Not thread-safe, like the port, except that calls() may be read from any thread and
// `before_call` may block (to hold a sync open while another thread looks).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "apmcov/datadog/source.h"

namespace apmcov::datadog::testing {

class FakeSource final : public DatadogSource {
 public:
  enum class Method {
    kValidate,
    kServiceDefinitions,
    kCatalogEntities,
    kApmServices,
    kAggregate,
    kSpans
  };
  // What a call asks, for `before_call`: the method, its 0-based number among calls of that
  // method, and its arguments (the one that applies is set).
  struct Call {
    Method method;
    int number = 0;
    int64_t page = 0;  // page number (definitions) or offset (entities)
    const AggregateQuery* aggregate = nullptr;
    const SpanQuery* spans = nullptr;
  };

  // The organisation; change it between calls as time passes.
  std::vector<v1::CatalogService> services;  // service definitions, in listing order
  std::vector<v1::CatalogService> entities;  // v3 kind:service entities, in listing order
  std::vector<v1::ApmObservation> apm;       // the APM service list
  std::vector<v1::Span> spans;               // listed by start time window, and counted
  // Aggregates report counts times this (Datadog's counts are estimates; a test can make
  // them wrong on purpose).
  double count_scale = 1.0;
  // Aggregates answer as Datadog does when it stops counting early (meta.status "timeout").
  bool aggregates_partial = false;

  // Seen before every call; a non-OK status is the call's answer.
  std::function<absl::Status(const Call&)> before_call;
  // For a page read by ScanSpans (its spans held back until FinishParse, like a page scanned
  // but not parsed): what FinishParse answers for the page of that 0-based spans call; OK or
  // unset: the spans. A non-OK answer is a page whose paging read well and whose spans do not.
  // Called by FinishParse, on the thread that finishes the page (the one set at the scan).
  std::function<absl::Status(int number)> finish_spans;

  // What was asked, in order.
  std::vector<SpanQuery> span_queries;
  std::vector<AggregateQuery> aggregate_queries;
  int calls(Method m) const;

  absl::Status Validate() override;
  absl::StatusOr<ServiceDefinitionPage> ListServiceDefinitions(int32_t page_number,
                                                               int32_t page_size) override;
  absl::StatusOr<CatalogEntityPage> ListCatalogEntities(int64_t offset, int32_t limit) override;
  absl::StatusOr<std::vector<v1::ApmObservation>> ListApmServices() override;
  absl::StatusOr<AggregateResult> AggregateSpanCounts(const AggregateQuery& query) override;
  using DatadogSource::ListSpans;
  absl::Status ListSpans(const SpanQuery& query, SpanPage* page) override;
  absl::Status ScanSpans(const SpanQuery& query, SpanPage* page) override;

 private:
  absl::Status Before(Call call);
  std::array<std::atomic<int>, 6> calls_{};  // by Method
};

}  // namespace apmcov::datadog::testing
