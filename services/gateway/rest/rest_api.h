// RestApi: the HTTP surface of design §8 as a pure function from a parsed request to a
// response, so routing, validation, auth and error shapes are testable without sockets.
// RestServer (Pistache) is the thin network adapter around it.
//
// Contract:
//  - Every 4xx/5xx body is {"error": {"code", "message"}}; 400 messages start with the bad
//    parameter's name; unknown query parameters are rejected (400 naming them).
//  - Every query and path parameter is checked before anything else (rest/client_input.h):
//    invalid UTF-8, NUL or an oversized value is a 400 naming the parameter.
//  - Every response carries X-Request-Id. A server fault (5xx: store, broker) never shows its
//    detail: the body holds the code, "internal error; request id <id>" and "request_id"; the
//    detail is logged with the same id.
//  - POST /api/sync requires `Authorization: Bearer <token>` when a token is configured (401
//    otherwise, compared in constant time), is rate-limited by `sync_limit` (429 with
//    Retry-After) and answers 202 {"job_id": ...}.
//  - The CSV exports are produced in chunks (HttpResponse::next_chunk), not as one body.
//  - Dashboard routes serve <web_dir>/index.html; /assets/<file> serves built assets (no
//    directory traversal). Files are read once and kept in memory.
//  - Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "query/query_service.h"
#include "rest/client_input.h"
#include "rest/token_bucket.h"
#include "sync_trigger.h"

namespace apmcov::gateway {

struct HttpRequest {
  std::string method;                        // "GET", "POST", ...
  std::string path;                          // percent-decoding is done by RestApi per segment
  std::map<std::string, std::string> query;  // already decoded
  std::string authorization;                 // the Authorization header, "" when absent
  std::string body;
  std::string request_id;  // sent back as X-Request-Id; RestApi makes one when empty
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string route;  // route template for metrics ("/api/services/{name}", "unmatched")
  // When set, the body is produced by calling this until it returns false, each call replacing
  // `chunk` with the next part (sent with chunked transfer encoding); `body` is then unused.
  std::function<bool(std::string& chunk)> next_chunk;
  // The detail of a server fault, for the log only (never sent).
  std::string fault_detail;
};

struct RestApiOptions {
  std::string api_token;  // GATEWAY_API_TOKEN; empty = POST unguarded
  std::string web_dir;    // built dashboard (index.html, assets/)
  // Sync requests allowed (shared with gRPC TriggerSync); null = unlimited. Not owned.
  TokenBucket* sync_limit = nullptr;
};

class RestApi {
 public:
  RestApi(QueryService& queries, SyncTrigger& sync, RestApiOptions options);
  HttpResponse Handle(const HttpRequest& request);

  // The OpenAPI 3 document served at /api/openapi.json (embedded at build time).
  static const std::string& OpenApiDocument();

 private:
  HttpResponse Route(const HttpRequest& req);
  HttpResponse Api(const HttpRequest& req, const std::vector<std::string>& seg);
  // An answer computed from the catalog alone (stats, service lists): served from answers_
  // while QueryService::CatalogGeneration() is unchanged, else computed and kept if 200.
  HttpResponse CatalogAnswer(const std::string& key, const std::function<HttpResponse()>& compute);
  HttpResponse Static(const std::string& route, const std::string& relative,
                      const std::string& content_type);

  QueryService& queries_;
  SyncTrigger& sync_;
  RestApiOptions options_;
  std::mutex mu_;
  std::map<std::string, std::string> files_;
  // Rendered /api/stats and /api/services answers by route and query, valid while the catalog
  // generation they were computed from is current: the dashboard asks for the same ones over
  // and over, and rendering 5,000 services per request cost most of the p99.
  struct CachedAnswer {
    uint64_t generation = 0;
    HttpResponse response;
  };
  std::mutex answers_mu_;
  std::map<std::string, CachedAnswer> answers_;
};

// Maps a status code to its HTTP status (InvalidArgument 400, NotFound 404, Unauthenticated
// 401, Unavailable 503, DeadlineExceeded 504, others 500).
int HttpStatusFor(absl::StatusCode code);

}  // namespace apmcov::gateway
