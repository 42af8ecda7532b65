// The analyzer's Prometheus metrics (README "Metrics"): every family registered once, on the
// registry the App is given, and the series that come and go with partitions and coverage
// dimension values. Counters and gauges are plain pointers into the registry, which must
// outlive this. Not thread-safe: the App's thread only (the registry itself is scraped from
// other threads).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "apmcov/bus/bus.h"
#include "apmcov/coverage/coverage_report.h"
#include "apmcov/coverage/gap_detector.h"
#include "apmcov/coverage/trace_assembler.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace apmcov::analyzer {

struct AnalyzerMetrics {
  explicit AnalyzerMetrics(prometheus::Registry& registry);

  // apmcov_analyzer_consumer_lag_messages of one partition; Forget removes the series (a
  // partition another member owns now).
  void SetLag(const bus::TopicPartition& tp, int64_t messages);
  void ForgetLag(const bus::TopicPartition& tp);
  // apmcov_coverage_ratio and apmcov_catalog_services from `report`; series of dimension
  // values the report no longer has are removed.
  void SetCoverage(const coverage::CoverageReport& report);
  // Adds what the assembler counted since the last call (its counters only grow).
  void AddAssemblerCounters(const coverage::AssemblerCounters& now);
  void CountRebalance(const char* event, size_t partitions);
  void CountDeadLetter(const std::string& topic);
  void CountPruned(const std::string& table, int64_t rows);

  prometheus::Counter* spans_processed;
  prometheus::Counter* traces_finalised;
  prometheus::Counter* traces_forced;
  prometheus::Counter* traces_replayed;
  prometheus::Counter* traces_edge_cut;
  prometheus::Counter* late_spans;
  prometheus::Counter* forced_tail_spans;
  prometheus::Counter* traces_judged;
  prometheus::Counter* traces_broken;  // judged with at least one gap
  prometheus::Counter* judged_spans;
  prometheus::Gauge* traces_in_flight;
  prometheus::Gauge* spans_in_flight;
  prometheus::Counter* gaps[coverage::kGapKindCount];  // by GapKind
  prometheus::Histogram* db_write;
  prometheus::Counter* data_loss;
  prometheus::Gauge* owned_spans_partitions;
  prometheus::Counter* catalog_wait_expired;
  prometheus::Gauge* watermarks_pending;
  prometheus::Gauge* services_total;
  prometheus::Gauge* decode_queue_polls;           // submitted to the decode thread, not processed
  prometheus::Counter* decode_discarded_messages;  // queued when their partition was revoked

 private:
  prometheus::Family<prometheus::Gauge>* lag_family_;
  std::map<bus::TopicPartition, prometheus::Gauge*> lag_gauges_;
  prometheus::Family<prometheus::Counter>* dlq_family_;
  prometheus::Family<prometheus::Counter>* rebalances_;
  prometheus::Family<prometheus::Counter>* rows_pruned_;
  prometheus::Family<prometheus::Gauge>* coverage_family_;
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> coverage_gauges_;
  coverage::AssemblerCounters seen_;  // what AddAssemblerCounters already added
};

}  // namespace apmcov::analyzer
