#include "apmcov/datadog/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <mutex>
#include <new>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "apmcov/base/config.h"
#include "apmcov/base/log.h"
#include "apmcov/base/status.h"
#include "apmcov/datadog/parse.h"
#include "nlohmann/json.hpp"

namespace apmcov::datadog {
namespace {

const Logger& Log() {
  static const Logger log("datadog.client");
  return log;
}

std::once_flag g_curl_init;

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  // Keeps kJsonPadding bytes of spare capacity, so that a span page parses in place.
  const size_t need = body->size() + size * n + kJsonPadding;
  if (body->capacity() < need) body->reserve(std::max(need, 2 * body->capacity()));
  body->append(data, size * n);
  return size * n;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string_view line(data, size * n);
  if (absl::StartsWith(AbslView(line), "HTTP/")) {
    headers->clear();  // a new response (after 100 Continue or a redirect)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name = absl::AsciiStrToLower(AbslView(line.substr(0, colon)));
  std::string_view value = line.substr(colon + 1);
  value = StdView(absl::StripAsciiWhitespace(AbslView(value)));
  (*headers)[name] = std::string(value);
  return size * n;
}

bool ParseNumber(const std::string& text, double* out) {
  return !text.empty() && absl::SimpleAtod(AbslView(text), out) && std::isfinite(*out);
}

}  // namespace

std::string HttpResponse::Header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string() : it->second;
}

// ---- CurlTransport ----

namespace {

// libcurl calls this at least once a second during a transfer; non-zero aborts it.
int AbortWhenCancelled(void* data, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto& cancelled = *static_cast<const std::function<bool()>*>(data);
  return cancelled() ? 1 : 0;
}

}  // namespace

struct CurlTransport::Impl {
  TransportOptions options;
  CURL* easy = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
  std::string spare_body;  // RecycleBody: the next response's body is written into it
};

CurlTransport::CurlTransport(TransportOptions options) : impl_(std::make_unique<Impl>()) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_->options = std::move(options);
  impl_->easy = curl_easy_init();
}

CurlTransport::~CurlTransport() {
  if (impl_->easy != nullptr) curl_easy_cleanup(impl_->easy);
}

absl::StatusOr<HttpResponse> CurlTransport::Send(const HttpRequest& request) {
  CURL* h = impl_->easy;
  if (h == nullptr) return absl::InternalError("libcurl could not create a handle");
  // curl_easy_reset keeps the connection cache, so keep-alive connections are reused.
  curl_easy_reset(h);
  HttpResponse response;
  response.body.swap(impl_->spare_body);
  response.body.clear();
  impl_->errbuf[0] = '\0';
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // every encoding libcurl supports (gzip)
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(impl_->options.connect_timeout_ms));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(impl_->options.total_timeout_ms));
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, impl_->options.verify_tls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, impl_->options.verify_tls ? 2L : 0L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, impl_->options.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, impl_->errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &WriteHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  if (impl_->options.cancelled) {
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &AbortWhenCancelled);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &impl_->options.cancelled);
  }
  if (request.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  struct curl_slist* list = nullptr;
  for (const auto& [name, value] : request.headers) {
    list = curl_slist_append(list, absl::StrCat(name, ": ", value).c_str());
  }
  list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(list);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  if (rc != CURLE_OK) {
    std::string detail = impl_->errbuf[0] != '\0' ? impl_->errbuf : curl_easy_strerror(rc);
    std::string what =
        absl::StrCat(request.method, " ", RedactUrlUserInfo(request.url), ": ", detail);
    if (rc == CURLE_OPERATION_TIMEDOUT) return absl::DeadlineExceededError(what);
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
      return absl::CancelledError(
          absl::StrCat(request.method, " ", RedactUrlUserInfo(request.url), ": cut short"));
    }
    return absl::UnavailableError(what);
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

void CurlTransport::RecycleBody(std::string body) {
  if (body.capacity() > impl_->spare_body.capacity()) impl_->spare_body = std::move(body);
}

// ---- URLs ----

absl::StatusOr<std::string> ResolveBaseUrl(std::string_view site, std::string_view override_url) {
  if (!override_url.empty()) {
    std::string url(override_url);
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (!absl::StartsWith(url, "http://") && !absl::StartsWith(url, "https://")) {
      return absl::InvalidArgumentError(
          absl::StrCat("DD_API_BASE_URL \"", url, "\" must start with http:// or https://"));
    }
    if (url.size() <= 8 || url.find_first_of(" \t") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("DD_API_BASE_URL \"", url, "\" is not a URL"));
    }
    return url;
  }
  if (site.empty() || site.find_first_of("/: \t") != std::string_view::npos ||
      site.find('.') == std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DD_SITE \"", AbslView(site),
        "\" is not a Datadog site (e.g. datadoghq.com, datadoghq.eu, us5.datadoghq.com)"));
  }
  return absl::StrCat("https://api.", AbslView(site));
}

