#include "ddsim/traffic/span_fields.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "ddsim/world/cat.h"

namespace apmcov::ddsim {
namespace {

constexpr std::string_view kMethods[] = {"GET", "POST", "GET", "PUT"};
constexpr std::string_view kServerOps[] = {"flask.request",   "http.request", "servlet.request",
                                           "express.request", "rack.request", "aspnet_core.request",
                                           "laravel.request"};
constexpr std::string_view kServerComponents[] = {
    "flask", "net/http", "spring-web-controller", "express", "rack", "aspnet_core", "laravel"};

std::string_view U64(uint64_t v, std::string& scratch) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  scratch.assign(buf, r.ptr);
  return scratch;
}

}  // namespace

SpanField ParseSpanField(std::string_view n) {
  if (!n.empty() && n[0] == '@') n.remove_prefix(1);
  struct Entry {
    std::string_view name;
    SpanField field;
  };
  static constexpr Entry kFields[] = {
      {"service", SpanField::kService},
      {"env", SpanField::kEnv},
      {"trace_id", SpanField::kTraceId},
      {"span_id", SpanField::kSpanId},
      {"parent_id", SpanField::kParentId},
      {"resource_name", SpanField::kResourceName},
      {"operation_name", SpanField::kOperationName},
      {"type", SpanField::kType},
      {"status", SpanField::kStatus},
      {"host", SpanField::kHost},
      {"version", SpanField::kVersion},
      {"retained_by", SpanField::kRetainedBy},
      {"ingestion_reason", SpanField::kIngestionReason},
      {"span.kind", SpanField::kSpanKind},
      {"peer.service", SpanField::kPeerService},
      {"peer.hostname", SpanField::kPeerHostname},
      {"out.host", SpanField::kOutHost},
      {"db.system", SpanField::kDbSystem},
      {"messaging.system", SpanField::kMessagingSystem},
      {"messaging.destination.name", SpanField::kMessagingDestination},
      {"http.status_code", SpanField::kHttpStatusCode},
      {"http.method", SpanField::kHttpMethod},
      {"http.url", SpanField::kHttpUrl},
      {"rpc.service", SpanField::kRpcService},
      {"language", SpanField::kLanguage},
      {"duration", SpanField::kDuration},
      {"component", SpanField::kComponent},
      {"kube_cluster_name", SpanField::kKubeClusterName},
      {"ecs_cluster_name", SpanField::kEcsClusterName},
      {"function_arn", SpanField::kFunctionArn},
  };
  for (const auto& e : kFields) {
    if (e.name == n) return e.field;
  }
  return SpanField::kUnknown;
}

std::string_view ServiceVersion(const World& world, uint32_t service) {
  return world.services[service].version;
}

std::string_view SpanType(const World& world, const Span& span) {
  if (span.kind == SpanKind::kServer) return "web";
  switch (span.target_kind) {
    case DepKind::kService:
      return span.target_form == TargetForm::kRpcService ? "grpc" : "http";
    case DepKind::kDatastore:
      return world.datastores[span.target].type;
    case DepKind::kQueue:
      return "queue";
    case DepKind::kExternal:
      return "http";
  }
  return "custom";
}

std::string_view OperationName(const World& world, const Span& span) {
  if (span.kind == SpanKind::kServer) return kServerOps[world.services[span.service].language];
  switch (span.target_kind) {
    case DepKind::kService:
      return span.target_form == TargetForm::kRpcService ? "grpc.client" : "http.request";
    case DepKind::kDatastore: {
      const std::string& sys = world.datastores[span.target].system;
      if (sys == "redis") return "redis.command";
      if (sys == "mongodb") return "mongodb.query";
      return sys == "mysql" ? "mysql.query" : "postgres.query";
    }
    case DepKind::kQueue:
      return "kafka.produce";
    case DepKind::kExternal:
      return "http.request";
  }
  return "internal";
}

std::string_view Component(const World& world, const Span& span) {
  if (span.kind == SpanKind::kServer)
    return kServerComponents[world.services[span.service].language];
  switch (span.target_kind) {
    case DepKind::kService:
      return span.target_form == TargetForm::kRpcService ? "grpc" : "http-client";
    case DepKind::kDatastore:
      return world.datastores[span.target].system;
    case DepKind::kQueue:
      return world.queues[span.target].system;
    case DepKind::kExternal:
      return "http-client";
  }
  return "";
}

std::string_view ResourceName(const World& world, const Span& span, std::string& scratch) {
  scratch.clear();
  if (span.kind == SpanKind::kServer) {
    Append(scratch, kMethods[span.resource & 3], " /v1/", world.services[span.service].name,
           span.resource & 1 ? "/{id}" : "");
    return scratch;
  }
  switch (span.target_kind) {
    case DepKind::kService:
      Append(scratch, kMethods[span.resource & 3], " /v1/", world.services[span.target].name);
      break;
    case DepKind::kDatastore: {
      const Datastore& d = world.datastores[span.target];
      if (d.system == "redis") return span.resource & 1 ? "GET" : "SET";
      if (d.system == "mongodb") return "find";
      return span.resource & 1 ? "SELECT * FROM items WHERE id = ?" : "UPDATE items SET state = ?";
    }
    case DepKind::kQueue:
      Append(scratch, "produce ", world.queues[span.target].name);
      break;
    case DepKind::kExternal:
      return span.resource & 1 ? "POST /v1/charges" : "GET /v1/status";
  }
  return scratch;
}

