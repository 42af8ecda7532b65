// Retention (design §4; app.h contract): between batches, at most every `interval`, the store
// is pruned (CoverageStore::Prune with the policy and the Clock's now) in batches of
// `batch_rows`, looping until nothing is left; after `budget` of wall time (or on a stop
// request) a run yields to consumption and goes on at the next call, with the same `now`.
// Deleted rows are counted per table in the metrics and a finished run is logged with a
// summary. A failed prune is logged and tried again at the next interval: it never fails a
// batch. A zero interval disables pruning. Not thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "apmcov/base/clock.h"
#include "apmcov/store/coverage_store.h"
#include "metrics.h"

namespace apmcov::analyzer {

class RetentionPruner {
 public:
  struct Options {
    store::RetentionPolicy policy;
    std::chrono::nanoseconds interval{0};
    size_t batch_rows = 1000;
    std::chrono::nanoseconds budget{0};
  };

  RetentionPruner(Options options, store::CoverageStore& store, Clock& clock,
                  AnalyzerMetrics& metrics, const std::atomic<bool>& stop)
      : options_(options), store_(store), clock_(clock), metrics_(metrics), stop_(stop) {}

  // Prunes if a run is due or unfinished (see above).
  void MaybePrune();

 private:
  const Options options_;
  store::CoverageStore& store_;
  Clock& clock_;
  AnalyzerMetrics& metrics_;
  const std::atomic<bool>& stop_;

  int64_t last_run_ns_ = INT64_MIN;  // when the last run started (Clock)
  bool unfinished_ = false;          // a run the budget interrupted
  int64_t run_now_ns_ = 0;           // the run's `now`, kept across its slices
  std::map<std::string, int64_t> rows_;
  std::chrono::steady_clock::duration spent_{0};
};

}  // namespace apmcov::analyzer
