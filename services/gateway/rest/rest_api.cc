#include "rest/rest_api.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "apmcov/base/log.h"
#include "apmcov/base/status.h"
#include "rest/client_input.h"
#include "rest/json_views.h"

namespace apmcov::gateway {
namespace {

using nlohmann::json;

HttpResponse Json(int status, const json& body, std::string route) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump();
  r.route = std::move(route);
  return r;
}

HttpResponse Error(int status, std::string_view code, std::string_view message, std::string route) {
  HttpResponse r;
  r.status = status;
  r.body = ErrorBody(code, message);
  r.route = std::move(route);
  return r;
}

const Logger& Log() {
  static const Logger log("gateway.rest");
  return log;
}

// A server fault keeps its words for the log (RestApi::Handle writes them with the request id).
HttpResponse FromStatus(const absl::Status& s, std::string route, const HttpRequest& req) {
  if (IsServerFault(s.code())) {
    HttpResponse r;
    r.status = HttpStatusFor(s.code());
    r.body = ErrorBody(StatusCodeName(s.code()),
                       absl::StrCat("internal error; request id ", req.request_id), req.request_id);
    r.route = std::move(route);
    r.fault_detail = std::string(s.message());
    if (r.fault_detail.empty()) r.fault_detail = StatusCodeName(s.code());
    return r;
  }
  return Error(HttpStatusFor(s.code()), StatusCodeName(s.code()), StdView(s.message()),
               std::move(route));
}

// 400 for the first query or path parameter that is not valid UTF-8, holds a NUL or is too
// long. Path segments are named by the parameter they carry ("name", "trace_id", "id").
std::optional<HttpResponse> RejectMalformed(const HttpRequest& req,
                                            const std::vector<std::string>& seg) {
  auto bad = [](const absl::Status& s) {
    return Error(400, "invalid_argument", StdView(s.message()), "invalid_request");
  };
  for (const auto& [name, value] : req.query) {
    if (auto s = CheckClientText("query parameter name", name); !s.ok()) return bad(s);
    const size_t max = name == "page_token" ? kMaxPageTokenBytes : kMaxParamBytes;
    if (auto s = CheckClientText(name, value, max); !s.ok()) return bad(s);
  }
  for (size_t i = 0; i < seg.size(); ++i) {
    std::string_view name = "path";
    if (i == 2 && seg[0] == "api") {
      if (seg[1] == "services") name = "name";
      if (seg[1] == "traces") name = "trace_id";
      if (seg[1] == "sync-jobs") name = "id";
    }
    if (auto s = CheckClientText(name, seg[i]); !s.ok()) return bad(s);
  }
  return std::nullopt;
}

// The CSV export of `rows` as a chunked response.
HttpResponse CsvResponse(std::vector<ServiceView> rows, std::string route) {
  HttpResponse r;
  r.content_type = "text/csv; charset=utf-8";
  r.next_chunk = ServicesCsvChunks(std::move(rows));
  r.headers.push_back({"Content-Disposition", "attachment; filename=\"services.csv\""});
  r.route = std::move(route);
  return r;
}

// 400 for the first query parameter not in `allowed`.
std::optional<HttpResponse> RejectUnknown(const HttpRequest& req,
                                          std::initializer_list<const char*> allowed,
                                          const std::string& route) {
  for (const auto& [name, value] : req.query) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || name == a;
    if (!ok) {
      return Error(400, "invalid_argument", absl::StrCat(name, ": unknown parameter for ", route),
                   route);
    }
  }
  return std::nullopt;
}

std::string Param(const HttpRequest& req, const char* name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? "" : it->second;
}

ServicesQuery ServicesQueryFrom(const HttpRequest& req) {
  ServicesQuery q;
  q.team = Param(req, "team");
  q.env = Param(req, "env");
  q.infra = Param(req, "infra");
  q.language = Param(req, "language");
  q.tier = Param(req, "tier");
  q.apm = Param(req, "apm");
  q.customer_facing = Param(req, "customer_facing");
  q.include_deprecated = Param(req, "include_deprecated");
  q.q = Param(req, "q");
  q.sort = Param(req, "sort");
  q.page_size = Param(req, "page_size");
  q.page_token = Param(req, "page_token");
  return q;
}

#define SERVICE_FILTERS                                                                            \
  "team", "env", "infra", "language", "tier", "apm", "customer_facing", "include_deprecated", "q", \
      "sort"

}  // namespace

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

RestApi::RestApi(QueryService& queries, SyncTrigger& sync, RestApiOptions options)
    : queries_(queries), sync_(sync), options_(std::move(options)) {}

