#include "retention.h"

#include <thread>

#include "logger.h"

namespace apmcov::analyzer {

void RetentionPruner::MaybePrune() {
  if (options_.interval.count() <= 0) return;
  if (!unfinished_) {
    const int64_t now = clock_.NowUnixNanos();
    if (last_run_ns_ != INT64_MIN && now - last_run_ns_ < options_.interval.count()) return;
    last_run_ns_ = run_now_ns_ = now;
    rows_.clear();
    spent_ = {};
  }
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    absl::StatusOr<store::PruneResult> r =
        store_.Prune(options_.policy, run_now_ns_, options_.batch_rows);
    if (!r.ok()) {
      unfinished_ = false;
      Log().Warn("retention: pruning failed, tried again at the next interval",
                 {{"error", std::string(r.status().message())}});
      return;
    }
    for (const auto& [table, n] : r->rows) {
      metrics_.CountPruned(table, n);
      rows_[table] += n;
    }
    const auto spent = std::chrono::steady_clock::now() - start;
    unfinished_ = r->more;
    if (!r->more) {
      spent_ += spent;
      break;
    }
    if (stop_.load() || spent >= options_.budget) {  // go on after the next poll
      spent_ += spent;
      return;
    }
    std::this_thread::yield();
  }
  int64_t total = 0;
  for (const auto& [table, n] : rows_) total += n;
  auto rows = [&](const char* table) {
    auto it = rows_.find(table);
    return it == rows_.end() ? int64_t{0} : it->second;
  };
  Log().Log(total > 0 ? LogLevel::kInfo : LogLevel::kDebug, "retention: pruned",
            {{"rows", total},
             {"broken_traces", rows("broken_traces")},
             {"trace_spans", rows("trace_spans")},
             {"trace_gaps", rows("trace_gaps")},
             {"trace_judgements", rows("trace_judgements")},
             {"dependencies", rows("dependencies")},
             {"dependency_counted_traces", rows("dependency_counted_traces")},
             {"sync_jobs", rows("sync_jobs")},
             {"dead_letters", rows("dead_letters")},
             {"catalog_snapshots", rows("catalog_snapshots")},
             {"coverage_snapshots", rows("coverage_snapshots")},
             {"seconds", std::chrono::duration<double>(spent_).count()}});
}

}  // namespace apmcov::analyzer
