#include "validate.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "apmcov/base/status.h"

namespace apmcov::store::internal {
namespace {

bool OneOf(std::string_view v, std::initializer_list<std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), v) != allowed.end();
}

absl::Status Bad(std::string_view what, std::string_view key, std::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(AbslView(what), " '", AbslView(key), "': ", AbslView(problem)));
}

}  // namespace

absl::Status ValidateBatch(const WriteBatch& b) {
  for (const auto& s : b.catalog_services) {
    if (s.name.empty()) return Bad("catalog service", s.name, "empty name");
    if (s.snapshot_id.empty()) return Bad("catalog service", s.name, "empty snapshot_id");
    if (!s.links_json.empty() && !nlohmann::json::accept(s.links_json)) {
      return Bad("catalog service", s.name, "links_json is not valid JSON");
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
  for (const auto& d : b.dependencies) {
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
  return absl::OkStatus();
}

std::vector<std::string> SortedUnion(const std::vector<std::string>& a,
                                     const std::vector<std::string>& b) {
  std::set<std::string> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  return {all.begin(), all.end()};
}

}  // namespace apmcov::store::internal
