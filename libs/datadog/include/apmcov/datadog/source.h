// DatadogSource: the port through which the collector reads Datadog (design §7). The HTTP
// adapter (HttpDatadogSource in http_client.h) talks to the real API or ddsim; tests hand the
// collector a fake.
//
// Contract:
//  - Every method is one logical API read: the adapter may retry it (rate limits, 5xx,
//    timeouts) and wait on its Clock, but returns either the whole page or an error Status
//    that says what happened and what to do (PermissionDenied naming DD_API_KEY / DD_APP_KEY
//    and the site, ResourceExhausted when rate limited, InvalidArgument for a malformed body).
//  - Reads are idempotent and have no side effects on Datadog.
//  - Not thread-safe: one caller (the collector's sync thread) at a time.
//  - Keys never appear in a returned Status.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/v1/events.pb.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace apmcov::datadog {

// One page of GET /api/v2/services/definitions (page-number paging, 0-based).
struct ServiceDefinitionPage {
  std::vector<v1::CatalogService> services;  // normalised (design §5); snapshot_id left empty
  size_t raw_items = 0;                      // items in `data`, including skipped ones
  std::vector<std::string> skipped;          // why an item was left out (e.g. no dd-service)
  bool has_more = false;                     // raw_items == page size
};

// One page of GET /api/v2/catalog/entity (offset paging), kind=service entities only.
struct CatalogEntityPage {
  std::vector<v1::CatalogService> services;
  size_t raw_items = 0;
  std::optional<int64_t> next_offset;  // absent on the last page
};

struct SpanPage;

// A span page read in two steps (DatadogSource::ScanSpans): the body and the JSON parser's state
// between the scan, which found the page's cursor, and the parse of its spans. Owned by the
// page, so a page read into again reuses both (the body's buffer, the parser's index).
class SpanPageScan {
 public:
  virtual ~SpanPageScan() = default;
  // Parses the spans of the body scanned last into `page` (the page it was scanned into):
  // nothing to do when no scan is pending.
  virtual absl::Status Finish(SpanPage* page) = 0;
  bool pending() const { return pending_; }
  void Discard() { pending_ = false; }

 protected:
  bool pending_ = false;
};

// One page of GET /api/v2/spans/events (cursor paging). `spans` is a RepeatedPtrField so a
// page object reused across calls (after spans.Clear()) keeps its allocations.
struct SpanPage {
  google::protobuf::RepeatedPtrField<v1::Span> spans;
  std::string next_cursor;  // empty: this was the last page
  // meta.status was "timeout": Datadog returned partial results, so a short page does not
  // mean the end (follow next_cursor).
  bool partial = false;
  // Spans left out because they could not be parsed (a non-string service, a _dd.p.tid that
  // is not hex, ...): the rest of the page is kept (design §7). Ids are 0 when unreadable.
  struct SkippedSpan {
    uint64_t trace_id = 0;
    uint64_t span_id = 0;
    std::string reason;
  };
  std::vector<SkippedSpan> skipped;
  // Items in the page's `data`, spans and skipped ones alike: known once the page is scanned,
  // before its spans are parsed (a page shorter than asked for is the last).
  size_t items = 0;
  // Set by a scan (DatadogSource::ScanSpans) until FinishParse.
  std::unique_ptr<SpanPageScan> scan;

  // Parses the spans a scan left for later; nothing to do for a page read whole (ListSpans).
  absl::Status FinishParse() { return scan == nullptr ? absl::OkStatus() : scan->Finish(this); }

  // Empties the page and keeps its storage: the cleared spans (and their strings' buffers)
  // are reused by the next page read into it.
  void Clear() {
    spans.Clear();
    next_cursor.clear();
    partial = false;
    skipped.clear();
    items = 0;
    if (scan != nullptr) scan->Discard();
  }
};

struct SpanQuery {
  std::string query = "*";
  int64_t from_unix_nano = 0;  // inclusive
  int64_t to_unix_nano = 0;    // exclusive
  int32_t limit = 1000;        // 1..1000
  std::string cursor;          // empty for the first page
};

