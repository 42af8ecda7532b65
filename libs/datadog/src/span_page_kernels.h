// The span-page parser is compiled once per simdjson kernel (span_page_kernel.inc, see
// cmake/ApmcovSimdjsonKernels.cmake): simdjson's on-demand API picks its kernel when it is
// compiled, not at run time. parse.cc calls the best one the running CPU supports.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apmcov/datadog/source.h"

namespace apmcov::datadog {
namespace internal {

// Shared with parse.cc, compiled for the baseline CPU only.
absl::Status Malformed(std::string_view what, std::string_view detail);
uint64_t ParseHex64(std::string_view s, bool* ok);
absl::StatusOr<int64_t> ParseTimestamp(std::string_view s);

}  // namespace internal

// One namespace per kernel: kernel_baseline (the compiler's default target: simdjson's
// `fallback` on plain x86-64), and on x86-64 kernel_westmere, kernel_haswell, kernel_icelake.
// `readable`: bytes readable from body.data() on (at least body.size()); with
// kJsonPadding more than body.size() the body is parsed in place, else copied.
// ScanSpanPage: the first step of a page read in two (parse.h).
#define APMCOV_DECLARE_SPAN_PAGE_KERNEL(ns)                                           \
  namespace ns {                                                                      \
  absl::Status ParseSpanPage(std::string_view body, size_t readable, SpanPage* page); \
  absl::Status ScanSpanPage(std::string* body, SpanPage* page);                       \
  std::string_view SimdjsonKernel();                                                  \
  }
APMCOV_DECLARE_SPAN_PAGE_KERNEL(kernel_baseline)
#if APMCOV_SIMDJSON_X86_KERNELS
APMCOV_DECLARE_SPAN_PAGE_KERNEL(kernel_westmere)
APMCOV_DECLARE_SPAN_PAGE_KERNEL(kernel_haswell)
APMCOV_DECLARE_SPAN_PAGE_KERNEL(kernel_icelake)
#endif
#undef APMCOV_DECLARE_SPAN_PAGE_KERNEL

}  // namespace apmcov::datadog
