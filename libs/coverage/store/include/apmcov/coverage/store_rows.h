// Coverage inputs from the store's rows (libs/store records.h): the one reading of the
// `services` and `apm_services` tables that the analyzer's coverage snapshots and the gateway's
// answers share, so both count the same services as instrumented (design §5). Target
// apmcov::coverage_store (links apmcov::coverage and apmcov::store); kept apart so the pure
// logic library never depends on the store.
//
// An apm_services row is every observation of one (service, env) merged (CoverageStore
// contract): `traced` is an OR over all time and `last_seen` the latest sighting of any kind,
// so together they cannot say whether the service was traced within the lookback. The row
// therefore stands for up to two observations:
//  - traced, when `last_traced` is set: traced, the row's span count, languages and infra
//    hints, last seen at `last_traced`;
//  - untraced, when USM saw it or nothing ever said it was traced: usm = `usm_seen`, last seen
//    at `last_seen`, with the row's span count only when it was never traced (spans counted
//    without a traced flag are still APM data).
// So a service traced long ago and still seen through USM is not instrumented (it is USM-only),
// whatever its `traced` flag says.
#pragma once

#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "apmcov/coverage/coverage_report.h"
#include "apmcov/store/records.h"

namespace apmcov::coverage {

// A catalog row as coverage input; infra is lowercased (ASCII), as the collector writes it.
CatalogServiceInfo CatalogFromRow(const store::ServiceRow& row);

// Appends the observations `row` stands for (see above) to `out`.
void AppendApmSeenFromRow(const store::ApmServiceRow& row, std::vector<ApmSeen>& out);

// ComputeCoverage over stored rows: the catalog services (removed ones left out by the caller)
// and the apm_services rows.
absl::StatusOr<CoverageReport> ComputeCoverageFromRows(std::span<const store::ServiceRow> services,
                                                       std::span<const store::ApmServiceRow> apm,
                                                       const CoverageOptions& options);

}  // namespace apmcov::coverage
