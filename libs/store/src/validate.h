// Checks shared by both CoverageStore implementations, so they reject the same records.
#pragma once

#include "apmcov/store/coverage_store.h"

namespace apmcov::store::internal {

// InvalidArgument naming the first record the store cannot hold (empty keys, unknown enum
// values, negative counts), else OK.
absl::Status ValidateBatch(const WriteBatch& batch);

// InvalidArgument for a scorecard outcome with an empty rule or service, a state other than
// pass, fail or skip, or a NUL character.
absl::Status ValidateScorecardOutcome(const ScorecardOutcomeRow& row);

// PostgreSQL text cannot hold NUL characters: both stores drop them. Returns `batch` itself
// when it holds none (the common case), else a cleaned copy kept in `*storage`.
const WriteBatch& WithoutNul(const WriteBatch& batch, WriteBatch* storage);

// Sorted, distinct union of two string lists.
std::vector<std::string> SortedUnion(const std::vector<std::string>& a,
                                     const std::vector<std::string>& b);

// The APM merge rule, one for both stores: folds observation `o`, seen at `seen_ns` (already
// truncated to the database's microseconds), into `row` (`first`: the row is new). A row
// keeps every env's earliest and latest sighting, the largest span count, the union of
// languages and infra hints, traced and USM flags that only ever turn on, and the latest
// traced sighting.
void MergeApmObservation(ApmServiceRow& row, const ApmObservationRecord& o, int64_t seen_ns,
                         bool first);

}  // namespace apmcov::store::internal
