// libpqxx helpers shared by the PostgreSQL adapters and the migrations runner: exception →
// absl::Status mapping at the edge, and column expressions. Values are bound parameters
// (pg_params.h), never SQL text.
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

// Reads a timestamptz column selected as EpochMicros("col").
std::string EpochMicros(std::string_view column);
std::vector<std::string> ParseJsonStringArray(const std::string& json);

}  // namespace apmcov::store::internal
