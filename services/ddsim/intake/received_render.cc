#include "ddsim/intake/received_render.h"

#include "ddsim/http/json_writer.h"
#include "ddsim/world/cat.h"
#include "ddsim/world/world.h"
#include "nlohmann/json.hpp"

namespace apmcov::ddsim {
namespace {

using ojson = nlohmann::ordered_json;

// Sets custom[a][b][c] for key "a.b.c"; a key whose path runs into a value already set (meta
// "a" and "a.b") is left out, as one JSON document cannot hold both.
template <typename V>
void SetNested(ojson& root, const std::string& key, const V& value) {
  ojson* node = &root;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part =
        key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) return;
    if (dot == std::string::npos) {
      if (node->contains(part)) return;
      (*node)[part] = value;
      return;
    }
    ojson& child = (*node)[part];
    if (child.is_null()) child = ojson::object();
    if (!child.is_object()) return;
    node = &child;
    start = dot + 1;
  }
}

bool InfraTagKey(std::string_view k) {
  return k.substr(0, 5) == "kube_" || k == "ecs_cluster_name" || k == "task_arn" ||
         k == "function_arn" || k == "aws_lambda" || k == "functionname";
}

uint64_t Hash(std::string_view a, std::string_view b) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (std::string_view s : {a, std::string_view("\x1f"), b}) {
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

void AppendReceivedSpanEvent(std::string& out, const ReceivedSpan& s) {
  ojson custom = ojson::object();
  bool has_error_tag = false;
  for (const auto& [k, v] : s.meta) {
    if (k == "env" || k == "version" || k == "language") continue;  // set below
    has_error_tag |= k.rfind("error.", 0) == 0;
    SetNested(custom, k, v);
  }
  for (const auto& [k, v] : s.metrics) SetNested(custom, k, v);
  if (s.error && !has_error_tag) SetNested(custom, "error.message", std::string("error"));
  custom["duration"] = s.duration_ns;
  custom["env"] = s.env;
  if (!s.language.empty()) custom["language"] = s.language;
  if (!s.version.empty()) custom["version"] = s.version;

  ojson tags = ojson::array({"source:apm", "env:" + s.env, "service:" + s.service});
  if (!s.version.empty()) tags.push_back("version:" + s.version);
  if (!s.language.empty()) tags.push_back("language:" + s.language);
  for (const auto& [k, v] : s.meta) {
    if (InfraTagKey(k)) tags.push_back(k + ":" + v);
  }

  // A 24-character opaque id, like the generated spans' (18 bytes, base64url).
  std::string id;
  {
    static constexpr char kTab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t b[18];
    const uint64_t ms = static_cast<uint64_t>(s.start_ns / 1'000'000);
    for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
    for (int i = 0; i < 8; ++i) b[6 + i] = static_cast<uint8_t>(s.span_id >> (56 - 8 * i));
    const uint64_t h = s.trace_lo * 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 4; ++i) b[14 + i] = static_cast<uint8_t>(h >> (8 * i));
    for (int i = 0; i < 18; i += 3) {
      const uint32_t v = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
      for (int shift : {18, 12, 6, 0}) id.push_back(kTab[(v >> shift) & 63]);
    }
  }

  out.append("{\"id\":\"");
  out.append(id);
  out.append("\",\"type\":\"spans\",\"attributes\":{\"custom\":");
  out.append(custom.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  out.append(",\"end_timestamp\":");
  AppendIsoMillis(out, s.start_ns + s.duration_ns);
  out.append(",\"env\":");
  AppendJsonString(out, s.env);
  out.append(",\"host\":");
  AppendJsonString(out, s.host);
  out.append(",\"ingestion_reason\":\"auto\",\"parent_id\":");
  AppendU64String(out, s.parent_id);
  out.append(",\"resource_hash\":\"");
  AppendHex16(out, Hash(s.service, s.resource));
  out.append("\",\"resource_name\":");
  AppendJsonString(out, s.resource);
  out.append(",\"retained_by\":\"flat_sampled\",\"service\":");
  AppendJsonString(out, s.service);
  out.append(",\"single_span\":false,\"span_id\":");
  AppendU64String(out, s.span_id);
  out.append(",\"start_timestamp\":");
  AppendIsoMillis(out, s.start_ns);
  out.append(",\"tags\":");
  out.append(tags.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  out.append(",\"trace_id\":");
  AppendU64String(out, s.trace_lo);
  out.append(",\"type\":");
  AppendJsonString(out, s.type.empty() ? "custom" : s.type);
  out.append("}}");
}

void AppendReceivedTraceSpan(std::string& out, const ReceivedSpan& s) {
  ojson meta = ojson::object();
  for (const auto& [k, v] : s.meta) meta[k] = v;
  meta["env"] = s.env;
  if (!s.language.empty()) meta["language"] = s.language;
  ojson metrics = ojson::object();
  for (const auto& [k, v] : s.metrics) metrics[k] = v;
  out.append("{\"traceID\":");
  AppendU64(out, s.trace_lo);
  out.append(",\"traceIDFull\":\"");
  AppendHex16(out, s.trace_hi);
  AppendHex16(out, s.trace_lo);
  out.append("\",\"spanID\":");
  AppendU64(out, s.span_id);
  out.append(",\"parentID\":");
  AppendU64(out, s.parent_id);
  out.append(",\"service\":");
  AppendJsonString(out, s.service);
  out.append(",\"name\":");
  AppendJsonString(out, s.name);
  out.append(",\"resource\":");
  AppendJsonString(out, s.resource);
  out.append(",\"type\":");
  AppendJsonString(out, s.type);
  out.append(",\"startTime\":");
  AppendI64(out, s.start_ns);
  out.append(",\"endTime\":");
  AppendI64(out, s.start_ns + s.duration_ns);
  out.append(",\"duration\":");
  AppendI64(out, s.duration_ns);
  out.append(s.error ? ",\"error\":1,\"meta\":" : ",\"error\":0,\"meta\":");
  out.append(meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  out.append(",\"metrics\":");
  out.append(metrics.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  out.append(",\"resourceHash\":\"");
  AppendHex16(out, Hash(s.service, s.resource));
  out.append("\",\"self_time\":");
  AppendI64(out, s.duration_ns);
  out.append(".0,\"restricted\":false}");
}

}  // namespace apmcov::ddsim
