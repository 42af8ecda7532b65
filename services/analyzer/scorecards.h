// Datadog Scorecards (design §13): after each coverage snapshot, the outcomes of the rules
// "APM instrumented" and "Traces unbroken" of the scorecard "APM Coverage" for every catalog
// service, sent to Datadog when they changed.
//
// Why here: the analyzer takes the snapshots (CoverageRefresher), so it holds the report the
// outcomes derive from at the moment the history records it, and it already reads the broken
// traces; the collector holds no database, and the gateway is a read side.
//
// Outcomes (ScorecardOutcomes, pure):
//   APM instrumented  pass when the service is instrumented (design §5), fail otherwise (USM-only
//                     services included), skip when deprecated (left out of coverage).
//   Traces unbroken   fail when a broken trace of the lookback names the service as missing or
//                     as the callee of a propagation break; skip when it has no traffic (neither
//                     instrumented, nor seen by USM, nor named by a broken trace) or is
//                     deprecated; pass otherwise.
//   Remarks say why in one sentence and link to DASHBOARD_URL/services/<name> when set; they
//   hold no counts, so an unchanged verdict is an unchanged outcome.
//
// ScorecardPusher: rules are found by name in the scorecard (GET) and created once when
// missing (POST); outcomes differing from the `scorecard_outcomes` table (state or remarks)
// are sent in batches and recorded there after each accepted batch, so a snapshot with no
// change sends nothing and a failed batch is sent again next time. A 401/403 disables the push
// for the life of the process with one error log (apmcov_analyzer_scorecard_push_disabled = 1);
// other failures are logged, counted and retried at the next snapshot. Nothing here ever
// stops or slows consumption: Submit() hands the report to the pusher's own thread, which
// keeps only the latest one and uses its own store connection.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "apmcov/base/clock.h"
#include "apmcov/coverage/coverage_report.h"
#include "apmcov/datadog/scorecards.h"
#include "apmcov/store/coverage_store.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
}  // namespace prometheus

namespace apmcov::analyzer {

inline constexpr std::string_view kScorecardName = "APM Coverage";
inline constexpr std::string_view kRuleInstrumented = "APM instrumented";
inline constexpr std::string_view kRuleUnbroken = "Traces unbroken";

struct ScorecardOptions {
  std::string dashboard_url;  // DASHBOARD_URL, no trailing slash; "" = no links
  int64_t lookback_ns = int64_t{24} * 3600 * 1'000'000'000;
  size_t batch_size = 100;  // outcomes per POST
};

// The outcome of both rules for every catalog service of `report` (sent_at_ns left 0), sorted
// by (rule, service).
std::vector<store::ScorecardOutcomeRow> ScorecardOutcomes(
    const coverage::CoverageReport& report, const std::vector<store::BrokenTraceBlame>& blame,
    const ScorecardOptions& options);

// The rows of `desired` whose state or remarks differ from `previous` (or are new).
std::vector<store::ScorecardOutcomeRow> ChangedOutcomes(
    const std::vector<store::ScorecardOutcomeRow>& desired,
    const std::vector<store::ScorecardOutcomeRow>& previous);

class ScorecardPusher {
 public:
  ScorecardPusher(ScorecardOptions options, store::CoverageStore& store, datadog::ScorecardApi& api,
                  Clock& clock, prometheus::Registry& registry);
  ~ScorecardPusher();  // Stop()s
  ScorecardPusher(const ScorecardPusher&) = delete;
  ScorecardPusher& operator=(const ScorecardPusher&) = delete;

  // Pushes synchronously (the worker's step; tests call it directly). OK when sent, nothing to
  // send, or disabled; the error otherwise (already logged and counted).
  absl::Status PushNow(const coverage::CoverageReport& report);

  // The worker: Submit() never blocks on Datadog or the database.
  void Start();
  void Submit(const coverage::CoverageReport& report);
  // Pushes what was submitted and not pushed yet, then ends the worker.
  void Stop();

  bool disabled() const;

 private:
  absl::Status EnsureRules();
  void Disable(const absl::Status& status);

  const ScorecardOptions options_;
  store::CoverageStore& store_;
  datadog::ScorecardApi& api_;
  Clock& clock_;
  prometheus::Counter* sent_;
  prometheus::Counter* failed_;
  prometheus::Gauge* disabled_gauge_;
  prometheus::Gauge* last_push_;  // Unix seconds of the last push that completed

  std::map<std::string, std::string> rule_ids_;  // rule name → id
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<coverage::CoverageReport> pending_;
  bool stopping_ = false;
  bool disabled_ = false;
  std::thread worker_;
};

}  // namespace apmcov::analyzer
