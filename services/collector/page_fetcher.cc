#include "page_fetcher.h"

#include <utility>

#include "apmcov/base/process.h"

namespace apmcov::collector {

PageFetcher::Worker::~Worker() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PageFetcher::Worker::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
    if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  }
  wake_.notify_one();
}

void PageFetcher::Worker::Run() {
  NameThisThread(name_);
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping, and every task posted is done
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

PageFetcher::Fetched PageFetcher::Fetch(datadog::SpanQuery q, tracing::ActiveSpanRef parent) {
  // Shared: std::function needs copyable tasks.
  auto head = std::make_shared<std::promise<absl::StatusOr<Head>>>();
  auto parsed = std::make_shared<std::promise<absl::StatusOr<Page>>>();
  Fetched out{head->get_future(), parsed->get_future()};
  fetch_.Post([this, q = std::move(q), parent, head, parsed] {
    auto page = std::make_shared<Page>(TakeSpare());
    {
      tracing::ActiveSpanScope scope(parent);
      if (absl::Status s = source_.ScanSpans(q, page->get()); !s.ok()) {
        Recycle(std::move(*page));
        head->set_value(s);
        parsed->set_value(s);
        return;
      }
    }
    const datadog::SpanPage& p = **page;
    head->set_value(Head{p.next_cursor, p.items, p.partial});
    parse_.Post([this, page, parsed] {
      if (absl::Status s = (*page)->FinishParse(); !s.ok()) {
        Recycle(std::move(*page));
        parsed->set_value(s);
        return;
      }
      parsed->set_value(std::move(*page));
    });
  });
  return out;
}

void PageFetcher::Recycle(Page page) {
  if (page == nullptr) return;
  std::lock_guard lock(mu_);
  if (spare_.size() < kMaxSpare) spare_.push_back(std::move(page));
}

PageFetcher::Page PageFetcher::TakeSpare() {
  std::lock_guard lock(mu_);
  if (spare_.empty()) return std::make_unique<datadog::SpanPage>();
  Page page = std::move(spare_.back());
  spare_.pop_back();
  return page;
}

}  // namespace apmcov::collector
