#include "ddsim/http/catalog_render.h"

#include "apmcov/base/time.h"
#include "ddsim/http/responses.h"

namespace apmcov::ddsim {

using ojson = nlohmann::ordered_json;

namespace {

ojson Contacts(const Service& s) {
  const std::string team = s.team.empty() ? "platform" : s.team;
  return ojson::array(
      {{{"name", "Team Email"}, {"type", "email"}, {"contact", team + "@example.com"}},
       {{"name", "Slack"},
        {"type", "slack"},
        {"contact", "https://example.slack.com/archives/" + team}}});
}

ojson Extensions(const Service& s) {
  ojson ext = ojson::object();
  if (s.customer_facing_extension) ext["myorg/customer-facing"] = true;
  ext["myorg/runbook-reviewed"] = s.id[1] < '8';
  return ext;
}

ojson RenderSchema(const World& w, const Service& s, const std::string& version) {
  ojson schema;
  if (version == "v1") {
    schema["schema-version"] = "v1";
    ojson info = {{"dd-service", s.name}, {"display-name", s.name}};
    info["description"] = "The " + s.name + " service";
    if (!s.tier.empty()) info["service-tier"] = s.tier;
    schema["info"] = info;
    ojson org = ojson::object();
    if (!s.application.empty()) org["application"] = s.application;
    if (!s.team.empty()) org["team"] = s.team;
    schema["org"] = org;
    const std::string team = s.team.empty() ? "platform" : s.team;
    schema["contact"] = {{"email", team + "@example.com"},
                         {"slack", "https://example.slack.com/archives/" + team}};
    schema["tags"] = CatalogTags(w, s);
    schema["integrations"] = {
        {"pagerduty", "https://example.pagerduty.com/service-directory/P" + s.id.substr(0, 6)}};
    schema["external-resources"] =
        ojson::array({{{"type", "runbook"},
                       {"name", "Runbook"},
                       {"url", "https://runbooks.example.com/" + s.name}}});
    schema["extensions"] = Extensions(s);
    return schema;
  }
  schema["schema-version"] = version;
  schema["dd-service"] = s.name;
  if (!s.team.empty()) {
    // Native v2 definitions written by older tooling use dd-team.
    const bool dd_team = version == "v2" && s.schema_version == "v2" && s.id[0] < '6';
    schema[dd_team ? "dd-team" : "team"] = s.team;
  }
  const bool v21 = version == "v2.1" || version == "v2.2";
  if (v21) {
    if (!s.application.empty()) schema["application"] = s.application;
    if (!s.tier.empty()) schema["tier"] = s.tier;
    if (!s.lifecycle.empty()) schema["lifecycle"] = s.lifecycle;
    schema["description"] = "The " + s.name + " service";
  }
  if (version == "v2.2") {
    if (!s.catalog_type.empty()) schema["type"] = s.catalog_type;
    if (!s.languages.empty()) schema["languages"] = s.languages;
  }
  schema["contacts"] = Contacts(s);
  schema["links"] = ojson::array({{{"name", "Runbook"},
                                   {"type", "runbook"},
                                   {"url", "https://runbooks.example.com/" + s.name}},
                                  {{"name", "Source"},
                                   {"type", "repo"},
                                   {"provider", "GitHub"},
                                   {"url", "https://github.com/example/" + s.name}}});
  schema["tags"] = CatalogTags(w, s);
  schema["integrations"] = {
      {"pagerduty",
       {{"service-url", "https://example.pagerduty.com/service-directory/P" + s.id.substr(0, 6)}}}};
  schema["extensions"] = Extensions(s);
  return schema;
}

}  // namespace

std::vector<std::string> CatalogTags(const World& w, const Service& s) {
  std::vector<std::string> tags;
  if (s.env_tagged) {
    for (uint8_t e : s.envs) tags.push_back("env:" + w.envs[e]);
  }
  if (!s.infra_tag.empty()) tags.push_back(s.infra_tag);
  if (!s.customer_facing_tag.empty()) tags.push_back(s.customer_facing_tag);
  tags.push_back("cost-center:cc-" + s.id.substr(0, 4));
  return tags;
}

ojson RenderDefinition(const World& w, const Service& s, const std::string& version) {
  const std::string v = version.empty() ? s.schema_version : version;
  ojson meta = {{"last-modified-time", FormatRfc3339(s.modified_unix_s * 1'000'000'000LL)},
                {"github-html-url", ""},
                {"ingestion-source", "api"},
                {"origin", s.id[2] < '8' ? "unknown" : "dd_terraform"},
                {"origin-detail", ""},
                {"warnings", ojson::array()},
                {"ingested-schema-version", s.schema_version}};
  return {{"type", "service-definition"},
          {"id", s.id},
          {"attributes", {{"meta", meta}, {"schema", RenderSchema(w, s, v)}}}};
}

ojson RenderEntity(const World& w, const Service& s) {
  ojson attrs = {{"apiVersion", s.schema_version == "v1" ? "v2" : s.schema_version},
                 {"displayName", s.name},
                 {"kind", "service"},
                 {"name", s.name},
                 {"namespace", "default"}};
  if (!s.team.empty()) attrs["owner"] = s.team;
  attrs["tags"] = CatalogTags(w, s);
  const std::string when = FormatRfc3339(s.modified_unix_s * 1'000'000'000LL);
  return {{"id", EntityUuid(s.id)},
          {"type", "entity"},
          {"attributes", attrs},
          {"meta",
           {{"createdAt", when},
            {"modifiedAt", when},
            {"ingestionSource", "api"},
            {"origin", "unknown"}}}};
}

}  // namespace apmcov::ddsim
