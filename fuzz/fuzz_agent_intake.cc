// ddsim's Agent intake: DecodeTracesV04 over untrusted /v0.4/traces bodies. Asserts that it
// never crashes, hangs or allocates what a declared size claims, and that every span it keeps
// is normalised as the Agent does: non-zero trace and span ids, service and name non-empty and
// at most 100 bytes, resource non-empty and at most 5000 bytes, a duration that is not
// negative, env never empty, meta and metrics sorted by key, and no more spans than bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ddsim/intake/received.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  apmcov::ddsim::IntakeRequestInfo info;
  info.language = "cpp";
  info.now_ns = 1'795'300'000'000'000'000;
  auto decoded = apmcov::ddsim::DecodeTracesV04(body, info);
  if (!decoded.ok()) {
    Check(!decoded.status().message().empty());  // says what is wrong and where
    return 0;
  }
  Check(decoded->spans.size() <= size);
  for (const apmcov::ddsim::ReceivedSpan& s : decoded->spans) {
    Check(s.trace_lo != 0 && s.span_id != 0);
    Check(!s.service.empty() && s.service.size() <= 100);
    Check(!s.name.empty() && s.name.size() <= 100);
    Check(!s.resource.empty() && s.resource.size() <= 5000);
    Check(s.duration_ns >= 0);
    Check(!s.env.empty());
    for (size_t i = 1; i < s.meta.size(); ++i) Check(s.meta[i - 1].first <= s.meta[i].first);
    for (size_t i = 1; i < s.metrics.size(); ++i) {
      Check(s.metrics[i - 1].first <= s.metrics[i].first);
    }
  }
  return 0;
}