HttpResponse RestApi::Handle(const HttpRequest& request) {
  if (request.request_id.empty()) {
    HttpRequest with_id = request;
    with_id.request_id = NewRequestId();
    return Handle(with_id);
  }
  HttpResponse r = Route(request);
  if (!r.fault_detail.empty()) {
    Log().Error("request failed", {{"request_id", request.request_id},
                                   {"route", r.route},
                                   {"status", r.status},
                                   {"error", r.fault_detail}});
  }
  r.headers.push_back({"X-Request-Id", request.request_id});
  return r;
}

HttpResponse RestApi::Route(const HttpRequest& req) {
  std::vector<std::string> seg;
  for (absl::string_view part : absl::StrSplit(req.path, '/', absl::SkipEmpty())) {
    seg.push_back(PercentDecode(StdView(part), false));
  }
  if (auto bad = RejectMalformed(req, seg)) return *bad;
  if (!seg.empty() && seg[0] == "api") return Api(req, seg);

  // Dashboard.
  bool page =
      seg.empty() || (seg.size() <= 2 && (seg[0] == "services" || seg[0] == "traces")) ||
      (seg.size() == 1 && (seg[0] == "sync" || seg[0] == "map" || seg[0] == "instrument-next"));
  if (seg.size() == 2 && seg[0] == "services" && seg[1] == "export") {
    if (req.method != "GET") return Error(405, "method_not_allowed", "use GET", "/services/export");
    if (auto bad = RejectUnknown(req, {SERVICE_FILTERS}, "/services/export")) return *bad;
    auto rows = queries_.ExportServices(ServicesQueryFrom(req));
    if (!rows.ok()) return FromStatus(rows.status(), "/services/export", req);
    return CsvResponse(*std::move(rows), "/services/export");
  }
  if (page) {
    std::string route = seg.empty() ? "/" : "/" + seg[0] + (seg.size() == 2 ? "/{id}" : "");
    if (req.method != "GET") return Error(405, "method_not_allowed", "use GET", route);
    return Static(route, "index.html", "text/html; charset=utf-8");
  }
  if (seg.size() == 2 && seg[0] == "assets") {
    if (req.method != "GET") return Error(405, "method_not_allowed", "use GET", "/assets");
    const std::string& f = seg[1];
    if (f.find("..") != std::string::npos || f.find('/') != std::string::npos || f[0] == '.') {
      return Error(404, "not_found", "no such asset", "/assets");
    }
    std::string type = "application/octet-stream";
    auto ends = [&](std::string_view s) {
      return f.size() >= s.size() && f.compare(f.size() - s.size(), s.size(), s) == 0;
    };
    if (ends(".js")) type = "text/javascript; charset=utf-8";
    if (ends(".css")) type = "text/css; charset=utf-8";
    if (ends(".svg")) type = "image/svg+xml";
    if (ends(".map")) type = "application/json";
    return Static("/assets", "assets/" + f, type);
  }
  return Error(404, "not_found", absl::StrCat("no such page: ", req.path), "unmatched");
}

HttpResponse RestApi::Static(const std::string& route, const std::string& relative,
                             const std::string& content_type) {
  std::string body;
  {
    std::lock_guard lock(mu_);
    auto it = files_.find(relative);
    if (it != files_.end()) {
      body = it->second;
    } else {
      std::ifstream in(options_.web_dir + "/" + relative, std::ios::binary);
      if (!in) {
        return Error(404, "not_found",
                     absl::StrCat("dashboard file ", relative, " not found (WEB_DIR)"), route);
      }
      std::stringstream ss;
      ss << in.rdbuf();
      body = ss.str();
      files_[relative] = body;
    }
  }
  HttpResponse r;
  r.content_type = content_type;
  r.body = std::move(body);
  r.route = route;
  r.headers.push_back({"Cache-Control", relative == "index.html" ? "no-cache" : "max-age=300"});
  return r;
}

HttpResponse RestApi::CatalogAnswer(const std::string& key,
                                    const std::function<HttpResponse()>& compute) {
  const absl::StatusOr<uint64_t> generation = queries_.CatalogGeneration();
  if (generation.ok()) {
    std::lock_guard lock(answers_mu_);
    auto it = answers_.find(key);
    if (it != answers_.end() && it->second.generation == *generation) return it->second.response;
  }
  HttpResponse answer = compute();
  if (generation.ok() && answer.status == 200) {
    std::lock_guard lock(answers_mu_);
    if (answers_.size() >= 256) answers_.clear();  // bounded; the hot keys come back at once
    answers_[key] = {*generation, answer};
  }
  return answer;
}

