#include "ddsim/http/api.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "apmcov/base/status.h"
#include "apmcov/base/time.h"
#include "ddsim/http/json_writer.h"
#include "ddsim/intake/received_render.h"
#include "ddsim/traffic/query.h"
#include "ddsim/traffic/span_fields.h"
#include "ddsim/traffic/truth.h"
#include "ddsim/world/cat.h"
#include "nlohmann/json.hpp"

namespace apmcov::ddsim {

using ojson = nlohmann::ordered_json;
using nlohmann::json;

// Spans whose start falls in one second, sorted by (start, span id). Keeps its buckets alive.
struct DdsimApi::Slice {
  std::shared_ptr<const Bucket> prev, cur;
  std::vector<const Span*> spans;
};

namespace {

__extension__ typedef unsigned __int128 Uint128;

constexpr std::string_view kJsonApi = "application/vnd.api+json";
constexpr std::string_view kJson = "application/json";

HttpResponse Legacy(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.content_type = std::string(kJson);
  r.body = json{{"errors", {std::string(message)}}}.dump();
  return r;
}

std::string_view TitleFor(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 422:
      return "Generic Error";
    case 429:
      return "Too Many Requests";
    default:
      return "Error";
  }
}

HttpResponse JsonApiError(int status, std::string_view detail, std::string_view parameter = "") {
  ojson item;
  if (status != 422) item["status"] = std::to_string(status);
  item["title"] = std::string(TitleFor(status));
  item["detail"] = std::string(detail);
  if (!parameter.empty()) item["source"] = {{"parameter", std::string(parameter)}};
  HttpResponse r;
  r.status = status;
  r.content_type = std::string(kJsonApi);
  r.body = ojson{{"errors", ojson::array({item})}}.dump();
  return r;
}

absl::StatusOr<int64_t> ParseInt(std::string_view name, const std::string* v, int64_t def) {
  if (v == nullptr) return def;
  int64_t out = 0;
  auto r = std::from_chars(v->data(), v->data() + v->size(), out);
  if (r.ec != std::errc() || r.ptr != v->data() + v->size()) {
    return absl::InvalidArgumentError(Cat(name, " must be an integer, got \"", *v, "\""));
  }
  return out;
}

void AppendQueryParam(std::string& out, std::string_view key, std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  if (!out.empty()) out.push_back('&');
  auto enc = [&](std::string_view s) {
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
        out.push_back(c);
      } else {
        out.push_back('%');
        out.push_back(kHex[u >> 4]);
        out.push_back(kHex[u & 15]);
      }
    }
  };
  enc(key);
  out.push_back('=');
  enc(value);
}

std::string RequestId(uint64_t seq) {
  std::string raw = Cat("ddsim-request-", seq);
  return Cat("pddv1", Base64Encode(raw));
}

// Service-definition rendering at a schema version.
ojson Contacts(const Service& s) {
  const std::string team = s.team.empty() ? "platform" : s.team;
  return ojson::array(
      {{{"name", "Team Email"}, {"type", "email"}, {"contact", team + "@example.com"}},
       {{"name", "Slack"},
        {"type", "slack"},
        {"contact", "https://example.slack.com/archives/" + team}}});
}

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

std::string EntityUuid(const std::string& id) {
  return Cat(id.substr(0, 8), "-", id.substr(8, 4), "-4", id.substr(13, 3), "-a", id.substr(17, 3),
             "-", id.substr(20, 12));
}

absl::StatusOr<int64_t> ParseInterval(std::string_view s) {
  if (s.size() < 2) return absl::InvalidArgumentError(Cat("bad interval \"", s, "\""));
  int64_t n = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size() - 1, n);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() - 1 || n <= 0) {
    return absl::InvalidArgumentError(Cat("bad interval \"", s, "\""));
  }
  switch (s.back()) {
    case 's':
      return n * 1'000'000'000LL;
    case 'm':
      return n * 60'000'000'000LL;
    case 'h':
      return n * 3'600'000'000'000LL;
    case 'd':
      return n * 86'400'000'000'000LL;
    default:
      return absl::InvalidArgumentError(Cat("bad interval unit in \"", s, "\""));
  }
}

}  // namespace

const std::string* HttpRequest::Query(const std::string& name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return &v;
  }
  return nullptr;
}

const std::string* HttpRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? nullptr : &it->second;
}

absl::StatusOr<int64_t> ParseDatadogTime(std::string_view text, int64_t now_ns) {
  if (text.empty()) return absl::InvalidArgumentError("empty time");
  if (text.substr(0, 3) == "now") {
    std::string_view rest = text.substr(3);
    if (rest.empty()) return now_ns;
    const char sign = rest[0];
    if ((sign != '-' && sign != '+') || rest.size() < 3) {
      return absl::InvalidArgumentError(Cat("bad date math \"", text, "\""));
    }
    int64_t n = 0;
    auto r = std::from_chars(rest.data() + 1, rest.data() + rest.size() - 1, n);
    if (r.ec != std::errc() || r.ptr != rest.data() + rest.size() - 1) {
      return absl::InvalidArgumentError(Cat("bad date math \"", text, "\""));
    }
    int64_t unit;
    switch (rest.back()) {
      case 's':
        unit = 1'000'000'000LL;
        break;
      case 'm':
        unit = 60'000'000'000LL;
        break;
      case 'h':
        unit = 3'600'000'000'000LL;
        break;
      case 'd':
        unit = 86'400'000'000'000LL;
        break;
      case 'w':
        unit = 7 * 86'400'000'000'000LL;
        break;
      default:
        return absl::InvalidArgumentError(Cat("bad date math unit in \"", text, "\""));
    }
    return sign == '-' ? now_ns - n * unit : now_ns + n * unit;
  }
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t ms = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (r.ec != std::errc()) return absl::InvalidArgumentError(Cat("bad epoch ms \"", text, "\""));
    return ms * 1'000'000;
  }
  auto t = ParseRfc3339(text);
  if (!t.ok()) {
    return absl::InvalidArgumentError(
        Cat("time \"", text, "\" is neither ISO 8601, epoch milliseconds nor now-N"));
  }
  return *t;
}