struct AggregateQuery {
  std::string query = "*";
  int64_t from_unix_nano = 0;
  int64_t to_unix_nano = 0;
  std::vector<std::string> group_by = {"service", "env"};
  int32_t group_limit = 10000;  // per group_by facet; high enough for every service
  // Value of the facets after the first for spans that lack them (a "missing" bucket);
  // empty: such spans are left out.
  std::string missing;
  // Non-empty (e.g. "1m"): a timeseries count with this interval, in AggregateBucket::points.
  std::string interval;
};

// One bucket of a spans aggregate: facet → value, and the count (c0).
struct AggregateBucket {
  std::map<std::string, std::string> by;
  double count = 0;  // a timeseries: the sum of its points
  struct Point {
    int64_t time_unix_nano = 0;  // start of the interval
    double value = 0;
  };
  std::vector<Point> points;  // only for a timeseries
};

// A spans aggregate's answer. `partial`: Datadog stopped counting before the end
// (meta.status "timeout"): the counts are lower bounds and whole groups may be missing.
struct AggregateResult {
  std::vector<AggregateBucket> buckets;
  bool partial = false;
};

class DatadogSource {
 public:
  virtual ~DatadogSource() = default;

  // Checks the API key (GET /api/v1/validate) and the application key (one service
  // definition). PermissionDenied with a message naming DD_API_KEY / DD_APP_KEY and the site.
  virtual absl::Status Validate() = 0;

  virtual absl::StatusOr<ServiceDefinitionPage> ListServiceDefinitions(int32_t page_number,
                                                                       int32_t page_size) = 0;
  virtual absl::StatusOr<CatalogEntityPage> ListCatalogEntities(int64_t offset, int32_t limit) = 0;

  // GET /api/v2/apm/services?filter[env]=*: one ApmObservation per service, env "*",
  // source "service_list".
  virtual absl::StatusOr<std::vector<v1::ApmObservation>> ListApmServices() = 0;

  // POST /api/v2/spans/analytics/aggregate, count grouped by `group_by`.
  virtual absl::StatusOr<AggregateResult> AggregateSpanCounts(const AggregateQuery& query) = 0;

  // GET /api/v2/spans/events: one page into `page`, which it replaces (SpanPage::Clear: a
  // page read into the same SpanPage again allocates only for what outgrows the last one).
  // After an error the page's content is unspecified.
  virtual absl::Status ListSpans(const SpanQuery& query, SpanPage* page) = 0;
  // The same, but the page's spans may be left unparsed: the call returns once the page's
  // paging is known (next_cursor, partial, items), and page->FinishParse() parses the spans,
  // on any thread, so that the next page's call can start meanwhile. A body whose paging
  // cannot be read is asked for again like any garbled answer; a span that cannot be parsed
  // is skipped like in ListSpans; FinishParse fails only for a body that is not JSON after
  // its paging (the call is not repeated then: the caller stops the read there).
  virtual absl::Status ScanSpans(const SpanQuery& query, SpanPage* page) {
    return ListSpans(query, page);
  }
  // The same, into a new page.
  absl::StatusOr<SpanPage> ListSpans(const SpanQuery& query) {
    SpanPage page;
    if (absl::Status s = ListSpans(query, &page); !s.ok()) return s;
    return page;
  }
};

// Receives what the HTTP adapter does, for metrics and job progress. Called on the caller's
// thread; must be quick and must not throw.
class ApiObserver {
 public:
  virtual ~ApiObserver() = default;
  // One HTTP exchange: `endpoint` is a stable name ("spans_list"), `http_status` 0 when no
  // response arrived (timeout, connection refused).
  virtual void OnApiCall(const std::string& endpoint, int http_status, double seconds) = 0;
  // The adapter waited `seconds` because of a rate limit (429 or Remaining == 0).
  virtual void OnRateLimitWait(const std::string& bucket, double seconds) = 0;
};

}  // namespace apmcov::datadog
