// Parsers from Datadog JSON response bodies to domain types (design §5, reference §3-§7).
// Pure functions: no I/O, thread-safe. They tolerate absent and unknown fields and reject
// malformed input (not JSON, wrong types where a value is required) with an InvalidArgument
// Status saying what is wrong and where.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/datadog/source.h"
#include "apmcov/v1/events.pb.h"

namespace apmcov::datadog {

// GET /api/v2/services/definitions body ({"data":[...]}). has_more is left false: the caller
// knows the page size. Items without a service name are skipped and listed in `skipped`.
absl::StatusOr<ServiceDefinitionPage> ParseServiceDefinitions(std::string_view body);

// One service-definition `schema` document (v1, v2, v2.1, v2.2) given as JSON, normalised
// (design §5). Exposed for tests and ddsim's cross-checks.
absl::StatusOr<v1::CatalogService> ParseServiceSchema(std::string_view schema_json);

// GET /api/v2/catalog/entity body; kind=service entities only. next_offset from links.next.
absl::StatusOr<CatalogEntityPage> ParseCatalogEntities(std::string_view body);

// GET /api/v2/apm/services body.
absl::StatusOr<std::vector<v1::ApmObservation>> ParseApmServices(std::string_view body);

// POST /api/v2/spans/analytics/aggregate body; accepts `compute` and `computes`, a c0 that is
// a number or a timeseries (summed); partial when meta.status is "timeout".
absl::StatusOr<AggregateResult> ParseAggregate(std::string_view body);

// GET /api/v2/spans/events or POST search body (simdjson on-demand; the hot path). Appends to
// page->spans and sets next_cursor. `body` needs no padding (it is copied when too short).
absl::Status ParseSpanPage(std::string_view body, SpanPage* page);
// The same, parsed in place (no copy) when `body` has kJsonPadding bytes of spare capacity
// (the HTTP client keeps that much on every response body).
absl::Status ParseSpanPageInPlace(const std::string& body, SpanPage* page);
absl::StatusOr<SpanPage> ParseSpanPageInPlace(const std::string& body);
// A page read in two steps (DatadogSource::ScanSpans). This first step takes `*body` (swapped
// with the body the page held before: no copy) and reads what paging needs: simdjson's first
// stage over the whole body, meta (next_cursor, partial), the count of items in `data`
// (page->items) and the error-body check. page->FinishParse() then parses the spans from the
// same index, on any thread. On an error `*body` is given back and nothing is pending.
absl::Status ScanSpanPage(std::string* body, SpanPage* page);
inline constexpr size_t kJsonPadding = 64;
// simdjson's kernel the span-page parser runs ("icelake", "haswell", "westmere", "fallback"):
// the best one compiled in that the running CPU supports, chosen at first use.
std::string_view SpanPageSimdjsonKernel();
absl::StatusOr<SpanPage> ParseSpanPage(std::string_view body);

// A decimal unsigned 64-bit id ("18446744073709551615"). InvalidArgument naming `field` for
// empty, non-digit or overflowing text.
absl::StatusOr<uint64_t> ParseDecimalId(std::string_view text, std::string_view field);

// A Datadog error body ({"errors": ["..."]} or JSON:API objects) as one readable line; the
// body's first 200 characters when it is neither.
std::string DescribeErrorBody(std::string_view body);

// Customer-facing values (design §5): true, yes, 1 (case-insensitive).
bool IsTruthy(std::string_view value);

// "payments.internal:8443/x" → "payments.internal" (the host of an http.url).
std::string_view UrlHost(std::string_view url);

}  // namespace apmcov::datadog