absl::StatusOr<FaultPlan> ParseFaultPlan(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return absl::InvalidArgumentError("fault plan must be a JSON object");
  FaultPlan p;
  try {
    for (auto& [k, v] : j.items()) {
      if (k == "rate_limit_burst")
        p.rate_limit_burst = v.get<int64_t>();
      else if (k == "server_errors")
        p.server_errors = v.get<int64_t>();
      else if (k == "server_error_status")
        p.server_error_status = v.get<int>();
      else if (k == "slow_requests")
        p.slow_requests = v.get<int64_t>();
      else if (k == "slow_ms")
        p.slow_ms = v.get<int64_t>();
      else if (k == "malformed")
        p.malformed = v.get<int64_t>();
      else if (k == "truncated")
        p.truncated = v.get<int64_t>();
      else if (k == "drop")
        p.drop = v.get<int64_t>();
      else if (k == "server_error_rate")
        p.server_error_rate = v.get<double>();
      else if (k == "rate_limit_rate")
        p.rate_limit_rate = v.get<double>();
      else if (k == "malformed_rate")
        p.malformed_rate = v.get<double>();
      else if (k == "slow_rate")
        p.slow_rate = v.get<double>();
      else if (k == "endpoint")
        p.endpoint = v.get<std::string>();
      else if (k == "server_error_at")
        p.server_error_at = v.get<std::vector<int64_t>>();
      else if (k == "rate_limit_at")
        p.rate_limit_at = v.get<std::vector<int64_t>>();
      else if (k == "malformed_at")
        p.malformed_at = v.get<std::vector<int64_t>>();
      else if (k == "drop_at")
        p.drop_at = v.get<std::vector<int64_t>>();
      else
        return absl::InvalidArgumentError(Cat("unknown fault \"", k, "\""));
    }
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(Cat("bad fault plan value: ", e.what()));
  }
  if (p.server_error_status < 500 || p.server_error_status > 599) {
    return absl::InvalidArgumentError("server_error_status must be 5xx");
  }
  if (p.slow_requests > 0 && p.slow_ms <= 0) p.slow_ms = 1000;
  return p;
}

DdsimApi::DdsimApi(const World& world, TrafficOptions traffic, ApiOptions options, Clock& clock)
    : world_(world),
      traffic_(std::move(traffic)),
      options_(std::move(options)),
      clock_(clock),
      renderer_(world),
      limiter_(options_.rate_limits),
      received_(options_.agent_max_spans) {
  for (uint32_t i : world_.catalog_order) catalog_.push_back(&world_.services[i]);
  for (const Service& s : world_.self_services) catalog_.push_back(&s);
}

size_t DdsimApi::MaxBodyBytes(const std::string& path) const {
  return path == "/v0.4/traces" ? options_.agent_max_body_bytes : size_t{1} << 20;
}

std::shared_ptr<const Bucket> DdsimApi::GetBucket(int64_t index) {
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    for (auto it = buckets_.begin(); it != buckets_.end(); ++it) {
      if (it->first == index) {
        buckets_.splice(buckets_.begin(), buckets_, it);
        return it->second;
      }
    }
  }
  auto b = GenerateBucket(world_, traffic_, index);
  std::lock_guard<std::mutex> lock(cache_mu_);
  buckets_.emplace_front(index, b);
  while (buckets_.size() > options_.bucket_cache) buckets_.pop_back();
  return b;
}

std::shared_ptr<const Bucket> DdsimApi::PeekBucket(int64_t index) {
  std::lock_guard<std::mutex> lock(cache_mu_);
  for (const auto& [i, b] : buckets_) {
    if (i == index) return b;
  }
  return nullptr;
}

std::shared_ptr<const DdsimApi::Slice> DdsimApi::GetSlice(int64_t index) {
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    for (auto it = slices_.begin(); it != slices_.end(); ++it) {
      if (it->first == index) {
        slices_.splice(slices_.begin(), slices_, it);
        return it->second;
      }
    }
  }
  auto s = std::make_shared<Slice>();
  s->prev = GetBucket(index - 1);
  s->cur = GetBucket(index);
  const int64_t lo = index * kBucketNanos, hi = lo + kBucketNanos;
  for (const auto* b : {s->prev.get(), s->cur.get()}) {
    for (const Span& sp : b->spans) {
      if (sp.start_ns >= lo && sp.start_ns < hi) s->spans.push_back(&sp);
    }
  }
  std::sort(s->spans.begin(), s->spans.end(), [](const Span* a, const Span* b) {
    return a->start_ns != b->start_ns ? a->start_ns < b->start_ns : a->span_id < b->span_id;
  });
  std::lock_guard<std::mutex> lock(cache_mu_);
  slices_.emplace_front(index, s);
  while (slices_.size() > options_.bucket_cache / 2 + 1) slices_.pop_back();
  return s;
}

std::string DdsimApi::EndpointName(const std::string& method, const std::string& path) {
  // The Agent intake, whatever the method (a wrong one answers 405).
  if (path == "/v0.4/traces") return "agent_traces";
  if (path == "/info") return "agent_info";
  if (std::string s = ScorecardEndpoints::EndpointName(method, path); !s.empty()) return s;
  if (method == "GET") {
    if (path == "/api/v1/validate") return "validate";
    if (path == "/api/v2/services/definitions") return "service_definitions";
    if (path.rfind("/api/v2/services/definitions/", 0) == 0) return "service_definition";
    if (path == "/api/v2/catalog/entity") return "catalog_entity";
    if (path == "/api/v2/apm/services") return "apm_services";
    if (path == "/api/v2/spans/events") return "spans_list";
    if (path.rfind("/api/v2/trace/", 0) == 0) return "trace";
  } else if (method == "POST") {
    if (path == "/api/v2/spans/events/search") return "spans_search";
    if (path == "/api/v2/spans/analytics/aggregate") return "spans_aggregate";
  }
  return "";
}

