// The two error styles Datadog answers with, and the small pieces every endpoint family
// writes: legacy `{"errors":["..."]}` (v1, definitions, catalog, APM services, aggregate) and
// JSON:API `{"errors":[{"status","title","detail","source"}]}` (spans, trace).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ddsim/http/message.h"

namespace apmcov::ddsim {

inline constexpr std::string_view kJsonApi = "application/vnd.api+json";
inline constexpr std::string_view kJson = "application/json";

// {"errors":["message"]}, application/json.
HttpResponse Legacy(int status, std::string_view message);

// A JSON:API error object (422 carries no "status" member, like Datadog's).
HttpResponse JsonApiError(int status, std::string_view detail, std::string_view parameter = "");

// meta.request_id of a span page or aggregate.
std::string RequestId(uint64_t seq);

// A UUID-shaped id (8-4-4-4-12, version 4, variant a) from 32 hex digits.
std::string EntityUuid(const std::string& hex);

}  // namespace apmcov::ddsim
