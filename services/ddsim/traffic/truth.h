// Ground truth for a time range, from ddsim's own world model and its generators' recorded
// decisions (never from product code): catalog and instrumentation states, coverage per
// design §5 and for every trace starting in the range whether it is broken, its gaps and its
// missing services (design §6). The JSON is documented in services/ddsim/README.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ddsim/traffic/traffic.h"

namespace apmcov::ddsim {

struct TruthRequest {
  int64_t from_ns = 0;  // inclusive, snapped down to a whole second
  int64_t to_ns = 0;    // exclusive, snapped up to a whole second
  enum class Traces { kAll, kBroken, kNone } traces = Traces::kAll;
};

// Returns the bucket for a unix-second index (the server passes its cache).
using BucketSource = std::function<std::shared_ptr<const Bucket>(int64_t)>;

// The ground-truth JSON document.
std::string GroundTruthJson(const World& world, const TrafficOptions& traffic,
                            const BucketSource& buckets, const TruthRequest& request);

}  // namespace apmcov::ddsim