void DdsimApi::SetFaults(const FaultPlan& plan) {
  std::lock_guard<std::mutex> lock(faults_mu_);
  faults_ = plan;
  fault_seq_ = 0;
  limiter_.ForceExhausted(0);
}

std::map<std::string, std::map<int, int64_t>> DdsimApi::RequestCounts() {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

std::string DdsimApi::StatsJson() {
  std::lock_guard<std::mutex> lock(stats_mu_);
  json j;
  json req = json::object();
  int64_t total = 0;
  for (const auto& [ep, by_status] : stats_) {
    json e = json::object();
    int64_t n = 0;
    for (const auto& [st, c] : by_status) {
      e[std::to_string(st)] = c;
      n += c;
    }
    req[ep] = {{"total", n}, {"by_status", e}};
    if (ep.rfind("_ddsim", 0) != 0 && ep.rfind("agent_", 0) != 0) total += n;
  }
  j["requests"] = req;
  j["api_requests_total"] = total;
  j["spans_served"] = spans_served_.load();
  j["agent"] = {
      {"payloads", agent_payloads_.load()},    {"traces_received", agent_traces_.load()},
      {"spans_received", agent_spans_.load()}, {"spans_dropped", agent_dropped_spans_.load()},
      {"spans_held", received_.size()},        {"spans_evicted", received_.evicted()}};
  return j.dump();
}

HttpResponse DdsimApi::Handle(const HttpRequest& r) {
  const uint64_t seq = ++request_seq_;
  (void)seq;
  std::string endpoint = EndpointName(r.method, r.path);
  HttpResponse resp;
  if (r.path.rfind("/_ddsim/", 0) == 0 || r.path.rfind("/__", 0) == 0) {
    const std::string& p = r.path;
    if (p == "/_ddsim/ground-truth" || p == "/__truth") {
      resp = GroundTruth(r);
    } else if (p == "/_ddsim/scorecards") {
      resp.body = scorecards_.ReceivedJson();
    } else if (p == "/_ddsim/faults") {
      resp = Faults(r);
    } else if (p == "/_ddsim/stats" || p == "/__stats") {
      resp.body = StatsJson();
    } else {
      resp = Legacy(404, "Not Found");
    }
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_["_ddsim"][resp.status];
    return resp;
  }
  if (endpoint.empty()) {
    resp = Legacy(404, "Not Found");
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_["unknown"][resp.status];
    return resp;
  }
  if (endpoint == "agent_traces" || endpoint == "agent_info") {
    // A local Agent: no keys, no rate limits, and the API's injected faults do not apply.
    resp = endpoint == "agent_traces" ? AgentTraces(r) : AgentInfo(r);
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_[endpoint][resp.status];
    return resp;
  }

  // Faults first: they model the server misbehaving before it looks at the request.
  bool malformed = false, truncated = false;
  int64_t delay = 0;
  bool forced_429 = false;
  {
    std::lock_guard<std::mutex> lock(faults_mu_);
    FaultPlan& f = faults_;
    if (f.endpoint.empty() || f.endpoint == endpoint ||
        (f.endpoint == "service_definitions" && endpoint == "service_definition")) {
      const int64_t seq = ++fault_seq_;
      auto at = [seq](const std::vector<int64_t>& v) {
        return std::find(v.begin(), v.end(), seq) != v.end();
      };
      if (f.drop > 0 || at(f.drop_at)) {
        if (f.drop > 0) --f.drop;
        resp.drop_connection = true;
      } else if (f.server_errors > 0 || at(f.server_error_at) ||
                 (f.server_error_rate > 0 && fault_rng_.Chance(f.server_error_rate))) {
        if (f.server_errors > 0) --f.server_errors;
        resp = Legacy(f.server_error_status, "Internal Server Error");
      } else if (f.rate_limit_burst > 0 || at(f.rate_limit_at) ||
                 (f.rate_limit_rate > 0 && fault_rng_.Chance(f.rate_limit_rate))) {
        if (f.rate_limit_burst > 0) --f.rate_limit_burst;
        forced_429 = true;
      }
      if (at(f.malformed_at)) malformed = true;
      if (f.slow_requests > 0 || (f.slow_rate > 0 && fault_rng_.Chance(f.slow_rate))) {
        if (f.slow_requests > 0) --f.slow_requests;
        delay = f.slow_ms > 0 ? f.slow_ms : 1000;
      }
      if (f.malformed > 0 || (f.malformed_rate > 0 && fault_rng_.Chance(f.malformed_rate))) {
        if (f.malformed > 0) --f.malformed;
        malformed = true;
      } else if (f.truncated > 0) {
        --f.truncated;
        truncated = true;
      }
    }
  }
  if (!resp.drop_connection && resp.status == 200) {
    // Keys: DD-API-KEY everywhere, DD-APPLICATION-KEY everywhere but /api/v1/validate.
    const std::string* api = r.Header("dd-api-key");
    const std::string* app = r.Header("dd-application-key");
    if (api == nullptr || api->empty()) {
      resp = Legacy(403, "API key required");
    } else if (!options_.api_key.empty() && *api != options_.api_key) {
      resp = Legacy(403, "Forbidden");
    } else if (endpoint != "validate" &&
               (app == nullptr || app->empty() ||
                (!options_.app_key.empty() && *app != options_.app_key))) {
      resp = Legacy(403, "Forbidden");
    } else {
      const std::string bucket =
          endpoint == "service_definition" ? "service_definitions" : endpoint;
      const int64_t now_s = clock_.NowUnixNanos() / kBucketNanos;
      RateDecision d = limiter_.Acquire(bucket, now_s);
      if (forced_429) {
        d.allowed = false;
        d.remaining = 0;
      }
      if (!d.allowed) {
        resp = (endpoint == "spans_list" || endpoint == "spans_search")
                   ? JsonApiError(429, "Too many requests")
                   : Legacy(429, "Too many requests");
      } else {
        resp = Route(r, endpoint);
      }
      resp.headers.emplace_back("X-RateLimit-Limit", std::to_string(d.limit));
      resp.headers.emplace_back("X-RateLimit-Period", std::to_string(d.period_s));
      resp.headers.emplace_back("X-RateLimit-Remaining", std::to_string(d.remaining));
      resp.headers.emplace_back("X-RateLimit-Reset", std::to_string(d.reset_s));
      resp.headers.emplace_back("X-RateLimit-Name", d.name);
    }
  }
  resp.delay_ms = delay;
  if (malformed && !resp.body.empty()) {
    resp.body =
        "{\"data\": [{\"id\": \"AAAA\", \"type\": \"spans\", \"attributes\": {\"service\": ";
  } else if (truncated && resp.body.size() > 1) {
    resp.body.resize(resp.body.size() / 2);
  }
  std::lock_guard<std::mutex> lock(stats_mu_);
  ++stats_[endpoint][resp.drop_connection ? 0 : resp.status];
  return resp;
}

HttpResponse DdsimApi::Route(const HttpRequest& r, const std::string& endpoint) {
  if (endpoint == "validate") return Validate(r);
  if (endpoint == "service_definitions") return ServiceDefinitions(r);
  if (endpoint == "service_definition") {
    return ServiceDefinition(
        r, r.path.substr(std::string_view("/api/v2/services/definitions/").size()));
  }
  if (endpoint == "catalog_entity") return CatalogEntities(r);
  if (endpoint == "apm_services") return ApmServices(r);
  if (endpoint == "spans_list") return SpansList(r);
  if (endpoint == "spans_search") return SpansSearch(r);
  if (endpoint == "spans_aggregate") return SpansAggregate(r);
  if (endpoint == "trace")
    return Trace(r, r.path.substr(std::string_view("/api/v2/trace/").size()));
  if (endpoint.rfind("scorecard_", 0) == 0) return scorecards_.Handle(r, endpoint);
  return Legacy(404, "Not Found");
}

HttpResponse DdsimApi::Validate(const HttpRequest&) {
  HttpResponse r;
  r.body = "{\"valid\":true}";
  return r;
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
    const Service& s = *matching[i];
    ojson attrs = {{"apiVersion", s.schema_version == "v1" ? "v2" : s.schema_version},
                   {"displayName", s.name},
                   {"kind", "service"},
                   {"name", s.name},
                   {"namespace", "default"}};
    if (!s.team.empty()) attrs["owner"] = s.team;
    attrs["tags"] = CatalogTags(world_, s);
    const std::string when = FormatRfc3339(s.modified_unix_s * 1'000'000'000LL);
    data.push_back({{"id", EntityUuid(s.id)},
                    {"type", "entity"},
                    {"attributes", attrs},
                    {"meta",
                     {{"createdAt", when},
                      {"modifiedAt", when},
                      {"ingestionSource", "api"},
                      {"origin", "unknown"}}}});
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

HttpResponse DdsimApi::SpansList(const HttpRequest& r) {
  const int64_t now = clock_.NowUnixNanos();
  SpanPageRequest p;
  if (const std::string* q = r.Query("filter[query]")) {
    p.query_text = *q;
    p.query_given = true;
  } else {
    p.query_text = "*";
  }
  const std::string* from = r.Query("filter[from]");
  const std::string* to = r.Query("filter[to]");
  auto f = ParseDatadogTime(from ? *from : "now-15m", now);
  if (!f.ok()) return JsonApiError(400, std::string(f.status().message()), "filter[from]");
  auto t = ParseDatadogTime(to ? *to : "now", now);
  if (!t.ok()) return JsonApiError(400, std::string(t.status().message()), "filter[to]");
  p.from_ns = *f / 1'000'000 * 1'000'000;
  p.to_ns = *t / 1'000'000 * 1'000'000;
  if (const std::string* s = r.Query("sort")) {
    if (*s != "timestamp" && *s != "-timestamp") {
      return JsonApiError(400, "sort must be timestamp or -timestamp", "sort");
    }
    p.ascending = *s == "timestamp";
    p.sort_given = true;
  }
  auto limit = ParseInt("page[limit]", r.Query("page[limit]"), 10);
  if (!limit.ok()) return JsonApiError(400, std::string(limit.status().message()), "page[limit]");
  p.limit = *limit;
  if (const std::string* c = r.Query("page[cursor]")) p.cursor = *c;
  const std::string* host = r.Header("host");
  p.host = host ? *host : "127.0.0.1";
  return SpanPage(p);
}

HttpResponse DdsimApi::SpansSearch(const HttpRequest& r) {
  const int64_t now = clock_.NowUnixNanos();
  json body = json::parse(r.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return JsonApiError(400, "request body is not valid JSON");
  SpanPageRequest p;
  p.post = true;
  p.query_given = true;
  p.query_text = "*";
  std::string from = "now-15m", to = "now";
  try {
    const json& attrs = body.at("data").at("attributes");
    if (attrs.contains("filter")) {
      const json& f = attrs["filter"];
      if (f.contains("query")) p.query_text = f["query"].get<std::string>();
      if (f.contains("from")) from = f["from"].get<std::string>();
      if (f.contains("to")) to = f["to"].get<std::string>();
    }
    if (attrs.contains("sort")) {
      const std::string s = attrs["sort"].get<std::string>();
      if (s != "timestamp" && s != "-timestamp")
        return JsonApiError(400, "sort must be timestamp or -timestamp");
      p.ascending = s == "timestamp";
      p.sort_given = true;
    }
    if (attrs.contains("page")) {
      const json& pg = attrs["page"];
      if (pg.contains("limit")) p.limit = pg["limit"].get<int64_t>();
      if (pg.contains("cursor")) p.cursor = pg["cursor"].get<std::string>();
    }
  } catch (const json::exception& e) {
    return JsonApiError(400, Cat("invalid search request: ", e.what()));
  }
  auto f = ParseDatadogTime(from, now);
  if (!f.ok()) return JsonApiError(400, std::string(f.status().message()));
  auto t = ParseDatadogTime(to, now);
  if (!t.ok()) return JsonApiError(400, std::string(t.status().message()));
  p.from_ns = *f / 1'000'000 * 1'000'000;
  p.to_ns = *t / 1'000'000 * 1'000'000;
  const std::string* host = r.Header("host");
  p.host = host ? *host : "127.0.0.1";
  return SpanPage(p);
}

HttpResponse DdsimApi::SpanPage(const SpanPageRequest& p) {
  const auto t0 = std::chrono::steady_clock::now();
  if (p.limit > 1000)
    return JsonApiError(400, "page[limit] must be less than or equal to 1000", "page[limit]");
  if (p.limit < 1) return JsonApiError(400, "page[limit] must be at least 1", "page[limit]");
  if (p.from_ns > p.to_ns) {
    return JsonApiError(
        422,
        "invalid_argument(Field 'filter.from,to' is invalid: 'from' should be anterior to 'to')");
  }
  auto query = SpanQuery::Parse(p.query_text);
  if (!query.ok()) return JsonApiError(400, std::string(query.status().message()), "filter[query]");

  const int64_t now = clock_.NowUnixNanos();
  const int64_t lo = std::max(p.from_ns, traffic_.traffic_start_ns);
  const int64_t hi = std::min(p.to_ns, now + 1);  // spans that started by now
  const int64_t range_lo = lo / kBucketNanos, range_hi = (hi - 1) / kBucketNanos;
  // Seconds to read: of generated spans [g_lo, g_hi], of received spans [r_lo, r_hi].
  int64_t g_lo = range_lo, g_hi = range_hi;
  const bool with_received = !received_.empty();
  int64_t r_lo = range_lo, r_hi = with_received ? range_hi : range_lo - 1;
  if (query->trace_id()) {
    auto d = DecodeTraceId(traffic_.seed, *query->trace_id());
    if (!d) {
      g_hi = g_lo - 1;
    } else {
      g_lo = std::max(g_lo, d->bucket);
      g_hi = std::min(g_hi, d->bucket + 1);
    }
    r_hi = r_lo - 1;
    if (with_received) {
      const std::vector<int64_t> secs = received_.SecondsOfTrace(*query->trace_id());
      if (!secs.empty()) {
        r_lo = std::max(range_lo, secs.front());
        r_hi = std::min(range_hi, secs.back());
      }
    }
  }
  int64_t s_lo = g_lo, s_hi = g_hi;
  if (r_lo <= r_hi) {
    s_lo = g_lo <= g_hi ? std::min(g_lo, r_lo) : r_lo;
    s_hi = g_lo <= g_hi ? std::max(g_hi, r_hi) : r_hi;
  }
  // Cursor: base64 JSON {"after":"<slice>:<pos>:<a|d>","values":[...]} (opaque to clients).
  int64_t slice = p.ascending ? s_lo : s_hi;
  int64_t pos = 0;
  if (!p.cursor.empty()) {
    std::string raw;
    json c;
    if (Base64Decode(p.cursor, &raw)) c = json::parse(raw, nullptr, false);
    bool ok = c.is_object() && c.contains("after") && c["after"].is_string();
    if (ok) {
      const std::string after = c["after"].get<std::string>();
      long long a = 0, b = 0;
      char dir = 0;
      ok = std::sscanf(after.c_str(), "%lld:%lld:%c", &a, &b, &dir) == 3 && b >= 0 &&
           (dir == 'a') == p.ascending;
      slice = a;
      pos = b;
    }
    if (!ok) return JsonApiError(400, "invalid page[cursor]", "page[cursor]");
  }

  std::string out;
  out.reserve(static_cast<size_t>(p.limit) * 1400 + 512);
  out.append("{\"data\":[");
  int64_t n = 0;
  int64_t last_start = 0;
  bool full = false;
  // A second's spans in one order, generated and received: by (start, span id).
  struct Entry {
    const Span* generated;
    const ReceivedSpan* received;
  };
  std::vector<Entry> merged;
  while (!full && (p.ascending ? slice <= s_hi : slice >= s_lo)) {
    std::shared_ptr<const Slice> sl;
    if (slice >= g_lo && slice <= g_hi) sl = GetSlice(slice);
    ReceivedStore::SecondSpans rs;
    if (slice >= r_lo && slice <= r_hi) rs = received_.Second(slice);
    merged.clear();
    if (rs != nullptr) {
      const size_t gn = sl != nullptr ? sl->spans.size() : 0;
      size_t gi = 0, ri = 0;
      while (gi < gn || ri < rs->size()) {
        const bool take_generated =
            ri == rs->size() || (gi < gn && (sl->spans[gi]->start_ns != (*rs)[ri].start_ns
                                                 ? sl->spans[gi]->start_ns < (*rs)[ri].start_ns
                                                 : sl->spans[gi]->span_id <= (*rs)[ri].span_id));
        merged.push_back(take_generated ? Entry{sl->spans[gi++], nullptr}
                                        : Entry{nullptr, &(*rs)[ri++]});
      }
    }
    const int64_t size = rs != nullptr   ? static_cast<int64_t>(merged.size())
                         : sl != nullptr ? static_cast<int64_t>(sl->spans.size())
                                         : 0;
    for (; pos < size; ++pos) {
      const int64_t at = p.ascending ? pos : size - 1 - pos;
      const Span* sp = rs == nullptr ? sl->spans[at] : merged[at].generated;
      if (sp != nullptr) {
        if (sp->start_ns < lo || sp->start_ns >= hi) continue;
        if (!query->Matches(world_, *sp)) continue;
        if (n > 0) out.push_back(',');
        renderer_.AppendSpanEvent(out, *sp);
        last_start = sp->start_ns;
      } else {
        const ReceivedSpan& rsp = *merged[at].received;
        if (rsp.start_ns < lo || rsp.start_ns >= hi) continue;
        if (!query->MatchesFields([&rsp](SpanField f, std::string& sc, std::string_view* v) {
              return ReceivedFieldValue(rsp, f, sc, v);
            })) {
          continue;
        }
        if (n > 0) out.push_back(',');
        AppendReceivedSpanEvent(out, rsp);
        last_start = rsp.start_ns;
      }
      if (++n == p.limit) {
        ++pos;
        full = true;
        break;
      }
    }
    if (!full) {
      slice += p.ascending ? 1 : -1;
      pos = 0;
    }
  }
  HttpResponse resp;
  if (n == 0) {
    if (p.post) resp.content_type = std::string(kJsonApi);
    resp.body = "{\"data\":[]}";
    return resp;
  }
  spans_served_ += n;
  std::string cursor_json =
      Cat("{\"after\":\"", slice, ":", pos, ":", p.ascending ? "a" : "d", "\",\"values\":[");
  AppendIsoMillis(cursor_json, last_start);
  Append(cursor_json, ",", n, "]}");
  const std::string cursor = Base64Encode(cursor_json);
  const int64_t elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  out.append("],\"meta\":{\"elapsed\":");
  AppendI64(out, elapsed);
  out.append(",\"request_id\":\"");
  out.append(RequestId(request_seq_.load()));
  out.append("\",\"status\":\"done\",\"page\":{\"after\":\"");
  out.append(cursor);
  out.append("\"}},\"links\":{\"next\":");
  std::string q;
  AppendQueryParam(q, "filter[from]", std::to_string(p.from_ns / 1'000'000));
  if (p.query_given) AppendQueryParam(q, "filter[query]", p.query_text);
  AppendQueryParam(q, "filter[to]", std::to_string(p.to_ns / 1'000'000));
  AppendQueryParam(q, "page[cursor]", cursor);
  AppendQueryParam(q, "page[limit]", std::to_string(p.limit));
  if (p.sort_given) AppendQueryParam(q, "sort", p.ascending ? "timestamp" : "-timestamp");
  AppendJsonString(out, Cat("http://", p.host, "/api/v2/spans/events?", q));
  out.append("}}");
  resp.content_type = std::string(kJsonApi);
  resp.body = std::move(out);
  return resp;
}

HttpResponse DdsimApi::SpansAggregate(const HttpRequest& r) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t now = clock_.NowUnixNanos();
  json body = json::parse(r.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return Legacy(400, "request body is not valid JSON");
  std::string query_text = "*", from = "now-15m", to = "now";
  struct Compute {
    bool timeseries = false;
    int64_t interval_ns = 0;
  };
  std::vector<Compute> computes;
  struct GroupBy {
    SpanField field;
    std::string facet;
    int64_t limit = 10;
    bool desc = true;
    bool alphabetical = false;
    std::optional<std::string> missing;
  };
  std::vector<GroupBy> groups;
  try {
    const json& attrs = body.at("data").at("attributes");
    if (attrs.contains("filter")) {
      const json& f = attrs["filter"];
      if (f.contains("query")) query_text = f["query"].get<std::string>();
      if (f.contains("from")) from = f["from"].get<std::string>();
      if (f.contains("to")) to = f["to"].get<std::string>();
    }
    if (attrs.contains("compute")) {
      for (const json& c : attrs["compute"]) {
        const std::string agg = c.value("aggregation", "count");
        if (agg != "count")
          return Legacy(400, "ddsim supports only the count aggregation, got " + agg);
        Compute cp;
        if (c.value("type", "total") == "timeseries") {
          cp.timeseries = true;
          auto iv = ParseInterval(c.value("interval", "5m"));
          if (!iv.ok()) return Legacy(400, std::string(iv.status().message()));
          cp.interval_ns = *iv;
        }
        computes.push_back(cp);
      }
    }
    if (attrs.contains("group_by")) {
      for (const json& g : attrs["group_by"]) {
        GroupBy gb;
        gb.facet = g.at("facet").get<std::string>();
        gb.field = ParseSpanField(gb.facet);
        if (gb.field == SpanField::kUnknown)
          return Legacy(400, "unknown group_by facet " + gb.facet);
        gb.limit = g.value("limit", int64_t{10});
        if (gb.limit < 1 || gb.limit > 1000000)
          return Legacy(400, "group_by limit must be between 1 and 1000000");
        if (g.contains("missing"))
          gb.missing =
              g["missing"].is_string() ? g["missing"].get<std::string>() : g["missing"].dump();
        if (g.contains("sort")) {
          gb.desc = g["sort"].value("order", "desc") != "asc";
          gb.alphabetical = g["sort"].value("type", "measure") == "alphabetical";
        }
        groups.push_back(gb);
      }
    }
  } catch (const json::exception& e) {
    return Legacy(400, Cat("invalid aggregate request: ", e.what()));
  }
  if (computes.empty()) computes.push_back({});
  auto f = ParseDatadogTime(from, now);
  if (!f.ok()) return Legacy(400, std::string(f.status().message()));
  auto t = ParseDatadogTime(to, now);
  if (!t.ok()) return Legacy(400, std::string(t.status().message()));
  if (*f > *t) return Legacy(400, "'from' should be anterior to 'to'");
  auto query = SpanQuery::Parse(query_text);
  if (!query.ok()) return Legacy(400, std::string(query.status().message()));

  const int64_t lo = std::max(*f, traffic_.traffic_start_ns), hi = std::min(*t, now + 1);
  struct Counts {
    int64_t total = 0;
    std::map<int64_t, int64_t> by_time[4];
  };
  std::map<std::vector<std::string>, Counts> counts;
  bool timeout = false;
  std::string scratch;
  std::vector<std::string> key(groups.size());
  // Counts one matching span; `value(field, scratch, &out)` reads its fields.
  auto tally = [&](int64_t start_ns, const auto& value) {
    for (size_t g = 0; g < groups.size(); ++g) {
      std::string_view v;
      if (value(groups[g].field, scratch, &v)) {
        key[g].assign(v);
      } else if (groups[g].missing) {
        key[g] = *groups[g].missing;
      } else {
        return;
      }
    }
    Counts& ct = counts[key];
    ++ct.total;
    for (size_t ci = 0; ci < computes.size() && ci < 4; ++ci) {
      if (computes[ci].timeseries) {
        ++ct.by_time[ci][start_ns / computes[ci].interval_ns * computes[ci].interval_ns];
      }
    }
  };
  // Each bucket once: a trace's spans start in its own bucket or the next one.
  for (int64_t s = lo / kBucketNanos - 1; s <= (hi - 1) / kBucketNanos && lo < hi; ++s) {
    if (std::chrono::steady_clock::now() - t0 >
        std::chrono::milliseconds(options_.aggregate_budget_ms)) {
      timeout = true;
      break;
    }
    // Long aggregates must not evict the buckets span paging is working through.
    auto c = PeekBucket(s);
    if (c == nullptr) c = GenerateBucket(world_, traffic_, s);
    for (const auto* bk : {c.get()}) {
      for (const Span& sp : bk->spans) {
        if (sp.start_ns < lo || sp.start_ns >= hi) continue;
        if (!query->Matches(world_, sp)) continue;
        tally(sp.start_ns, [&](SpanField f, std::string& sc, std::string_view* v) {
          return SpanFieldValue(world_, sp, f, sc, v);
        });
      }
    }
  }
  // Spans the Agent intake received count like generated ones.
  if (!received_.empty() && lo < hi) {
    for (const auto& [second, spans] :
         received_.Range(lo / kBucketNanos, (hi - 1) / kBucketNanos)) {
      for (const ReceivedSpan& rsp : *spans) {
        if (rsp.start_ns < lo || rsp.start_ns >= hi) continue;
        auto value = [&rsp](SpanField f, std::string& sc, std::string_view* v) {
          return ReceivedFieldValue(rsp, f, sc, v);
        };
        if (!query->MatchesFields(value)) continue;
        tally(rsp.start_ns, value);
      }
    }
  }
  // Per-level top-N: keep a group when each prefix is within its level's limit.
  std::vector<std::pair<std::vector<std::string>, const Counts*>> rows;
  for (const auto& [k, v] : counts) rows.emplace_back(k, &v);
  std::vector<std::pair<std::vector<std::string>, const Counts*>> kept;
  std::function<void(size_t, const std::vector<size_t>&)> select =
      [&](size_t level, const std::vector<size_t>& idx) {
        if (level == groups.size()) {
          for (size_t i : idx) kept.push_back(rows[i]);
          return;
        }
        std::map<std::string, std::pair<int64_t, std::vector<size_t>>> by_value;
        for (size_t i : idx) {
          auto& e = by_value[rows[i].first[level]];
          e.first += rows[i].second->total;
          e.second.push_back(i);
        }
        std::vector<std::pair<std::string, std::pair<int64_t, std::vector<size_t>>>> vals(
            by_value.begin(), by_value.end());
        const GroupBy& gb = groups[level];
        std::stable_sort(vals.begin(), vals.end(), [&](const auto& a, const auto& b) {
          if (gb.alphabetical) return gb.desc ? a.first > b.first : a.first < b.first;
          return gb.desc ? a.second.first > b.second.first : a.second.first < b.second.first;
        });
        for (size_t v = 0; v < vals.size() && static_cast<int64_t>(v) < gb.limit; ++v)
          select(level + 1, vals[v].second.second);
      };
  std::vector<size_t> all(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) all[i] = i;
  if (groups.empty() && rows.empty()) {
    static const Counts kEmpty;
    rows.emplace_back(std::vector<std::string>{}, &kEmpty);
    all = {0};
  }
  select(0, all);

  std::string out = "{\"data\":[";
  for (size_t i = 0; i < kept.size(); ++i) {
    const auto& [k, c] = kept[i];
    if (i > 0) out.push_back(',');
    std::string id_src = Cat(world_.options.seed);
    for (const auto& part : k) Append(id_src, "|", part);
    const uint64_t h1 = MixSeed(std::hash<std::string>{}(id_src), 1), h2 = MixSeed(h1, 2);
    const std::string hex = absl::StrFormat("%016x%016x", h1, h2);
    out.append("{\"type\":\"bucket\",\"id\":\"");
    out.append(EntityUuid(hex));
    out.append("\",\"attributes\":{\"compute\":{");
    for (size_t ci = 0; ci < computes.size(); ++ci) {
      if (ci > 0) out.push_back(',');
      Append(out, "\"c", ci, "\":");
      if (!computes[ci].timeseries || ci >= 4) {
        AppendI64(out, c->total);
        continue;
      }
      out.push_back('[');
      const int64_t iv = computes[ci].interval_ns;
      bool first = true;
      for (int64_t ts = *f / iv * iv; ts < *t; ts += iv) {
        auto it = c->by_time[ci].find(ts);
        if (!first) out.push_back(',');
        first = false;
        out.append("{\"time\":");
        AppendIsoMillis(out, ts);
        out.append(",\"value\":");
        AppendI64(out, it == c->by_time[ci].end() ? 0 : it->second);
        out.push_back('}');
      }
      out.push_back(']');
    }
    out.append("},\"by\":{");
    for (size_t g = 0; g < groups.size(); ++g) {
      if (g > 0) out.push_back(',');
      AppendJsonString(out, groups[g].facet);
      out.push_back(':');
      AppendJsonString(out, k[g]);
    }
    out.append("}}}");
  }
  const int64_t elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  Append(out, "],\"meta\":{\"elapsed\":", elapsed, ",\"request_id\":\"",
         RequestId(request_seq_.load()), "\",\"status\":\"", timeout ? "timeout" : "done", "\"}}");
  HttpResponse resp;
  resp.body = std::move(out);
  return resp;
}

HttpResponse DdsimApi::Trace(const HttpRequest&, const std::string& id) {
  uint64_t lo = 0, hi = 0;
  bool ok = !id.empty();
  bool has_hi = false;
  if (id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c));
      })) {
    ok = std::from_chars(id.data(), id.data() + 16, hi, 16).ec == std::errc() &&
         std::from_chars(id.data() + 16, id.data() + 32, lo, 16).ec == std::errc();
    has_hi = true;
  } else if (id.size() <= 39 &&
             std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    Uint128 v = 0;
    for (char c : id) v = v * 10 + static_cast<unsigned>(c - '0');
    lo = static_cast<uint64_t>(v);
    hi = static_cast<uint64_t>(v >> 64);
    has_hi = hi != 0;
  } else {
    ok = false;
  }
  if (!ok)
    return JsonApiError(400, "trace_id must be 32 hex characters or a decimal of up to 39 digits");
  auto d = DecodeTraceId(traffic_.seed, lo);
  const int64_t now = clock_.NowUnixNanos();
  if (d) {
    auto b = GetBucket(d->bucket);
    if (d->index < b->traces.size() && b->traces[d->index].trace_lo == lo &&
        (!has_hi || b->traces[d->index].trace_hi == hi) && b->traces[d->index].start_ns <= now) {
      const TraceTruth& t = b->traces[d->index];
      std::string out = "{\"data\":{\"type\":\"trace\",\"id\":\"";
      AppendHex16(out, t.trace_hi);
      AppendHex16(out, t.trace_lo);
      out.append("\",\"attributes\":{\"is_truncated\":false,\"spans\":[");
      bool first = true;
      for (uint32_t i = t.first_span; i < t.first_span + t.span_count; ++i) {
        if (b->spans[i].start_ns > now) continue;
        if (!first) out.push_back(',');
        first = false;
        renderer_.AppendTraceSpan(out, b->spans[i]);
      }
      out.append("]}}}");
      HttpResponse resp;
      resp.body = std::move(out);
      return resp;
    }
  }
  return ReceivedTrace(lo, hi, has_hi);
}

