// The world of the USM case, written once for the tests that check it on the in-memory store
// and on PostgreSQL: "stopped-tracing" was traced 72 h ago and is still seen by USM a minute
// ago (its row still says traced, only last_traced says it stopped); "traced" was traced an
// hour ago. Both are production catalog services of team core in env prod.
#pragma once

#include <cstdint>

#include "apmcov/store/coverage_store.h"

namespace apmcov::gateway::testing {

inline store::WriteBatch StoppedTracingButSeenByUsm(int64_t now) {
  constexpr int64_t kSec = 1'000'000'000;
  store::WriteBatch b;
  for (const char* name : {"stopped-tracing", "traced"}) {
    store::CatalogServiceRecord s;
    s.snapshot_id = "s1";
    s.name = name;
    s.team = "core";
    s.lifecycle = "production";
    s.envs = {"prod"};
    s.synced_at_ns = now;
    b.catalog_services.push_back(s);
  }
  b.apm_observations = {{"stopped-tracing", "prod", true, false, 0, {}, {}, now - 72 * 3600 * kSec},
                        {"stopped-tracing", "prod", false, true, 0, {}, {}, now - 60 * kSec},
                        {"traced", "prod", true, false, 0, {}, {}, now - 3600 * kSec}};
  return b;
}

}  // namespace apmcov::gateway::testing
