#include "apmcov/coverage/span.h"

#include <algorithm>
#include <cstring>

#include "absl/hash/hash.h"
#include "apmcov/base/status.h"

namespace apmcov::coverage {
namespace {
constexpr size_t kMinChunk = 64 * 1024;
}  // namespace

size_t StringPool::ViewHash::operator()(std::string_view s) const {
  return absl::Hash<absl::string_view>{}(AbslView(s));
}

StringPool::StringPool() {
  views_.emplace_back();
  index_.emplace(std::string_view(), kEmptyStr);
}

StrId StringPool::Intern(std::string_view s) {
  if (s.empty()) return kEmptyStr;
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
  const auto id = static_cast<StrId>(views_.size());
  views_.push_back(stored);
  index_.emplace(stored, id);
  return id;
}

StrId StringPool::Find(std::string_view s) const {
  auto it = index_.find(s);
  return it == index_.end() ? kEmptyStr : it->second;
}

size_t StringPool::bytes() const {
  return string_bytes_ + views_.capacity() * sizeof(std::string_view) +
         index_.capacity() * (sizeof(std::string_view) + sizeof(StrId) + 1);
}

namespace {

// A cheap hash of the whole string, 8 bytes at a time (names that differ only in the middle,
// such as http://svc-12.prod.svc.cluster.local/v1 and http://svc-13..., must not collide).
size_t TextHash(std::string_view s) {
  uint64_t h = s.size() * 0x9E3779B97F4A7C15ull;
  size_t i = 0;
  uint64_t w;
  for (; i + 8 <= s.size(); i += 8) {
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 31;
  }
  if (i < s.size()) {
    w = 0;
    std::memcpy(&w, s.data() + i, s.size() - i);
    h = (h ^ w) * 0xC2B2AE3D27D4EB4Full;
  }
  return static_cast<size_t>(h ^ (h >> 29));
}

bool Same(std::string_view a, std::string_view b) { return SpanInterner::SameText(a, b); }

}  // namespace

StrId SpanInterner::Cached(Last& last, std::string_view s) {
  if (s.empty()) return kEmptyStr;
  if (Same(s, last.text)) return last.id;
  Last& slot = table_[TextHash(s) & (kTableSize - 1)];
  if (!Same(s, slot.text)) {
    slot.id = pool_.Intern(s);
    slot.text = pool_.View(slot.id);
  }
  last = slot;
  return last.id;
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
