// JSON and CSV renderings of the QueryService views, exactly the shapes of design §8 (fields
// may be added, never renamed). Times are RFC 3339 UTC, absent ones null; trace and span ids
// are decimal strings. Pure functions.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "query/model.h"

namespace apmcov::gateway {

nlohmann::json ToJson(const ServiceView& s);
nlohmann::json ToJson(const CoverageBucket& b);
nlohmann::json ToJson(const SyncJobRecord& j);
// A trace of a list: its summary, without gaps and spans.
nlohmann::json ToJson(const BrokenTraceRecord& t);
nlohmann::json ToJson(const DependencyRow& d);
nlohmann::json ToJson(const ShadowServiceView& s);
nlohmann::json ToJson(const Stats& s);
nlohmann::json ToJson(const SampleEstimate& e);
nlohmann::json ToJson(const ServicesPage& p);
nlohmann::json ToJson(const TracesPageView& p);
nlohmann::json ToJson(const DependenciesPageView& p);
nlohmann::json ToJson(const RecommendationView& r);
nlohmann::json ToJson(const RecommendationsView& v);
nlohmann::json ToJson(const ServiceMapView& m);
// One trace with its spans and gaps.
nlohmann::json TraceDetailJson(const BrokenTraceRecord& t);
nlohmann::json ToJson(const ServiceDetailView& d);
nlohmann::json BucketsJson(const std::string& by, const std::vector<CoverageBucket>& buckets);
nlohmann::json HistoryJson(const std::string& by, const std::vector<CoverageHistoryPoint>& pts);

// The CSV export: a header row then one row per service, CRLF line ends, RFC 4180 quoting
// (a field with a comma, quote, CR or LF is quoted, quotes doubled). List fields are joined
// with ';'. A cell beginning with '=', '+', '-', '@', tab or CR gets a leading "'" (design §8),
// so that no spreadsheet evaluates it as a formula.
std::string ServicesCsv(const std::vector<ServiceView>& services);
// The same text in parts of about `chunk_bytes` (the header row first): each call replaces
// `chunk` with the next part and returns true, then returns false once everything was given.
std::function<bool(std::string& chunk)> ServicesCsvChunks(std::vector<ServiceView> services,
                                                          size_t chunk_bytes = 64 * 1024);
// Appends one cell: formula-neutralised, then RFC 4180 quoted.
void AppendCsvField(std::string& out, const std::string& field);

// {"error": {"code": "<status code name>", "message": "...", "request_id": "..."}}; request_id
// only when not empty. Bytes that are not UTF-8 are replaced, never thrown on.
std::string ErrorBody(std::string_view code, std::string_view message,
                      std::string_view request_id = "");

}  // namespace apmcov::gateway
