#include "render.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "apmcov/base/time.h"
#include "nlohmann/json.hpp"

namespace apmcov::cli {
namespace {

using nlohmann::json;

std::string Pct(double v) { return absl::StrFormat("%.1f%%", v); }

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "";
  return FormatRfc3339(t.seconds() * 1'000'000'000LL + t.nanos());
}

json FindingJson(const Finding& f) {
  return {{"team", f.team.empty() ? json(nullptr) : json(f.team)},
          {"service", f.service.empty() ? json(nullptr) : json(f.service)},
          {"detail", f.detail}};
}

json ServiceJson(const v1::ServiceSummary& s) {
  return {{"name", s.name()},
          {"team", s.team()},
          {"envs", std::vector<std::string>(s.envs().begin(), s.envs().end())},
          {"infra", s.infra()},
          {"languages", std::vector<std::string>(s.languages().begin(), s.languages().end())},
          {"tier", s.tier()},
          {"lifecycle", s.lifecycle()},
          {"customer_facing", s.customer_facing()},
          {"instrumented", s.instrumented()},
          {"usm_only", s.usm_only()},
          {"span_count", s.span_count()},
          {"last_seen", s.has_last_seen() ? json(Time(s.last_seen())) : json(nullptr)}};
}

json BucketsJson(const google::protobuf::RepeatedPtrField<v1::CoverageBucket>& buckets) {
  json out = json::array();
  for (const auto& b : buckets) {
    out.push_back({{"key", b.key()},
                   {"total", b.total()},
                   {"instrumented", b.instrumented()},
                   {"coverage_pct", b.coverage_pct()}});
  }
  return out;
}

json SyncJobJson(const v1::SyncJobView& j) {
  return {{"id", j.id()},
          {"trigger", j.trigger()},
          {"state", j.state()},
          {"started_at", j.has_started_at() ? json(Time(j.started_at())) : json(nullptr)},
          {"finished_at", j.has_finished_at() ? json(Time(j.finished_at())) : json(nullptr)},
          {"api_calls", j.api_calls()},
          {"pages", j.pages()},
          {"spans", j.spans()},
          {"error", j.error()}};
}

// A plain-text table with columns padded to their widest cell.
std::string TextTable(const std::vector<std::string>& header,
                      const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l = "  ";
    for (size_t c = 0; c < cells.size(); ++c) {
      absl::StrAppend(&l, cells[c]);
      if (c + 1 < cells.size()) l.append(width[c] - cells[c].size() + 2, ' ');
    }
    absl::StrAppend(&out, l, "\n");
  };
  line(header);
  for (const auto& r : rows) line(r);
  return out;
}

std::string MarkdownTable(const std::vector<std::string>& header,
                          const std::vector<std::vector<std::string>>& rows) {
  std::string out = "|";
  for (const auto& h : header) absl::StrAppend(&out, " ", MarkdownCell(h), " |");
  absl::StrAppend(&out, "\n|");
  for (size_t i = 0; i < header.size(); ++i) absl::StrAppend(&out, "---|");
  absl::StrAppend(&out, "\n");
  for (const auto& r : rows) {
    absl::StrAppend(&out, "|");
    for (const auto& c : r) absl::StrAppend(&out, " ", MarkdownCell(c), " |");
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::vector<std::string> ServiceRow(const v1::ServiceSummary& s) {
  std::string apm = s.instrumented() ? "yes" : (s.usm_only() ? "no (USM only)" : "no");
  return {s.name(),
          s.team().empty() ? "unknown" : s.team(),
          apm,
          s.customer_facing() ? "yes" : "",
          absl::StrJoin(s.envs(), ","),
          s.infra(),
          absl::StrJoin(s.languages(), ","),
          absl::StrCat(s.span_count())};
}

const std::vector<std::string> kServiceHeader = {"service", "team",  "APM",       "customer-facing",
                                                 "envs",    "infra", "languages", "spans"};

}  // namespace

std::string MarkdownCell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else if (c == '<') {
      out += "&lt;";
    } else {
      out += c;
    }
  }
  return out;
}

