#include "metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <set>

namespace apmcov::analyzer {

AnalyzerMetrics::AnalyzerMetrics(prometheus::Registry& reg) {
  lag_family_ = &prometheus::BuildGauge()
                     .Name("apmcov_analyzer_consumer_lag_messages")
                     .Help("Messages between the analyzer's position and the partition's end")
                     .Register(reg);
  spans_processed = &prometheus::BuildCounter()
                         .Name("apmcov_analyzer_spans_processed_total")
                         .Help("Spans consumed from the spans topic")
                         .Register(reg)
                         .Add({});
  decode_queue_polls = &prometheus::BuildGauge()
                            .Name("apmcov_analyzer_decode_queue_polls")
                            .Help(
                                "Polls handed to the decode thread and not yet processed "
                                "(queued, being decoded or decoded and waiting)")
                            .Register(reg)
                            .Add({});
  decode_discarded_messages =
      &prometheus::BuildCounter()
           .Name("apmcov_analyzer_decode_discarded_messages_total")
           .Help(
               "Messages queued for decoding when their partition was revoked: never "
               "processed, re-read by the new owner")
           .Register(reg)
           .Add({});
  traces_finalised = &prometheus::BuildCounter()
                          .Name("apmcov_analyzer_traces_finalised_total")
                          .Help("Traces finalised (judged or skipped), forced ones included")
                          .Register(reg)
                          .Add({});
  auto& dropped = prometheus::BuildCounter()
                      .Name("apmcov_analyzer_traces_dropped_total")
                      .Help(
                          "Traces not judged normally, by reason (forced = finalised early "
                          "by the memory cap; replayed = judged before a restart; "
                          "late_span = a span arriving after its trace was judged; "
                          "forced_tail = a span of a trace forced out by the memory cap; "
                          "edge_cut = not complete within a read interval, never judged)")
                      .Register(reg);
  traces_forced = &dropped.Add({{"reason", "forced"}});
  traces_replayed = &dropped.Add({{"reason", "replayed"}});
  traces_edge_cut = &dropped.Add({{"reason", "edge_cut"}});
  traces_judged = &prometheus::BuildCounter()
                       .Name("apmcov_analyzer_traces_judged_total")
                       .Help("Traces judged: complete within a read interval (design §7.1)")
                       .Register(reg)
                       .Add({});
  traces_broken = &prometheus::BuildCounter()
                       .Name("apmcov_analyzer_traces_broken_total")
                       .Help(
                           "Judged traces with at least one gap: over traces_judged, the broken "
                           "rate (the chart's broken-rate alert)")
                       .Register(reg)
                       .Add({});
  judged_spans = &prometheus::BuildCounter()
                      .Name("apmcov_analyzer_judged_spans_total")
                      .Help(
                          "Spans of judged traces: with spans_processed, the share of what "
                          "was read that sampling turned into verdicts")
                      .Register(reg)
                      .Add({});
  late_spans = &dropped.Add({{"reason", "late_span"}});
  forced_tail_spans = &dropped.Add({{"reason", "forced_tail"}});
  traces_in_flight = &prometheus::BuildGauge()
                          .Name("apmcov_analyzer_traces_in_flight")
                          .Help("Traces being assembled")
                          .Register(reg)
                          .Add({});
  spans_in_flight = &prometheus::BuildGauge()
                         .Name("apmcov_analyzer_spans_in_flight")
                         .Help("Spans of the traces being assembled")
                         .Register(reg)
                         .Add({});
  auto& gaps_family = prometheus::BuildCounter()
                          .Name("apmcov_analyzer_gaps_total")
                          .Help("Gaps found in judged traces, by kind")
                          .Register(reg);
  for (size_t k = 0; k < coverage::kGapKindCount; ++k) {
    gaps[k] = &gaps_family.Add(
        {{"kind", std::string(coverage::GapKindName(static_cast<coverage::GapKind>(k)))}});
  }
  db_write =
      &prometheus::BuildHistogram()
           .Name("apmcov_analyzer_db_write_duration_seconds")
           .Help("Time to apply one consumed batch to PostgreSQL (one transaction)")
           .Register(reg)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                            0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  dlq_family_ = &prometheus::BuildCounter()
                     .Name("apmcov_dlq_messages_total")
                     .Help("Messages sent to the dead-letter topic, by source topic")
                     .Register(reg);
  rebalances_ = &prometheus::BuildCounter()
                     .Name("apmcov_analyzer_rebalance_partitions_total")
                     .Help("Partitions assigned to or revoked from this member, by event")
                     .Register(reg);
  owned_spans_partitions = &prometheus::BuildGauge()
                                .Name("apmcov_analyzer_spans_partitions_owned")
                                .Help("Partitions of the spans topic this member owns")
                                .Register(reg)
                                .Add({});
  data_loss = &prometheus::BuildCounter()
                   .Name("apmcov_analyzer_data_loss_total")
                   .Help("Offset-out-of-range events: messages lost to retention")
                   .Register(reg)
                   .Add({});
  coverage_family_ = &prometheus::BuildGauge()
                          .Name("apmcov_coverage_ratio")
                          .Help("Instrumented / catalog services (0..1), per dimension value")
                          .Register(reg);
  catalog_wait_expired =
      &prometheus::BuildCounter()
           .Name("apmcov_analyzer_catalog_wait_expired_total")
           .Help(
               "Span watermarks applied after ANALYZER_CATALOG_WAIT_SECONDS without their "
               "job's complete catalog snapshot")
           .Register(reg)
           .Add({});
  watermarks_pending = &prometheus::BuildGauge()
                            .Name("apmcov_analyzer_watermarks_pending")
                            .Help("Span watermarks waiting for their job's catalog snapshot")
                            .Register(reg)
                            .Add({});
  rows_pruned_ = &prometheus::BuildCounter()
                      .Name("apmcov_analyzer_rows_pruned_total")
                      .Help("Rows deleted by retention (design §4), by table (trace_spans: spans)")
                      .Register(reg);
  services_total = &prometheus::BuildGauge()
                        .Name("apmcov_catalog_services")
                        .Help("Catalog services counted by coverage (deprecated excluded)")
                        .Register(reg)
                        .Add({});
}

void AnalyzerMetrics::SetLag(const bus::TopicPartition& tp, int64_t messages) {
  auto [it, inserted] = lag_gauges_.try_emplace(tp, nullptr);
  if (inserted) {
    it->second =
        &lag_family_->Add({{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}});
  }
  it->second->Set(static_cast<double>(messages));
}

void AnalyzerMetrics::ForgetLag(const bus::TopicPartition& tp) {
  if (auto it = lag_gauges_.find(tp); it != lag_gauges_.end()) {
    lag_family_->Remove(it->second);
    lag_gauges_.erase(it);
  }
}

void AnalyzerMetrics::SetCoverage(const coverage::CoverageReport& report) {
  services_total->Set(static_cast<double>(report.total_services));
  std::set<std::pair<std::string, std::string>> present;
  for (const auto& row : report.rows) {
    const std::pair<std::string, std::string> key{row.dimension, row.key};
    present.insert(key);
    auto [it, inserted] = coverage_gauges_.try_emplace(key, nullptr);
    if (inserted) {
      it->second = &coverage_family_->Add({{"dimension", key.first}, {"key", key.second}});
    }
    it->second->Set(row.total == 0 ? 0.0 : static_cast<double>(row.instrumented) / row.total);
  }
  for (auto it = coverage_gauges_.begin(); it != coverage_gauges_.end();) {
    if (present.contains(it->first)) {
      ++it;
    } else {
      coverage_family_->Remove(it->second);
      it = coverage_gauges_.erase(it);
    }
  }
}

void AnalyzerMetrics::AddAssemblerCounters(const coverage::AssemblerCounters& c) {
  traces_finalised->Increment(static_cast<double>(c.traces_finalised - seen_.traces_finalised));
  traces_forced->Increment(static_cast<double>(c.traces_forced - seen_.traces_forced));
  traces_replayed->Increment(static_cast<double>(c.traces_replayed - seen_.traces_replayed));
  late_spans->Increment(static_cast<double>(c.late_spans_dropped - seen_.late_spans_dropped));
  forced_tail_spans->Increment(
      static_cast<double>(c.forced_tail_spans_dropped - seen_.forced_tail_spans_dropped));
  seen_ = c;
}

void AnalyzerMetrics::CountRebalance(const char* event, size_t partitions) {
  rebalances_->Add({{"event", event}}).Increment(static_cast<double>(partitions));
}

void AnalyzerMetrics::CountDeadLetter(const std::string& topic) {
  dlq_family_->Add({{"topic", topic}}).Increment();
}

void AnalyzerMetrics::CountPruned(const std::string& table, int64_t rows) {
  rows_pruned_->Add({{"table", table}}).Increment(static_cast<double>(rows));
}

}  // namespace apmcov::analyzer
