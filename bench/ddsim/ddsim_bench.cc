// ddsim serving rate in spans/s of JSON (design §11: ≥ 300k spans/s on one core). Prints one
// JSON line per figure:
//   generate        GenerateBucket alone (spans/s)
//   render          rendering cached spans to Spans API JSON (spans/s)
//   pages_inprocess 1000-span pages through DdsimApi::Handle, cold buckets (spans/s)
//   pages_http      the same over HTTP with keep-alive (libcurl client in this thread);
//                   spans_per_cpu_sec counts the server's CPU only
// Usage: ddsim_bench [--seconds-of-traffic N] [--spans-per-second R] [--services N]
#include <curl/curl.h>
#include <sched.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "apmcov/base/clock.h"
#include "ddsim/http/api.h"
#include "ddsim/http/server.h"
#include "ddsim/http/span_render.h"

namespace {

using namespace apmcov;
using namespace apmcov::ddsim;
using Clk = std::chrono::steady_clock;

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void Line(const char* name, double spans, double wall_s, double cpu_s, double bytes,
          const char* extra = "") {
  std::printf(
      "{\"bench\":\"ddsim_%s\",\"spans\":%.0f,\"seconds\":%.3f,\"spans_per_sec\":%.0f,"
      "\"spans_per_cpu_sec\":%.0f,\"bytes_per_span\":%.0f,\"cores\":%u%s}\n",
      name, spans, wall_s, spans / wall_s, cpu_s > 0 ? spans / cpu_s : 0.0,
      spans > 0 ? bytes / spans : 0.0, std::thread::hardware_concurrency(), extra);
  std::fflush(stdout);
}

int64_t Arg(int argc, char** argv, const char* name, int64_t def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atoll(argv[i + 1]);
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t seconds = Arg(argc, argv, "--seconds-of-traffic", 6);
  const int64_t sps = Arg(argc, argv, "--spans-per-second", 300000);
  const int services = static_cast<int>(Arg(argc, argv, "--services", 2000));
  const int64_t now_s = 1'795'300'000;
  auto world = GenerateWorld({9, services});
  if (!world.ok()) return 2;
  TrafficOptions traffic;
  traffic.seed = 9;
  traffic.spans_per_second = static_cast<double>(sps);
  traffic.traffic_start_ns = (now_s - 3600) * kBucketNanos;

  // 1. Generation alone.
  {
    const auto t0 = Clk::now();
    const double c0 = ThreadCpuSeconds();
    size_t n = 0;
    for (int64_t b = 0; b < seconds; ++b)
      n += GenerateBucket(*world, traffic, now_s - 1000 + b)->spans.size();
    Line("generate", static_cast<double>(n), std::chrono::duration<double>(Clk::now() - t0).count(),
         ThreadCpuSeconds() - c0, 0);
  }
  // 2. Rendering alone.
  {
    auto bucket = GenerateBucket(*world, traffic, now_s - 2000);
    SpanRenderer renderer(*world);
    std::string out;
    out.reserve(2 << 20);
    size_t bytes = 0;
    const auto t0 = Clk::now();
    const double c0 = ThreadCpuSeconds();
    for (const Span& s : bucket->spans) {
      renderer.AppendSpanEvent(out, s);
      if (out.size() > (1 << 20)) {
        bytes += out.size();
        out.clear();
      }
    }
    bytes += out.size();
    Line("render", static_cast<double>(bucket->spans.size()),
         std::chrono::duration<double>(Clk::now() - t0).count(), ThreadCpuSeconds() - c0,
         static_cast<double>(bytes));
  }
  ManualClock clock{std::chrono::system_clock::time_point(std::chrono::seconds(now_s))};
  ApiOptions options;
  options.api_key = "k";
  options.app_key = "a";
  options.rate_limits = *RateLimiter::ParseSpec("unlimited");
  const std::string from = std::to_string((now_s - 3000) * 1000),
                    to = std::to_string((now_s - 3000 + seconds) * 1000);
  // 3. Pages through the API object, cold cache (generation + sort + filter + render).
  {
    DdsimApi api(*world, traffic, options, clock);
    HttpRequest r;
    r.method = "GET";
    r.path = "/api/v2/spans/events";
    r.headers = {{"dd-api-key", "k"}, {"dd-application-key", "a"}, {"host", "bench"}};
    r.query = {{"filter[from]", from},
               {"filter[to]", to},
               {"sort", "timestamp"},
               {"page[limit]", "1000"},
               {"filter[query]", "retained_by:(flat_sampled OR diversity_sampling)"}};
    size_t spans = 0, bytes = 0, pages = 0;
    const auto t0 = Clk::now();
    const double c0 = ThreadCpuSeconds();
    while (true) {
      HttpResponse resp = api.Handle(r);
      if (resp.status != 200) return 1;
      if (resp.body == "{\"data\":[]}") break;
      const size_t at = resp.body.rfind("\"after\":\"");
      const std::string cursor = resp.body.substr(at + 9, resp.body.find('"', at + 9) - at - 9);
      r.query.resize(5);
      r.query.emplace_back("page[cursor]", cursor);
      bytes += resp.body.size();
      ++pages;
      spans += 1000;  // every page but the last is full; corrected below
    }
    // Exact count from the cached slices.
    size_t exact = 0;
    for (int64_t s = now_s - 3000; s < now_s - 3000 + seconds; ++s) {
      for (int64_t b : {s - 1, s}) {
        for (const Span& sp : api.GetBucket(b)->spans) {
          exact += sp.start_ns >= s * kBucketNanos && sp.start_ns < (s + 1) * kBucketNanos &&
                   sp.retained_by != Retention::kRetentionFilter;
        }
      }
    }
    char extra[64];
    std::snprintf(extra, sizeof extra, ",\"pages\":%zu,\"page_size\":1000", pages);
    Line("pages_inprocess", static_cast<double>(exact),
         std::chrono::duration<double>(Clk::now() - t0).count(), ThreadCpuSeconds() - c0,
         static_cast<double>(bytes), extra);
    (void)spans;
  }
  // 4. Over HTTP with keep-alive: one server thread, the client on another core.
  {
    DdsimApi api(*world, traffic, options, clock);
    DdsimServer server(api, "127.0.0.1", 0);
    if (!server.Start().ok()) return 1;
    CURL* curl = curl_easy_init();
    std::string body;
    curl_easy_setopt(
        curl, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
          static_cast<std::string*>(u)->append(p, s * n);
          return s * n;
        });
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    struct curl_slist* hs = nullptr;
    hs = curl_slist_append(hs, "DD-API-KEY: k");
    hs = curl_slist_append(hs, "DD-APPLICATION-KEY: a");
    hs = curl_slist_append(hs, "Connection: keep-alive");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hs);
    std::string url =
        "http://127.0.0.1:" + std::to_string(server.port()) +
        "/api/v2/spans/events?sort=timestamp&page%5Blimit%5D=1000&filter%5Bfrom%5D=" + from +
        "&filter%5Bto%5D=" + to;
    size_t spans = 0, bytes = 0, pages = 0;
    const auto t0 = Clk::now();
    timespec p0{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p0);
    const double client0 = ThreadCpuSeconds();
    while (true) {
      body.clear();
      curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
      if (curl_easy_perform(curl) != CURLE_OK) return 1;
      if (body == "{\"data\":[]}") break;
      // A cheap scan (not a JSON parse) so the client costs little next to the server.
      for (size_t at = body.find("\"type\":\"spans\""); at != std::string::npos;
           at = body.find("\"type\":\"spans\"", at + 1)) {
        ++spans;
      }
      bytes += body.size();
      ++pages;
      const size_t n = body.rfind("\"next\":\"") + 8;
      url = body.substr(n, body.find('"', n) - n);
    }
    timespec p1{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p1);
    const double proc_cpu = static_cast<double>(p1.tv_sec - p0.tv_sec) +
                            static_cast<double>(p1.tv_nsec - p0.tv_nsec) * 1e-9;
    const double client_cpu = ThreadCpuSeconds() - client0;
    const double server_cpu = proc_cpu - client_cpu;
    char extra[128];
    std::snprintf(extra, sizeof extra,
                  ",\"pages\":%zu,\"page_size\":1000,\"server_cpu_s\":%.3f,\"client_cpu_s\":%.3f",
                  pages, server_cpu, client_cpu);
    // spans_per_sec: wall clock, one client waiting for each page (server + client in turn).
    // spans_per_cpu_sec: the server's CPU alone (every thread but the client's): the figure
    // for "spans/s of JSON on one core".
    Line("pages_http_keepalive", static_cast<double>(spans),
         std::chrono::duration<double>(Clk::now() - t0).count(), server_cpu,
         static_cast<double>(bytes), extra);
    curl_slist_free_all(hs);
    curl_easy_cleanup(curl);
  }
  return 0;
}
