#include "scorecards.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "logger.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace apmcov::analyzer {
namespace {

std::string Hours(int64_t ns) { return absl::StrCat(ns / (int64_t{3600} * 1'000'000'000), " h"); }

// A path segment, percent-encoded (and so safe inside an HTML attribute).
std::string PathSegment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Link(const ScorecardOptions& o, const std::string& service) {
  if (o.dashboard_url.empty()) return "";
  std::string url;
  for (char c : o.dashboard_url) {  // the configured URL, HTML-escaped for the attribute
    if (c == '"') {
      url += "&quot;";
    } else if (c == '&') {
      url += "&amp;";
    } else if (c == '<') {
      url += "&lt;";
    } else {
      url += c;
    }
  }
  return absl::StrCat(" <a href=\"", url, "/services/", PathSegment(service),
                      "\">APM coverage of this service</a>");
}

}  // namespace

std::vector<store::ScorecardOutcomeRow> ScorecardOutcomes(
    const coverage::CoverageReport& report, const std::vector<store::BrokenTraceBlame>& blame,
    const ScorecardOptions& o) {
  std::map<std::string, int64_t> blamed;
  for (const auto& b : blame) blamed[b.service] = b.broken_traces;
  const std::string window = Hours(o.lookback_ns);
  std::vector<store::ScorecardOutcomeRow> out;
  for (const coverage::ServiceCoverage& s : report.services) {
    const std::string link = Link(o, s.name);
    store::ScorecardOutcomeRow instr{std::string(kRuleInstrumented), s.name, "", "", 0};
    store::ScorecardOutcomeRow unbroken{std::string(kRuleUnbroken), s.name, "", "", 0};
    if (s.deprecated) {
      instr.state = unbroken.state = "skip";
      instr.remarks = unbroken.remarks =
          absl::StrCat("Deprecated: left out of APM coverage.", link);
    } else {
      if (s.instrumented) {
        instr.state = "pass";
        instr.remarks = absl::StrCat("Sends APM traces (seen within the last ", window, ").", link);
      } else {
        instr.state = "fail";
        instr.remarks = s.usm_only
                            ? absl::StrCat(
                                  "Runs and takes traffic (seen by Universal Service Monitoring) "
                                  "but sends no APM traces.",
                                  link)
                            : absl::StrCat("No APM traces within the last ", window, ".", link);
      }
      const bool is_blamed = blamed.contains(s.name);
      if (is_blamed) {
        unbroken.state = "fail";
        unbroken.remarks = absl::StrCat("Broken traces of the last ", window,
                                        " name it as missing from their path or as where "
                                        "trace propagation stopped.",
                                        link);
      } else if (!s.instrumented && !s.usm_only) {
        unbroken.state = "skip";
        unbroken.remarks = absl::StrCat("No traffic seen within the last ", window, ".", link);
      } else {
        unbroken.state = "pass";
        unbroken.remarks = absl::StrCat("No broken trace of the last ", window, " names it.", link);
      }
    }
    out.push_back(std::move(instr));
    out.push_back(std::move(unbroken));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.rule, a.service) < std::tie(b.rule, b.service);
  });
  return out;
}

std::vector<store::ScorecardOutcomeRow> ChangedOutcomes(
    const std::vector<store::ScorecardOutcomeRow>& desired,
    const std::vector<store::ScorecardOutcomeRow>& previous) {
  std::map<std::pair<std::string, std::string>, const store::ScorecardOutcomeRow*> before;
  for (const auto& p : previous) before[{p.rule, p.service}] = &p;
  std::vector<store::ScorecardOutcomeRow> out;
  for (const auto& d : desired) {
    auto it = before.find({d.rule, d.service});
    if (it == before.end() || it->second->state != d.state || it->second->remarks != d.remarks) {
      out.push_back(d);
    }
  }
  return out;
}

ScorecardPusher::ScorecardPusher(ScorecardOptions options, store::CoverageStore& store,
                                 datadog::ScorecardApi& api, Clock& clock,
                                 prometheus::Registry& registry)
    : options_(std::move(options)), store_(store), api_(api), clock_(clock) {
  auto& outcomes = prometheus::BuildCounter()
                       .Name("apmcov_analyzer_scorecard_outcomes_total")
                       .Help(
                           "Scorecards rule outcomes by result: sent (accepted by Datadog) "
                           "or failed (to be sent again at the next snapshot)")
                       .Register(registry);
  sent_ = &outcomes.Add({{"result", "sent"}});
  failed_ = &outcomes.Add({{"result", "failed"}});
  disabled_gauge_ = &prometheus::BuildGauge()
                         .Name("apmcov_analyzer_scorecard_push_disabled")
                         .Help(
                             "1 when Datadog refused the Scorecards push (401/403: the "
                             "application key lacks apm_service_catalog_write)")
                         .Register(registry)
                         .Add({});
  last_push_ = &prometheus::BuildGauge()
                    .Name("apmcov_analyzer_scorecard_last_push_timestamp_seconds")
                    .Help(
                        "When the last Scorecards push completed (every changed outcome "
                        "accepted, or nothing had changed)")
                    .Register(registry)
                    .Add({});
}

ScorecardPusher::~ScorecardPusher() { Stop(); }

bool ScorecardPusher::disabled() const {
  std::lock_guard lock(mu_);
  return disabled_;
}

void ScorecardPusher::Disable(const absl::Status& status) {
  {
    std::lock_guard lock(mu_);
    if (disabled_) return;
    disabled_ = true;
  }
  disabled_gauge_->Set(1);
  Log().Error("Scorecards push disabled: Datadog refused it; coverage collection goes on",
              {{"error", std::string(status.message())},
               {"fix",
                "give the application key the apm_service_catalog_write scope, or set "
                "SCORECARDS_ENABLED=false"}});
}

absl::Status ScorecardPusher::EnsureRules() {
  if (rule_ids_.size() == 2) return absl::OkStatus();
  auto rules = api_.ListRules();
  if (!rules.ok()) return rules.status();
  for (const auto& r : *rules) {
    if (r.scorecard_name == kScorecardName &&
        (r.name == kRuleInstrumented || r.name == kRuleUnbroken)) {
      rule_ids_.emplace(r.name, r.id);
    }
  }
  const std::vector<datadog::ScorecardRuleSpec> specs = {
      {std::string(kRuleInstrumented), std::string(kScorecardName),
       "The service sends APM traces: traced, or spans seen, within the lookback. A service "
       "seen only through Universal Service Monitoring fails. Sent by the APM Coverage Tracker.",
       2},
      {std::string(kRuleUnbroken), std::string(kScorecardName),
       "No broken trace of the lookback names the service as missing from its path or as "
       "where trace propagation stopped; skipped without traffic. Sent by the APM Coverage "
       "Tracker.",
       2}};
  for (const auto& spec : specs) {
    if (rule_ids_.contains(spec.name)) continue;
    auto created = api_.CreateRule(spec);
    if (!created.ok()) return created.status();
    Log().Info("scorecard rule created",
               {{"rule", spec.name}, {"scorecard", spec.scorecard_name}, {"id", created->id}});
    rule_ids_.emplace(spec.name, created->id);
  }
  return absl::OkStatus();
}

absl::Status ScorecardPusher::PushNow(const coverage::CoverageReport& report) {
  if (disabled()) return absl::OkStatus();
  const int64_t now = clock_.NowUnixNanos();
  auto blame = store_.LoadBrokenTraceBlame(now - options_.lookback_ns);
  if (!blame.ok()) return blame.status();
  auto previous = store_.LoadScorecardOutcomes();
  if (!previous.ok()) return previous.status();
  std::vector<store::ScorecardOutcomeRow> changed =
      ChangedOutcomes(ScorecardOutcomes(report, *blame, options_), *previous);
  if (changed.empty()) {
    Log().Debug("scorecard outcomes unchanged", {{"services", report.services.size()}});
    last_push_->Set(static_cast<double>(clock_.NowUnixNanos()) / 1e9);
    return absl::OkStatus();
  }
  auto fail = [&](const absl::Status& s, size_t unsent) {
    failed_->Increment(static_cast<double>(unsent));
    if (absl::IsPermissionDenied(s)) {
      Disable(s);
      return absl::OkStatus();
    }
    Log().Warn("scorecard outcomes not sent; retried at the next snapshot",
               {{"error", std::string(s.message())}, {"outcomes", unsent}});
    return s;
  };
  if (absl::Status s = EnsureRules(); !s.ok()) return fail(s, changed.size());
  size_t done = 0;
  while (done < changed.size()) {
    const size_t end = std::min(changed.size(), done + std::max<size_t>(1, options_.batch_size));
    std::vector<datadog::ScorecardOutcome> batch;
    std::vector<store::ScorecardOutcomeRow> rows(changed.begin() + static_cast<long>(done),
                                                 changed.begin() + static_cast<long>(end));
    for (auto& r : rows) {
      batch.push_back({rule_ids_.at(r.rule), r.service, r.state, r.remarks});
      r.sent_at_ns = clock_.NowUnixNanos();
    }
    if (absl::Status s = api_.SendOutcomes(batch); !s.ok()) return fail(s, changed.size() - done);
    sent_->Increment(static_cast<double>(rows.size()));
    if (absl::Status s = store_.SaveScorecardOutcomes(rows); !s.ok()) {
      // Sent but not remembered: sent again next time, which Datadog takes as the same outcome.
      Log().Warn("scorecard outcomes sent but not recorded",
                 {{"error", std::string(s.message())}, {"outcomes", rows.size()}});
      return s;
    }
    done = end;
  }
  Log().Info("scorecard outcomes sent",
             {{"outcomes", changed.size()}, {"services", report.services.size()}});
  last_push_->Set(static_cast<double>(clock_.NowUnixNanos()) / 1e9);
  return absl::OkStatus();
}

void ScorecardPusher::Start() {
  worker_ = std::thread([this] {
    for (;;) {
      coverage::CoverageReport report;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || pending_.has_value(); });
        if (!pending_) return;  // stopping, nothing left
        report = std::move(*pending_);
        pending_.reset();
      }
      (void)PushNow(report);  // logged and counted inside
    }
  });
}

void ScorecardPusher::Submit(const coverage::CoverageReport& report) {
  {
    std::lock_guard lock(mu_);
    if (disabled_ || stopping_) return;  // (Stop() still drains what was submitted before)
    pending_ = report;                   // only the latest snapshot matters
  }
  cv_.notify_one();
}

void ScorecardPusher::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (worker_.joinable()) worker_.join();
}

}  // namespace apmcov::analyzer
