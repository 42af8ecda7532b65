// JSON and CSV renderings of the QueryService views, exactly the shapes of design §8 (fields
// may be added, never renamed). Times are RFC 3339 UTC, absent ones null; trace and span ids
// are decimal strings. Pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "query/model.h"

namespace apmcov::gateway {

nlohmann::json ToJson(const ServiceView& s);
nlohmann::json ToJson(const CoverageBucket& b);
nlohmann::json ToJson(const SyncJobRow& j);
nlohmann::json ToJson(const TraceRow& t);
nlohmann::json ToJson(const DependencyRow& d);
nlohmann::json ToJson(const ShadowServiceView& s);
nlohmann::json ToJson(const Stats& s);
nlohmann::json ToJson(const SampleEstimate& e);
nlohmann::json ToJson(const ServicesPage& p);
nlohmann::json ToJson(const TracesPageView& p);
nlohmann::json ToJson(const TraceDetail& d);
nlohmann::json ToJson(const ServiceDetailView& d);
nlohmann::json BucketsJson(const std::string& by, const std::vector<CoverageBucket>& buckets);
nlohmann::json HistoryJson(const std::string& by, const std::vector<CoverageHistoryPoint>& pts);

// The CSV export: a header row then one row per service, CRLF line ends, RFC 4180 quoting
// (a field with a comma, quote, CR or LF is quoted, quotes doubled). List fields are joined
// with ';'.
std::string ServicesCsv(const std::vector<ServiceView>& services);
// Appends one RFC 4180 field.
void AppendCsvField(std::string& out, const std::string& field);

// {"error": {"code": "<status code name>", "message": "..."}}
std::string ErrorBody(std::string_view code, std::string_view message);

}  // namespace apmcov::gateway
