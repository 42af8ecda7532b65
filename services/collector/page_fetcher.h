// PageFetcher: the one thread that reads span pages for a sync, a page ahead of the publishing.
// A fetch is the Datadog call and the scan of its body (DatadogSource::ScanSpans: the JSON
// index and the page's paging, not its spans). App::ReadRange asks for the next page as soon
// as a page's cursor is known, then parses that page's spans (SpanPage::FinishParse), groups
// and publishes them while the next page's call runs: the call's wait (the API's time, the
// transfer) overlaps the parse instead of adding to it.
//
// Allocation is most of what a page costs besides parsing: a page is a thousand v1::Span
// messages of up to thirteen strings each. So pages are recycled: the asker gives a page back
// (Recycle) once it has published it, and the next fetch reads into it, reusing its cleared
// spans and their strings' buffers, its body's buffer and its JSON parser (sized to the
// largest page it held). And one thread reads every page for the App's life, rather than a
// thread per page (no thread start per page, one malloc arena for the pages' buffers).
//
// Contract: fetches run one at a time, in the order asked. A fetch runs inside `parent` (the
// asker's active span, so that its Datadog call is that span's child): the span must outlive
// the fetch, so the asker waits for a future it abandons (ReadRange does, on every return).
// The destructor finishes the fetches already asked for, then joins the thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "apmcov/datadog/source.h"
#include "apmcov/tracing/tracer.h"

namespace apmcov::collector {

class PageFetcher {
 public:
  explicit PageFetcher(datadog::DatadogSource& source) : source_(source) {}
  ~PageFetcher();
  PageFetcher(const PageFetcher&) = delete;
  PageFetcher& operator=(const PageFetcher&) = delete;

  using Page = std::unique_ptr<datadog::SpanPage>;

  // Reads the page `q` names on the fetch thread (started by the first call), into a recycled
  // page when there is one.
  std::future<absl::StatusOr<Page>> Fetch(datadog::SpanQuery q, tracing::ActiveSpanRef parent);
  // Gives a page back for a later fetch to read into (any thread; null is ignored).
  void Recycle(Page page);

 private:
  static constexpr size_t kMaxSpare = 2;  // a page being published, one being read

  void Run();
  Page TakeSpare();

  datadog::DatadogSource& source_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<absl::StatusOr<Page>()>> pending_;
  std::vector<Page> spare_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace apmcov::collector
