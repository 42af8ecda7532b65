#include "gateway_test_env.h"

#include <cstdio>

#include "apmcov/base/status.h"

namespace apmcov::gateway::testing {
namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kDay = 24 * kHour;

int64_t FloorHour(int64_t ns) { return ns / kHour * kHour; }

store::CatalogServiceRecord Service(const std::string& snapshot, int64_t synced,
                                    const std::string& name, const std::string& team,
                                    const std::string& tier, const std::string& lifecycle,
                                    std::vector<std::string> envs, bool customer_facing) {
  store::CatalogServiceRecord s;
  s.snapshot_id = snapshot;
  s.synced_at_ns = synced;
  s.name = name;
  s.team = team;
  s.tier = tier;
  s.lifecycle = lifecycle;
  s.envs = std::move(envs);
  s.customer_facing = customer_facing;
  return s;
}

store::ApmObservationRecord Seen(const std::string& service, const std::string& env,
                                 int64_t last_seen, uint64_t spans, bool traced, bool usm = false,
                                 std::vector<std::string> languages = {},
                                 std::vector<std::string> infra_hints = {}) {
  return {service,  env, traced, usm, spans, std::move(languages), std::move(infra_hints),
          last_seen};
}

store::SyncJobRecord Job(const std::string& id, const std::string& trigger,
                         const std::string& state, int64_t started, std::optional<int64_t> finished,
                         int64_t api_calls, int64_t pages, int64_t spans, const std::string& error,
                         int64_t updated, int64_t sampled, int64_t skipped) {
  store::SyncJobRecord j;
  j.id = id;
  j.trigger = trigger;
  j.state = state;
  j.started_at_ns = started;
  j.finished_at_ns = finished;
  j.api_calls = api_calls;
  j.pages = pages;
  j.spans = spans;
  j.error = error;
  j.updated_at_ns = updated;
  j.sampled_seconds = sampled;
  j.skipped_seconds = skipped;
  return j;
}

}  // namespace

