// PageFetcher: reads the span pages of a sync ahead of the publishing, in two stages on two
// threads of its own:
//
//   fetch thread:  the Datadog call and the scan of its body (DatadogSource::ScanSpans: the
//                  JSON index and the page's paging, not its spans); the paging is handed to
//                  the asker at once (Fetched::head), the page to
//   parse thread:  its spans parsed (SpanPage::FinishParse), then handed over (Fetched::page).
//
// App::ReadRange asks for the next page as soon as a page's head is known, and groups and
// publishes a page while the next one is parsed and the one after it is being read. So the
// call's wait (the API's time, the transfer), the parse and the publishing (which may wait
// for the Kafka producer's queue) overlap instead of adding up.
//
// Allocation is most of what a page costs besides parsing: a page is a thousand v1::Span
// messages of up to thirteen strings each. So pages are recycled: the asker gives a page back
// (Recycle) once it has published it, and a later fetch reads into it, reusing its cleared
// spans and their strings' buffers, its body's buffer and its JSON parser (sized to the
// largest page it held). The two threads live as long as the fetcher (no thread start per page).
//
// Contract: fetches run one at a time and in the order asked, and so do the parses. A fetch's
// call runs inside `parent` (the asker's active span, so that the Datadog call is that span's
// child): the span must outlive the call, so the asker waits for the head of a fetch it
// abandons (ReadRange does, on every return). The destructor finishes the fetches and parses
// already asked for, then joins the threads.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "apmcov/datadog/source.h"
#include "apmcov/tracing/tracer.h"

namespace apmcov::collector {

class PageFetcher {
 public:
  explicit PageFetcher(datadog::DatadogSource& source) : source_(source) {}
  PageFetcher(const PageFetcher&) = delete;
  PageFetcher& operator=(const PageFetcher&) = delete;

  using Page = std::unique_ptr<datadog::SpanPage>;
  // A scanned page's paging: what the asker needs to ask for the next page. A copy of the
  // page's own fields, since the page itself is on the parse thread by the time it is read.
  struct Head {
    std::string next_cursor;  // empty: the last page
    size_t items = 0;         // spans and unparsable ones, in the page's `data`
    bool partial = false;     // meta.status "timeout": a short page is not the end
  };
  struct Fetched {
    std::future<absl::StatusOr<Head>> head;  // once the page is scanned (or its call failed)
    std::future<absl::StatusOr<Page>> page;  // once its spans are parsed; the head's error too
  };

  // Reads the page `q` names (into a recycled page when there is one), scans it, then parses
  // its spans on the parse thread.
  Fetched Fetch(datadog::SpanQuery q, tracing::ActiveSpanRef parent);
  // Gives a page back for a later fetch to read into (any thread; null is ignored).
  void Recycle(Page page);

 private:
  // Runs tasks one at a time, in the order posted, on its own thread (started by the first
  // task). The destructor runs the tasks already posted, then joins the thread.
  class Worker {
   public:
    explicit Worker(std::string name) : name_(std::move(name)) {}
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    void Post(std::function<void()> task);

   private:
    void Run();
    const std::string name_;  // the thread's (NameThisThread)
    std::mutex mu_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> tasks_;
    bool stopping_ = false;
    std::thread thread_;
  };

  // A page being published, one being parsed, one being read.
  static constexpr size_t kMaxSpare = 3;

  Page TakeSpare();

  datadog::DatadogSource& source_;
  std::mutex mu_;
  std::vector<Page> spare_;
  // Destroyed first to last: the fetch thread (whose tasks post parses), then the parse thread.
  Worker parse_{"span-parse"};
  Worker fetch_{"span-fetch"};
};

}  // namespace apmcov::collector
