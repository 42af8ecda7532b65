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

StrId SpanInterner::Cached(Last& last, std::string_view s) {
  if (s.size() == last.text.size() && std::memcmp(s.data(), last.text.data(), s.size()) == 0) {
    return last.id;
  }
  last.id = pool_.Intern(s);
  last.text = pool_.View(last.id);
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
  r.service = Cached(service_, f.service);
  r.env = Cached(env_, f.env);
  r.resource = Cached(resource_, f.resource);
  r.type = Cached(type_, f.type);
  r.kind = Cached(kind_, f.kind);
  r.retained_by = Cached(retained_by_, f.retained_by);
  r.target = Cached(target_, f.target);
  r.db_system = Cached(db_system_, f.db_system);
  r.messaging_system = Cached(messaging_system_, f.messaging_system);
  r.language = Cached(language_, f.language);
  r.infra_hint = Cached(infra_hint_, f.infra_hint);
  r.error = f.error;
  return r;
}

}  // namespace apmcov::coverage
