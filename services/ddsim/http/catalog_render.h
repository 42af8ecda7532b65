// Software Catalog rendering of a generated service: a service definition at any schema
// version (v1, v2, v2.1, v2.2; converted like Datadog's `schema_version` parameter), and the
// tags a catalog entity carries. Pure functions of the world.
#pragma once

#include <string>
#include <vector>

#include "ddsim/world/world.h"
#include "nlohmann/json.hpp"

namespace apmcov::ddsim {

// The tags of a service's definition and entity (env:, infrastructure, customer-facing, cost
// center), in that order.
std::vector<std::string> CatalogTags(const World& w, const Service& s);

// One element of /api/v2/services/definitions' `data`; `version` "" = as ingested.
nlohmann::ordered_json RenderDefinition(const World& w, const Service& s,
                                        const std::string& version);

// One element of /api/v2/catalog/entity's `data`.
nlohmann::ordered_json RenderEntity(const World& w, const Service& s);

}  // namespace apmcov::ddsim