std::string RenderCheck(const CheckResult& r, Format format) {
  if (format == Format::kJson) {
    json conditions = json::array();
    for (const auto& c : r.conditions) {
      json findings = json::array();
      for (const auto& f : c.findings) findings.push_back(FindingJson(f));
      conditions.push_back({{"name", c.name},
                            {"passed", c.passed},
                            {"summary", c.summary},
                            {"value", c.value ? json(*c.value) : json(nullptr)},
                            {"threshold", c.threshold},
                            {"findings", findings}});
    }
    return json{{"passed", r.passed()}, {"scope", r.scope}, {"conditions", conditions}}.dump(2) +
           "\n";
  }
  size_t failed = 0;
  for (const auto& c : r.conditions) failed += c.passed ? 0 : 1;
  if (format == Format::kMarkdown) {
    std::string out = absl::StrCat("### APM coverage gate: ", r.passed() ? "passed" : "FAILED",
                                   " (", r.scope, ")\n\n");
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : r.conditions) {
      rows.push_back({c.passed ? "pass" : "**FAIL**", c.name, c.summary});
    }
    absl::StrAppend(&out, MarkdownTable({"result", "condition", "details"}, rows));
    for (const auto& c : r.conditions) {
      if (c.findings.empty()) continue;
      absl::StrAppend(&out, "\n<details><summary>", c.name, ": ", c.findings.size(),
                      c.findings.size() == 1 ? " finding" : " findings", "</summary>\n\n");
      std::vector<std::vector<std::string>> frows;
      for (const auto& f : c.findings) frows.push_back({f.team, f.service, f.detail});
      absl::StrAppend(&out, MarkdownTable({"team", "service", "why"}, frows), "\n</details>\n");
    }
    return out;
  }
  std::string out = absl::StrCat("apmcov check: ", r.scope, "\n");
  for (const auto& c : r.conditions) {
    absl::StrAppend(&out, c.passed ? "  PASS  " : "  FAIL  ", c.name, ": ", c.summary, "\n");
    for (const auto& f : c.findings) {
      std::string who = f.team.empty()      ? f.service
                        : f.service.empty() ? absl::StrCat("team ", f.team)
                                            : absl::StrCat(f.team, " / ", f.service);
      absl::StrAppend(&out, "        ", who, who.empty() ? "" : ": ", f.detail, "\n");
    }
  }
  absl::StrAppend(&out, r.passed() ? "result: PASS" : "result: FAIL", " (", failed, " of ",
                  r.conditions.size(), " conditions failed)\n");
  return out;
}