HttpResponse DdsimApi::ReceivedTrace(uint64_t lo, uint64_t hi, bool has_hi) {
  const int64_t now = clock_.NowUnixNanos();
  std::vector<ReceivedStore::SecondSpans> seconds;
  std::vector<const ReceivedSpan*> spans;
  uint64_t high = 0;
  for (int64_t second : received_.SecondsOfTrace(lo)) {
    ReceivedStore::SecondSpans ss = received_.Second(second);
    if (ss == nullptr) continue;
    for (const ReceivedSpan& s : *ss) {
      if (s.trace_lo != lo || s.start_ns > now) continue;
      spans.push_back(&s);
      high = std::max(high, s.trace_hi);
    }
    seconds.push_back(std::move(ss));
  }
  if (spans.empty() || (has_hi && high != 0 && high != hi)) {
    return JsonApiError(404, "trace not found");
  }
  std::string out = "{\"data\":{\"type\":\"trace\",\"id\":\"";
  AppendHex16(out, high);
  AppendHex16(out, lo);
  out.append("\",\"attributes\":{\"is_truncated\":false,\"spans\":[");
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendReceivedTraceSpan(out, *spans[i]);
  }
  out.append("]}}}");
  HttpResponse resp;
  resp.body = std::move(out);
  return resp;
}

