// APM inventory from one spans aggregate (design §7.2): span counts, envs, languages and
// infra per service, over the lookback, independent of which spans a sync happens to read.
// Pure: turns aggregate buckets into ApmObservations.
#pragma once

#include <string>
#include <vector>

#include "apmcov/datadog/source.h"
#include "apmcov/v1/events.pb.h"

namespace apmcov::collector {

// The value of a facet a span does not have (the aggregate's `missing`).
inline constexpr char kMissingFacet[] = "__missing__";

// The aggregate to ask: count by service, env, @language and the infra tags of design §5,
// with `missing` buckets for spans without them.
datadog::AggregateQuery InventoryQuery(int64_t from_unix_nano, int64_t to_unix_nano);

// One observation per (service, env) (env "*" when the spans have none), source
// "spans_aggregate": span count, languages, and the infra hints its spans' tags imply
// ("kubernetes", "ecs", "serverless", or "host" for spans without such tags).
std::vector<v1::ApmObservation> InventoryFromAggregate(
    const std::vector<datadog::AggregateBucket>& buckets);

}  // namespace apmcov::collector
