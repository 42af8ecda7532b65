#include "apmcov/coverage/span.h"

#include <algorithm>
#include <cstring>

#include "absl/hash/hash.h"
#include "apmcov/base/status.h"

namespace apmcov::coverage {
namespace {
constexpr size_t kMinChunk = size_t{64} * 1024;
}  // namespace

size_t StringPool::ViewHash::operator()(std::string_view s) const {
  return absl::Hash<absl::string_view>{}(AbslView(s));
}

StringPool::StringPool() {
  Append(std::string_view());
  index_.emplace(std::string_view(), kEmptyStr);
}

void StringPool::Append(std::string_view stored) {
  const size_t id = size_.load(std::memory_order_relaxed);
  const uint64_t n = uint64_t{id} + 1;
  const auto k = static_cast<size_t>(std::bit_width(n) - 1);
  if (n == (uint64_t{1} << k)) {
    segments_[k] = std::make_unique<std::string_view[]>(size_t{1} << k);
  }
  segments_[k][n - (uint64_t{1} << k)] = stored;
  size_.store(id + 1, std::memory_order_release);
}

StrId StringPool::Intern(std::string_view s) {
  if (s.empty()) return kEmptyStr;
  std::lock_guard lock(mu_);
  if (auto it = index_.find(s); it != index_.end()) return it->second;
  if (chunks_.empty() || chunk_size_ - chunk_used_ < s.size()) {
    chunk_size_ = std::max(kMinChunk, s.size());
    chunks_.push_back(std::make_unique<char[]>(chunk_size_));
    chunk_used_ = 0;
    string_bytes_ += chunk_size_;
  }
  char* dst = chunks_.back().get() + chunk_used_;
  std::memcpy(dst, s.data(), s.size());
  chunk_used_ += s.size();
  std::string_view stored(dst, s.size());
  const auto id = static_cast<StrId>(size_.load(std::memory_order_relaxed));
  Append(stored);
  index_.emplace(stored, id);
  return id;
}

StrId StringPool::Find(std::string_view s) const {
  std::lock_guard lock(mu_);
  auto it = index_.find(s);
  return it == index_.end() ? kEmptyStr : it->second;
}

size_t StringPool::bytes() const {
  std::lock_guard lock(mu_);
  // The segments hold at most twice the views in use.
  return string_bytes_ + 2 * size() * sizeof(std::string_view) +
         index_.capacity() * (sizeof(std::string_view) + sizeof(StrId) + 1);
}

StrId SpanInterner::Insert(SpanField field, std::string_view s, uint64_t hash) {
  Entry& slot = table_[Index(hash)];
  slot.id = pool_.Intern(s);
  slot.text = pool_.View(slot.id).data();
  slot.key = KeyOf(s);
  Remember(recent_[static_cast<size_t>(field)], slot);
  return slot.id;
}

SpanRecord SpanInterner::Intern(const SpanFields& f) {
  SpanRecord r;
  r.trace_id_lo = f.trace_id_lo;
  r.trace_id_hi = f.trace_id_hi;
  r.span_id = f.span_id;
  r.parent_id = f.parent_id;
  r.start_ns = f.start_ns;
  r.duration_ns = f.duration_ns;
  r.service = InternField(SpanField::kService, f.service);
  r.env = InternField(SpanField::kEnv, f.env);
  r.resource = InternField(SpanField::kResource, f.resource);
  r.type = InternField(SpanField::kType, f.type);
  r.kind = InternField(SpanField::kKind, f.kind);
  r.retained_by = InternField(SpanField::kRetainedBy, f.retained_by);
  r.target = InternField(SpanField::kTarget, f.target);
  r.db_system = InternField(SpanField::kDbSystem, f.db_system);
  r.messaging_system = InternField(SpanField::kMessagingSystem, f.messaging_system);
  r.language = InternField(SpanField::kLanguage, f.language);
  r.infra_hint = InternField(SpanField::kInfraHint, f.infra_hint);
  r.error = f.error;
  return r;
}

}  // namespace apmcov::coverage
