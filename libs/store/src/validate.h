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

}  // namespace apmcov::store::internal