std::string UrlEncode(std::string_view text) {
  // libcurl's encoder: RFC 3986 unreserved characters kept, everything else %XX. The handle
  // argument is unused since libcurl 7.82.
  char* encoded = curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size()));
  if (encoded == nullptr) throw std::bad_alloc();
  std::string out(encoded);
  curl_free(encoded);
  return out;
}

// ---- DatadogHttpClient ----

DatadogHttpClient::DatadogHttpClient(ClientOptions options, HttpTransport& transport, Clock& clock,
                                     ApiObserver* observer)
    : options_(std::move(options)),
      transport_(transport),
      clock_(clock),
      observer_(observer),
      rng_(options_.jitter_seed != 0 ? options_.jitter_seed : std::random_device{}()) {}

bool DatadogHttpClient::Wait(const std::string& bucket, double seconds, bool rate_limit) {
  if (clock_.Cancelled()) return false;
  if (seconds <= 0) return true;
  seconds = std::min(seconds, options_.max_rate_limit_wait_s);
  if (rate_limit && observer_ != nullptr) observer_->OnRateLimitWait(bucket, seconds);
  return clock_.SleepFor(std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9)));
}

double DatadogHttpClient::Backoff(int attempt) {
  double delay = std::min(options_.backoff_cap_s,
                          options_.backoff_base_s * std::pow(2.0, std::min(attempt, 30)));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return delay * jitter(rng_);
}

bool DatadogHttpClient::WaitForBucket(const std::string& endpoint) {
  if (clock_.Cancelled()) return false;
  auto name_it = endpoint_bucket_.find(endpoint);
  const std::string& name = name_it == endpoint_bucket_.end() ? endpoint : name_it->second;
  auto it = buckets_.find(name);
  if (it == buckets_.end() || it->second.remaining != 0) return true;
  // A reset far away (a clock jump, a header in the wrong unit) still waits no longer than
  // max_rate_limit_wait_s: Wait caps it.
  double seconds = std::chrono::duration<double>(it->second.reset_at - clock_.Now()).count();
  if (seconds > 0) {
    Log().Info("waiting for the Datadog rate limit to reset",
               {{"bucket", name}, {"seconds", std::min(seconds, options_.max_rate_limit_wait_s)}});
    if (!Wait(name, seconds, true)) return false;
  }
  it->second.remaining = -1;  // unknown until the next response says
  return true;
}

void DatadogHttpClient::RecordRateLimit(const std::string& endpoint, const HttpResponse& response) {
  std::string name = response.Header("x-ratelimit-name");
  if (name.empty()) name = endpoint;
  endpoint_bucket_[endpoint] = name;
  RateLimitBucket& bucket = buckets_[name];
  double v;
  if (ParseNumber(response.Header("x-ratelimit-limit"), &v)) bucket.limit = static_cast<int64_t>(v);
  bool has_remaining = ParseNumber(response.Header("x-ratelimit-remaining"), &v);
  if (has_remaining) bucket.remaining = static_cast<int64_t>(v);
  if (response.status == 429) bucket.remaining = 0;
  double reset;
  if (ParseNumber(response.Header("x-ratelimit-reset"), &reset)) {
    bucket.reset_at = clock_.Now() + std::chrono::duration_cast<Clock::Duration>(
                                         std::chrono::duration<double>(std::max(0.0, reset)));
  }
}

