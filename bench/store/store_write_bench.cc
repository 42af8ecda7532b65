// The analyzer's heaviest PostgreSQL writes through PostgresCoverageStore::Apply, against the
// PostgreSQL of DATABASE_URL (a private database is created and dropped, as the tests do):
//
//   broken_traces  batches of 500 broken traces of one consumed batch: each with 4 gaps and
//                  10 spans (COPY), their services / missing services / gap kinds lists;
//   apm_services   an upsert of 3,000 APM rows (service, env, languages, infra hints), first
//                  as inserts then as updates (the merge of every column);
//   dependencies   what a consumed batch of 5,000 judged traces adds: 6 edges each over 400
//                  services, one observation per (edge, trace), every trace new.
//
// Prints one JSON line per figure with rows/s (median of the rounds) and the core count; the
// broken traces and dependencies also print this process's CPU per row (the client's side:
// building the statements and the COPY, not the server's).
//
//   DATABASE_URL=... apmcov-bench-store-write [--rounds N] [--traces N] [--apm-rows N]
//                                             [--dependency-traces N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../common/bench_stats.h"
#include "apmcov/store/postgres_store.h"
#include "test_database.h"

namespace {

using namespace apmcov;
using namespace apmcov::store;
constexpr int64_t kSec = 1'000'000'000;

int Arg(int argc, char** argv, const char* name, int def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  }
  return def;
}

std::string Svc(int i) { return "svc-" + std::to_string(i % 400); }

// `n` broken traces with ids from `first`, 4 gaps and 10 spans each.
WriteBatch Traces(uint64_t first, int n, int64_t t0) {
  WriteBatch b;
  for (int i = 0; i < n; ++i) {
    BrokenTraceRecord t;
    t.trace_id = first + static_cast<uint64_t>(i);
    t.trace_id_high = 0x6568a1b200000000ULL;
    t.env = "prod";
    t.root_service = Svc(i);
    t.started_at_ns = t0 + i * 1'000'000;
    t.duration_ns = 25'000'000;
    t.span_count = 10;
    t.services = {Svc(i), Svc(i + 1), Svc(i + 2), Svc(i + 3)};
    t.missing_services = {Svc(i + 7), Svc(i + 9)};
    t.gap_kinds = {"propagation_break", "uninstrumented_callee"};
    t.detected_at_ns = t0 + 600 * kSec;
    for (uint64_t g = 0; g < 4; ++g) {
      t.gaps.push_back({100 + g, g % 2 ? "propagation_break" : "uninstrumented_callee", Svc(i),
                        Svc(i + 7 + static_cast<int>(g)), Svc(i + 7) + ".internal:8443",
                        "client span without a server child"});
    }
    for (uint64_t s = 0; s < 10; ++s) {
      t.spans.push_back({100 + s, s == 0 ? 0 : 99 + s, Svc(i + static_cast<int>(s % 4)),
                         "GET /api/v1/items/{id}", s % 2 ? "client" : "server", "web",
                         t.started_at_ns + static_cast<int64_t>(s) * 1000, 1'000'000,
                         s % 2 ? Svc(i + 7) + ".internal:8443" : ""});
    }
    b.broken_traces.push_back(std::move(t));
  }
  return b;
}

WriteBatch Apm(int rows, int64_t seen) {
  WriteBatch b;
  for (int i = 0; i < rows; ++i) {
    ApmObservationRecord o;
    o.service = "apm-svc-" + std::to_string(i / 3);
    o.env = i % 3 == 0 ? "prod" : i % 3 == 1 ? "staging" : "*";
    o.traced = i % 5 != 0;
    o.usm = i % 4 == 0;
    o.span_count = static_cast<uint64_t>(1000 + i);
    o.languages = {i % 2 ? "go" : "python", "java"};
    o.infra_hints = {"kubernetes"};
    o.last_seen_ns = seen + i;
    b.apm_observations.push_back(std::move(o));
  }
  return b;
}