std::string RenderReport(const v1::Stats& s, const std::vector<v1::ServiceSummary>& services,
                         const std::string& scope, bool scoped, Format format) {
  std::vector<const v1::ServiceSummary*> without;
  size_t instrumented = 0;
  for (const auto& svc : services) {
    if (svc.instrumented()) {
      ++instrumented;
    } else {
      without.push_back(&svc);
    }
  }
  const double scope_pct =
      services.empty() ? 0.0 : 100.0 * static_cast<double>(instrumented) / services.size();
  const v1::SampleEstimate& sample = s.sample();
  if (format == Format::kJson) {
    json missing = json::array();
    for (const auto& b : sample.by_missing_service()) {
      missing.push_back({{"service", b.key()}, {"broken_traces", b.broken()}});
    }
    json w = json::array();
    for (const auto* svc : without) w.push_back(ServiceJson(*svc));
    json out = {{"scope", scope},
                {"total_services", services.size()},
                {"instrumented_services", instrumented},
                {"coverage_pct", scope_pct},
                {"org",
                 {{"total_services", s.total_services()},
                  {"instrumented_services", s.instrumented_services()},
                  {"coverage_pct", s.coverage_pct()}}},
                {"by_team", BucketsJson(s.by_team())},
                {"by_env", BucketsJson(s.by_env())},
                {"without_apm", w},
                {"customer_facing_without_apm",
                 std::vector<std::string>(s.customer_facing_without_apm().begin(),
                                          s.customer_facing_without_apm().end())},
                {"usm_only", std::vector<std::string>(s.usm_only().begin(), s.usm_only().end())},
                {"shadow_services", s.shadow_services()},
                {"broken_traces", s.broken_traces()},
                {"judged_traces", sample.judged_traces()},
                {"broken_rate", sample.broken_rate()},
                {"missing_services", missing},
                {"last_sync", s.has_last_sync() ? SyncJobJson(s.last_sync()) : json(nullptr)}};
    return out.dump(2) + "\n";
  }
  std::vector<std::vector<std::string>> team_rows;
  for (const auto& b : s.by_team()) {
    team_rows.push_back(
        {b.key(), absl::StrCat(b.instrumented(), "/", b.total()), Pct(b.coverage_pct())});
  }
  std::sort(team_rows.begin(), team_rows.end(), [](const auto& a, const auto& b) {
    return std::stod(a[2]) < std::stod(b[2]) || (std::stod(a[2]) == std::stod(b[2]) && a[0] < b[0]);
  });
  std::vector<std::vector<std::string>> without_rows;
  for (const auto* svc : without) {
    without_rows.push_back({svc->name(), svc->team().empty() ? "unknown" : svc->team(),
                            svc->usm_only() ? "USM only" : "",
                            svc->customer_facing() ? "yes" : ""});
  }
  std::vector<std::vector<std::string>> missing_rows;
  for (const auto& b : sample.by_missing_service()) {
    if (missing_rows.size() == 10) break;
    missing_rows.push_back({b.key(), absl::StrCat(b.broken())});
  }
  const std::string coverage_line =
      absl::StrCat(scoped ? scope : "all services", ": ", instrumented, " of ", services.size(),
                   " services instrumented (", Pct(scope_pct), ")");
  const std::string broken_line = absl::StrCat(
      s.broken_traces(), " broken traces in the lookback; ",
      sample.judged_traces() == 0 ? std::string("no judged trace yet")
                                  : absl::StrCat("broken rate ", Pct(100 * sample.broken_rate()),
                                                 " of ", sample.judged_traces(), " judged traces"));
  const std::string sync_line =
      s.has_last_sync() ? absl::StrCat("last sync ", s.last_sync().id(), " ", s.last_sync().state(),
                                       " at ", Time(s.last_sync().finished_at()))
                        : std::string("no sync finished yet");
  if (format == Format::kMarkdown) {
    std::string out = absl::StrCat("### APM coverage report\n\n**", coverage_line, "**  \n",
                                   broken_line, "  \n", sync_line, "\n");
    if (!scoped)
      absl::StrAppend(&out, "\n#### By team\n\n",
                      MarkdownTable({"team", "instrumented", "coverage"}, team_rows));
    if (!without_rows.empty()) {
      absl::StrAppend(&out, "\n#### Without APM (", without_rows.size(), ")\n\n",
                      MarkdownTable({"service", "team", "seen", "customer-facing"}, without_rows));
    }
    if (!missing_rows.empty()) {
      absl::StrAppend(&out, "\n#### Missing from broken traces\n\n",
                      MarkdownTable({"service", "broken traces"}, missing_rows));
    }
    return out;
  }
  std::string out = absl::StrCat(coverage_line, "\n", broken_line, "\n", sync_line, "\n");
  if (!scoped) {
    absl::StrAppend(&out, "\nby team (lowest coverage first):\n",
                    TextTable({"team", "instrumented", "coverage"}, team_rows));
  }
  if (!without_rows.empty()) {
    absl::StrAppend(&out, "\nwithout APM (", without_rows.size(), "):\n",
                    TextTable({"service", "team", "seen", "customer-facing"}, without_rows));
  }
  if (!missing_rows.empty()) {
    absl::StrAppend(&out, "\nmissing from broken traces (top ", missing_rows.size(), "):\n",
                    TextTable({"service", "broken traces"}, missing_rows));
  }
  return out;
}

std::string RenderServices(const std::vector<v1::ServiceSummary>& services, Format format) {
  if (format == Format::kJson) {
    json list = json::array();
    for (const auto& s : services) list.push_back(ServiceJson(s));
    return json{{"services", list}, {"total", services.size()}}.dump(2) + "\n";
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : services) rows.push_back(ServiceRow(s));
  if (format == Format::kMarkdown) {
    return absl::StrCat("### Services (", services.size(), ")\n\n",
                        MarkdownTable(kServiceHeader, rows));
  }
  return absl::StrCat(TextTable(kServiceHeader, rows), services.size(), " services\n");
}

std::string RenderSyncJob(const v1::SyncJobView& j, Format format) {
  if (format == Format::kJson) return SyncJobJson(j).dump(2) + "\n";
  std::string line =
      absl::StrCat("sync job ", j.id(), ": ", j.state().empty() ? "queued" : j.state());
  if (j.api_calls() > 0 || j.spans() > 0) {
    absl::StrAppend(&line, " (", j.api_calls(), " API calls, ", j.pages(), " pages, ", j.spans(),
                    " spans)");
  }
  if (!j.error().empty()) absl::StrAppend(&line, ": ", j.error());
  if (format == Format::kMarkdown) return absl::StrCat("**", MarkdownCell(line), "**\n");
  return line + "\n";
}

}  // namespace apmcov::cli
