// The DatadogSource contract suite (source.h), run against every implementation: FakeSource
// (testing/fake_source.h) in datadog_fake_source_test (label unit) and HttpDatadogSource
// against a real ddsim in datadog_ddsim_test (label integration).
//
// A Backend type provides:
//   static constexpr const char* kName;
//   DatadogSource& source();
//   int64_t window_from(), window_to();  // a past span window with spans in it, at most a
//                                        // few thousand, that no new span will join
//   int64_t empty_from(), empty_to();    // a past window without any span
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "apmcov/datadog/source.h"

namespace apmcov::datadog::contract {

template <typename Backend>
class SourceContractTest : public ::testing::Test {
 protected:
  DatadogSource& source() { return backend_.source(); }

  // Every span of [from, to) by following cursors with pages of `limit`; fails on an error.
  std::vector<v1::Span> ReadWindow(int64_t from, int64_t to, int32_t limit, int* pages) {
    std::vector<v1::Span> out;
    SpanQuery q{.query = "*", .from_unix_nano = from, .to_unix_nano = to, .limit = limit};
    *pages = 0;
    for (int i = 0; i < 10'000; ++i) {
      auto page = source().ListSpans(q);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      ++*pages;
      EXPECT_LE(page->spans.size(), limit);
      for (const v1::Span& s : page->spans) out.push_back(s);
      if (page->next_cursor.empty()) break;
      q.cursor = page->next_cursor;
    }
    return out;
  }