bool SpanFieldValue(const World& world, const Span& span, SpanField field, std::string& scratch,
                    std::string_view* out) {
  const Service& svc = world.services[span.service];
  const bool client = span.kind == SpanKind::kClient || span.kind == SpanKind::kProducer;
  switch (field) {
    case SpanField::kService:
      *out = svc.name;
      return true;
    case SpanField::kEnv:
      *out = world.envs[span.env];
      return true;
    case SpanField::kTraceId:
      *out = U64(span.trace_lo, scratch);
      return true;
    case SpanField::kSpanId:
      *out = U64(span.span_id, scratch);
      return true;
    case SpanField::kParentId:
      *out = U64(span.parent_id, scratch);
      return true;
    case SpanField::kResourceName:
      *out = ResourceName(world, span, scratch);
      return true;
    case SpanField::kOperationName:
      *out = OperationName(world, span);
      return true;
    case SpanField::kType:
      *out = SpanType(world, span);
      return true;
    case SpanField::kStatus:
      *out = span.error ? "error" : "ok";
      return true;
    case SpanField::kHost:
      *out = svc.host;
      return true;
    case SpanField::kVersion:
      *out = svc.version;
      return true;
    case SpanField::kRetainedBy:
      *out = RetentionName(span.retained_by);
      return true;
    case SpanField::kIngestionReason:
      *out = span.retained_by == Retention::kRetentionFilter ? "single_span" : "auto";
      return true;
    case SpanField::kSpanKind:
      *out = SpanKindName(span.kind);
      return true;
    case SpanField::kLanguage:
      *out = kSpanLanguages[svc.language];
      return true;
    case SpanField::kComponent:
      *out = Component(world, span);
      return true;
    // The same values as the tags the renderer writes (span_render.cc InfraTags).
    case SpanField::kKubeClusterName:
      if (svc.infra != Infra::kKubernetes) return false;
      *out = "eks-main";
      return true;
    case SpanField::kEcsClusterName:
      if (svc.infra != Infra::kEcs) return false;
      *out = "ecs-main";
      return true;
    case SpanField::kFunctionArn:
      if (svc.infra != Infra::kServerless) return false;
      scratch = absl::StrCat("arn:aws:lambda:us-east-1:123456789012:function:", svc.name);
      *out = scratch;
      return true;
    case SpanField::kDuration:
      *out = U64(static_cast<uint64_t>(span.duration_ns), scratch);
      return true;
    case SpanField::kHttpMethod:
      if (client && span.target_kind != DepKind::kService && span.target_kind != DepKind::kExternal)
        return false;
      *out = kMethods[span.resource & 3];
      return true;
    case SpanField::kHttpStatusCode:
      if (client && span.target_kind != DepKind::kService && span.target_kind != DepKind::kExternal)
        return false;
      *out = U64(span.http_status, scratch);
      return true;
    default:
      break;
  }
  if (!client) return false;
  switch (field) {
    case SpanField::kPeerService:
      if (span.target_kind != DepKind::kService || span.target_form != TargetForm::kPeerService)
        return false;
      *out = world.services[span.target].name;
      return true;
    case SpanField::kPeerHostname:
      if (span.target_kind != DepKind::kService || span.target_form != TargetForm::kPeerHostname)
        return false;
      scratch = TargetText(world, span);
      *out = scratch;
      return true;
    case SpanField::kOutHost:
      if (span.target_kind == DepKind::kDatastore ||
          (span.target_kind == DepKind::kService && span.target_form == TargetForm::kOutHost)) {
        scratch = TargetText(world, span);
        *out = scratch;
        return true;
      }
      return false;
    case SpanField::kRpcService:
      if (span.target_kind != DepKind::kService || span.target_form != TargetForm::kRpcService)
        return false;
      *out = world.services[span.target].name;
      return true;
    case SpanField::kHttpUrl:
      if (span.target_kind == DepKind::kExternal) {
        scratch = Cat("https://", world.externals[span.target].host,
                      span.resource & 1 ? "/v1/charges" : "/v1/status");
      } else if (span.target_kind == DepKind::kService &&
                 span.target_form == TargetForm::kHttpUrl) {
        scratch = Cat("http://", world.services[span.target].name, ".internal/v1/",
                      world.services[span.target].name);
      } else {
        return false;
      }
      *out = scratch;
      return true;
    case SpanField::kDbSystem:
      if (span.target_kind != DepKind::kDatastore) return false;
      *out = world.datastores[span.target].system;
      return true;
    case SpanField::kMessagingSystem:
      if (span.target_kind != DepKind::kQueue) return false;
      *out = world.queues[span.target].system;
      return true;
    case SpanField::kMessagingDestination:
      if (span.target_kind != DepKind::kQueue) return false;
      *out = world.queues[span.target].name;
      return true;
    default:
      return false;
  }
}

}  // namespace apmcov::ddsim