HttpResponse DdsimApi::GroundTruth(const HttpRequest& r) {
  if (r.method != "GET") return Legacy(405, "Method Not Allowed");
  const int64_t now = clock_.NowUnixNanos();
  TruthRequest req;
  const std::string* from = r.Query("from");
  const std::string* to = r.Query("to");
  if (from) {
    auto f = ParseDatadogTime(*from, now);
    if (!f.ok()) return Legacy(400, std::string(f.status().message()));
    req.from_ns = *f;
  } else {
    req.from_ns = traffic_.traffic_start_ns;
  }
  if (to) {
    auto t = ParseDatadogTime(*to, now);
    if (!t.ok()) return Legacy(400, std::string(t.status().message()));
    req.to_ns = *t;
  } else {
    req.to_ns = now;
  }
  if (req.from_ns > req.to_ns) return Legacy(400, "from must not be after to");
  if (req.to_ns - req.from_ns > 7 * 86'400'000'000'000LL)
    return Legacy(400, "range longer than 7 days");
  if (const std::string* tr = r.Query("traces")) {
    if (*tr == "all")
      req.traces = TruthRequest::Traces::kAll;
    else if (*tr == "broken")
      req.traces = TruthRequest::Traces::kBroken;
    else if (*tr == "none")
      req.traces = TruthRequest::Traces::kNone;
    else
      return Legacy(400, "traces must be all, broken or none");
  }
  HttpResponse resp;
  // Reuse cached buckets, but never evict the ones span paging is working through.
  resp.body = GroundTruthJson(
      world_, traffic_,
      [this](int64_t b) {
        auto c = PeekBucket(b);
        return c != nullptr ? c : GenerateBucket(world_, traffic_, b);
      },
      req, &received_);
  return resp;
}

