#include "ddsim/http/span_render.h"

#include "absl/strings/str_cat.h"
#include "ddsim/http/json_writer.h"
#include "ddsim/traffic/span_fields.h"
#include "ddsim/world/cat.h"

namespace apmcov::ddsim {
namespace {

constexpr std::string_view kMethods[] = {"GET", "POST", "GET", "PUT"};

uint64_t Mix(uint64_t a, uint64_t b) {
  Rng r(a * 0x9E3779B97F4A7C15ULL ^ b);
  return r.Next();
}

std::string InfraTags(const Service& s, size_t index) {
  const std::string ns = s.team.empty() ? "default" : s.team;
  switch (s.infra) {
    case Infra::kKubernetes:
      return Cat(",\"kube_namespace:", ns, "\",\"kube_deployment:", s.name,
                 "\",\"kube_cluster_name:eks-main\",\"pod_name:", s.name, "-",
                 Hex(Mix(index, 7) & 0xFFFFFF), "\"");
    case Infra::kEcs:
      return Cat(",\"ecs_cluster_name:ecs-main\",\"task_arn:arn:aws:ecs:us-east-1:",
                 "123456789012:task/ecs-main/", Hex(Mix(index, 8)), "\"");
    case Infra::kServerless:
      return Cat(",\"function_arn:arn:aws:lambda:us-east-1:123456789012:function:", s.name,
                 "\",\"functionname:", s.name, "\"");
    case Infra::kHost:
      return ",\"availability-zone:us-east-1a\"";
  }
  return "";
}

}  // namespace

SpanRenderer::SpanRenderer(const World& world) : world_(world) {
  const size_t n = world.services.size(), ne = world.envs.size();
  name_json_.resize(n);
  tags_json_.resize(n * ne);
  custom_base_.resize(n * ne);
  for (size_t i = 0; i < n; ++i) {
    const Service& s = world.services[i];
    AppendJsonString(name_json_[i], s.name);
    const std::string infra = InfraTags(s, i);
    for (size_t e = 0; e < ne; ++e) {
      std::string& t = tags_json_[i * ne + e];
      Append(t, "[\"source:apm\",\"env:", world.envs[e], "\",\"service:", s.name,
             "\",\"version:", s.version, "\",\"language:", kSpanLanguages[s.language], "\"", infra,
             "]");
      std::string& c = custom_base_[i * ne + e];
      Append(c, ",\"env\":\"", world.envs[e], "\",\"language\":\"", kSpanLanguages[s.language],
             "\",\"process_id\":\"", Mix(i, 3) % 30000 + 100, "\",\"version\":\"", s.version, "\"");
    }
  }
}

void SpanRenderer::AppendSpanEvent(std::string& out, const Span& span) const {
  const size_t ne = world_.envs.size();
  const size_t key = static_cast<size_t>(span.service) * ne + span.env;
  const Service& svc = world_.services[span.service];
  // Reused buffers: a page renders a thousand spans, each needing a resource name and a URL.
  thread_local std::string resource_buf, scratch;
  const std::string_view resource = ResourceName(world_, span, resource_buf);
  // 24-character opaque event id (18 bytes of base64url).
  {
    static constexpr char kTab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t b[18];
    const uint64_t ms = static_cast<uint64_t>(span.start_ns / 1'000'000);
    for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
    const uint64_t h = Mix(span.span_id, span.trace_lo);
    for (int i = 0; i < 8; ++i) b[6 + i] = static_cast<uint8_t>(span.span_id >> (56 - 8 * i));
    for (int i = 0; i < 4; ++i) b[14 + i] = static_cast<uint8_t>(h >> (8 * i));
    out.append("{\"id\":\"");
    for (int i = 0; i < 18; i += 3) {
      const uint32_t v = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
      out.push_back(kTab[v >> 18]);
      out.push_back(kTab[(v >> 12) & 63]);
      out.push_back(kTab[(v >> 6) & 63]);
      out.push_back(kTab[v & 63]);
    }
    out.append("\",\"type\":\"spans\",\"attributes\":{\"custom\":{");
  }
  const bool client = span.kind == SpanKind::kClient || span.kind == SpanKind::kProducer;
  if (span.chunk_root && span.trace_hi != 0) {
    out.append("\"_dd\":{\"p\":{\"tid\":\"");
    AppendHex16(out, span.trace_hi);
    out.append("\"}},");
  }
  out.append("\"component\":\"");
  out.append(Component(world_, span));
  out.append("\",\"duration\":");
  AppendI64(out, span.duration_ns);
  out.append(custom_base_[key]);
  if (span.error)
    out.append(",\"error\":{\"message\":\"upstream request failed\",\"type\":\"Error\"}");
  const std::string_view method = kMethods[span.resource & 3];
  if (!client) {
    out.append(",\"http\":{\"method\":\"");
    out.append(method);
    out.append("\",\"route\":");
    AppendJsonString(out, resource.substr(method.size() + 1));
    out.append(",\"status_code\":\"");
    AppendU64(out, span.http_status);
    out.append("\"}");
  } else {
    switch (span.target_kind) {
      case DepKind::kDatastore: {
        const Datastore& d = world_.datastores[span.target];
        out.append(",\"db\":{\"instance\":");
        AppendJsonString(out, d.name);
        out.append(",\"system\":\"");
        out.append(d.system);
        out.append("\"},\"out\":{\"host\":");
        AppendJsonString(out, d.name);
        out.append("}");
        break;
      }
      case DepKind::kQueue: {
        const Queue& q = world_.queues[span.target];
        out.append(",\"messaging\":{\"destination\":{\"name\":");
        AppendJsonString(out, q.name);
        out.append("},\"system\":\"");
        out.append(q.system);
        out.append("\"}");
        break;
      }
      case DepKind::kExternal:
      case DepKind::kService: {
        const bool rpc =
            span.target_kind == DepKind::kService && span.target_form == TargetForm::kRpcService;
        if (!rpc) {
          out.append(",\"http\":{\"method\":\"");
          out.append(method);
          out.append("\",\"status_code\":\"");
          AppendU64(out, span.http_status);
          out.append("\"");
          std::string_view url;
          if (SpanFieldValue(world_, span, SpanField::kHttpUrl, scratch, &url)) {
            out.append(",\"url\":");
            AppendJsonString(out, url);
          }
          out.append("}");
        }
        if (span.target_kind == DepKind::kService) {
          const std::string& target = world_.services[span.target].name;
          switch (span.target_form) {
            case TargetForm::kPeerService:
              out.append(",\"peer\":{\"service\":");
              AppendJsonString(out, target);
              out.append("}");
              break;
            case TargetForm::kPeerHostname:
              out.append(",\"peer\":{\"hostname\":");
              AppendJsonString(out, TargetText(world_, span));
              out.append("}");
              break;
            case TargetForm::kOutHost:
              out.append(",\"out\":{\"host\":");
              AppendJsonString(out, TargetText(world_, span));
              out.append("}");
              break;
            case TargetForm::kRpcService:
              out.append(",\"rpc\":{\"service\":");
              AppendJsonString(out, target);
              out.append(",\"system\":\"grpc\"}");
              break;
            case TargetForm::kHttpUrl:
              break;
          }
        }
        break;
      }
    }
  }
  out.append(",\"span\":{\"kind\":\"");
  out.append(SpanKindName(span.kind));
  out.append("\"}},\"end_timestamp\":");
  AppendIsoMillis(out, span.start_ns + span.duration_ns);
  out.append(",\"env\":\"");
  out.append(world_.envs[span.env]);
  out.append("\",\"host\":\"");
  out.append(svc.host);
  out.append("\",\"ingestion_reason\":\"");
  out.append(span.retained_by == Retention::kRetentionFilter ? "single_span" : "auto");
  out.append("\",\"parent_id\":");
  AppendU64String(out, span.parent_id);
  out.append(",\"resource_hash\":\"");
  AppendHex16(out, Mix(span.service * 16 + span.resource,
                       span.target * 8 + static_cast<uint64_t>(span.kind)));
  out.append("\",\"resource_name\":");
  AppendJsonString(out, resource);
  out.append(",\"retained_by\":\"");
  out.append(RetentionName(span.retained_by));
  out.append("\",\"service\":");
  out.append(name_json_[span.service]);
  out.append(span.retained_by == Retention::kRetentionFilter
                 ? ",\"single_span\":true,\"span_id\":"
                 : ",\"single_span\":false,\"span_id\":");
  AppendU64String(out, span.span_id);
  out.append(",\"start_timestamp\":");
  AppendIsoMillis(out, span.start_ns);
  out.append(",\"tags\":");
  out.append(tags_json_[key]);
  out.append(",\"trace_id\":");
  AppendU64String(out, span.trace_lo);
  out.append(",\"type\":\"");
  out.append(SpanType(world_, span));
  out.append("\"}}");
}

void SpanRenderer::AppendTraceSpan(std::string& out, const Span& span) const {
  const Service& svc = world_.services[span.service];
  std::string scratch;
  out.append("{\"traceID\":");
  AppendU64(out, span.trace_lo);
  out.append(",\"traceIDFull\":\"");
  AppendHex16(out, span.trace_hi);
  AppendHex16(out, span.trace_lo);
  out.append("\",\"spanID\":");
  AppendU64(out, span.span_id);
  out.append(",\"parentID\":");
  AppendU64(out, span.parent_id);
  out.append(",\"service\":");
  out.append(name_json_[span.service]);
  out.append(",\"name\":\"");
  out.append(OperationName(world_, span));
  out.append("\",\"resource\":");
  AppendJsonString(out, ResourceName(world_, span, scratch));
  out.append(",\"type\":\"");
  out.append(SpanType(world_, span));
  out.append("\",\"startTime\":");
  AppendI64(out, span.start_ns);
  out.append(",\"endTime\":");
  AppendI64(out, span.start_ns + span.duration_ns);
  out.append(",\"duration\":");
  AppendI64(out, span.duration_ns);
  out.append(span.error ? ",\"error\":1,\"meta\":{" : ",\"error\":0,\"meta\":{");
  out.append("\"env\":\"");
  out.append(world_.envs[span.env]);
  out.append("\",\"version\":\"");
  out.append(svc.version);
  out.append("\",\"language\":\"");
  out.append(kSpanLanguages[svc.language]);
  out.append("\",\"span.kind\":\"");
  out.append(SpanKindName(span.kind));
  out.append("\"");
  static constexpr std::pair<SpanField, std::string_view> kMeta[] = {
      {SpanField::kPeerService, "peer.service"},
      {SpanField::kPeerHostname, "peer.hostname"},
      {SpanField::kOutHost, "out.host"},
      {SpanField::kHttpUrl, "http.url"},
      {SpanField::kRpcService, "rpc.service"},
      {SpanField::kDbSystem, "db.system"},
      {SpanField::kMessagingSystem, "messaging.system"},
      {SpanField::kMessagingDestination, "messaging.destination.name"},
      {SpanField::kHttpStatusCode, "http.status_code"},
      {SpanField::kHttpMethod, "http.method"}};
  for (const auto& [field, name] : kMeta) {
    std::string_view v;
    if (SpanFieldValue(world_, span, field, scratch, &v)) {
      out.append(",\"");
      out.append(name);
      out.append("\":");
      AppendJsonString(out, v);
    }
  }
  out.append("},\"metrics\":{\"process_id\":");
  AppendU64(out, Mix(span.service, 3) % 30000 + 100);
  out.append("},\"resourceHash\":\"");
  AppendHex16(out, Mix(span.service * 16 + span.resource,
                       span.target * 8 + static_cast<uint64_t>(span.kind)));
  out.append("\",\"self_time\":");
  AppendI64(out, span.duration_ns / 2);
  out.append(".0,\"restricted\":false}");
}

}  // namespace apmcov::ddsim
