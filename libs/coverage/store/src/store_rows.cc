#include "apmcov/coverage/store_rows.h"

#include "absl/strings/ascii.h"

namespace apmcov::coverage {

CatalogServiceInfo CatalogFromRow(const store::ServiceRow& row) {
  const store::CatalogServiceRecord& c = row.catalog;
  return {c.name,      c.team, c.tier,           c.lifecycle, absl::AsciiStrToLower(c.infra),
          c.languages, c.envs, c.customer_facing};
}

void AppendApmSeenFromRow(const store::ApmServiceRow& row, std::vector<ApmSeen>& out) {
  // The lookback applies to when it was last *traced*; USM sightings keep their own time.
  if (row.last_traced_ns) {
    out.push_back({row.service, row.env, /*traced=*/true, /*usm=*/false, row.span_count,
                   row.languages, row.infra_hints, *row.last_traced_ns});
  }
  if (row.usm_seen || !row.last_traced_ns) {
    out.push_back({row.service, row.env, /*traced=*/false, row.usm_seen,
                   row.last_traced_ns ? 0 : row.span_count, row.languages, row.infra_hints,
                   row.last_seen_ns});
  }
}

absl::StatusOr<CoverageReport> ComputeCoverageFromRows(std::span<const store::ServiceRow> services,
                                                       std::span<const store::ApmServiceRow> apm,
                                                       const CoverageOptions& options) {
  std::vector<CatalogServiceInfo> catalog;
  catalog.reserve(services.size());
  for (const store::ServiceRow& row : services) catalog.push_back(CatalogFromRow(row));
  std::vector<ApmSeen> seen;
  seen.reserve(apm.size());
  for (const store::ApmServiceRow& row : apm) AppendApmSeenFromRow(row, seen);
  return ComputeCoverage(catalog, seen, options);
}

}  // namespace apmcov::coverage
