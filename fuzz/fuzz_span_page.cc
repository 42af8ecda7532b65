// Spans list/search page parser (simdjson on-demand): any input either parses or returns an
// error Status; a parsed page's ids are consistent with re-parsing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "apmcov/datadog/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto page = apmcov::datadog::ParseSpanPage(body);
  if (page.ok()) {
    for (const auto& span : page->spans) {
      if (span.service().size() > size) __builtin_trap();  // cannot invent data
    }
  }
  (void)apmcov::datadog::DescribeErrorBody(body);
  (void)apmcov::datadog::ParseDecimalId(body.substr(0, 24), "trace_id");
  return 0;
}
