// PageFetcher (page_fetcher.h): pages called for and scanned in the order asked on one thread,
// their spans parsed on another, the next call running while a page is parsed, recycled pages
// read into again, errors of either stage handed back, and every fetch and parse asked for
// finished before it goes.
#include "page_fetcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
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

SpanQuery Query(int32_t limit, std::string cursor = "") {
  return SpanQuery{
      .query = "*", .from_unix_nano = 0, .to_unix_nano = 1000, .limit = limit, .cursor = cursor};
}

// Notes the threads a FakeSource's calls and page finishes run on (before_call,
// finish_spans), and holds the finishes until Open().
class Gate {
 public:
  explicit Gate(FakeSource& fake, bool open) : open_(open) {
    fake.before_call = [this](const FakeSource::Call&) {
      std::lock_guard lock(mu_);
      scan_threads.insert(std::this_thread::get_id());
      return absl::OkStatus();
    };
    fake.finish_spans = [this](int) {
      std::unique_lock lock(mu_);
      parse_threads.insert(std::this_thread::get_id());
      // Bounded, so that a failed test cannot hang.
      cv_.wait_for(lock, std::chrono::seconds(30), [this] { return open_; });
      return absl::OkStatus();
    };
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  std::set<std::thread::id> scan_threads, parse_threads;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_;
};

// The asker's view of one fetch: the head, then the parsed page.
Page Read(PageFetcher::Fetched f, PageFetcher::Head* head = nullptr) {
  absl::StatusOr<PageFetcher::Head> h = f.head.get();
  EXPECT_TRUE(h.ok()) << h.status();
  if (head != nullptr && h.ok()) *head = *h;
  absl::StatusOr<Page> p = f.page.get();
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

TEST(PageFetcherTest, ReadsThePagesInTheOrderAskedCallsOnOneThreadParsesOnAnother) {
  FakeSource source;
  AddSpans(source, 10);
  Gate gate(source, /*open=*/true);
  PageFetcher fetcher(source);
  std::vector<uint64_t> ids;
  std::string cursor;
  for (int page = 0; page < 4; ++page) {
    PageFetcher::Head head;
    Page p = Read(fetcher.Fetch(Query(3, cursor), tracing::CurrentActiveSpan()), &head);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(head.items, static_cast<size_t>(p->spans.size()));
    EXPECT_EQ(head.next_cursor, p->next_cursor);
    for (const v1::Span& s : p->spans) ids.push_back(s.span_id());
    cursor = head.next_cursor;
    fetcher.Recycle(std::move(p));
  }
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  ASSERT_EQ(gate.scan_threads.size(), 1u);
  ASSERT_EQ(gate.parse_threads.size(), 1u);
  EXPECT_NE(*gate.scan_threads.begin(), *gate.parse_threads.begin());
  EXPECT_EQ(gate.scan_threads.count(std::this_thread::get_id()), 0u);
  EXPECT_EQ(gate.parse_threads.count(std::this_thread::get_id()), 0u);
}

// The point of the two stages: a page's head comes before its spans are parsed, and the next
// page's call runs while they are.
TEST(PageFetcherTest, TheNextCallRunsWhileAPageIsParsed) {
  FakeSource fake;
  AddSpans(fake, 6);
  Gate gate(fake, /*open=*/false);  // parses wait
  PageFetcher fetcher(fake);
  PageFetcher::Fetched first = fetcher.Fetch(Query(3), {});
  absl::StatusOr<PageFetcher::Head> head = first.head.get();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->next_cursor, "3");
  PageFetcher::Fetched second = fetcher.Fetch(Query(3, head->next_cursor), {});
  ASSERT_EQ(second.head.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(fake.calls(FakeSource::Method::kSpans), 2);
  EXPECT_EQ(first.page.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  gate.Open();
  absl::StatusOr<Page> one = first.page.get(), two = second.page.get();
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ((*one)->spans[0].span_id(), 1u);
  EXPECT_EQ((*two)->spans[0].span_id(), 4u);
}

TEST(PageFetcherTest, ARecycledPageIsReadIntoAndHoldsOnlyTheNewPage) {
  FakeSource source;
  AddSpans(source, 5);
  PageFetcher fetcher(source);
  Page first = Read(fetcher.Fetch(Query(5), {}));
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->spans.size(), 5);
  const datadog::SpanPage* storage = first.get();
  fetcher.Recycle(std::move(first));

  Page second = Read(fetcher.Fetch(Query(2, "3"), {}));  // spans 4 and 5
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
  PageFetcher::Fetched failed = fetcher.Fetch(Query(10), {});
  EXPECT_EQ(failed.head.get().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(failed.page.get().status().code(), absl::StatusCode::kUnavailable);
  Page read = Read(fetcher.Fetch(Query(10), {}));
  ASSERT_NE(read, nullptr);
  EXPECT_EQ(read->spans.size(), 3);
}

// A page whose paging was read but whose spans do not parse: the head is fine, the page
// answers the parse's error, and the next fetch reads.
TEST(PageFetcherTest, SpansThatDoNotParseAnswerThePagesErrorAfterAGoodHead) {
  FakeSource source;
  AddSpans(source, 6);
  source.finish_spans = [](int number) {
    return number == 0 ? absl::InvalidArgumentError("malformed Datadog span page at data[2]")
                       : absl::OkStatus();
  };
  PageFetcher fetcher(source);
  PageFetcher::Fetched bad = fetcher.Fetch(Query(3), {});
  absl::StatusOr<PageFetcher::Head> head = bad.head.get();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->items, 3u);
  EXPECT_EQ(bad.page.get().status().message(), "malformed Datadog span page at data[2]");
  Page next = Read(fetcher.Fetch(Query(3, head->next_cursor), {}));
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(next->spans[0].span_id(), 4u);
}

TEST(PageFetcherTest, GoingAwayFinishesTheFetchesAndParsesAskedFor) {
  FakeSource source;
  AddSpans(source, 3);
  source.before_call = [](const FakeSource::Call&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // still reading at the end
    return absl::OkStatus();
  };
  PageFetcher::Fetched a, b;
  {
    PageFetcher fetcher(source);
    a = fetcher.Fetch(Query(1), {});
    b = fetcher.Fetch(Query(1, "1"), {});
  }
  for (PageFetcher::Fetched* f : {&a, &b}) {
    ASSERT_EQ(f->head.wait_for(std::chrono::seconds(0)), std::future_status::ready);
    ASSERT_EQ(f->page.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  }
  Page pa = Read(std::move(a)), pb = Read(std::move(b));
  ASSERT_TRUE(pa != nullptr && pb != nullptr);
  EXPECT_EQ(pa->spans[0].span_id(), 1u);
  EXPECT_EQ(pb->spans[0].span_id(), 2u);
}

}  // namespace
}  // namespace apmcov::collector
