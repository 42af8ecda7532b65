// The analyzer's own SpanBatch wire reader (DecodeSpanBatch) against protobuf's parser on
// arbitrary bytes: it must never crash, and whenever both accept the bytes they must read the
// same spans, strings included (the interner's caches must never mix up two strings).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "apmcov/coverage/span_batch_decoder.h"
#include "apmcov/v1/events.pb.h"

namespace {

apmcov::coverage::StringPool& Pool() {
  static auto* pool = new apmcov::coverage::StringPool();
  return *pool;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One interner across inputs, as in the analyzer: its caches carry over between batches.
  static apmcov::coverage::SpanInterner interner(Pool());
  static apmcov::coverage::DecodedSpanBatch out;
  const std::string_view wire(reinterpret_cast<const char*>(data), size);
  const bool ours = apmcov::coverage::DecodeSpanBatch(wire, interner, &out).ok();
  apmcov::v1::SpanBatch theirs;
  if (!ours || !theirs.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (static_cast<int>(out.spans.size()) != theirs.spans_size()) __builtin_trap();
  if (out.watermark_unix_nano != theirs.watermark_unix_nano()) __builtin_trap();
  if (out.job_id != theirs.job_id()) __builtin_trap();
  if (static_cast<int>(out.read_intervals.size()) != theirs.read_intervals_size()) __builtin_trap();
  const apmcov::coverage::StringPool& pool = Pool();
  for (int i = 0; i < theirs.spans_size(); ++i) {
    const apmcov::coverage::SpanRecord& r = out.spans[static_cast<size_t>(i)];
    const apmcov::v1::Span& s = theirs.spans(i);
    const bool same =
        r.trace_id_lo == s.trace_id() && r.trace_id_hi == s.trace_id_high() &&
        r.span_id == s.span_id() && r.parent_id == s.parent_id() &&
        r.start_ns == s.start_unix_nano() && r.duration_ns == s.duration_ns() &&
        r.error == s.error() && pool.View(r.service) == s.service() &&
        pool.View(r.env) == s.env() && pool.View(r.resource) == s.resource() &&
        pool.View(r.type) == s.type() && pool.View(r.kind) == s.kind() &&
        pool.View(r.retained_by) == s.retained_by() && pool.View(r.target) == s.target() &&
        pool.View(r.db_system) == s.db_system() &&
        pool.View(r.messaging_system) == s.messaging_system() &&
        pool.View(r.language) == s.language() && pool.View(r.infra_hint) == s.infra_hint();
    if (!same) __builtin_trap();
  }
  return 0;
}