absl::Status DatadogHttpClient::ErrorFor(const ApiCall& call, const HttpResponse& response,
                                         int attempts) const {
  std::string what = absl::StrCat("Datadog answered HTTP ", response.status, " to ", call.method,
                                  " ", call.path, " (", DescribeErrorBody(response.body), ")");
  int s = response.status;
  if (s == 401 || s == 403) {
    std::string scope =
        call.scope.empty() ? ""
                           : absl::StrCat("; the application key needs the ", call.scope, " scope");
    return absl::PermissionDeniedError(
        absl::StrCat(what, ": check DD_API_KEY / DD_APP_KEY for site ", options_.site, scope));
  }
  if (s == 429) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, ": rate limited after ", attempts,
        " attempts; wait for the limit to reset, sync less often or lower SPAN_PAGE_BUDGET"));
  }
  if (s == 404) return absl::NotFoundError(what);
  if (s == 400 || s == 422) return absl::InvalidArgumentError(what);
  if (s >= 500 || s == 408) {
    return absl::UnavailableError(absl::StrCat(what, ": still failing after ", attempts,
                                               " attempts; Datadog may be degraded"));
  }
  return absl::UnknownError(what);
}

namespace {

// scheme://[userinfo@]host[:port][/...] split into the scheme part and host[:port].
std::pair<std::string_view, std::string_view> SchemeAndAuthority(std::string_view url) {
  std::string_view scheme;
  if (size_t p = url.find("://"); p != std::string_view::npos) {
    scheme = url.substr(0, p + 3);
    url.remove_prefix(p + 3);
  }
  std::string_view authority = url.substr(0, url.find_first_of("/?#"));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  return {scheme, authority};
}

}  // namespace

std::string UrlForSpan(std::string_view base_url, std::string_view path) {
  auto [scheme, authority] = SchemeAndAuthority(base_url);
  const size_t authority_end =
      static_cast<size_t>(authority.data() - base_url.data()) + authority.size();
  std::string_view rest = base_url.substr(std::min(authority_end, base_url.size()));
  rest = rest.substr(0, rest.find_first_of("?#"));
  path = path.substr(0, path.find_first_of("?#"));
  return absl::StrCat(AbslView(scheme), AbslView(authority), AbslView(rest), AbslView(path));
}

std::string HostOf(std::string_view base_url) {
  std::string_view authority = SchemeAndAuthority(base_url).second;
  if (!authority.empty() && authority.front() == '[') {
    return std::string(authority.substr(0, authority.find(']') + 1));
  }
  return std::string(authority.substr(0, authority.find(':')));
}

