// Test harness: a DdsimApi on a ManualClock behind a real DdsimServer on 127.0.0.1:0, and a
// keep-alive libcurl client. Header-only; used by the integration and shape tests.
#pragma once

#include <curl/curl.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apmcov/base/clock.h"
#include "ddsim/http/api.h"
#include "ddsim/http/server.h"
#include "gtest/gtest.h"

namespace apmcov::ddsim::testing {

inline constexpr int64_t kNowSeconds = 1'795'300'000;  // the fixed "now" of every test
inline constexpr char kApiKey[] = "test-api-key";
inline constexpr char kAppKey[] = "test-app-key";

struct Reply {
  long status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  bool transport_error = false;
  std::string content_type() const {
    auto it = headers.find("content-type");
    return it == headers.end() ? "" : it->second;
  }
};

class Client {
 public:
  explicit Client(uint16_t port) : base_("http://127.0.0.1:" + std::to_string(port)) {
    curl_ = curl_easy_init();
  }
  ~Client() { curl_easy_cleanup(curl_); }

  Reply Get(const std::string& path_and_query, bool keys = true) {
    return Do("GET", path_and_query, "", keys);
  }
  Reply Post(const std::string& path, const std::string& body, bool keys = true) {
    return Do("POST", path, body, keys);
  }
  // Requests an absolute URL from a links.next (any host: ddsim ignores it).
  Reply GetUrl(const std::string& url) {
    const size_t p = url.find('/', url.find("://") + 3);
    return Get(url.substr(p));
  }
  Reply Do(const std::string& method, const std::string& path, const std::string& body, bool keys,
           std::vector<std::string> extra = {}, bool fresh = false) {
    Reply r;
    curl_easy_reset(curl_);
    const std::string url = base_ + path;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 20000L);
    if (fresh) {  // a new connection: libcurl silently retries a dropped reused one
      curl_easy_setopt(curl_, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(curl_, CURLOPT_FORBID_REUSE, 1L);
    }
    if (method == "POST" || method == "PUT") {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    struct curl_slist* hs = nullptr;
    hs = curl_slist_append(hs, "Connection: keep-alive");
    // A Content-Type among `extra` replaces the default one.
    const bool typed = std::any_of(extra.begin(), extra.end(), [](const std::string& h) {
      return h.rfind("Content-Type:", 0) == 0;
    });
    if (!typed) hs = curl_slist_append(hs, "Content-Type: application/json");
    if (keys) {
      hs = curl_slist_append(hs, (std::string("DD-API-KEY: ") + kApiKey).c_str());
      hs = curl_slist_append(hs, (std::string("DD-APPLICATION-KEY: ") + kAppKey).c_str());
    }
    for (const auto& h : extra) hs = curl_slist_append(hs, h.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(
        curl_, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
          static_cast<std::string*>(u)->append(p, s * n);
          return s * n;
        });
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(
        curl_, CURLOPT_HEADERFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
          std::string line(p, s * n);
          const size_t colon = line.find(':');
          if (colon != std::string::npos) {
            std::string name = line.substr(0, colon);
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::string value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
            while (!value.empty() && (value.back() == '\r' || value.back() == '\n'))
              value.pop_back();
            (*static_cast<std::map<std::string, std::string>*>(u))[name] = value;
          }
          return s * n;
        });
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &r.headers);
    const CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(hs);
    if (rc != CURLE_OK) {
      r.transport_error = true;
      return r;
    }
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
    return r;
  }

 private:
  std::string base_;
  CURL* curl_;
};

// World + API + server with a fixed clock. Traffic starts 20 minutes before "now".
class DdsimHarness {
 public:
  explicit DdsimHarness(std::map<std::string, RateLimit> limits = Unlimited(), int services = 200,
                        double sps = 300,
                        size_t agent_max_body_bytes = ApiOptions{}.agent_max_body_bytes)
      : clock_(std::chrono::system_clock::time_point(std::chrono::seconds(kNowSeconds))) {
    auto w = GenerateWorld({5, services});
    world_ = std::make_unique<World>(std::move(*w));
    TrafficOptions t;
    t.seed = 5;
    t.spans_per_second = sps;
    t.traffic_start_ns = (kNowSeconds - 1200) * kBucketNanos;
    ApiOptions o;
    o.api_key = kApiKey;
    o.app_key = kAppKey;
    o.rate_limits = std::move(limits);
    o.agent_max_body_bytes = agent_max_body_bytes;
    api_ = std::make_unique<DdsimApi>(*world_, t, o, clock_);
    server_ = std::make_unique<DdsimServer>(*api_, "127.0.0.1", 0);
    auto s = server_->Start();
    EXPECT_TRUE(s.ok()) << s;
  }
  static std::map<std::string, RateLimit> Unlimited() {
    return *RateLimiter::ParseSpec("unlimited");
  }

  uint16_t port() const { return server_->port(); }
  const World& world() const { return *world_; }
  DdsimApi& api() { return *api_; }
  ManualClock& clock() { return clock_; }

 private:
  ManualClock clock_;
  std::unique_ptr<World> world_;
  std::unique_ptr<DdsimApi> api_;
  std::unique_ptr<DdsimServer> server_;
};

}  // namespace apmcov::ddsim::testing