HttpResponse DdsimApi::Faults(const HttpRequest& r) {
  HttpResponse resp;
  if (r.method == "POST") {
    auto plan = ParseFaultPlan(r.body);
    if (!plan.ok()) return Legacy(400, std::string(plan.status().message()));
    SetFaults(*plan);
  } else if (r.method == "DELETE") {
    SetFaults(FaultPlan{});
  } else if (r.method != "GET") {
    return Legacy(405, "Method Not Allowed");
  }
  std::lock_guard<std::mutex> lock(faults_mu_);
  const FaultPlan& f = faults_;
  resp.body = json{{"rate_limit_burst", f.rate_limit_burst},
                   {"server_errors", f.server_errors},
                   {"server_error_status", f.server_error_status},
                   {"slow_requests", f.slow_requests},
                   {"slow_ms", f.slow_ms},
                   {"malformed", f.malformed},
                   {"truncated", f.truncated},
                   {"drop", f.drop},
                   {"server_error_rate", f.server_error_rate},
                   {"rate_limit_rate", f.rate_limit_rate},
                   {"malformed_rate", f.malformed_rate},
                   {"slow_rate", f.slow_rate},
                   {"endpoint", f.endpoint},
                   {"server_error_at", f.server_error_at},
                   {"rate_limit_at", f.rate_limit_at},
                   {"malformed_at", f.malformed_at},
                   {"drop_at", f.drop_at},
                   {"requests_since_set", fault_seq_}}
                  .dump();
  return resp;
}

}  // namespace apmcov::ddsim

namespace apmcov::ddsim {

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