absl::StatusOr<HttpResponse> DatadogHttpClient::Call(const ApiCall& call) {
  HttpRequest request;
  request.method = call.method;
  request.url = absl::StrCat(options_.base_url, call.path);
  for (size_t i = 0; i < call.query.size(); ++i) {
    absl::StrAppend(&request.url, i == 0 ? "?" : "&", UrlEncode(call.query[i].first), "=",
                    UrlEncode(call.query[i].second));
  }
  request.headers.emplace_back("Accept", "application/json");
  request.headers.emplace_back("DD-API-KEY", options_.api_key);
  if (call.needs_app_key) request.headers.emplace_back("DD-APPLICATION-KEY", options_.app_key);
  if (!call.body.empty()) request.headers.emplace_back("Content-Type", "application/json");
  request.body = call.body;

  const int max_attempts = 1 + std::max(0, options_.max_retries);
  absl::Status last;
  const auto cancelled = [&call] {
    return absl::CancelledError(
        absl::StrCat("Datadog call ", call.endpoint, " cut short: the collector is stopping"));
  };
  const bool traced = options_.tracer != nullptr && options_.tracer->enabled();
  const size_t plain_headers = request.headers.size();
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    if (!WaitForBucket(call.endpoint)) return cancelled();
    tracing::Span span;
    if (traced) {
      span = options_.tracer->StartSpan("http.request",
                                        {.resource = absl::StrCat(call.method, " ", call.path),
                                         .type = "http",
                                         .kind = tracing::kinds::kClient});
      span.SetTag(tracing::tags::kPeerService, "datadog-api");
      span.SetTag(tracing::tags::kOutHost, HostOf(options_.base_url));
      span.SetTag("http.url", UrlForSpan(options_.base_url, call.path));
      span.SetTag("http.method", call.method);
      span.SetTag("datadog.endpoint", call.endpoint);
      if (attempt > 0) span.SetMetric("http.retry", attempt);
      request.headers.resize(plain_headers);
      tracing::Inject(span.context(), tracing::WriteTo(&request.headers));
    }
    auto start = std::chrono::steady_clock::now();
    absl::StatusOr<HttpResponse> response = transport_.Send(request);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (span.recording()) {
      if (response.ok()) {
        span.SetTag("http.status_code", std::to_string(response->status));
        if (response->status >= 400) span.SetError(absl::StrCat("HTTP ", response->status));
      } else {
        span.SetError(StdView(response.status().message()));
      }
    }
    span.Finish();
    if (observer_ != nullptr) {
      observer_->OnApiCall(call.endpoint, response.ok() ? response->status : 0, seconds);
    }
    const bool last_attempt = attempt + 1 == max_attempts;
    if (absl::IsCancelled(response.status())) return response.status();
    if (!response.ok()) {
      last =
          Annotate(response.status(), absl::StrCat("calling Datadog (", call.endpoint, ", attempt ",
                                                   attempt + 1, " of ", max_attempts,
                                                   "); check DD_SITE / DD_API_BASE_URL and "
                                                   "the network"));
      if (last_attempt) return last;
      double wait = Backoff(attempt);
      Log().Warn("Datadog call failed; retrying", {{"endpoint", call.endpoint},
                                                   {"error", StdView(response.status().message())},
                                                   {"retry_in_s", wait}});
      if (!Wait(call.endpoint, wait, false)) return cancelled();
      continue;
    }
    RecordRateLimit(call.endpoint, *response);
    int s = response->status;
    if (s >= 200 && s < 300) {
      if (!call.read_body) return response;
      absl::Status body = call.read_body(*response);
      if (body.ok()) return response;
      if (last_attempt) {
        return Annotate(body,
                        absl::StrCat("Datadog answered ", call.endpoint, " with ", s,
                                     " and a body that does not parse, ", max_attempts, " times"));
      }
      double wait = Backoff(attempt);
      Log().Warn("Datadog answer does not parse (cut short?); retrying",
                 {{"endpoint", call.endpoint},
                  {"bytes", static_cast<int64_t>(response->body.size())},
                  {"error", StdView(body.message())},
                  {"retry_in_s", wait}});
      if (!Wait(call.endpoint, wait, false)) return cancelled();
      continue;
    }
    if (s == 429) {
      const std::string& bucket_name = endpoint_bucket_[call.endpoint];
      RateLimitBucket& bucket = buckets_[bucket_name];
      double reset;
      if (!ParseNumber(response->Header("x-ratelimit-reset"), &reset)) {
        reset = 2.0 * std::pow(2.0, attempt);  // what the official clients do without the header
        bucket.reset_at = clock_.Now() + std::chrono::duration_cast<Clock::Duration>(
                                             std::chrono::duration<double>(reset));
      }
      if (reset > options_.max_rate_limit_wait_s) {
        return absl::ResourceExhaustedError(
            absl::StrCat("Datadog rate limit on ", call.endpoint, " (bucket ", bucket_name,
                         ") resets in ", static_cast<int64_t>(reset), " s, more than the ",
                         static_cast<int64_t>(options_.max_rate_limit_wait_s),
                         " s the collector waits; sync less often or lower SPAN_PAGE_BUDGET"));
      }
      if (last_attempt) return ErrorFor(call, *response, attempt + 1);
      Log().Warn("Datadog rate limit reached (429)",
                 {{"endpoint", call.endpoint}, {"bucket", bucket_name}, {"reset_s", reset}});
      continue;  // WaitForBucket waits until the reset
    }
    if (s >= 500 || s == 408) {
      if (last_attempt) return ErrorFor(call, *response, attempt + 1);
      double wait = Backoff(attempt);
      Log().Warn("Datadog server error; retrying",
                 {{"endpoint", call.endpoint}, {"status", s}, {"retry_in_s", wait}});
      if (!Wait(call.endpoint, wait, false)) return cancelled();
      continue;
    }
    return ErrorFor(call, *response, attempt + 1);
  }
  return last;
}

