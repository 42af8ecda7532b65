// Output of `apmcov` in text (terminals, CI logs), JSON (scripts) and markdown (a pull-request
// comment: a heading, tables, the failures under <details>). Pure: strings in, a string out.
#pragma once

#include <string>
#include <vector>

#include "apmcov/v1/coverage_service.pb.h"
#include "args.h"
#include "gate.h"

namespace apmcov::cli {

std::string RenderCheck(const CheckResult& result, Format format);

// The coverage report: `stats` is the whole org; `services` the scope (team/env), `scoped`
// when a --team or --env narrowed it.
std::string RenderReport(const v1::Stats& stats, const std::vector<v1::ServiceSummary>& services,
                         const std::string& scope, bool scoped, Format format);

std::string RenderServices(const std::vector<v1::ServiceSummary>& services, Format format);

std::string RenderSyncJob(const v1::SyncJobView& job, Format format);

// A markdown table cell: '|' escaped, newlines flattened.
std::string MarkdownCell(const std::string& text);

}  // namespace apmcov::cli
