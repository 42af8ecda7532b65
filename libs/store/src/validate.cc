#include "validate.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <type_traits>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"

namespace apmcov::store {

bool IsRecordRejected(const absl::Status& status) {
  return absl::IsInvalidArgument(status) &&
         status.GetPayload("type.apmcov/store.RecordRejected").has_value();
}

absl::Status RecordRejectedError(std::string_view message, std::string_view sqlstate) {
  absl::Status s = absl::InvalidArgumentError(AbslView(message));
  s.SetPayload("type.apmcov/store.RecordRejected", absl::Cord(AbslView(sqlstate)));
  return s;
}

}  // namespace apmcov::store

namespace apmcov::store::internal {
namespace {

bool OneOf(std::string_view v, std::initializer_list<std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), v) != allowed.end();
}

absl::Status Bad(std::string_view what, std::string_view key, std::string_view problem) {
  return RecordRejectedError(
      absl::StrCat(AbslView(what), " '", AbslView(key), "': ", AbslView(problem)));
}

// True when a string (key or value) anywhere in `j` holds a NUL character.
bool HoldsNul(const nlohmann::json& j) {
  if (j.is_string()) return j.get_ref<const std::string&>().find('\0') != std::string::npos;
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if (key.find('\0') != std::string::npos || HoldsNul(value)) return true;
    }
  }
  if (j.is_array()) {
    for (const auto& value : j) {
      if (HoldsNul(value)) return true;
    }
  }
  return false;
}

}  // namespace

absl::Status ValidateBatch(const WriteBatch& b) {
  for (const auto& s : b.catalog_services) {
    if (s.name.empty()) return Bad("catalog service", s.name, "empty name");
    if (s.snapshot_id.empty()) return Bad("catalog service", s.name, "empty snapshot_id");
    if (!s.links_json.empty()) {
      const nlohmann::json links = nlohmann::json::parse(s.links_json, nullptr, false);
      if (links.is_discarded()) {
        return Bad("catalog service", s.name, "links_json is not valid JSON");
      }
      // Valid JSON, but PostgreSQL jsonb cannot hold "\u0000" (SQLSTATE 22P05): rejected here
      // so both stores refuse the same records.
      if (HoldsNul(links)) {
        return Bad("catalog service", s.name,
                   "links_json holds \\u0000, which PostgreSQL jsonb cannot store");
      }
    }
  }
  for (const auto& e : b.snapshot_ends) {
    if (e.snapshot_id.empty()) return Bad("catalog snapshot end", e.snapshot_id, "empty id");
  }
  for (const auto& o : b.apm_observations) {
    if (o.service.empty()) return Bad("apm observation", o.service, "empty service");
    if (o.env.empty()) return Bad("apm observation", o.service, "empty env (use \"*\")");
  }
  for (const auto& t : b.broken_traces) {
    const std::string id = std::to_string(t.trace_id);
    if (t.gaps.empty()) return Bad("broken trace", id, "no gaps");
    if (t.duration_ns < 0 || t.span_count < 0) return Bad("broken trace", id, "negative size");
    for (const auto& g : t.gaps) {
      if (!OneOf(g.kind, {"uninstrumented_hop", "uninstrumented_callee", "propagation_break",
                          "missing_root", "orphan_span"})) {
        return Bad("broken trace", id, absl::StrCat("unknown gap kind '", g.kind, "'"));
      }
    }
  }
  for (const auto& d : b.dependencies.edges()) {
    if (d.from_service.empty() || d.to_name.empty()) {
      return Bad("dependency", d.from_service, "empty from_service or to_name");
    }
    if (!OneOf(d.kind, {"call", "db", "messaging"})) {
      return Bad("dependency", d.from_service, absl::StrCat("unknown kind '", d.kind, "'"));
    }
    if (!OneOf(d.to_kind, {"service", "datastore", "queue", "external"})) {
      return Bad("dependency", d.from_service, absl::StrCat("unknown to_kind '", d.to_kind, "'"));
    }
  }
  for (const auto& j : b.sync_jobs) {
    if (j.id.empty()) return Bad("sync job", j.id, "empty id");
    if (!OneOf(j.state, {"queued", "running", "succeeded", "partial", "failed"})) {
      return Bad("sync job", j.id, absl::StrCat("unknown state '", j.state, "'"));
    }
    if (!OneOf(j.trigger, {"schedule", "manual"})) {
      return Bad("sync job", j.id, absl::StrCat("unknown trigger '", j.trigger, "'"));
    }
  }
  for (const auto& c : b.coverage_rows) {
    if (c.dimension.empty()) return Bad("coverage row", c.key, "empty dimension");
    if (c.total < 0 || c.instrumented < 0 || c.instrumented > c.total) {
      return Bad("coverage row", absl::StrCat(c.dimension, "/", c.key),
                 "needs 0 <= instrumented <= total");
    }
  }
  if (b.count_key.id.size() > 128) {
    return Bad("count key", b.count_key.id.substr(0, 32), "longer than 128 bytes");
  }
  return absl::OkStatus();
}