  Backend backend_;
};

TYPED_TEST_SUITE_P(SourceContractTest);

TYPED_TEST_P(SourceContractTest, ValidateAcceptsTheKeys) {
  EXPECT_TRUE(this->source().Validate().ok());
}

TYPED_TEST_P(SourceContractTest, DefinitionPagesListEveryServiceOnceWhateverThePageSize) {
  auto read = [&](int32_t size) {
    std::vector<std::string> names;
    for (int32_t page = 0; page < 1000; ++page) {
      auto p = this->source().ListServiceDefinitions(page, size);
      EXPECT_TRUE(p.ok()) << p.status();
      if (!p.ok()) break;
      EXPECT_LE(p->raw_items, static_cast<size_t>(size));
      EXPECT_EQ(p->has_more, p->raw_items == static_cast<size_t>(size));
      EXPECT_LE(p->services.size(), p->raw_items);
      for (const auto& s : p->services) names.push_back(s.name());
      if (!p->has_more) break;
    }
    return names;
  };
  const std::vector<std::string> small = read(7), large = read(100);
  EXPECT_FALSE(large.empty());
  EXPECT_EQ(small, large);
  EXPECT_EQ(std::set<std::string>(large.begin(), large.end()).size(), large.size());
}

TYPED_TEST_P(SourceContractTest, EntityPagesFollowNextOffsetToTheEnd) {
  auto read = [&](int32_t limit) {
    std::vector<std::string> names;
    int64_t offset = 0;
    for (int i = 0; i < 1000; ++i) {
      auto p = this->source().ListCatalogEntities(offset, limit);
      EXPECT_TRUE(p.ok()) << p.status();
      if (!p.ok()) break;
      EXPECT_LE(p->raw_items, static_cast<size_t>(limit));
      for (const auto& s : p->services) names.push_back(s.name());
      if (!p->next_offset) break;
      EXPECT_EQ(*p->next_offset, offset + static_cast<int64_t>(p->raw_items));
      offset = *p->next_offset;
    }
    return names;
  };
  const std::vector<std::string> small = read(9), large = read(1000);
  EXPECT_FALSE(large.empty());
  EXPECT_EQ(small, large);
}

TYPED_TEST_P(SourceContractTest, ApmServicesAreOneObservationPerServiceForEveryEnv) {
  auto apm = this->source().ListApmServices();
  ASSERT_TRUE(apm.ok()) << apm.status();
  ASSERT_FALSE(apm->empty());
  std::set<std::string> names;
  for (const v1::ApmObservation& o : *apm) {
    EXPECT_FALSE(o.service().empty());
    EXPECT_EQ(o.env(), "*");
    EXPECT_EQ(o.source(), "service_list");
    EXPECT_TRUE(names.insert(o.service()).second) << o.service() << " twice";
  }
}

TYPED_TEST_P(SourceContractTest, SpanPagesCoverTheWindowOnceWhateverThePageSize) {
  const int64_t from = this->backend_.window_from(), to = this->backend_.window_to();
  int pages_large = 0, pages_small = 0;
  const std::vector<v1::Span> large = this->ReadWindow(from, to, 1000, &pages_large);
  const std::vector<v1::Span> small = this->ReadWindow(from, to, 250, &pages_small);
  ASSERT_FALSE(large.empty());
  std::multiset<uint64_t> a, b;
  for (const v1::Span& s : large) {
    EXPECT_GE(s.start_unix_nano(), from);
    EXPECT_LT(s.start_unix_nano(), to);
    a.insert(s.span_id());
  }
  for (const v1::Span& s : small) b.insert(s.span_id());
  EXPECT_EQ(a, b);
  EXPECT_EQ(std::set<uint64_t>(a.begin(), a.end()).size(), a.size()) << "a span twice";
  EXPECT_GT(pages_small, pages_large);
}

TYPED_TEST_P(SourceContractTest, AnEmptyWindowIsOneEmptyPage) {
  int pages = 0;
  EXPECT_TRUE(this->ReadWindow(this->backend_.empty_from(), this->backend_.empty_to(), 1000, &pages)
                  .empty());
  EXPECT_EQ(pages, 1);
}

TYPED_TEST_P(SourceContractTest, AggregateCountsTheSpansTheListReturns) {
  const int64_t from = this->backend_.window_from(), to = this->backend_.window_to();
  int pages = 0;
  const std::vector<v1::Span> listed = this->ReadWindow(from, to, 1000, &pages);
  std::map<std::string, double> by_service;
  for (const v1::Span& s : listed) by_service[s.service()] += 1;

  AggregateQuery q;
  q.from_unix_nano = from;
  q.to_unix_nano = to;
  q.group_by = {"service"};
  auto buckets = this->source().AggregateSpanCounts(q);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  EXPECT_FALSE(buckets->partial);
  std::map<std::string, double> counted;
  for (const AggregateBucket& b : buckets->buckets) {
    ASSERT_EQ(b.by.count("service"), 1u);
    EXPECT_TRUE(b.points.empty());
    counted[b.by.at("service")] += b.count;
  }
  EXPECT_EQ(counted, by_service);

  // A timeseries: points from `from` floored to the interval, summing to the count.
  q.group_by = {};
  q.interval = "1s";
  auto series = this->source().AggregateSpanCounts(q);
  ASSERT_TRUE(series.ok()) << series.status();
  ASSERT_EQ(series->buckets.size(), 1u);
  double sum = 0;
  int64_t last = -1;
  for (const AggregateBucket::Point& p : series->buckets.front().points) {
    EXPECT_GT(p.time_unix_nano, last);
    EXPECT_EQ(p.time_unix_nano % 1'000'000'000, 0);
    EXPECT_LT(p.time_unix_nano, to);
    last = p.time_unix_nano;
    sum += p.value;
  }
  EXPECT_EQ(series->buckets.front().points.front().time_unix_nano,
            from / 1'000'000'000 * 1'000'000'000);
  EXPECT_EQ(sum, static_cast<double>(listed.size()));
  EXPECT_EQ(series->buckets.front().count, sum);
}

// A page read into a SpanPage that held another page (the collector recycles its pages) is
// exactly that page: nothing of the previous one is left, its cursor included.
TYPED_TEST_P(SourceContractTest, APageReadIntoAUsedPageHoldsOnlyThatPage) {
  auto wire = [](const SpanPage& p) {
    std::vector<std::string> out;
    for (const v1::Span& s : p.spans) out.push_back(s.SerializeAsString());
    return out;
  };
  const SpanQuery large{.query = "*",
                        .from_unix_nano = this->backend_.window_from(),
                        .to_unix_nano = this->backend_.window_to(),
                        .limit = 50};
  SpanQuery small = large;
  small.limit = 3;
  auto fresh = this->source().ListSpans(small);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  ASSERT_GT(fresh->spans.size(), 0);

  SpanPage page;
  ASSERT_TRUE(this->source().ListSpans(large, &page).ok());
  ASSERT_GT(page.spans.size(), fresh->spans.size());  // the used page held more spans
  ASSERT_TRUE(this->source().ListSpans(small, &page).ok());
  EXPECT_EQ(wire(page), wire(*fresh));
  EXPECT_EQ(page.next_cursor, fresh->next_cursor);
  EXPECT_EQ(page.partial, fresh->partial);
  EXPECT_TRUE(page.skipped.empty());

  const SpanQuery empty{.query = "*",
                        .from_unix_nano = this->backend_.empty_from(),
                        .to_unix_nano = this->backend_.empty_to(),
                        .limit = 50};
  ASSERT_TRUE(this->source().ListSpans(empty, &page).ok());
  EXPECT_EQ(page.spans.size(), 0);
  EXPECT_TRUE(page.next_cursor.empty());
}

// A page read in two steps (ScanSpans, then FinishParse: the collector's way) is the page
// ListSpans reads: its paging is known before its spans are parsed, page after page into the
// same recycled SpanPage, and the window's last page is known from the scan alone.
TYPED_TEST_P(SourceContractTest, AScannedPageFinishedIsThePageListSpansReads) {
  auto wire = [](const SpanPage& p) {
    std::string out;
    for (const v1::Span& s : p.spans) out += s.SerializeAsString() + "|";
    return out;
  };
  SpanQuery q{.query = "*",
              .from_unix_nano = this->backend_.window_from(),
              .to_unix_nano = this->backend_.window_to(),
              .limit = 100};
  SpanPage scanned;
  int pages = 0;
  size_t spans = 0;
  for (; pages < 1000; ++pages) {
    auto listed = this->source().ListSpans(q);
    ASSERT_TRUE(listed.ok()) << listed.status();
    ASSERT_TRUE(this->source().ScanSpans(q, &scanned).ok());
    // The paging first, from the scan.
    EXPECT_EQ(scanned.items, static_cast<size_t>(listed->spans.size()) + listed->skipped.size());
    EXPECT_EQ(scanned.next_cursor, listed->next_cursor);
    EXPECT_EQ(scanned.partial, listed->partial);
    ASSERT_TRUE(scanned.FinishParse().ok());
    EXPECT_EQ(wire(scanned), wire(*listed));
    spans += static_cast<size_t>(scanned.spans.size());
    if (scanned.next_cursor.empty() || scanned.items < static_cast<size_t>(q.limit)) break;
    q.cursor = scanned.next_cursor;
  }
  int listed_pages = 0;
  EXPECT_EQ(spans, this->ReadWindow(this->backend_.window_from(), this->backend_.window_to(), 100,
                                    &listed_pages)
                       .size());
  EXPECT_GT(pages, 0);
}

REGISTER_TYPED_TEST_SUITE_P(SourceContractTest, ValidateAcceptsTheKeys,
                            DefinitionPagesListEveryServiceOnceWhateverThePageSize,
                            EntityPagesFollowNextOffsetToTheEnd,
                            ApmServicesAreOneObservationPerServiceForEveryEnv,
                            SpanPagesCoverTheWindowOnceWhateverThePageSize,
                            AnEmptyWindowIsOneEmptyPage, AggregateCountsTheSpansTheListReturns,
                            APageReadIntoAUsedPageHoldsOnlyThatPage,
                            AScannedPageFinishedIsThePageListSpansReads);

}  // namespace apmcov::datadog::contract