// The world:
//  catalog: checkout (web, prod+staging, kubernetes tag, go, tier 1, customer-facing, traced),
//   payments (payments team, prod, customer-facing, USM-only), inventory (web, spans in prod
//   only, infra from spans: ecs, java), search (team with a comma and quotes, never seen),
//   legacy (deprecated, traced), gone (removed by a complete snapshot), and 30 filler services
//   svc-00..svc-29 (team filler, half traced) for paging.
//  shadow: ghost (APM only), gone (removed from the catalog, still in APM).
//  broken traces: 101 (checkout -> payments uninstrumented_callee), 102 (orphan_span, rootless),
//   18446744073709551615 (old, 3 days ago).
//  dependencies: checkout -> payments (12 traces), checkout -> postgres (40), inventory -> kafka
//   (3).
//  sample (design §7.1): jobs 1 and 2 read 60 + 40 s of span time and skipped 300 s (sampled
//   share 0.25); judged an hour ago: checkout 8 broken of 60, rootless 5 of 40 (13 of 100);
//   3 days ago: 1000 of 1000 (outside the lookback). Job 3 is running.
absl::Status SeedWorld(store::CoverageStore& store, int64_t now) {
  store::WriteBatch b;
  // "gone" was listed by an older snapshot only; the complete one an hour ago removes it.
  b.catalog_services.push_back(
      Service("s-old", now - 2 * kHour, "gone", "web", "", "production", {}, false));
  const int64_t synced = now - kHour;
  store::CatalogServiceRecord checkout =
      Service("s-now", synced, "checkout", "web", "1", "production", {"prod", "staging"}, true);
  checkout.languages = {"go"};
  checkout.infra = "kubernetes";
  checkout.tags = {"env:prod", "infra:kubernetes"};
  checkout.links_json = R"([{"name":"runbook","url":"https://x"}])";
  b.catalog_services.push_back(checkout);
  b.catalog_services.push_back(
      Service("s-now", synced, "payments", "payments", "1", "production", {"prod"}, true));
  b.catalog_services.push_back(
      Service("s-now", synced, "inventory", "web", "2", "production", {}, false));
  store::CatalogServiceRecord search =
      Service("s-now", synced, "search", "Platform, \"Core\"", "", "", {}, false);
  search.languages = {"python"};
  search.infra = "vm";
  b.catalog_services.push_back(search);
  b.catalog_services.push_back(
      Service("s-now", synced, "legacy", "web", "3", "deprecated", {"prod"}, true));
  for (int i = 0; i < 30; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "svc-%02d", i);
    b.catalog_services.push_back(
        Service("s-now", synced, name, "filler", "", "production", {"prod"}, false));
    if (i % 2 == 0) {
      b.apm_observations.push_back(Seen(name, "prod", now - 30 * kMin, i, /*traced=*/true));
    }
  }
  b.snapshot_ends.push_back({"s-now", 35, synced});

  b.apm_observations.push_back(
      Seen("checkout", "prod", now - kHour, 1000, true, false, {"go"}, {"kubernetes"}));
  b.apm_observations.push_back(
      Seen("checkout", "staging", now - 2 * kHour, 10, true, false, {"go"}, {"kubernetes"}));
  b.apm_observations.push_back(Seen("payments", "prod", now - kHour, 0, false, /*usm=*/true));
  b.apm_observations.push_back(
      Seen("inventory", "prod", now - kHour, 50, false, false, {"java"}, {"ecs"}));
  b.apm_observations.push_back(Seen("legacy", "prod", now - kHour, 5, true));
  b.apm_observations.push_back(Seen("ghost", "prod", now - kHour, 77, true));
  b.apm_observations.push_back(Seen("gone", "prod", now - kHour, 3, true));

  constexpr int64_t kSpanT0 = 1'700'000'000'000'000'000;
  store::BrokenTraceRecord t101;
  t101.trace_id = 101;
  t101.env = "prod";
  t101.root_service = "checkout";
  t101.started_at_ns = now - 10 * kMin;
  t101.duration_ns = 5'000'000;
  t101.span_count = 3;
  t101.services = {"checkout", "inventory"};
  t101.missing_services = {"payments"};
  t101.gap_kinds = {"uninstrumented_callee"};
  t101.detected_at_ns = now;
  t101.gaps = {{2, "uninstrumented_callee", "checkout", "payments", "payments.internal:8443", ""}};
  t101.spans = {{1, 0, "checkout", "POST /checkout", "server", "web", kSpanT0, 5'000'000, ""},
                {2, 1, "checkout", "POST /pay", "client", "http", kSpanT0 + 1'000'000, 3'000'000,
                 "payments.internal:8443"},
                {3, 1, "inventory", "GET /stock", "server", "web", kSpanT0 + 500'000, 400'000, ""}};
  store::BrokenTraceRecord t102;
  t102.trace_id = 102;
  t102.env = "prod";
  t102.started_at_ns = now - 20 * kMin;
  t102.duration_ns = 2'000'000;
  t102.span_count = 2;
  t102.services = {"inventory"};
  t102.gap_kinds = {"missing_root", "orphan_span"};
  t102.detected_at_ns = now;
  t102.gaps = {{7, "missing_root", "inventory", std::nullopt, "", ""},
               {7, "orphan_span", "inventory", std::nullopt, "", ""}};
  t102.spans = {{7, 99, "inventory", "GET /x", "server", "web", kSpanT0, 2'000'000, ""}};
  store::BrokenTraceRecord old;
  old.trace_id = 18446744073709551615u;
  old.env = "staging";
  old.root_service = "checkout";
  old.started_at_ns = now - 3 * kDay;
  old.duration_ns = 1000;
  old.span_count = 1;
  old.services = {"checkout"};
  old.gap_kinds = {"propagation_break"};
  old.detected_at_ns = now - 3 * kDay;
  old.gaps = {{1, "propagation_break", "checkout", std::nullopt, "", ""}};
  b.broken_traces = {t101, t102, old};

  // Each edge seen in its number of distinct traces.
  uint64_t trace = 1;
  for (const auto& [to, kind, to_kind, traces] :
       std::vector<std::tuple<std::string, std::string, std::string, int>>{
           {"payments", "call", "service", 12}, {"postgres", "db", "datastore", 40}}) {
    for (int i = 0; i < traces; ++i) {
      b.dependencies.push_back({"checkout", to, kind, to_kind, trace++, now});
    }
  }
  for (int i = 0; i < 3; ++i) {
    b.dependencies.push_back({"inventory", "kafka", "messaging", "queue", trace++, now});
  }

  b.coverage_rows = {{now - 2 * kDay, "overall", "all", 34, 15},
                     {now - kDay, "overall", "all", 34, 17},
                     {now - kDay, "team", "web", 3, 2},
                     {now - kDay, "team", "filler", 30, 15}};

  b.sync_jobs = {
      Job("job-1", "schedule", "succeeded", now - 2 * kHour, now - 119 * kMin, 12, 10, 9000, "",
          now - 119 * kMin, 60, 0),
      Job("job-2", "manual", "partial", now - kHour, now - 59 * kMin, 8, 6, 5000,
          "span budget reached", now - 59 * kMin, 40, 300),
      Job("job-3", "schedule", "running", now - kMin, std::nullopt, 2, 1, 100, "", now, 0, 0)};
  b.edge_cuts = {{"job-1", 2}, {"job-2", 5}};
  b.judgements = {{FloorHour(now - kHour), "checkout", 60, 8},
                  {FloorHour(now - kHour), "", 40, 5},
                  {FloorHour(now - 3 * kDay), "checkout", 1000, 1000}};
  return store.Apply(b).status();
}

absl::Status SeedBulkServices(store::CoverageStore& store, int64_t now, int64_t count) {
  for (int64_t first = 1; first <= count; first += 1000) {
    store::WriteBatch b;
    for (int64_t i = first; i <= count && i < first + 1000; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "bulk-%05lld", static_cast<long long>(i));
      b.catalog_services.push_back(Service("s-bulk", now - kHour, name,
                                           "team-" + std::to_string(i % 40), std::to_string(i % 3),
                                           "production", {"prod"}, i % 7 == 0));
      if (i % 3 == 1) {
        b.apm_observations.push_back(Seen(name, "prod", now - kHour, static_cast<uint64_t>(i), true,
                                          false, {}, {"kubernetes"}));
      }
    }
    APMCOV_RETURN_IF_ERROR(store.Apply(b).status());
  }
  return absl::OkStatus();
}

absl::Status RecordingPublisher::Publish(bus::OutgoingMessage message) {
  std::lock_guard lock(mu_);
  messages_.push_back(std::move(message));
  return absl::OkStatus();
}
absl::Status RecordingPublisher::Flush(std::chrono::milliseconds) {
  if (fail) return absl::UnavailableError("broker down (test)");
  return absl::OkStatus();
}
absl::StatusOr<int32_t> RecordingPublisher::PartitionCount(const std::string&) { return 1; }
std::vector<bus::OutgoingMessage> RecordingPublisher::messages() const {
  std::lock_guard lock(mu_);
  return messages_;
}

}  // namespace apmcov::gateway::testing