// ---- HttpDatadogSource ----

namespace {

std::string EpochMillis(int64_t unix_nanos) { return std::to_string(unix_nanos / 1'000'000); }

// Calls and parses; a 2xx body that does not parse is asked for again (ApiCall::read_body).
template <typename T, typename Parse>
absl::StatusOr<T> CallParsed(DatadogHttpClient& client, ApiCall call, Parse parse) {
  std::optional<absl::StatusOr<T>> parsed;
  call.read_body = [&](const HttpResponse& r) -> absl::Status {
    parsed = parse(r.body);
    return parsed->status();
  };
  absl::StatusOr<HttpResponse> r = client.Call(call);
  if (!r.ok()) return r.status();
  return std::move(*parsed);
}

}  // namespace

absl::Status HttpDatadogSource::Validate() {
  ApiCall call{.endpoint = "validate", .path = "/api/v1/validate", .needs_app_key = false};
  absl::StatusOr<HttpResponse> r = client_.Call(call);
  if (!r.ok()) return r.status();
  if (r->body.find("\"valid\":true") == std::string::npos &&
      r->body.find("\"valid\": true") == std::string::npos) {
    return absl::PermissionDeniedError(
        absl::StrCat("Datadog did not confirm the API key (", DescribeErrorBody(r->body),
                     "): check DD_API_KEY for site ", client_.options().site));
  }
  // The application key: one cheap read that needs it.
  absl::StatusOr<ServiceDefinitionPage> page = ListServiceDefinitions(0, 1);
  if (!page.ok()) return Annotate(page.status(), "checking the application key (DD_APP_KEY)");
  return absl::OkStatus();
}

absl::StatusOr<ServiceDefinitionPage> HttpDatadogSource::ListServiceDefinitions(int32_t page_number,
                                                                                int32_t page_size) {
  ApiCall call{.endpoint = "service_definitions",
               .path = "/api/v2/services/definitions",
               .query = {{"page[size]", std::to_string(page_size)},
                         {"page[number]", std::to_string(page_number)}},
               .scope = "apm_service_catalog_read"};
  absl::StatusOr<ServiceDefinitionPage> page = CallParsed<ServiceDefinitionPage>(
      client_, std::move(call), [](const std::string& b) { return ParseServiceDefinitions(b); });
  if (!page.ok()) {
    return Annotate(page.status(), absl::StrCat("service definitions page ", page_number));
  }
  page->has_more = page->raw_items >= static_cast<size_t>(page_size) && page_size > 0;
  return page;
}

absl::StatusOr<CatalogEntityPage> HttpDatadogSource::ListCatalogEntities(int64_t offset,
                                                                         int32_t limit) {
  ApiCall call{.endpoint = "catalog_entities",
               .path = "/api/v2/catalog/entity",
               .query = {{"page[offset]", std::to_string(offset)},
                         {"page[limit]", std::to_string(limit)},
                         {"filter[kind]", "service"}},
               .scope = "apm_service_catalog_read"};
  absl::StatusOr<CatalogEntityPage> page = CallParsed<CatalogEntityPage>(
      client_, std::move(call), [](const std::string& b) { return ParseCatalogEntities(b); });
  if (!page.ok()) return Annotate(page.status(), absl::StrCat("catalog entities at ", offset));
  if (page->raw_items < static_cast<size_t>(limit)) page->next_offset.reset();
  return page;
}

