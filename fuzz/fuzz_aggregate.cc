// Spans aggregate parser (both `compute` and `computes`, numbers and timeseries).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "apmcov/datadog/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)apmcov::datadog::ParseAggregate(body);
  return 0;
}