namespace {

// Calls `f` on every text field of the batch.
template <typename Batch, typename F>
void ForEachText(Batch& b, F&& f) {
  auto all = [&](auto& v) {
    for (auto& s : v) f(s);
  };
  for (auto& s : b.catalog_services) {
    for (auto* t : {&s.snapshot_id, &s.name, &s.team, &s.application, &s.tier, &s.lifecycle,
                    &s.type, &s.infra, &s.schema_version, &s.links_json, &s.description}) {
      f(*t);
    }
    all(s.languages);
    all(s.tags);
    all(s.envs);
  }
  for (auto& e : b.snapshot_ends) f(e.snapshot_id);
  for (auto& o : b.apm_observations) {
    f(o.service);
    f(o.env);
    all(o.languages);
    all(o.infra_hints);
  }
  for (auto& t : b.broken_traces) {
    f(t.env);
    if (t.root_service) f(*t.root_service);
    all(t.services);
    all(t.missing_services);
    all(t.gap_kinds);
    for (auto& g : t.gaps) {
      f(g.kind);
      f(g.from_service);
      if (g.to_service) f(*g.to_service);
      f(g.peer);
      f(g.detail);
    }
    for (auto& sp : t.spans) {
      for (auto* x : {&sp.service, &sp.resource, &sp.kind, &sp.type, &sp.target}) f(*x);
    }
  }
  const auto edge_text = [&](auto& d) {
    for (auto* x : {&d.from_service, &d.to_name, &d.kind, &d.to_kind}) f(*x);
  };
  if constexpr (std::is_const_v<Batch>) {
    for (const auto& d : b.dependencies.edges()) edge_text(d);
  } else {
    b.dependencies.RewriteEdges(edge_text);
  }
  for (auto& j : b.sync_jobs) {
    for (auto* x : {&j.id, &j.trigger, &j.state, &j.error}) f(*x);
  }
  for (auto& c : b.coverage_rows) {
    f(c.dimension);
    f(c.key);
  }
  for (auto& w : b.watermarks) f(w.topic);
  for (auto& j : b.judgements) f(j.root_service);
  for (auto& e : b.edge_cuts) f(e.job_id);
  f(b.count_key.id);
}

}  // namespace

const WriteBatch& WithoutNul(const WriteBatch& batch, WriteBatch* storage) {
  bool found = false;
  ForEachText(batch,
              [&](const std::string& s) { found = found || s.find('\0') != std::string::npos; });
  if (!found) return batch;
  *storage = batch;
  ForEachText(*storage, [](std::string& s) { std::erase(s, '\0'); });
  return *storage;
}

std::vector<std::string> SortedUnion(const std::vector<std::string>& a,
                                     const std::vector<std::string>& b) {
  std::set<std::string> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  return {all.begin(), all.end()};
}

absl::Status ValidateScorecardOutcome(const ScorecardOutcomeRow& row) {
  if (row.rule.empty() || row.service.empty()) {
    return absl::InvalidArgumentError("scorecard outcome: rule and service must not be empty");
  }
  if (row.state != "pass" && row.state != "fail" && row.state != "skip") {
    return absl::InvalidArgumentError(absl::StrCat("scorecard outcome ", row.rule, "/", row.service,
                                                   ": state '", row.state,
                                                   "' is not pass, fail or skip"));
  }
  for (const std::string* s : {&row.rule, &row.service, &row.remarks}) {
    if (s->find('\0') != std::string::npos) {
      return RecordRejectedError(
          "scorecard outcome: NUL character, which PostgreSQL text cannot store");
    }
  }
  return absl::OkStatus();
}

void MergeApmObservation(ApmServiceRow& row, const ApmObservationRecord& o, int64_t seen_ns,
                         bool first) {
  if (first) {
    row.service = o.service;
    row.env = o.env;
    row.first_seen_ns = seen_ns;
    row.last_seen_ns = seen_ns;
  }
  row.first_seen_ns = std::min(row.first_seen_ns, seen_ns);
  row.last_seen_ns = std::max(row.last_seen_ns, seen_ns);
  row.span_count = std::max(row.span_count, o.span_count);
  row.languages = SortedUnion(row.languages, o.languages);
  row.infra_hints = SortedUnion(row.infra_hints, o.infra_hints);
  row.traced = row.traced || o.traced;
  row.usm_seen = row.usm_seen || o.usm;
  row.usm_only = row.usm_seen && !row.traced;
  if (o.traced) row.last_traced_ns = std::max(row.last_traced_ns.value_or(seen_ns), seen_ns);
}

}  // namespace apmcov::store::internal
