#include "span_sets.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "apmcov/base/log.h"
#include "apmcov/base/status.h"

namespace apmcov::store::internal {
namespace {

void AppendString(std::string& out, std::string_view s) {
  out.push_back('"');
  AppendJsonEscaped(out, s);
  out.push_back('"');
}

}  // namespace

std::string SpanSetJson(const std::vector<TraceSpanRecord>& spans) {
  std::string out;
  out.reserve(spans.size() * 128 + 2);
  out.push_back('[');
  absl::flat_hash_set<uint64_t> seen;
  seen.reserve(spans.size());
  for (const TraceSpanRecord& s : spans) {
    if (!seen.insert(s.span_id).second) continue;
    if (out.size() > 1) out.push_back(',');
    absl::StrAppend(&out, "[\"", s.span_id, "\",\"", s.parent_id, "\",");
    for (const std::string* text : {&s.service, &s.resource, &s.kind, &s.type}) {
      AppendString(out, *text);
      out.push_back(',');
    }
    absl::StrAppend(&out, s.start_ns, ",", s.duration_ns, ",");
    AppendString(out, s.target);
    out.push_back(']');
  }
  out.push_back(']');
  return out;
}

absl::StatusOr<std::vector<TraceSpanRecord>> ParseSpanSetJson(std::string_view json) {
  const auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("trace_spans.spans: ", AbslView(what)));
  };
  const nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return bad("not JSON");
  if (!doc.is_array()) return bad("not an array of spans");
  std::vector<TraceSpanRecord> spans;
  spans.reserve(doc.size());
  for (size_t i = 0; i < doc.size(); ++i) {
    const nlohmann::json& a = doc[i];
    if (!a.is_array() || a.size() != 9) {
      return bad(absl::StrCat("span ", i, " is not an array of 9"));
    }
    for (size_t f : {0, 1, 2, 3, 4, 5, 8}) {
      if (!a[f].is_string()) return bad(absl::StrCat("span ", i, " field ", f, " is not a string"));
    }
    for (size_t f : {6, 7}) {
      if (!a[f].is_number_integer() ||
          (a[f].is_number_unsigned() && a[f].get<uint64_t>() > INT64_MAX)) {
        return bad(absl::StrCat("span ", i, " field ", f, " is not an integer"));
      }
    }
    TraceSpanRecord s;
    if (!absl::SimpleAtoi(a[0].get_ref<const std::string&>(), &s.span_id) ||
        !absl::SimpleAtoi(a[1].get_ref<const std::string&>(), &s.parent_id)) {
      return bad(absl::StrCat("span ", i, " has an id that is not a 64-bit unsigned decimal"));
    }
    s.service = a[2].get<std::string>();
    s.resource = a[3].get<std::string>();
    s.kind = a[4].get<std::string>();
    s.type = a[5].get<std::string>();
    s.start_ns = a[6].get<int64_t>();
    s.duration_ns = a[7].get<int64_t>();
    s.target = a[8].get<std::string>();
    spans.push_back(std::move(s));
  }
  std::stable_sort(
      spans.begin(), spans.end(), [](const TraceSpanRecord& x, const TraceSpanRecord& y) {
        return x.start_ns != y.start_ns ? x.start_ns < y.start_ns : x.span_id < y.span_id;
      });
  return spans;
}

}  // namespace apmcov::store::internal
