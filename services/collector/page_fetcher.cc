#include "page_fetcher.h"

#include <utility>

namespace apmcov::collector {

PageFetcher::~PageFetcher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::future<absl::StatusOr<PageFetcher::Page>> PageFetcher::Fetch(datadog::SpanQuery q,
                                                                  tracing::ActiveSpanRef parent) {
  std::packaged_task<absl::StatusOr<Page>()> fetch(
      [this, q = std::move(q), parent]() -> absl::StatusOr<Page> {
        tracing::ActiveSpanScope scope(parent);
        Page page = TakeSpare();
        if (absl::Status s = source_.ScanSpans(q, page.get()); !s.ok()) {
          Recycle(std::move(page));
          return s;
        }
        return page;
      });
  std::future<absl::StatusOr<Page>> page = fetch.get_future();
  {
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(fetch));
    if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  }
  wake_.notify_one();
  return page;
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

void PageFetcher::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, and every fetch asked for is done
    std::packaged_task<absl::StatusOr<Page>()> fetch = std::move(pending_.front());
    pending_.pop_front();
    lock.unlock();
    fetch();
    lock.lock();
  }
}

}  // namespace apmcov::collector