absl::StatusOr<std::vector<v1::ApmObservation>> HttpDatadogSource::ListApmServices() {
  ApiCall call{.endpoint = "apm_services",
               .path = "/api/v2/apm/services",
               .query = {{"filter[env]", "*"}},
               .scope = "apm_read"};
  return CallParsed<std::vector<v1::ApmObservation>>(
      client_, std::move(call), [](const std::string& b) { return ParseApmServices(b); });
}

absl::StatusOr<AggregateResult> HttpDatadogSource::AggregateSpanCounts(
    const AggregateQuery& query) {
  using ojson = nlohmann::ordered_json;
  ojson compute = {{"aggregation", "count"}};
  if (query.interval.empty()) {
    compute["type"] = "total";
  } else {
    compute["type"] = "timeseries";
    compute["interval"] = query.interval;
  }
  ojson group_by = ojson::array();
  for (size_t i = 0; i < query.group_by.size(); ++i) {
    ojson g = {{"facet", query.group_by[i]}, {"limit", query.group_limit}};
    if (i > 0 && !query.missing.empty()) g["missing"] = query.missing;
    g["sort"] = {{"aggregation", "count"}, {"order", "desc"}};
    group_by.push_back(std::move(g));
  }
  const ojson request = {{"data",
                          {{"type", "aggregate_request"},
                           {"attributes",
                            {{"filter",
                              {{"query", query.query},
                               {"from", EpochMillis(query.from_unix_nano)},
                               {"to", EpochMillis(query.to_unix_nano)}}},
                             {"compute", ojson::array({compute})},
                             {"group_by", group_by},
                             {"options", {{"timezone", "UTC"}}}}}}}};
  // Invalid UTF-8 in the query is replaced, not thrown: the API answers for it.
  std::string body = request.dump(-1, ' ', false, ojson::error_handler_t::replace);
  ApiCall call{.endpoint = "spans_aggregate",
               .method = "POST",
               .path = "/api/v2/spans/analytics/aggregate",
               .body = std::move(body),
               .scope = "apm_read"};
  return CallParsed<AggregateResult>(client_, std::move(call),
                                     [](const std::string& b) { return ParseAggregate(b); });
}

absl::Status HttpDatadogSource::ListSpans(const SpanQuery& query, SpanPage* page) {
  return ReadSpans(query, page, /*whole=*/true);
}

absl::Status HttpDatadogSource::ScanSpans(const SpanQuery& query, SpanPage* page) {
  return ReadSpans(query, page, /*whole=*/false);
}

absl::Status HttpDatadogSource::ReadSpans(const SpanQuery& query, SpanPage* page, bool whole) {
  if (query.limit < 1 || query.limit > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("span page limit ", query.limit, " is outside 1..1000"));
  }
  ApiCall call{.endpoint = "spans_list",
               .path = "/api/v2/spans/events",
               .query = {{"filter[query]", query.query},
                         {"filter[from]", EpochMillis(query.from_unix_nano)},
                         {"filter[to]", EpochMillis(query.to_unix_nano)},
                         {"page[limit]", std::to_string(query.limit)},
                         {"sort", "timestamp"}},
               .scope = "apm_read"};
  if (!query.cursor.empty()) call.query.emplace_back("page[cursor]", query.cursor);
  // Parsed (or scanned, the body moved into the page) straight into `page`: a 2xx body that
  // does not parse, or whose paging cannot be read, is asked for again.
  call.read_body = [page, whole](HttpResponse& r) {
    page->Clear();
    return whole ? ParseSpanPageInPlace(r.body, page) : ScanSpanPage(&r.body, page);
  };
  absl::StatusOr<HttpResponse> r = client_.Call(call);
  if (!r.ok()) return r.status();
  if (page->items == 0) page->next_cursor.clear();
  // Parsed, or swapped for the buffer the page held before: the next page is written into it.
  client_.RecycleBody(std::move(r->body));
  return absl::OkStatus();
}

}  // namespace apmcov::datadog
