// Trace context extraction from untrusted headers (REST requests, gRPC metadata, Kafka record
// headers). The input is split into header lines ("name: value", '\n' between lines, as a
// carrier of repeated and odd names). Asserts that Extract never crashes or throws, that what
// it accepts is a valid context (both ids non-zero), and
// that injecting it and extracting again gives the same trace, parent and decision (the
// context survives every hop of the tracker: gateway → Kafka → collector → Kafka → analyzer),
// whether the Datadog style, the W3C style or both are read back.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "apmcov/tracing/propagation.h"

namespace {

using apmcov::tracing::HeaderList;
using apmcov::tracing::PropagationStyle;
using apmcov::tracing::SpanContext;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void SameHop(const SpanContext& a, const std::optional<SpanContext>& b) {
  Check(b.has_value());
  Check(b->trace_id.low == a.trace_id.low);
  Check(b->span_id == a.span_id);
  // A known decision survives (its sign: W3C carries only sampled or not). An unknown one may
  // come back decided: traceparent's flags cannot say "undecided". (The tracer never injects
  // an undecided context: every span it starts has a decision.)
  if (a.sampling_priority) {
    Check(b->sampling_priority.has_value());
    Check((*b->sampling_priority > 0) == (*a.sampling_priority > 0));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  HeaderList headers;
  size_t pos = 0;
  while (pos <= input.size()) {
    size_t end = input.find('\n', pos);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(pos, end - pos);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    pos = end + 1;
  }
  const std::optional<SpanContext> got =
      apmcov::tracing::Extract(apmcov::tracing::ReadFrom(headers));
  for (PropagationStyle style : {PropagationStyle::kDatadog, PropagationStyle::kW3c}) {
    const std::optional<SpanContext> one =
        apmcov::tracing::ExtractStyle(apmcov::tracing::ReadFrom(headers), style);
    if (one) Check(one->valid());
  }
  if (!got) return 0;
  Check(got->valid());

  HeaderList out;
  apmcov::tracing::Inject(*got, apmcov::tracing::WriteTo(&out));
  const std::optional<SpanContext> again = apmcov::tracing::Extract(apmcov::tracing::ReadFrom(out));
  SameHop(*got, again);
  Check(again->trace_id == got->trace_id);
  for (PropagationStyle style : {PropagationStyle::kDatadog, PropagationStyle::kW3c}) {
    HeaderList single;
    apmcov::tracing::InjectStyle(*got, apmcov::tracing::WriteTo(&single), style);
    SameHop(*got, apmcov::tracing::Extract(apmcov::tracing::ReadFrom(single)));
  }
  return 0;
}
