// The SELECT lists and row mappings of the tables both PostgreSQL adapters read back
// (PostgresCoverageStore and PostgresReadModel), so a table is mapped to its record (records.h)
// once. Times leave PostgreSQL as Unix microseconds (exact), arrays as JSON text (no ambiguity
// with separators or NULLs). Private to the library; libpqxx exceptions pass through.
#pragma once

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "apmcov/store/records.h"

namespace apmcov::store::internal {

// A text field, "" when NULL.
std::string FieldText(const pqxx::field& f);

// `services`: ServiceRow (catalog.synced_at_ns = last_synced_ns).
const std::string& ServiceColumns();
ServiceRow ServiceFromRow(const pqxx::row& r);

// `apm_services`.
const std::string& ApmColumns();
ApmServiceRow ApmFromRow(const pqxx::row& r);

// `broken_traces`, without gaps and spans.
const std::string& TraceColumns();
BrokenTraceRecord TraceFromRow(const pqxx::row& r);
// One broken trace with its gaps by (span id, kind) and spans by (start, span id), span ids
// compared as numbers.
std::optional<BrokenTraceRecord> ReadTrace(pqxx::transaction_base& tx, uint64_t trace_id);

// `dependencies`.
const std::string& DependencyColumns();
DependencyRow DependencyFromRow(const pqxx::row& r);

// `coverage_snapshots`.
const std::string& CoverageColumns();
CoverageRow CoverageFromRow(const pqxx::row& r);

// `sync_jobs`.
const std::string& SyncJobColumns();
SyncJobRecord SyncJobFromRow(const pqxx::row& r);

}  // namespace apmcov::store::internal
