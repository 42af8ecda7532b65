// Service definitions and catalog entity page parsers.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "apmcov/datadog/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto page = apmcov::datadog::ParseServiceDefinitions(body);
  if (page.ok() && page->services.size() > page->raw_items) __builtin_trap();
  (void)apmcov::datadog::ParseCatalogEntities(body);
  (void)apmcov::datadog::ParseApmServices(body);
  return 0;
}
