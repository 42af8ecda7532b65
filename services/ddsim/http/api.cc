#include "ddsim/http/api.h"

#include <algorithm>

#include "ddsim/http/responses.h"

namespace apmcov::ddsim {

DdsimApi::DdsimApi(const World& world, const TrafficOptions& traffic, ApiOptions options,
                   Clock& clock)
    : world_(world),
      traffic_(traffic),
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

void DdsimApi::SetFaults(const FaultPlan& plan) {
  faults_.Set(plan);
  limiter_.ForceExhausted(0);
}

std::map<std::string, std::map<int, int64_t>> DdsimApi::RequestCounts() {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

void DdsimApi::Count(Endpoint endpoint, const HttpResponse& resp) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  ++stats_[std::string(EndpointName(endpoint))][resp.drop_connection ? 0 : resp.status];
}

HttpResponse DdsimApi::Handle(const HttpRequest& r) {
  ++request_seq_;
  const Endpoint endpoint = ClassifyEndpoint(r.method, r.path);
  HttpResponse resp;
  switch (FamilyOf(endpoint)) {
    case Family::kNone:
      resp = Legacy(404, "Not Found");
      break;
    case Family::kControl:
      resp = ControlEndpoint(endpoint, r);
      break;
    case Family::kAgent:
      // A local Agent: no keys, no rate limits, and the API's injected faults do not apply.
      resp = AgentEndpoint(endpoint, r);
      break;
    default:
      resp = ApiRequest(endpoint, r);
      break;
  }
  Count(endpoint, resp);
  return resp;
}

HttpResponse DdsimApi::ApiRequest(Endpoint endpoint, const HttpRequest& r) {
  // Faults first: they model the server misbehaving before it looks at the request.
  const FaultDecision fault = faults_.Next(EndpointName(endpoint), RateBucket(endpoint));
  HttpResponse resp;
  if (fault.drop) {
    resp.drop_connection = true;
  } else if (fault.server_error_status != 0) {
    resp = Legacy(fault.server_error_status, "Internal Server Error");
  } else {
    // Keys: DD-API-KEY everywhere, DD-APPLICATION-KEY everywhere but /api/v1/validate.
    const std::string* api = r.Header("dd-api-key");
    const std::string* app = r.Header("dd-application-key");
    if (api == nullptr || api->empty()) {
      resp = Legacy(403, "API key required");
    } else if ((!options_.api_key.empty() && *api != options_.api_key) ||
               (endpoint != Endpoint::kValidate &&
                (app == nullptr || app->empty() ||
                 (!options_.app_key.empty() && *app != options_.app_key)))) {
      resp = Legacy(403, "Forbidden");
    } else {
      const int64_t now_s = clock_.NowUnixNanos() / kBucketNanos;
      RateDecision d = limiter_.Acquire(std::string(RateBucket(endpoint)), now_s);
      if (fault.rate_limited) {
        d.allowed = false;
        d.remaining = 0;
      }
      if (!d.allowed) {
        resp = endpoint == Endpoint::kSpansList || endpoint == Endpoint::kSpansSearch
                   ? JsonApiError(429, "Too many requests")
                   : Legacy(429, "Too many requests");
      } else {
        resp = Route(endpoint, r);
      }
      resp.headers.emplace_back("X-RateLimit-Limit", std::to_string(d.limit));
      resp.headers.emplace_back("X-RateLimit-Period", std::to_string(d.period_s));
      resp.headers.emplace_back("X-RateLimit-Remaining", std::to_string(d.remaining));
      resp.headers.emplace_back("X-RateLimit-Reset", std::to_string(d.reset_s));
      resp.headers.emplace_back("X-RateLimit-Name", d.name);
    }
  }
  resp.delay_ms = fault.delay_ms;
  if (fault.malformed && !resp.body.empty()) {
    resp.body =
        "{\"data\": [{\"id\": \"AAAA\", \"type\": \"spans\", \"attributes\": {\"service\": ";
  } else if (fault.truncated && resp.body.size() > 1) {
    resp.body.resize(resp.body.size() / 2);
  }
  return resp;
}

HttpResponse DdsimApi::Route(Endpoint endpoint, const HttpRequest& r) {
  switch (FamilyOf(endpoint)) {
    case Family::kKeys: {
      HttpResponse resp;
      resp.body = "{\"valid\":true}";
      return resp;
    }
    case Family::kCatalog:
      return CatalogEndpoint(endpoint, r);
    case Family::kSpans:
      return SpansEndpoint(endpoint, r);
    case Family::kTrace:
      return Trace(std::string(PathParameter(endpoint, r.path)));
    case Family::kScorecards:
      return scorecards_.Handle(endpoint, r);
    case Family::kNone:
    case Family::kControl:
    case Family::kAgent:
      break;
  }
  return Legacy(404, "Not Found");
}

}  // namespace apmcov::ddsim