HttpResponse RestApi::Api(const HttpRequest& req, const std::vector<std::string>& seg) {
  const size_t n = seg.size();
  auto is = [&](std::initializer_list<const char*> parts) {
    if (parts.size() != n) return false;
    size_t i = 0;
    for (const char* p : parts) {
      if (std::string(p) != "*" && seg[i] != p) return false;
      ++i;
    }
    return true;
  };
  auto get_only = [&](const std::string& route) -> std::optional<HttpResponse> {
    if (req.method == "GET") return std::nullopt;
    HttpResponse r = Error(405, "method_not_allowed", absl::StrCat(route, " accepts GET"), route);
    r.headers.push_back({"Allow", "GET"});
    return r;
  };

  if (is({"api", "sync"})) {
    const std::string route = "/api/sync";
    if (req.method != "POST") {
      HttpResponse r = Error(405, "method_not_allowed", "/api/sync accepts POST", route);
      r.headers.push_back({"Allow", "POST"});
      return r;
    }
    if (!options_.api_token.empty() && !BearerTokenMatches(req.authorization, options_.api_token)) {
      HttpResponse r = Error(401, "unauthenticated",
                             "POST requires Authorization: Bearer <GATEWAY_API_TOKEN>", route);
      r.headers.push_back({"WWW-Authenticate", "Bearer"});
      return r;
    }
    if (auto bad = RejectUnknown(req, {}, route)) return *bad;
    std::string requested_by = "api";
    if (!req.body.empty()) {
      json body = json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object()) {
        return Error(400, "invalid_argument", "body: must be a JSON object or empty", route);
      }
      if (body.contains("requested_by")) {
        if (!body["requested_by"].is_string() ||
            body["requested_by"].get<std::string>().size() > 200) {
          return Error(400, "invalid_argument",
                       "requested_by: must be a string of at most 200 "
                       "characters",
                       route);
        }
        requested_by = body["requested_by"].get<std::string>();
      }
    }
    if (options_.sync_limit != nullptr) {
      const std::chrono::milliseconds wait = options_.sync_limit->TryTake();
      if (wait.count() > 0) {
        const int64_t seconds = (wait.count() + 999) / 1000;
        HttpResponse r =
            Error(429, "resource_exhausted",
                  absl::StrCat("too many sync requests; retry after ", seconds, " s"), route);
        r.headers.push_back({"Retry-After", std::to_string(seconds)});
        return r;
      }
    }
    auto id = sync_.Trigger(requested_by);
    if (!id.ok()) return FromStatus(id.status(), route, req);
    queries_.NoteAcceptedSyncJob(*id);  // the Location answers "queued" until the collector writes
    HttpResponse r = Json(202, {{"job_id", *id}, {"state", "queued"}}, route);
    r.headers.push_back({"Location", "/api/sync-jobs/" + *id});
    return r;
  }

  if (is({"api", "stats"})) {
    const std::string route = "/api/stats";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(req, {}, route)) return *bad;
    return CatalogAnswer(route, [&] {
      auto st = queries_.GetStats();
      return st.ok() ? Json(200, ToJson(*st), route) : FromStatus(st.status(), route, req);
    });
  }
  if (is({"api", "services"})) {
    const std::string route = "/api/services";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(req, {SERVICE_FILTERS, "page_size", "page_token"}, route)) {
      return *bad;
    }
    std::string key = route;
    for (const auto& [k, v] : req.query)
      absl::StrAppend(&key, "|", k.size(), ":", k, v.size(), ":", v);
    return CatalogAnswer(key, [&] {
      auto page = queries_.ListServices(ServicesQueryFrom(req));
      return page.ok() ? Json(200, ToJson(*page), route) : FromStatus(page.status(), route, req);
    });
  }
  if (is({"api", "services.csv"})) {
    const std::string route = "/api/services.csv";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(req, {SERVICE_FILTERS}, route)) return *bad;
    auto rows = queries_.ExportServices(ServicesQueryFrom(req));
    if (!rows.ok()) return FromStatus(rows.status(), route, req);
    return CsvResponse(*std::move(rows), route);
  }
  if (is({"api", "services", "*"})) {
    const std::string route = "/api/services/{name}";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(req, {}, route)) return *bad;
    auto d = queries_.GetService(seg[2]);
    return d.ok() ? Json(200, ToJson(*d), route) : FromStatus(d.status(), route, req);
  }
  if (is({"api", "coverage"})) {
    const std::string route = "/api/coverage";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(req, {"by"}, route)) return *bad;
    auto b = queries_.GetCoverage(Param(req, "by"));
    return b.ok() ? Json(200, BucketsJson(Param(req, "by"), *b), route)
                  : FromStatus(b.status(), route, req);
  }
  if (is({"api", "coverage", "history"})) {
    const std::string route = "/api/coverage/history";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(req, {"by", "since"}, route)) return *bad;
    std::string by = Param(req, "by");
    auto h = queries_.GetCoverageHistory(by, Param(req, "since"));
    return h.ok() ? Json(200, HistoryJson(by.empty() ? "overall" : by, *h), route)
                  : FromStatus(h.status(), route, req);
  }
  if (is({"api", "traces"})) {
    const std::string route = "/api/traces";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(
            req, {"service", "missing", "kind", "env", "since", "page_size", "page_token"},
            route)) {
      return *bad;
    }
    TracesQuery q{Param(req, "service"),   Param(req, "missing"), Param(req, "kind"),
                  Param(req, "env"),       Param(req, "since"),   Param(req, "page_size"),
                  Param(req, "page_token")};
    auto page = queries_.ListTraces(q);
    return page.ok() ? Json(200, ToJson(*page), route) : FromStatus(page.status(), route, req);
  }
  if (is({"api", "traces", "*"})) {
    const std::string route = "/api/traces/{trace_id}";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(req, {}, route)) return *bad;
    auto t = queries_.GetTrace(seg[2]);
    return t.ok() ? Json(200, TraceDetailJson(*t), route) : FromStatus(t.status(), route, req);
  }
  if (is({"api", "dependencies"})) {
    const std::string route = "/api/dependencies";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(req, {"service", "page_size", "page_token"}, route)) {
      return *bad;
    }
    // Paged in SQL (keyset on the ReadModel's order), so one answer and one query stay bounded.
    auto page = queries_.ListDependencies(
        {Param(req, "service"), Param(req, "page_size"), Param(req, "page_token")});
    return page.ok() ? Json(200, ToJson(*page), route) : FromStatus(page.status(), route, req);
  }
  if (is({"api", "recommendations"})) {
    const std::string route = "/api/recommendations";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(req, {"team", "env", "limit"}, route)) return *bad;
    auto v =
        queries_.ListRecommendations({Param(req, "team"), Param(req, "env"), Param(req, "limit")});
    return v.ok() ? Json(200, ToJson(*v), route) : FromStatus(v.status(), route, req);
  }
  if (is({"api", "service-map"})) {
    const std::string route = "/api/service-map";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(req, {"env", "team", "externals"}, route)) return *bad;
    auto m =
        queries_.GetServiceMap({Param(req, "env"), Param(req, "team"), Param(req, "externals")});
    return m.ok() ? Json(200, ToJson(*m), route) : FromStatus(m.status(), route, req);
  }
  if (is({"api", "shadow-services"})) {
    const std::string route = "/api/shadow-services";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(req, {}, route)) return *bad;
    auto s = queries_.ListShadowServices();
    if (!s.ok()) return FromStatus(s.status(), route, req);
    json list = json::array();
    for (const auto& x : *s) list.push_back(ToJson(x));
    return Json(200, {{"services", list}}, route);
  }
  if (is({"api", "sync-jobs"})) {
    const std::string route = "/api/sync-jobs";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(req, {"limit"}, route)) return *bad;
    auto jobs = queries_.ListSyncJobs(Param(req, "limit"));
    if (!jobs.ok()) return FromStatus(jobs.status(), route, req);
    json list = json::array();
    for (const auto& x : *jobs) list.push_back(ToJson(x));
    return Json(200, {{"jobs", list}}, route);
  }
  if (is({"api", "sync-jobs", "*"})) {
    const std::string route = "/api/sync-jobs/{id}";
    if (auto r = get_only(route)) return *r;
    if (auto bad = RejectUnknown(req, {}, route)) return *bad;
    auto job = queries_.GetSyncJob(seg[2]);
    return job.ok() ? Json(200, ToJson(*job), route) : FromStatus(job.status(), route, req);
  }
  if (is({"api", "openapi.json"})) {
    const std::string route = "/api/openapi.json";
    if (auto r = get_only(route)) return *r;
    HttpResponse r;
    r.body = OpenApiDocument();
    r.route = route;
    return r;
  }
  return Error(404, "not_found", absl::StrCat("no such endpoint: ", req.path), "unmatched");
}

}  // namespace apmcov::gateway
