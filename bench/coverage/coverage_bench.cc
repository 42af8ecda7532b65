// Analyzer core benchmark (design §11): assembly + gap detection on decoded spans, on one
// core, next to ReferenceDetector (a straightforward §6 implementation) on the same spans in
// the same run; then the assembler's memory with 1M spans in flight. One JSON line per figure.
//
// Input: a generated organisation (200 catalog services, 90% instrumented, shadow and external
// peers, datastores and queues) and traces of realistic shape: call trees of depth <= 4,
// client spans targeting services by name, hostname:port or URL, about 2% of traces with
// dropped spans (orphans, missing roots), 3% kept by a span-level retention filter, 10% split
// across two span windows, duplicates from replays. Event time advances 10 ms per trace and a
// watermark (the start of the current trace minus 1 s) follows every 1,000 traces
// (--watermark-every=N: every N), so about 12,000 traces (grace 120 s) are in flight in steady
// state.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/strings/str_split.h"
#include "apmcov/coverage/gap_detector.h"
#include "apmcov/coverage/span.h"
#include "apmcov/coverage/span_batch_decoder.h"
#include "apmcov/coverage/trace_assembler.h"
#include "apmcov/v1/events.pb.h"
#include "reference_detector.h"

namespace {

using apmcov::bench::ReferenceDetector;
using namespace apmcov::coverage;

constexpr int64_t kSec = 1'000'000'000;
constexpr int kServices = 200;

struct Event {
  bool watermark = false;
  int64_t watermark_ns = 0;
  size_t span = 0;  // index into the span arrays
};

// Owns every string the generated SpanFields point to.
struct Corpus {
  std::vector<std::string> services;
  std::vector<std::string> targets;  // per service: 3 spellings
  std::vector<std::string> externals;
  std::vector<std::string> shadows;
  std::vector<std::string> resources;
  std::vector<SpanFields> spans;
  std::vector<Event> events;
  size_t traces = 0;
};

bool Instrumented(int s) { return s % 10 != 3; }

class Generator {
 public:
  explicit Generator(Corpus& c) : c_(c), rng_(42) {
    for (int i = 0; i < kServices; ++i) {
      c_.services.push_back("svc-" + std::to_string(i));
      c_.targets.push_back("svc-" + std::to_string(i));
      c_.targets.push_back("svc-" + std::to_string(i) + ".internal:8443");
      c_.targets.push_back("http://svc-" + std::to_string(i) + ".prod.svc.cluster.local/v1");
    }
    for (int i = 0; i < 20; ++i)
      c_.externals.push_back("api.partner-" + std::to_string(i) + ".com");
    for (int i = 0; i < 10; ++i) c_.shadows.push_back("shadow-" + std::to_string(i));
    for (int i = 0; i < 50; ++i) c_.resources.push_back("GET /api/v1/items/" + std::to_string(i));
  }

