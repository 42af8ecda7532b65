// The catalog family: service definitions (page number), catalog entities (offset) and the
// APM service list.
#include <algorithm>

#include "absl/strings/str_format.h"
#include "ddsim/http/api.h"
#include "ddsim/http/catalog_render.h"
#include "ddsim/http/params.h"
#include "ddsim/http/responses.h"
#include "nlohmann/json.hpp"

namespace apmcov::ddsim {

using ojson = nlohmann::ordered_json;

HttpResponse DdsimApi::CatalogEndpoint(Endpoint endpoint, const HttpRequest& r) {
  switch (endpoint) {
    case Endpoint::kServiceDefinitions:
      return ServiceDefinitions(r);
    case Endpoint::kServiceDefinition:
      return ServiceDefinition(r, std::string(PathParameter(endpoint, r.path)));
    case Endpoint::kCatalogEntity:
      return CatalogEntities(r);
    case Endpoint::kApmServices:
      return ApmServices(r);
    default:
      return Legacy(404, "Not Found");
  }
}

HttpResponse DdsimApi::ServiceDefinitions(const HttpRequest& r) {
  auto size = ParseInt("page[size]", r.Query("page[size]"), 10);
  auto number = ParseInt("page[number]", r.Query("page[number]"), 0);
  if (!size.ok()) return Legacy(400, std::string(size.status().message()));
  if (!number.ok()) return Legacy(400, std::string(number.status().message()));
  if (*size < 1 || *size > 100) return Legacy(400, "page[size] must be between 1 and 100");
  if (*number < 0) return Legacy(400, "page[number] must be >= 0");
  std::string version;
  if (const std::string* v = r.Query("schema_version")) {
    if (*v != "v1" && *v != "v2" && *v != "v2.1" && *v != "v2.2") {
      return Legacy(400, "schema_version must be one of v1, v2, v2.1, v2.2");
    }
    version = *v;
  }
  ojson data = ojson::array();
  const int64_t begin = *size * *number;
  for (int64_t i = begin; i < begin + *size && i < static_cast<int64_t>(catalog_.size()); ++i) {
    data.push_back(RenderDefinition(world_, *catalog_[i], version));
  }
  HttpResponse resp;
  resp.body = ojson{{"data", data}}.dump();
  return resp;
}

HttpResponse DdsimApi::ServiceDefinition(const HttpRequest& r, const std::string& name) {
  std::string version;
  if (const std::string* v = r.Query("schema_version")) {
    if (*v != "v1" && *v != "v2" && *v != "v2.1" && *v != "v2.2") {
      return Legacy(400, "schema_version must be one of v1, v2, v2.1, v2.2");
    }
    version = *v;
  }
  const Service* s = world_.Find(name);
  if (s == nullptr) s = world_.FindSelf(name);
  if (s == nullptr || !s->catalogued()) {
    HttpResponse resp = Legacy(404, "Not Found");
    resp.body = "{\"errors\":[\"Not Found\"],\"error_details\":[{}]}";
    return resp;
  }
  HttpResponse resp;
  resp.body = ojson{{"data", RenderDefinition(world_, *s, version)}}.dump();
  return resp;
}

HttpResponse DdsimApi::CatalogEntities(const HttpRequest& r) {
  auto limit = ParseInt("page[limit]", r.Query("page[limit]"), 100);
  auto offset = ParseInt("page[offset]", r.Query("page[offset]"), 0);
  if (!limit.ok()) return Legacy(400, std::string(limit.status().message()));
  if (!offset.ok()) return Legacy(400, std::string(offset.status().message()));
  if (*limit < 1 || *limit > 1000) return Legacy(400, "page[limit] must be between 1 and 1000");
  if (*offset < 0) return Legacy(400, "page[offset] must be >= 0");
  const std::string* kind = r.Query("filter[kind]");
  const std::string* name = r.Query("filter[name]");
  std::vector<const Service*> matching;
  if (kind == nullptr || *kind == "service") {
    for (const Service* s : catalog_) {
      if (name == nullptr || s->name == *name) matching.push_back(s);
    }
  }
  ojson data = ojson::array();
  for (int64_t i = *offset; i < *offset + *limit && i < static_cast<int64_t>(matching.size());
       ++i) {
    data.push_back(RenderEntity(world_, *matching[i]));
  }
  auto link = [&](int64_t off) {
    std::string q;
    AppendQueryParam(q, "page[limit]", std::to_string(*limit));
    AppendQueryParam(q, "page[offset]", std::to_string(off));
    return "/api/v2/catalog/entity?" + q;
  };
  ojson links = {{"self", link(*offset)}};
  if (*offset + *limit < static_cast<int64_t>(matching.size()))
    links["next"] = link(*offset + *limit);
  if (*offset > 0) links["previous"] = link(std::max<int64_t>(0, *offset - *limit));
  HttpResponse resp;
  resp.content_type = std::string(kJsonApi);
  resp.body = ojson{
      {"data", data},
      {"meta", {{"count", static_cast<int64_t>(data.size())}, {"includeCount", 0}}},
      {"links",
       links}}.dump();
  return resp;
}

HttpResponse DdsimApi::ApmServices(const HttpRequest& r) {
  const std::string* env = r.Query("filter[env]");
  if (env == nullptr || env->empty()) return Legacy(400, "filter[env] is required");
  int env_index = -1;
  if (*env != "*") {
    for (size_t e = 0; e < world_.envs.size(); ++e) {
      if (world_.envs[e] == *env) env_index = static_cast<int>(e);
    }
  }
  std::vector<uint32_t> ids;
  for (uint32_t i = 0; i < world_.services.size(); ++i) {
    const Service& s = world_.services[i];
    if (!s.reports_spans() && s.state != Instrumentation::kUsmOnly) continue;
    if (*env != "*" && (env_index < 0 || !world_.RunsIn(i, static_cast<uint8_t>(env_index))))
      continue;
    ids.push_back(i);
  }
  std::vector<std::pair<std::string, bool>> listed;  // name, traced
  listed.reserve(ids.size());
  for (uint32_t i : ids)
    listed.emplace_back(world_.services[i].name, world_.services[i].reports_spans());
  // Services the Agent intake received (a generated name keeps what the world decided).
  std::string last;
  for (const ReceivedStore::ServiceEnv& se : received_.ServiceEnvs()) {
    if (*env != "*" && se.env != *env) continue;
    if (se.service == last || world_.Find(se.service) != nullptr) continue;
    last = se.service;
    listed.emplace_back(se.service, true);
  }
  std::sort(listed.begin(), listed.end());
  ojson names = ojson::array(), meta = ojson::array();
  for (const auto& [name, traced] : listed) {
    names.push_back(name);
    meta.push_back({{"isTraced", traced}, {"isUsm", !traced}});
  }
  HttpResponse resp;
  resp.body = ojson{{"data",
                     {{"id", absl::StrFormat("%016x", MixSeed(world_.options.seed, 0xA9A))},
                      {"type", "services_list"},
                      {"attributes", {{"services", names}, {"metadata", meta}}}}}}
                  .dump();
  return resp;
}

}  // namespace apmcov::ddsim