// `n` judged traces with ids from `first`, 6 edges each: what AppendDependencyRecords gives.
WriteBatch Dependencies(uint64_t first, int n, int64_t t0) {
  WriteBatch b;
  for (int i = 0; i < n; ++i) {
    for (int e = 0; e < 6; ++e) {
      const bool db = e == 5;
      b.dependencies.push_back(
          {"service-" + Svc(i + e) + "-api",
           db ? "postgres-orders.internal" : "service-" + Svc(i + e + 1) + "-api",
           db ? "db" : "call", db ? "datastore" : "service", first + static_cast<uint64_t>(i),
           t0 + i * 1'000'000});
    }
  }
  return b;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void Print(const char* figure, double rows_per_s, double per_round_rows, int rounds,
           const char* extra_key, double extra) {
  std::printf(
      "{\"bench\":\"store_write\",\"figure\":\"%s\",\"rows_per_s\":%.0f,\"rows_per_round\":%.0f,"
      "\"rounds\":%d,\"%s\":%.0f,\"cores\":%u}\n",
      figure, rows_per_s, per_round_rows, rounds, extra_key, extra,
      std::thread::hardware_concurrency());
  std::fflush(stdout);
}

// The client's CPU per row of a figure (median over rounds).
void PrintCpu(const char* figure, double ns_per_row) {
  std::printf(
      "{\"bench\":\"store_write\",\"figure\":\"%s_client_cpu\",\"ns_per_row\":%.0f,"
      "\"cores\":%u}\n",
      figure, ns_per_row, std::thread::hardware_concurrency());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = Arg(argc, argv, "--rounds", 7);
  const int traces = Arg(argc, argv, "--traces", 500);
  const int apm_rows = Arg(argc, argv, "--apm-rows", 3000);
  const int dependency_traces = Arg(argc, argv, "--dependency-traces", 5000);
  absl::StatusOr<store::testing::TestDatabase> db = store::testing::TestDatabase::Create();
  if (!db.ok()) {
    std::fprintf(stderr, "store bench: %s\n", std::string(db.status().message()).c_str());
    return 2;
  }
  PostgresCoverageStore store(db->url());
  const int64_t t0 = 1'795'300'000 * kSec;

  // Seconds one Apply took; -1 (and the reason on stderr) when it failed.
  auto TimedApply = [](auto& store, const WriteBatch& b) -> double {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<ApplyResult> applied = store.Apply(b);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!applied.ok()) {
      std::fprintf(stderr, "store bench: %s\n", std::string(applied.status().message()).c_str());
      return -1;
    }
    return s;
  };
  // One figure: `rounds` Applies of make_batch(round) of `rows` rows each, after a round that
  // warms the connection and the caches. The medians of rows/s and of the client's CPU per row.
  struct Figure {
    double rows_per_s = 0;
    double cpu_ns_per_row = 0;
  };
  auto Measure = [&](auto make_batch, double rows) -> std::optional<Figure> {
    std::vector<double> rates, cpu_ns;
    for (int r = 0; r < rounds + 1; ++r) {
      const WriteBatch b = make_batch(static_cast<uint64_t>(r));
      const double cpu = ThreadCpuSeconds();
      const double s = TimedApply(store, b);
      if (s < 0) return std::nullopt;
      if (r == 0) continue;
      cpu_ns.push_back((ThreadCpuSeconds() - cpu) / rows * 1e9);
      rates.push_back(rows / s);
    }
    return Figure{bench::Median(rates), bench::Median(cpu_ns)};
  };
  // Broken traces: rows = traces + gaps + spans.
  const double rows_per_batch = traces * (1.0 + 4 + 10);
  const std::optional<Figure> broken =
      Measure([&](uint64_t r) { return Traces(1 + r * static_cast<uint64_t>(traces), traces, t0); },
              rows_per_batch);
  if (!broken) return 1;
  Print("broken_traces", broken->rows_per_s, rows_per_batch, rounds, "traces_per_s",
        broken->rows_per_s / (1 + 4 + 10));
  PrintCpu("broken_traces", broken->cpu_ns_per_row);

  // Dependencies: every round's traces are new, so each counts on each of its edges.
  const double observations = dependency_traces * 6.0;
  const std::optional<Figure> deps = Measure(
      [&](uint64_t r) {
        return Dependencies(1'000'000'000 + r * static_cast<uint64_t>(dependency_traces),
                            dependency_traces, t0);
      },
      observations);
  if (!deps) return 1;
  Print("dependencies", deps->rows_per_s, observations, rounds, "traces_per_s",
        deps->rows_per_s / 6);
  PrintCpu("dependencies", deps->cpu_ns_per_row);

  // APM rows: the first round inserts, the next ones update every row.
  std::vector<double> apm_rates;
  for (int r = 0; r < rounds + 1; ++r) {
    const WriteBatch b = Apm(apm_rows, t0 + r * kSec);
    const double s = TimedApply(store, b);
    if (s < 0) return 1;
    if (r == 0) {
      Print("apm_services_insert", apm_rows / s, apm_rows, 1, "ms", s * 1000);
      continue;
    }
    apm_rates.push_back(apm_rows / s);
  }
  Print("apm_services_update", bench::Median(apm_rates), apm_rows, rounds, "cpu_ms",
        bench::ProcessCpuSeconds() * 1000);
  return 0;
}
