// PageFetcher (page_fetcher.h): pages read (scanned: the call and the paging) in the order
// asked on one thread, their spans parsed by the asker, recycled pages read into again, errors
// handed back, and every fetch asked for finished before it goes.
#include "page_fetcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "apmcov/datadog/testing/fake_source.h"

namespace apmcov::collector {
namespace {

using datadog::SpanQuery;
using datadog::testing::FakeSource;
using Page = PageFetcher::Page;

void AddSpans(FakeSource& source, int n) {
  for (int i = 0; i < n; ++i) {
    v1::Span s;
    s.set_trace_id(1000 + i);
    s.set_span_id(1 + i);
    s.set_service(i % 2 == 0 ? "a-service-name-longer-than-sso" : "b");
    s.set_start_unix_nano(10 + i);
    source.spans.push_back(s);
  }
}

// The asker's part of a fetched page: its spans, parsed (on the asker's thread).
Page Finished(absl::StatusOr<Page> page) {
  EXPECT_TRUE(page.ok()) << page.status();
  if (!page.ok()) return nullptr;
  EXPECT_TRUE((*page)->FinishParse().ok());
  return *std::move(page);
}

SpanQuery Query(int32_t limit, std::string cursor = "") {
  return SpanQuery{
      .query = "*", .from_unix_nano = 0, .to_unix_nano = 1000, .limit = limit, .cursor = cursor};
}

TEST(PageFetcherTest, ReadsThePagesInTheOrderAskedOnOneThread) {
  FakeSource source;
  AddSpans(source, 10);
  std::set<std::thread::id> threads;
  source.before_call = [&](const FakeSource::Call&) {
    threads.insert(std::this_thread::get_id());
    return absl::OkStatus();
  };
  PageFetcher fetcher(source);
  std::vector<uint64_t> ids;
  std::string cursor;
  for (int page = 0; page < 4; ++page) {
    Page p = Finished(fetcher.Fetch(Query(3, cursor), tracing::CurrentActiveSpan()).get());
    ASSERT_NE(p, nullptr);
    for (const v1::Span& s : p->spans) ids.push_back(s.span_id());
    cursor = p->next_cursor;
    fetcher.Recycle(std::move(p));
  }
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(threads.size(), 1u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

TEST(PageFetcherTest, ARecycledPageIsReadIntoAndHoldsOnlyTheNewPage) {
  FakeSource source;
  AddSpans(source, 5);
  PageFetcher fetcher(source);
  Page first = Finished(fetcher.Fetch(Query(5), {}).get());
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->spans.size(), 5);
  const datadog::SpanPage* storage = first.get();
  fetcher.Recycle(std::move(first));

  Page second = Finished(fetcher.Fetch(Query(2, "3"), {}).get());  // spans 4 and 5
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second.get(), storage);  // the same page, read into again
  ASSERT_EQ(second->spans.size(), 2);
  EXPECT_EQ(second->spans[0].span_id(), 4u);
  EXPECT_EQ(second->spans[1].span_id(), 5u);
  EXPECT_EQ(second->spans[0].service(), "b");
  EXPECT_EQ(second->spans[1].service(), "a-service-name-longer-than-sso");
  EXPECT_EQ(second->next_cursor, "5");
}

TEST(PageFetcherTest, AFailedFetchAnswersItsErrorAndTheNextOneReads) {
  FakeSource source;
  AddSpans(source, 3);
  source.before_call = [](const FakeSource::Call& c) {
    return c.number == 0 ? absl::UnavailableError("HTTP 503 after retries") : absl::OkStatus();
  };
  PageFetcher fetcher(source);
  absl::StatusOr<Page> failed = fetcher.Fetch(Query(10), {}).get();
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  Page read = Finished(fetcher.Fetch(Query(10), {}).get());
  ASSERT_NE(read, nullptr);
  EXPECT_EQ(read->spans.size(), 3);
}

TEST(PageFetcherTest, GoingAwayFinishesTheFetchesAskedFor) {
  FakeSource source;
  AddSpans(source, 3);
  source.before_call = [](const FakeSource::Call&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // still reading at the end
    return absl::OkStatus();
  };
  std::future<absl::StatusOr<Page>> a, b;
  {
    PageFetcher fetcher(source);
    a = fetcher.Fetch(Query(1), {});
    b = fetcher.Fetch(Query(1, "1"), {});
  }
  ASSERT_EQ(a.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  ASSERT_EQ(b.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  Page pa = Finished(a.get()), pb = Finished(b.get());
  ASSERT_TRUE(pa != nullptr && pb != nullptr);
  EXPECT_EQ(pa->spans[0].span_id(), 1u);
  EXPECT_EQ(pb->spans[0].span_id(), 2u);
}

}  // namespace
}  // namespace apmcov::collector