  void Generate(size_t total_spans, bool watermarks, size_t watermark_every = 1000) {
    std::vector<std::vector<size_t>> deferred;  // second halves of split traces
    std::vector<size_t> deferred_due;
    int64_t now = int64_t{1'800'000'000} * kSec;
    while (c_.spans.size() < total_spans) {
      const size_t first = c_.spans.size();
      GenerateTrace(now);
      const size_t last = c_.spans.size();
      std::vector<size_t> order;
      for (size_t i = first; i < last; ++i) order.push_back(i);
      if (Chance(0.05) && order.size() > 1) order.push_back(order[Uniform(order.size())]);
      const bool split = Chance(0.10) && order.size() > 2;
      const size_t cut = split ? order.size() / 2 : order.size();
      for (size_t i = 0; i < cut; ++i) c_.events.push_back({false, 0, order[i]});
      if (split) {
        deferred.emplace_back(order.begin() + static_cast<ptrdiff_t>(cut), order.end());
        deferred_due.push_back(c_.traces + 500);
      }
      ++c_.traces;
      for (size_t d = 0; d < deferred.size();) {
        if (deferred_due[d] <= c_.traces) {
          for (size_t i : deferred[d]) c_.events.push_back({false, 0, i});
          deferred.erase(deferred.begin() + static_cast<ptrdiff_t>(d));
          deferred_due.erase(deferred_due.begin() + static_cast<ptrdiff_t>(d));
        } else {
          ++d;
        }
      }
      if (watermarks && c_.traces % watermark_every == 0)
        c_.events.push_back({true, now - kSec, 0});
      now += kSec / 100;
    }
    for (auto& d : deferred) {
      for (size_t i : d) c_.events.push_back({false, 0, i});
    }
    if (watermarks) c_.events.push_back({true, INT64_MAX, 0});
  }

 private:
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  size_t Uniform(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  uint64_t Id() { return rng_() | 1; }  // full 64-bit range, ids above 2^63 included

  size_t Push(uint64_t trace, uint64_t parent, int service, int64_t start, int64_t dur) {
    SpanFields f;
    f.trace_id_lo = trace;
    f.span_id = Id();
    f.parent_id = parent;
    f.service = c_.services[service];
    f.env = "prod";
    f.resource = c_.resources[Uniform(c_.resources.size())];
    f.start_ns = start;
    f.duration_ns = dur;
    f.retained_by = retained_;
    f.language = "go";
    f.infra_hint = "kubernetes";
    c_.spans.push_back(f);
    return c_.spans.size() - 1;
  }

  void Serve(uint64_t trace, uint64_t parent, int service, int64_t start, int depth) {
    const size_t idx = Push(trace, parent, service, start, 50'000'000 >> depth);
    c_.spans[idx].kind = "server";
    c_.spans[idx].type = "web";
    const uint64_t self = c_.spans[idx].span_id;
    const size_t calls = depth >= 3 ? 0 : Uniform(depth == 0 ? 5 : 4);
    for (size_t k = 0; k < calls && c_.spans.size() - trace_first_ < 60; ++k) {
      const int64_t at = start + static_cast<int64_t>(k + 1) * 1'000'000;
      const double roll = std::uniform_real_distribution<double>(0, 1)(rng_);
      const size_t ci = Push(trace, self, service, at, 5'000'000 >> depth);
      c_.spans[ci].kind = "client";
      c_.spans[ci].type = "http";
      const uint64_t client = c_.spans[ci].span_id;
      if (roll < 0.12) {
        c_.spans[ci].type = "sql";
        c_.spans[ci].db_system = "postgresql";
        c_.spans[ci].target = c_.targets[3 * Uniform(kServices) + 1];
      } else if (roll < 0.17) {
        c_.spans[ci].kind = "producer";
        c_.spans[ci].type = "queue";
        c_.spans[ci].messaging_system = "kafka";
        c_.spans[ci].target = "orders-topic";
      } else if (roll < 0.25) {
        c_.spans[ci].target = c_.externals[Uniform(c_.externals.size())];
      } else if (roll < 0.28) {
        c_.spans[ci].target = c_.shadows[Uniform(c_.shadows.size())];
      } else {
        const int callee = static_cast<int>(Uniform(kServices));
        c_.spans[ci].target = c_.targets[3 * static_cast<size_t>(callee) + Uniform(3)];
        if (Instrumented(callee)) {
          if (!Chance(0.02)) Serve(trace, client, callee, at + 100'000, depth + 1);
        } else if (Chance(0.3)) {
          Serve(trace, client, static_cast<int>(Uniform(kServices)), at + 100'000, depth + 1);
        }
      }
    }
  }

  void GenerateTrace(int64_t now) {
    const uint64_t trace = Id();
    trace_first_ = c_.spans.size();
    retained_ =
        Chance(0.03) ? "retention_filter" : (Chance(0.5) ? "flat_sampled" : "diversity_sampling");
    Serve(trace, 0, static_cast<int>(Uniform(kServices)), now, 0);
    c_.spans[trace_first_].trace_id_hi = rng_();
    const size_t n = c_.spans.size() - trace_first_;
    if (n > 2 && Chance(0.02)) {  // an uninstrumented proxy swallowed a span: orphans
      const size_t drop = trace_first_ + Uniform(n);
      c_.spans.erase(c_.spans.begin() + static_cast<ptrdiff_t>(drop));
    }
  }

  Corpus& c_;
  std::mt19937_64 rng_;
  size_t trace_first_ = 0;
  const char* retained_ = "flat_sampled";
};

// CPU time of this thread: the machine is shared, so wall time measures the neighbours too.
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

long RssKb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

ServiceDirectory Directory() {
  ServiceDirectory d;
  for (int i = 0; i < kServices; ++i) {
    d.catalog.insert("svc-" + std::to_string(i));
    if (Instrumented(i)) d.instrumented.insert("svc-" + std::to_string(i));
  }
  for (int i = 0; i < 10; ++i) d.apm_names.insert("shadow-" + std::to_string(i));
  return d;
}

struct CoreResult {
  double seconds = 0;  // thread CPU time
  double wall_seconds = 0;
  DetectorCounters detector;
  AssemblerCounters assembler;
  size_t max_in_flight_spans = 0;
};

// What the analyzer core is fed: pre-interned records, spans with string fields (interned as
// they come), or SpanBatch wire bytes (decoded and interned by DecodeSpanBatch, as the
// analyzer's consumer does).
enum class Input { kRecords, kStringFields, kWire };

// The same events as the analyzer receives them: one SpanBatch per run of consecutive spans of
// one trace (the collector's "spans of one trace from one page"), the watermarks between them;
// each span with every field the collector publishes (142 bytes a span on the wire; 187 with
// the operation and host the collector no longer publishes).
// `first`..`last` index Corpus::events; `bytes` is the batch's wire encoding.
struct Batch {
  bool watermark = false;
  int64_t watermark_ns = 0;
  size_t first = 0;
  size_t last = 0;
  std::string bytes;
};

std::vector<Batch> EncodeBatches(const Corpus& c) {
  std::vector<Batch> out;
  apmcov::v1::SpanBatch batch;
  size_t first = 0;
  auto flush = [&](size_t last) {
    if (batch.spans_size() == 0) return;
    out.push_back({false, 0, first, last, batch.SerializeAsString()});
    batch.Clear();
  };
  for (size_t i = 0; i < c.events.size(); ++i) {
    const Event& e = c.events[i];
    if (e.watermark) {
      flush(i);
      out.push_back({true, e.watermark_ns, i, i, {}});
      continue;
    }
    const SpanFields& f = c.spans[e.span];
    if (batch.spans_size() > 0 && batch.spans(0).trace_id() != f.trace_id_lo) flush(i);
    if (batch.spans_size() == 0) first = i;
    apmcov::v1::Span* s = batch.add_spans();
    s->set_trace_id(f.trace_id_lo);
    s->set_trace_id_high(f.trace_id_hi);
    s->set_span_id(f.span_id);
    s->set_parent_id(f.parent_id);
    s->set_start_unix_nano(f.start_ns);
    s->set_duration_ns(f.duration_ns);
    s->set_service(std::string(f.service));
    s->set_env(std::string(f.env));
    s->set_resource(std::string(f.resource));
    s->set_type(std::string(f.type));
    s->set_kind(std::string(f.kind));
    s->set_retained_by(std::string(f.retained_by));
    s->set_target(std::string(f.target));
    s->set_db_system(std::string(f.db_system));
    s->set_messaging_system(std::string(f.messaging_system));
    s->set_language(std::string(f.language));
    s->set_infra_hint(std::string(f.infra_hint));
    s->set_error(f.error);
  }
  flush(c.events.size());
  return out;
}

// The analyzer core's long-lived state: one per process in the analyzer, so its memory (the
// assembler's span slab and trace table, the detector's tables, the decode buffer) is touched
// for the first time once, then reused by every trace after it.
struct Core {
  explicit Core(StringPool& pool) : interner(pool), detector(pool) {
    detector.SetDirectory(Directory());
  }
  SpanInterner interner;
  TraceAssembler assembler;
  GapDetector detector;
  TraceVerdict verdict;
  DecodedSpanBatch decoded;
};

// Assembly + detection of every batch, fed as `input`, timed on this thread's CPU clock: the
// one timing loop of every apmcov::coverage figure. Offsets advance per batch, as in the
// analyzer (one Kafka message per batch). `core` may have run before (warm: steady state, as
// in the analyzer) or be new (cold: the first touch of its memory, page faults included, is
// in the time); the counters returned are this run's.
CoreResult RunCore(Input input, const Corpus& c, const std::vector<SpanRecord>& records,
                   const std::vector<Batch>& batches, Core& core) {
  TraceAssembler& assembler = core.assembler;
  GapDetector& detector = core.detector;
  const DetectorCounters detector_before = detector.counters();
  const AssemblerCounters assembler_before = assembler.counters();
  uint64_t broken = 0;
  auto sink = [&](const AssembledTrace& t) {
    detector.Judge(t, &core.verdict);
    broken += core.verdict.broken();
  };
  CoreResult r;
  const double wall = WallSeconds();
  const double start = ThreadCpuSeconds();
  int64_t offset = 0;
  for (const Batch& b : batches) {
    if (b.watermark) {
      r.max_in_flight_spans = std::max(r.max_in_flight_spans, assembler.spans_in_flight());
      assembler.OnWatermark(0, b.watermark_ns, sink);
      continue;
    }
    switch (input) {
      case Input::kRecords:
        for (size_t i = b.first; i < b.last; ++i) {
          assembler.Add(records[c.events[i].span], 0, offset, sink);
        }
        break;
      case Input::kStringFields:
        for (size_t i = b.first; i < b.last; ++i) {
          assembler.Add(core.interner.Intern(c.spans[c.events[i].span]), 0, offset, sink);
        }
        break;
      case Input::kWire:
        if (!DecodeSpanBatch(b.bytes, core.interner, &core.decoded).ok()) std::abort();
        for (const SpanRecord& rec : core.decoded.spans) assembler.Add(rec, 0, offset, sink);
        break;
    }
    ++offset;
  }
  r.seconds = ThreadCpuSeconds() - start;
  r.wall_seconds = WallSeconds() - wall;
  // The last watermark (INT64_MAX) judged every trace: forget the partition, as a rebalance
  // does, so that the next run's spans are not late against it.
  if (assembler.RevokePartition(0) != 0) std::abort();
  const DetectorCounters& d = detector.counters();
  r.detector.traces_judged = d.traces_judged - detector_before.traces_judged;
  r.detector.traces_broken = d.traces_broken - detector_before.traces_broken;
  r.detector.traces_skipped_retention =
      d.traces_skipped_retention - detector_before.traces_skipped_retention;
  for (size_t k = 0; k < kGapKindCount; ++k)
    r.detector.gaps[k] = d.gaps[k] - detector_before.gaps[k];
  r.assembler.duplicate_spans =
      assembler.counters().duplicate_spans - assembler_before.duplicate_spans;
  return r;
}

struct RefResult {
  double seconds = 0;  // thread CPU time
  double wall_seconds = 0;
  ReferenceDetector ref{{}, {}, 0};
};

RefResult RunReference(const Corpus& c) {
  std::unordered_set<std::string> catalog, instrumented;
  for (int i = 0; i < kServices; ++i) {
    catalog.insert("svc-" + std::to_string(i));
    if (Instrumented(i)) instrumented.insert("svc-" + std::to_string(i));
  }
  RefResult r;
  r.ref = ReferenceDetector(catalog, instrumented, 120 * kSec);
  const double wall = WallSeconds();
  const double start = ThreadCpuSeconds();
  for (const Event& e : c.events) {
    if (e.watermark) {
      r.ref.OnWatermark(e.watermark_ns);
    } else {
      r.ref.Add(c.spans[e.span]);
    }
  }
  r.seconds = ThreadCpuSeconds() - start;
  r.wall_seconds = WallSeconds() - wall;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  size_t total = 3'000'000;
  int repeats = 3;
  // --only=MODE[,MODE...]: core, intern, wire (on the long-lived cores, warmed first),
  // wire-cold (a new core each run), decode (DecodeSpanBatch alone, no assembly), reference:
  // profile one, or compare several in turn within each repeat.
  std::string only;
  size_t watermark_every = 1000;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--watermark-every=", 18) == 0) {
      watermark_every = std::max<size_t>(1, std::stoul(argv[i] + 18));
    }
    if (std::strncmp(argv[i], "--spans=", 8) == 0) total = std::stoul(argv[i] + 8);
    if (std::strncmp(argv[i], "--repeats=", 10) == 0) repeats = std::stoi(argv[i] + 10);
    if (std::strncmp(argv[i], "--only=", 7) == 0) only = argv[i] + 7;
  }
  std::vector<std::string> modes;
  if (!only.empty()) modes = absl::StrSplit(only, ',');
  for (const std::string& mode : modes) {
    if (mode != "core" && mode != "intern" && mode != "wire" && mode != "wire-cold" &&
        mode != "decode" && mode != "reference") {
      std::fprintf(stderr, "coverage_bench: unknown --only mode '%s'\n", mode.c_str());
      return 2;
    }
  }
  const unsigned cores = std::thread::hardware_concurrency();

  Corpus corpus;
  Generator(corpus).Generate(total, /*watermarks=*/true, watermark_every);
  size_t spans = 0;
  for (const Event& e : corpus.events) spans += !e.watermark;

  StringPool pool;
  SpanInterner interner(pool);
  std::vector<SpanRecord> records;
  records.reserve(corpus.spans.size());
  for (const SpanFields& f : corpus.spans) records.push_back(interner.Intern(f));

  const std::vector<Batch> batches = EncodeBatches(corpus);
  size_t wire_bytes = 0, wire_batches = 0;
  for (const Batch& b : batches) {
    wire_bytes += b.bytes.size();
    wire_batches += !b.watermark;
  }
  // One long-lived core per input, as the analyzer has one: warmed by an untimed run first.
  Core wire_core(pool), records_core(pool), intern_core(pool);
  auto core_of = [&](Input input) -> Core& {
    return input == Input::kWire      ? wire_core
           : input == Input::kRecords ? records_core
                                      : intern_core;
  };
  auto run = [&](Input input) { return RunCore(input, corpus, records, batches, core_of(input)); };
  // A core of its own for one run: its first touch of memory is in the time.
  auto run_cold = [&](Input input) {
    Core fresh(pool);
    return RunCore(input, corpus, records, batches, fresh);
  };

  CoreResult best_core, best_intern, best_wire, best_wire_cold;
  RefResult best_ref;
  best_core.seconds = best_intern.seconds = best_wire.seconds = best_wire_cold.seconds =
      best_ref.seconds = 1e30;
  if (!only.empty()) {
    for (const std::string& mode : modes) {  // warm the long-lived cores
      if (mode == "core") run(Input::kRecords);
      if (mode == "intern") run(Input::kStringFields);
      if (mode == "wire") run(Input::kWire);
    }
    // A comma-separated list runs its modes in turn within each repeat, so that they are
    // compared in the same process and the same moments of a machine whose speed drifts.
    for (int r = 0; r < repeats; ++r) {
      for (const std::string& mode : modes) {
        double cpu = 0;
        if (mode == "core") cpu = run(Input::kRecords).seconds;
        if (mode == "intern") cpu = run(Input::kStringFields).seconds;
        if (mode == "wire") cpu = run(Input::kWire).seconds;
        if (mode == "wire-cold") cpu = run_cold(Input::kWire).seconds;
        if (mode == "decode") {
          SpanInterner in(pool);
          DecodedSpanBatch d;
          const double t0 = ThreadCpuSeconds();
          for (const Batch& b : batches) {
            if (b.watermark) continue;
            if (!DecodeSpanBatch(b.bytes, in, &d).ok()) std::abort();
          }
          cpu = ThreadCpuSeconds() - t0;
        }
        if (mode == "reference") cpu = RunReference(corpus).seconds;
        std::printf(
            "{\"only\":\"%s\",\"repeat\":%d,\"spans_per_sec\":%.0f,"
            "\"watermark_every_traces\":%zu}\n",
            mode.c_str(), r, spans / cpu, watermark_every);
      }
    }
    return 0;
  }
  run(Input::kWire);  // warm the long-lived cores
  run(Input::kRecords);
  run(Input::kStringFields);
  for (int r = 0; r < repeats; ++r) {
    // From the wire and pre-interned back to back, so the two see the same neighbours.
    CoreResult from_wire = run(Input::kWire);
    if (from_wire.seconds < best_wire.seconds) best_wire = from_wire;
    CoreResult core = run(Input::kRecords);
    if (core.seconds < best_core.seconds) best_core = core;
    CoreResult with_intern = run(Input::kStringFields);
    if (with_intern.seconds < best_intern.seconds) best_intern = with_intern;
    CoreResult wire_cold = run_cold(Input::kWire);
    if (wire_cold.seconds < best_wire_cold.seconds) best_wire_cold = wire_cold;
    std::printf(
        "{\"bench\":\"coverage_from_wire\",\"repeat\":%d,\"from_wire_spans_per_sec\":%.0f,"
        "\"pre_interned_spans_per_sec\":%.0f,\"from_wire_share\":%.3f,"
        "\"decode_ns_per_span\":%.1f,\"from_wire_cold_spans_per_sec\":%.0f}\n",
        r, spans / from_wire.seconds, spans / core.seconds, core.seconds / from_wire.seconds,
        (from_wire.seconds - core.seconds) * 1e9 / static_cast<double>(spans),
        spans / wire_cold.seconds);
    RefResult ref = RunReference(corpus);
    if (ref.seconds < best_ref.seconds) best_ref = std::move(ref);
  }
  bool agree = best_core.detector.traces_judged == best_ref.ref.judged &&
               best_core.detector.traces_broken == best_ref.ref.broken &&
               best_core.detector.traces_skipped_retention == best_ref.ref.skipped;
  for (size_t k = 0; k < kGapKindCount; ++k) {
    agree = agree && best_core.detector.gaps[k] == best_ref.ref.gaps[k];
  }
  // A new core judges as a warm one does.
  bool cold_agrees = best_wire_cold.detector.traces_judged == best_wire.detector.traces_judged &&
                     best_wire_cold.detector.traces_broken == best_wire.detector.traces_broken;
  // Decoding from the wire must not change a verdict.
  bool wire_agrees = best_wire.detector.traces_judged == best_core.detector.traces_judged &&
                     best_wire.detector.traces_broken == best_core.detector.traces_broken;
  for (size_t k = 0; k < kGapKindCount; ++k) {
    wire_agrees = wire_agrees && best_wire.detector.gaps[k] == best_core.detector.gaps[k];
  }
  const auto& d = best_core.detector;
  std::printf(
      "{\"bench\":\"coverage_core\",\"impl\":\"apmcov::coverage\",\"input\":\"interned "
      "SpanRecord\",\"spans\":%zu,\"traces\":%zu,\"cpu_seconds\":%.4f,\"wall_seconds\":%.4f,"
      "\"spans_per_sec\":%.0f,"
      "\"judged\":%llu,\"broken\":%llu,\"skipped_retention\":%llu,\"duplicates\":%llu,"
      "\"gaps\":{\"missing_root\":%llu,\"orphan_span\":%llu,\"propagation_break\":%llu,"
      "\"uninstrumented_callee\":%llu,\"uninstrumented_hop\":%llu},\"max_spans_in_flight\":%zu,"
      "\"watermark_every_traces\":%zu,\"threads\":1,\"cores\":%u}\n",
      spans, corpus.traces, best_core.seconds, best_core.wall_seconds, spans / best_core.seconds,
      static_cast<unsigned long long>(d.traces_judged),
      static_cast<unsigned long long>(d.traces_broken),
      static_cast<unsigned long long>(d.traces_skipped_retention),
      static_cast<unsigned long long>(best_core.assembler.duplicate_spans),
      static_cast<unsigned long long>(d.gaps[0]), static_cast<unsigned long long>(d.gaps[1]),
      static_cast<unsigned long long>(d.gaps[2]), static_cast<unsigned long long>(d.gaps[3]),
      static_cast<unsigned long long>(d.gaps[4]), best_core.max_in_flight_spans, watermark_every,
      cores);
  std::printf(
      "{\"bench\":\"coverage_core\",\"impl\":\"apmcov::coverage+intern\",\"input\":\"string "
      "fields\",\"spans\":%zu,\"cpu_seconds\":%.4f,\"wall_seconds\":%.4f,\"spans_per_sec\":%.0f,"
      "\"threads\":1,"
      "\"cores\":%u}\n",
      spans, best_intern.seconds, best_intern.wall_seconds, spans / best_intern.seconds, cores);
  std::printf(
      "{\"bench\":\"coverage_core\",\"impl\":\"apmcov::coverage+decode\",\"input\":\"SpanBatch "
      "wire bytes\",\"spans\":%zu,\"batches\":%zu,\"wire_bytes\":%zu,\"cpu_seconds\":%.4f,"
      "\"wall_seconds\":%.4f,\"spans_per_sec\":%.0f,\"pre_interned_spans_per_sec\":%.0f,"
      "\"target_spans_per_sec\":5000000,\"agrees_with_pre_interned\":%s,"
      "\"cold_spans_per_sec\":%.0f,\"cold_agrees\":%s,\"threads\":1,\"cores\":%u}\n",
      spans, wire_batches, wire_bytes, best_wire.seconds, best_wire.wall_seconds,
      spans / best_wire.seconds, spans / best_core.seconds, wire_agrees ? "true" : "false",
      spans / best_wire_cold.seconds, cold_agrees ? "true" : "false", cores);
  std::printf(
      "{\"bench\":\"coverage_core\",\"impl\":\"reference\",\"input\":\"string fields\","
      "\"spans\":%zu,\"cpu_seconds\":%.4f,\"wall_seconds\":%.4f,\"spans_per_sec\":%.0f,\"judged\":%"
      "llu,\"broken\":%llu,"
      "\"agrees_with_apmcov\":%s,\"speedup_of_apmcov\":%.1f,\"threads\":1,\"cores\":%u}\n",
      spans, best_ref.seconds, best_ref.wall_seconds, spans / best_ref.seconds,
      static_cast<unsigned long long>(best_ref.ref.judged),
      static_cast<unsigned long long>(best_ref.ref.broken), agree ? "true" : "false",
      best_ref.seconds / best_core.seconds, cores);

  // Memory: 1M spans in flight (no watermark), caps above that.
  constexpr size_t kInFlight = 1'000'000;
  const size_t n = std::min(kInFlight, records.size());
  const long rss_before = RssKb();
  {
    TraceAssembler assembler(AssemblerOptions{.grace_ns = 120 * kSec,
                                              .max_traces_in_flight = 2 * kInFlight,
                                              .max_spans_in_flight = 2 * kInFlight});
    int64_t offset = 0;
    for (size_t i = 0; i < n; ++i) {
      assembler.Add(records[i], 0, offset++, [](const AssembledTrace&) {});
    }
    const long rss_after = RssKb();
    std::printf(
        "{\"bench\":\"coverage_memory\",\"spans_in_flight\":%zu,\"traces_in_flight\":%zu,"
        "\"rss_delta_bytes\":%ld,\"rss_bytes_per_span\":%.1f,\"accounted_bytes\":%zu,"
        "\"accounted_bytes_per_span\":%.1f,\"string_pool_bytes\":%zu,\"span_record_bytes\":%zu,"
        "\"process_rss_bytes\":%ld,\"cores\":%u}\n",
        assembler.spans_in_flight(), assembler.traces_in_flight(), (rss_after - rss_before) * 1024,
        (rss_after - rss_before) * 1024.0 / n, assembler.MemoryBytes(),
        static_cast<double>(assembler.MemoryBytes()) / n, pool.bytes(), sizeof(SpanRecord),
        rss_after * 1024, cores);
  }
  return agree && wire_agrees && cold_agrees ? 0 : 1;
}
