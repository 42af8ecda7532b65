// The searchable and renderable facts of a generated span, derived from the world: names,
// resource, type, host, tags. Shared by the query filter, the aggregate endpoint and the
// JSON renderers, so what a query matches is exactly what a response shows.
#pragma once

#include <string>
#include <string_view>

#include "ddsim/traffic/traffic.h"

namespace apmcov::ddsim {

// Span fields a query or a group_by can name (reserved attributes and @attributes).
enum class SpanField : uint8_t {
  kService,
  kEnv,
  kTraceId,
  kSpanId,
  kParentId,
  kResourceName,
  kOperationName,
  kType,
  kStatus,
  kHost,
  kVersion,
  kRetainedBy,
  kIngestionReason,
  kSpanKind,
  kPeerService,
  kPeerHostname,
  kOutHost,
  kDbSystem,
  kMessagingSystem,
  kMessagingDestination,
  kHttpStatusCode,
  kHttpMethod,
  kHttpUrl,
  kRpcService,
  kLanguage,
  kDuration,
  kComponent,
  // Infra tags (design §7.2 facets): present on the spans of services on that platform.
  kKubeClusterName,
  kEcsClusterName,
  kFunctionArn,
  kUnknown,
};

// "service", "@span.kind", "span.kind" ... → field; kUnknown when not a known field.
SpanField ParseSpanField(std::string_view name);

// The value of `field` on `span`, or false when the span has no such field. `scratch` holds
// computed values (`*out` may point into it).
bool SpanFieldValue(const World& world, const Span& span, SpanField field, std::string& scratch,
                    std::string_view* out);

// Rendering helpers.
std::string_view ResourceName(const World& world, const Span& span, std::string& scratch);
std::string_view SpanType(const World& world, const Span& span);
std::string_view OperationName(const World& world, const Span& span);
std::string_view ServiceVersion(const World& world, uint32_t service);
std::string_view Component(const World& world, const Span& span);

}  // namespace apmcov::ddsim
