#include "apmcov/tracing/span_data.h"

#include <atomic>
#include <charconv>
#include <memory_resource>

namespace apmcov::tracing {

namespace {

// The heap behind SpanMemory(), counting what the pool takes from it (and, should it ever
// give any back, returns).
class CountingHeap final : public std::pmr::memory_resource {
 public:
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  void* do_allocate(size_t bytes, size_t alignment) override {
    void* p = std::pmr::new_delete_resource()->allocate(bytes, alignment);
    bytes_.fetch_add(bytes, std::memory_order_relaxed);
    return p;
  }
  void do_deallocate(void* p, size_t bytes, size_t alignment) override {
    std::pmr::new_delete_resource()->deallocate(p, bytes, alignment);
    bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::atomic<size_t> bytes_{0};
};

CountingHeap& SpanHeap() {
  static auto* heap = new CountingHeap();  // never destroyed, like the pool
  return *heap;
}

}  // namespace

std::pmr::memory_resource* SpanMemory() {
  // Never destroyed: spans may outlive any tracer (an exporter's copies, tests' fakes).
  static auto* pool = new std::pmr::synchronized_pool_resource(&SpanHeap());
  return pool;
}

size_t SpanMemoryBytes() { return SpanHeap().bytes(); }

void SpanData::SetMeta(std::string_view key, std::string_view value) {
  if (auto it = meta.find(key); it != meta.end()) {
    it->second.assign(value);
  } else {
    meta.emplace(key, value);
  }
}

void SpanData::SetMetric(std::string_view key, double value) {
  if (auto it = metrics.find(key); it != metrics.end()) {
    it->second = value;
  } else {
    metrics.emplace(key, value);
  }
}

std::string_view SpanData::MetaOr(std::string_view key, std::string_view otherwise) const {
  auto it = meta.find(key);
  return it != meta.end() ? std::string_view(it->second) : otherwise;
}

std::string Hex16(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kDigits[value & 15];
    value >>= 4;
  }
  return out;
}

std::string TraceId::Hex() const { return Hex16(high) + Hex16(low); }
std::string TraceId::HighHex() const { return Hex16(high); }

bool ParseLowerHex64(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 16) return false;
  uint64_t v = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

bool ParseDecimalU64(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return false;
  *out = v;
  return true;
}

}  // namespace apmcov::tracing
