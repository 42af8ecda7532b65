#include "inventory.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace apmcov::collector {
namespace {

// Facets in the order they nest; the infra tags of design §5 (written without `@`).
constexpr const char* kService = "service";
constexpr const char* kEnv = "env";
constexpr const char* kLanguage = "@language";
constexpr const char* kKube = "kube_cluster_name";
constexpr const char* kEcs = "ecs_cluster_name";
constexpr const char* kFunction = "function_arn";

std::string Facet(const datadog::AggregateBucket& b, const char* name) {
  auto it = b.by.find(name);
  if (it == b.by.end() || it->second == kMissingFacet) return "";
  return it->second;
}

void AddSorted(google::protobuf::RepeatedPtrField<std::string>* out, const std::string& v) {
  if (v.empty() || std::find(out->begin(), out->end(), v) != out->end()) return;
  *out->Add() = v;
  std::sort(out->begin(), out->end());
}

}  // namespace

datadog::AggregateQuery InventoryQuery(int64_t from_unix_nano, int64_t to_unix_nano) {
  datadog::AggregateQuery q;
  q.from_unix_nano = from_unix_nano;
  q.to_unix_nano = to_unix_nano;
  q.group_by = {kService, kEnv, kLanguage, kKube, kEcs, kFunction};
  q.group_limit = 10000;
  q.missing = kMissingFacet;
  return q;
}

std::vector<v1::ApmObservation> InventoryFromAggregate(
    const std::vector<datadog::AggregateBucket>& buckets) {
  std::map<std::pair<std::string, std::string>, v1::ApmObservation> by_key;
  for (const datadog::AggregateBucket& b : buckets) {
    const std::string service = Facet(b, kService);
    if (service.empty() || b.count <= 0) continue;
    std::string env = Facet(b, kEnv);
    if (env.empty()) env = "*";
    v1::ApmObservation& obs = by_key[{service, env}];
    obs.set_service(service);
    obs.set_env(env);
    obs.set_traced(true);
    obs.set_source("spans_aggregate");
    obs.set_span_count(obs.span_count() + static_cast<uint64_t>(b.count));
    AddSorted(obs.mutable_languages(), Facet(b, kLanguage));
    const char* hint = !Facet(b, kKube).empty()       ? "kubernetes"
                       : !Facet(b, kEcs).empty()      ? "ecs"
                       : !Facet(b, kFunction).empty() ? "serverless"
                                                      : "host";
    AddSorted(obs.mutable_infra_hints(), hint);
  }
  std::vector<v1::ApmObservation> out;
  out.reserve(by_key.size());
  for (auto& [key, obs] : by_key) out.push_back(std::move(obs));
  return out;
}

}  // namespace apmcov::collector
