// Ground truth for a time range, from ddsim's own world model and its generators' recorded
// decisions (never from product code): catalog and instrumentation states, coverage per
// design §5 and for every trace starting in the range whether it is broken, its gaps and its
// missing services (design §6). The JSON is documented in services/ddsim/README.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ddsim/intake/received.h"
#include "ddsim/traffic/traffic.h"

namespace apmcov::ddsim {

struct TruthRequest {
  int64_t from_ns = 0;  // inclusive, snapped down to a whole second
  int64_t to_ns = 0;    // exclusive, snapped up to a whole second
  enum class Traces { kAll, kBroken, kNone } traces = Traces::kAll;
};

// Returns the bucket for a unix-second index (the server passes its cache).
using BucketSource = std::function<std::shared_ptr<const Bucket>(int64_t)>;

// The ground-truth JSON document. With `received` (ddsim's Agent intake), what it received
// joins the truth: its traces (marked "received": true) are judged by ddsim's own reading of
// design §6 (intake/received_truth.h); the world's own entries for the tracker's services
// (World::self_services) count as instrumented once a span of theirs started before `to`
// (the APM service list lists every service ever received), with the envs and infra of their
// spans in the range; other received services absent from the catalog are shadow services.
// A received service named like a generated one changes nothing about that service.
std::string GroundTruthJson(const World& world, const TrafficOptions& traffic,
                            const BucketSource& buckets, const TruthRequest& request,
                            const ReceivedStore* received = nullptr);

}  // namespace apmcov::ddsim
