// libpqxx helpers shared by the PostgreSQL adapter and the migrations runner: exception →
// absl::Status mapping at the edge, and SQL literal builders (values are always escaped by
// libpq, never spliced raw).
#pragma once

#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace apmcov::store::internal {

// Maps the exception being handled (call from a catch block) to a Status. Connection loss,
// outcomes in doubt, serialization failures and deadlocks, server shutdown and too many
// connections are Unavailable (retry the same work); unique_violation Aborted (a concurrent
// writer: retry); data errors (SQLSTATE class 22, 23, 54000) RecordRejectedError (the record's
// fault: retrying cannot help); anything else Internal. `what` says what was being done.
absl::Status StatusFromCurrentException(std::string_view what);

// SQL literals.
std::string Text(pqxx::connection_base& c, std::string_view s);
std::string TextArray(pqxx::connection_base& c, const std::vector<std::string>& values);
// Unix nanoseconds as timestamptz, microsecond precision.
std::string Timestamp(int64_t unix_nanos);
// Reads a timestamptz column selected as EpochMicros("col").
std::string EpochMicros(std::string_view column);
std::vector<std::string> ParseJsonStringArray(const std::string& json);

}  // namespace apmcov::store::internal
