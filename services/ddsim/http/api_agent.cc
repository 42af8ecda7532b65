// The Agent family: a local Datadog Agent's /v0.4/traces intake and /info.
#include "ddsim/http/api.h"
#include "ddsim/http/responses.h"
#include "ddsim/world/cat.h"
#include "nlohmann/json.hpp"

namespace apmcov::ddsim {

using ojson = nlohmann::ordered_json;

HttpResponse DdsimApi::AgentEndpoint(Endpoint endpoint, const HttpRequest& r) {
  switch (endpoint) {
    case Endpoint::kAgentTraces:
      return AgentTraces(r);
    case Endpoint::kAgentInfo:
      return AgentInfo(r);
    default:
      return Legacy(404, "Not Found");
  }
}

HttpResponse DdsimApi::AgentTraces(const HttpRequest& r) {
  if (r.method != "PUT" && r.method != "POST") {
    HttpResponse resp = Legacy(405, "Method Not Allowed: use PUT or POST");
    resp.headers.emplace_back("Allow", "PUT, POST");
    return resp;
  }
  if (const std::string* type = r.Header("content-type")) {
    const std::string media = type->substr(0, type->find(';'));
    if (!media.empty() && media != "application/msgpack") {
      return Legacy(415, "ddsim's Agent intake takes only application/msgpack, got " + media);
    }
  }
  IntakeRequestInfo info;
  if (const std::string* lang = r.Header("datadog-meta-lang")) info.language = *lang;
  info.now_ns = clock_.NowUnixNanos();
  absl::StatusOr<DecodedPayload> payload = DecodeTracesV04(r.body, info);
  if (!payload.ok()) {
    return Legacy(400, Cat("cannot decode the v0.4 trace payload: ",
                           std::string(payload.status().message())));
  }
  ++agent_payloads_;
  agent_traces_ += static_cast<int64_t>(payload->traces);
  agent_spans_ += static_cast<int64_t>(payload->spans.size());
  agent_dropped_spans_ += static_cast<int64_t>(payload->dropped_spans);
  received_.Add(std::move(payload->spans));
  HttpResponse resp;
  // What an Agent answers: the sampling rates it wants, here "keep everything".
  resp.body = R"({"rate_by_service":{"service:,env:":1}})";
  return resp;
}

HttpResponse DdsimApi::AgentInfo(const HttpRequest& r) {
  if (r.method != "GET") return Legacy(405, "Method Not Allowed: use GET");
  HttpResponse resp;
  resp.body = ojson{{"version", "7.0.0-ddsim"},
                    {"git_commit", ""},
                    {"endpoints", ojson::array({"/v0.4/traces", "/info"})},
                    {"feature_flags", ojson::array()},
                    {"client_drop_p0s", false},
                    {"span_meta_structs", false},
                    {"long_running_spans", false},
                    {"config",
                     {{"default_env", "none"},
                      {"max_request_bytes", options_.agent_max_body_bytes},
                      {"receiver_max_spans", options_.agent_max_spans}}}}
                  .dump();
  return resp;
}

}  // namespace apmcov::ddsim
