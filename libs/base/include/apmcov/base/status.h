// Status helpers over absl::Status. Codes match gRPC's, so the gateway maps them directly.
// Recoverable failures return absl::Status / absl::StatusOr<T>; invariants crash.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define APMCOV_STATUS_CONCAT_INNER_(a, b) a##b
#define APMCOV_STATUS_CONCAT_(a, b) APMCOV_STATUS_CONCAT_INNER_(a, b)

// Returns from the current function when `expr` (an absl::Status) is not OK.
#define APMCOV_RETURN_IF_ERROR(expr)                                  \
  do {                                                                \
    if (absl::Status apmcov_status_ = (expr); !apmcov_status_.ok()) { \
      return apmcov_status_;                                          \
    }                                                                 \
  } while (false)

// `lhs` = `rexpr`'s value, or return its status. NOLINTBEGIN(bugprone-macro-parentheses)
#define APMCOV_ASSIGN_OR_RETURN(lhs, rexpr) \
  APMCOV_ASSIGN_OR_RETURN_IMPL_(APMCOV_STATUS_CONCAT_(apmcov_statusor_, __LINE__), lhs, rexpr)
#define APMCOV_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses) as `lhs` is a declaration and `tmp` a name
namespace apmcov {

// Debian's Abseil is built with its own absl::string_view (not std::string_view): convert
// explicitly at the boundary.
inline absl::string_view AbslView(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view StdView(absl::string_view s) { return {s.data(), s.size()}; }

// Prefixes a status message with context ("reading page 3: <original>"), keeping the code.
absl::Status Annotate(const absl::Status& status, std::string_view context);

// The lowercase name of a status code ("invalid_argument"), as used in JSON error bodies.
std::string_view StatusCodeName(absl::StatusCode code);

}  // namespace apmcov
