#include "span_decoder.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "apmcov/base/process.h"
#include "apmcov/base/status.h"
#include "apmcov/bus/proto.h"

namespace apmcov::analyzer {
namespace {
constexpr std::string_view kSpanBatchType = "apmcov.v1.SpanBatch";
}  // namespace

SpanDecoder::SpanDecoder(size_t depth, std::string spans_topic, coverage::StringPool& pool)
    : depth_(depth == 0 ? 1 : depth),
      spans_topic_(std::move(spans_topic)),
      interner_(pool),
      thread_([this] { Loop(); }) {}

SpanDecoder::~SpanDecoder() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void SpanDecoder::Submit(std::vector<bus::IncomingMessage> messages) {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [this] { return queue_.size() < depth_; });
  std::unique_ptr<DecodedPoll> poll;
  if (spare_.empty()) {
    poll = std::make_unique<DecodedPoll>();
  } else {
    poll = std::move(spare_.back());
    spare_.pop_back();
  }
  poll->messages = std::move(messages);
  poll->discarded.clear();
  queue_.push_back({std::move(poll), false});
  changed_.notify_all();
}

std::optional<DecodedPoll> SpanDecoder::Next() {
  std::unique_lock lock(mu_);
  if (queue_.empty()) return std::nullopt;
  changed_.wait(lock, [this] { return queue_.front().decoded; });
  std::unique_ptr<DecodedPoll> poll = std::move(queue_.front().poll);
  queue_.pop_front();
  changed_.notify_all();
  DecodedPoll out = std::move(*poll);
  spare_.push_back(std::move(poll));  // an empty shell; Recycle() refills one with buffers
  return out;
}

void SpanDecoder::Recycle(DecodedPoll poll) {
  std::lock_guard lock(mu_);
  for (auto& spare : spare_) {
    if (spare->batches.capacity() == 0) {
      *spare = std::move(poll);
      return;
    }
  }
}

size_t SpanDecoder::Discard(const std::vector<bus::TopicPartition>& tps) {
  std::lock_guard lock(mu_);
  size_t marked = 0;
  for (Entry& e : queue_) {
    for (const bus::IncomingMessage& m : e.poll->messages) {
      for (const bus::TopicPartition& tp : tps) {
        if (m.partition == tp.partition && m.topic == tp.topic) {
          ++marked;
          break;
        }
      }
    }
    e.poll->discarded.insert(tps.begin(), tps.end());
  }
  return marked;
}

size_t SpanDecoder::Pending() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void SpanDecoder::Loop() {
  NameThisThread("decode");
  std::unique_lock lock(mu_);
  for (;;) {
    Entry* next = nullptr;
    changed_.wait(lock, [&] {
      for (Entry& e : queue_) {
        if (!e.decoded) {
          next = &e;
          return true;
        }
      }
      return stopping_;
    });
    if (next == nullptr) return;  // stopping
    DecodedPoll* poll = next->poll.get();
    lock.unlock();
    Decode(*poll);  // the consumer touches only `discarded` meanwhile, under the lock
    lock.lock();
    // The entry may have moved in the deque (pushes at the back), never left it: only the
    // consumer pops, and only decoded entries.
    for (Entry& e : queue_) {
      if (e.poll.get() == poll) e.decoded = true;
    }
    changed_.notify_all();
  }
}

void SpanDecoder::Decode(DecodedPoll& poll) {
  const size_t n = poll.messages.size();
  poll.batches.resize(n);
  poll.errors.assign(n, absl::OkStatus());
  for (size_t i = 0; i < n; ++i) {
    const bus::IncomingMessage& m = poll.messages[i];
    coverage::DecodedSpanBatch& b = poll.batches[i];
    if (m.topic != spans_topic_) {
      b.Clear();
      continue;
    }
    absl::Status s = bus::CheckProtoHeaders(m, kSpanBatchType);
    if (s.ok()) {
      s = coverage::DecodeSpanBatch(m.value, interner_, &b);
      if (!s.ok()) s = absl::InvalidArgumentError(absl::StrCat(bus::Where(m), ": ", s.message()));
    }
    if (!s.ok()) {
      b.Clear();
      poll.errors[i] = std::move(s);
    }
  }
}

}  // namespace apmcov::analyzer
