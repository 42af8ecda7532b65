#include "rest/json_views.h"

#include "absl/strings/str_join.h"
#include "apmcov/base/time.h"

namespace apmcov::gateway {
namespace {
using nlohmann::json;

json Time(std::optional<int64_t> ns) {
  if (!ns || *ns <= 0) return nullptr;
  return FormatRfc3339(*ns);
}
json Buckets(const std::vector<CoverageBucket>& v) {
  json a = json::array();
  for (const auto& b : v) a.push_back(ToJson(b));
  return a;
}
template <class T>
json List(const std::vector<T>& v) {
  json a = json::array();
  for (const auto& x : v) a.push_back(ToJson(x));
  return a;
}
}  // namespace

json ToJson(const ServiceView& s) {
  return {{"name", s.name},
          {"team", s.team},
          {"envs", s.envs},
          {"infra", s.infra},
          {"languages", s.languages},
          {"tier", s.tier},
          {"lifecycle", s.lifecycle},
          {"customer_facing", s.customer_facing},
          {"instrumented", s.instrumented},
          {"usm_only", s.usm_only},
          {"span_count", s.span_count},
          {"last_seen", Time(s.last_seen)}};
}

json ToJson(const CoverageBucket& b) {
  return {{"key", b.key},
          {"total", b.total},
          {"instrumented", b.instrumented},
          {"coverage_pct", b.coverage_pct}};
}

json ToJson(const SyncJobRecord& j) {
  return {{"id", j.id},
          {"trigger", j.trigger},
          {"state", j.state},
          {"started_at", Time(j.started_at_ns)},
          {"finished_at", Time(j.finished_at_ns)},
          {"api_calls", j.api_calls},
          {"pages", j.pages},
          {"spans", j.spans},
          {"rate_limited_ms", j.rate_limited_ms},
          {"error", j.error},
          {"updated_at", Time(j.updated_at_ns)},
          {"sampled_seconds", j.sampled_seconds},
          {"skipped_seconds", j.skipped_seconds},
          {"edge_cut_traces", j.edge_cut_traces}};
}

json ToJson(const BrokenTraceRecord& t) {
  return {{"trace_id", std::to_string(t.trace_id)},
          {"env", t.env},
          {"root_service", t.root_service ? json(*t.root_service) : json(nullptr)},
          {"started_at", Time(t.started_at_ns)},
          {"duration_ns", t.duration_ns},
          {"span_count", t.span_count},
          {"services", t.services},
          {"missing_services", t.missing_services},
          {"gap_kinds", t.gap_kinds}};
}

json ToJson(const DependencyRow& d) {
  return {{"from_service", d.from_service},
          {"to_name", d.to_name},
          {"kind", d.kind},
          {"to_kind", d.to_kind},
          {"count", d.count},
          {"last_seen", Time(d.last_seen_ns)}};
}

json ToJson(const ShadowServiceView& s) {
  return {{"name", s.name},
          {"envs", s.envs},
          {"span_count", s.span_count},
          {"last_seen", Time(s.last_seen)}};
}

json ToJson(const Stats& s) {
  return {{"total_services", s.total_services},
          {"instrumented_services", s.instrumented_services},
          {"coverage_pct", s.coverage_pct},
          {"by_team", Buckets(s.by_team)},
          {"by_env", Buckets(s.by_env)},
          {"by_infra", Buckets(s.by_infra)},
          {"by_language", Buckets(s.by_language)},
          {"customer_facing_without_apm", s.customer_facing_without_apm},
          {"usm_only", s.usm_only},
          {"shadow_services", s.shadow_services},
          {"broken_traces", s.broken_traces},
          {"last_sync", s.last_sync ? ToJson(*s.last_sync) : json(nullptr)},
          {"sample", ToJson(s.sample)}};
}

// Design §7.1. by_root_service keys are null for rootless traces (as root_service is);
// by_missing_service and by_gap_kind leave out `judged` (every judged trace, judged_traces).
json ToJson(const SampleEstimate& e) {
  auto rates = [](json& out, const SampleBucket& b) {
    out["broken_rate"] = b.broken_rate;
    out["broken_rate_low"] = b.broken_rate_low;
    out["broken_rate_high"] = b.broken_rate_high;
  };
  json by_root = json::array(), by_missing = json::array(), by_kind = json::array();
  for (const auto& b : e.by_root_service) {
    json o = {{"key", b.key.empty() ? json(nullptr) : json(b.key)},
              {"judged", b.judged},
              {"broken", b.broken}};
    rates(o, b);
    by_root.push_back(std::move(o));
  }
  for (auto [in, out] :
       {std::pair{&e.by_missing_service, &by_missing}, std::pair{&e.by_gap_kind, &by_kind}}) {
    for (const auto& b : *in) {
      json o = {{"key", b.key}, {"broken", b.broken}};
      rates(o, b);
      out->push_back(std::move(o));
    }
  }
  auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  return {{"sampled_share", opt(e.sampled_share)},
          {"judged_traces", e.judged_traces},
          {"broken_traces", e.broken_traces},
          {"broken_rate", e.broken_rate},
          {"broken_rate_low", e.broken_rate_low},
          {"broken_rate_high", e.broken_rate_high},
          {"broken_traces_per_hour", opt(e.broken_traces_per_hour)},
          {"by_root_service", std::move(by_root)},
          {"by_missing_service", std::move(by_missing)},
          {"by_gap_kind", std::move(by_kind)}};
}

json ToJson(const ServicesPage& p) {
  return {{"services", List(p.services)},
          {"total", p.total},
          {"next_page_token", p.next_page_token.empty() ? json(nullptr) : json(p.next_page_token)}};
}

json ToJson(const TracesPageView& p) {
  return {{"traces", List(p.traces)},
          {"total", p.total},
          {"next_page_token", p.next_page_token.empty() ? json(nullptr) : json(p.next_page_token)}};
}

json ToJson(const DependenciesPageView& p) {
  return {{"dependencies", List(p.dependencies)},
          {"total", p.total},
          {"next_page_token", p.next_page_token.empty() ? json(nullptr) : json(p.next_page_token)}};
}

json ToJson(const RecommendationView& r) {
  json ids = json::array();
  for (uint64_t id : r.example_trace_ids) ids.push_back(std::to_string(id));
  return {{"name", r.name},
          {"team", r.team},
          {"customer_facing", r.customer_facing},
          {"usm_only", r.usm_only},
          {"broken_traces", r.broken_traces},
          {"broken_traces_per_hour",
           r.broken_traces_per_hour ? json(*r.broken_traces_per_hour) : json(nullptr)},
          {"callers", r.callers},
          {"teams_affected", r.teams_affected},
          {"example_trace_ids", ids}};
}

json ToJson(const RecommendationsView& v) {
  return {{"recommendations", List(v.recommendations)},
          {"total", v.total},
          {"sampled_share", v.sampled_share ? json(*v.sampled_share) : json(nullptr)},
          {"lookback_hours", v.lookback_hours}};
}

json ToJson(const ServiceMapView& m) {
  json nodes = json::array(), edges = json::array();
  for (const ServiceMapNode& n : m.nodes) {
    json o = {{"id", n.id},
              {"label", n.label},
              {"kind", n.kind},
              {"team", n.team},
              {"customer_facing", n.customer_facing}};
    if (!n.names.empty()) o["names"] = n.names;
    nodes.push_back(std::move(o));
  }
  for (const ServiceMapEdge& e : m.edges) {
    edges.push_back({{"from", e.from},
                     {"to", e.to},
                     {"kind", e.kind},
                     {"traces", e.traces},
                     {"broken_traces", e.broken_traces},
                     {"gap_kinds", e.gap_kinds}});
  }
  return {{"nodes", nodes},
          {"edges", edges},
          {"truncated", m.truncated},
          {"lookback_hours", m.lookback_hours}};
}

json TraceDetailJson(const BrokenTraceRecord& t) {
  json out = ToJson(t);
  json spans = json::array();
  for (const store::TraceSpanRecord& s : t.spans) {
    spans.push_back({{"span_id", std::to_string(s.span_id)},
                     {"parent_id", std::to_string(s.parent_id)},
                     {"service", s.service},
                     {"resource", s.resource},
                     {"kind", s.kind},
                     {"type", s.type},
                     {"start", Time(s.start_ns)},
                     {"start_ns", s.start_ns},
                     {"duration_ns", s.duration_ns},
                     {"target", s.target}});
  }
  json gaps = json::array();
  for (const store::TraceGapRecord& g : t.gaps) {
    gaps.push_back({{"kind", g.kind},
                    {"span_id", std::to_string(g.span_id)},
                    {"from_service", g.from_service},
                    {"to_service", g.to_service ? json(*g.to_service) : json(nullptr)},
                    {"peer", g.peer},
                    {"detail", g.detail}});
  }
  out["spans"] = std::move(spans);
  out["gaps"] = std::move(gaps);
  return out;
}

json ToJson(const ServiceDetailView& d) {
  json out = ToJson(d.service);
  const store::CatalogServiceRecord& c = d.row.catalog;
  out["application"] = c.application;
  out["type"] = c.type;
  out["tags"] = c.tags;
  out["description"] = c.description;
  out["schema_version"] = c.schema_version;
  out["deprecated"] = d.service.deprecated;
  out["removed_at"] = Time(d.row.removed_at_ns);
  out["instrumented_envs"] = d.service.instrumented_envs;
  out["links"] = nlohmann::json::parse(c.links_json, nullptr, false);
  if (out["links"].is_discarded()) out["links"] = json::array();
  json apm = json::array();
  for (const ApmServiceRow& a : d.apm) {
    apm.push_back({{"env", a.env},
                   {"traced", a.traced},
                   {"usm_only", a.usm_only},
                   {"span_count", a.span_count},
                   {"languages", a.languages},
                   {"infra_hints", a.infra_hints},
                   {"first_seen", Time(a.first_seen_ns)},
                   {"last_seen", Time(a.last_seen_ns)}});
  }
  out["apm"] = std::move(apm);
  out["dependencies"] = List(d.dependencies);
  out["broken_traces"] = List(d.broken_traces);
  return out;
}

json BucketsJson(const std::string& by, const std::vector<CoverageBucket>& buckets) {
  return {{"by", by}, {"buckets", Buckets(buckets)}};
}

json HistoryJson(const std::string& by, const std::vector<CoverageHistoryPoint>& pts) {
  json points = json::array();
  for (const auto& p : pts) {
    points.push_back({{"taken_at", Time(p.taken_at)}, {"buckets", Buckets(p.buckets)}});
  }
  return {{"by", by}, {"points", std::move(points)}};
}

void AppendCsvField(std::string& out, const std::string& field) {
  const bool formula =
      !field.empty() && std::string_view("=+-@\t\r").find(field[0]) != std::string_view::npos;
  if (field.find_first_of(",\"\r\n") == std::string::npos) {
    if (formula) out += '\'';
    out += field;
    return;
  }
  out += '"';
  if (formula) out += '\'';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

namespace {

constexpr std::string_view kCsvHeader =
    "name,team,envs,infra,languages,tier,lifecycle,customer_facing,instrumented,usm_only,"
    "span_count,last_seen\r\n";

void AppendCsvRow(std::string& out, const ServiceView& s) {
  const std::string fields[] = {s.name,
                                s.team,
                                absl::StrJoin(s.envs, ";"),
                                s.infra,
                                absl::StrJoin(s.languages, ";"),
                                s.tier,
                                s.lifecycle,
                                s.customer_facing ? "true" : "false",
                                s.instrumented ? "true" : "false",
                                s.usm_only ? "true" : "false",
                                std::to_string(s.span_count),
                                s.last_seen ? FormatRfc3339(*s.last_seen) : ""};
  bool first = true;
  for (const std::string& f : fields) {
    if (!first) out += ',';
    first = false;
    AppendCsvField(out, f);
  }
  out += "\r\n";
}

}  // namespace

std::function<bool(std::string& chunk)> ServicesCsvChunks(std::vector<ServiceView> services,
                                                          size_t chunk_bytes) {
  struct State {
    std::vector<ServiceView> rows;
    size_t next = 0;
    bool header_sent = false;
  };
  auto state = std::make_shared<State>();
  state->rows = std::move(services);
  return [state, chunk_bytes](std::string& chunk) {
    chunk.clear();
    if (!state->header_sent) {
      chunk += kCsvHeader;
      state->header_sent = true;
    } else if (state->next >= state->rows.size()) {
      return false;
    }
    while (state->next < state->rows.size() && chunk.size() < chunk_bytes) {
      AppendCsvRow(chunk, state->rows[state->next++]);
    }
    return true;
  };
}

std::string ServicesCsv(const std::vector<ServiceView>& services) {
  std::string out(kCsvHeader);
  for (const ServiceView& s : services) AppendCsvRow(out, s);
  return out;
}

std::string ErrorBody(std::string_view code, std::string_view message,
                      std::string_view request_id) {
  json error = {{"code", code}, {"message", message}};
  if (!request_id.empty()) error["request_id"] = request_id;
  return json{{"error", std::move(error)}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace apmcov::gateway
