#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan) in build-fuzz/ and runs them,
# seeded from the recorded Datadog responses in tests/fixtures/datadog (the parsers) and from
# one well-formed request per gRPC method (fuzz_grpc_query). Every input kept under
# fuzz/regressions/<target>/ (a past finding) is run first, each time.
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS each (default 60)
#   scripts/fuzz.sh fuzz_span_page 600
#   FUZZ_RUNS=10000000 scripts/fuzz.sh fuzz_grpc_query   # a fixed number of executions instead
#   scripts/fuzz.sh --list
#
# Prints one line per target (executions, seconds, executions a second, corpus size, findings)
# and a total; exits non-zero when a target crashes, leaks or hangs (an input slower than
# FUZZ_TIMEOUT seconds, default 30; the reproducer is kept under build-fuzz/findings/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
fixtures=${APMCOV_FIXTURES_DIR:-$root/tests/fixtures/datadog}
targets=(fuzz_span_page fuzz_service_definitions fuzz_aggregate fuzz_event_decode
  fuzz_span_batch_decoder fuzz_rest_query fuzz_grpc_query fuzz_trace_headers fuzz_agent_intake)

if [[ ${1:-} == --list ]]; then
  printf '%s\n' "${targets[@]}"
  exit 0
fi
if [[ $# -ge 1 ]]; then
  targets=("$1")
fi
seconds=${2:-${FUZZ_SECONDS:-60}}
runs=${FUZZ_RUNS:-}
if [[ -n $runs ]]; then
  limit=(-runs="$runs")
else
  limit=(-max_total_time="$seconds")
fi

command -v clang++ >/dev/null || { echo "fuzz: clang++ is needed (apt-get install clang)" >&2; exit 1; }
if [[ ! -f $build/build.ninja ]]; then
  CCACHE_BASEDIR=$root cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DAPMCOV_BUILD_FUZZ=ON -DAPMCOV_BUILD_TESTS=OFF \
    -DAPMCOV_BUILD_BENCH=OFF >/dev/null
fi
CCACHE_BASEDIR=$root cmake --build "$build" -j "${JOBS:-2}" --target "${targets[@]}" >/dev/null

# Seed corpora: each fixture's response body, and protobuf events built from nothing (the
# fuzzer grows those from scratch).
corpus_root=$build/corpus
mkdir -p "$corpus_root" "$build/findings"
[[ -d $fixtures ]] || { echo "fuzz: no fixtures at $fixtures" >&2; exit 1; }
python3 - "$fixtures" "$corpus_root" <<'PY'
import base64, json, os, sys
src, dst = sys.argv[1], sys.argv[2]
groups = {
    "fuzz_span_page": ("spans_",),
    "fuzz_service_definitions": ("service_definition", "catalog_"),
    "fuzz_aggregate": ("spans_aggregate", "query_scalar"),
}
for target, prefixes in groups.items():
    os.makedirs(os.path.join(dst, target), exist_ok=True)
    for name in sorted(os.listdir(src)):
        if not name.endswith(".json") or not name.startswith(prefixes):
            continue
        body = json.load(open(os.path.join(src, name)))["response"]["body"]
        text = body if isinstance(body, str) else json.dumps(body)
        with open(os.path.join(dst, target, name), "w") as f:
            f.write(text)

# fuzz_grpc_query: the first byte picks the method (low 4 bits, in the order of the service
# in protos/apmcov/v1/coverage_service.proto) and the faults (0x10 store down, 0x20 broker
# fails, 0x40 token required, 0x80 token presented); the rest is the request, protobuf-encoded.
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out

def message(*fields):
    out = b""
    for num, val in fields:
        if isinstance(val, int):
            out += varint(num << 3) + varint(val)
        else:
            val = val.encode() if isinstance(val, str) else val
            out += varint(num << 3 | 2) + varint(len(val)) + val
    return out

def token(*parts):
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode()

seeds = [
    (0x00, message()),
    (0x10, message()),
    (0x01, message((10, "-team"), (11, 1))),
    (0x01, message((1, "web"), (6, "true"), (7, "false"), (8, 1), (9, "a"), (11, 2))),
    (0x01, message((11, 1), (12, token("s1", "name", "", "api")))),
    (0x01, message((10, "team"), (12, token("s1", "-team", "web", "api")))),
    (0x02, message((1, "api"))),
    (0x02, message((1, "nope"))),
    (0x03, message((1, "team"))),
    (0x04, message((1, "team"), (2, "2026-11-01T00:00:00Z"))),
    (0x05, message((6, 1))),
    (0x05, message((1, "api"), (2, "billing"), (3, "uninstrumented_callee"), (4, "prod"),
                   (5, "2026-11-21T00:00:00Z"))),
    (0x05, message((6, 1), (7, token("t1", "1795298800000000000", "103")))),
    (0x06, message((1, "101"))),
    (0x06, message((1, "18446744073709551615"))),
    (0x07, message((1, "api"))),
    (0x08, message()),
    (0x09, message((1, 1))),
    (0x0A, message((1, "fuzz"))),
    (0x2A, message((1, "fuzz"))),
    (0x4A, message((1, "fuzz"))),
    (0xCA, message((1, "fuzz"))),
    (0x0B, message((1, "job-1"))),
]
os.makedirs(os.path.join(dst, "fuzz_grpc_query"), exist_ok=True)
for i, (head, body) in enumerate(seeds):
    with open(os.path.join(dst, "fuzz_grpc_query", "seed-%02d" % i), "wb") as f:
        f.write(bytes([head]) + body)

# fuzz_trace_headers: header lines "name: value" of each style, alone and together.
header_seeds = [
    "x-datadog-trace-id: 1234\nx-datadog-parent-id: 5678\nx-datadog-sampling-priority: 1\n"
    "x-datadog-tags: _dd.p.tid=6568a1b200000000,_dd.p.dm=-3",
    "traceparent: 00-6568a1b2000000000000000000000d2e-000000000000162e-01\n"
    "tracestate: dd=s:2;p:000000000000162e;t.dm:-3,other=x",
    "x-datadog-trace-id: 3374\nx-datadog-parent-id: 1\n"
    "traceparent: 00-00000000000000000000000000000d2e-00000000000000ff-00\ntracestate: dd=s:-1",
    "X-Datadog-Trace-Id: 1\nX-DATADOG-PARENT-ID: 2\nx-datadog-origin: synthetics",
]
os.makedirs(os.path.join(dst, "fuzz_trace_headers"), exist_ok=True)
for i, text in enumerate(header_seeds):
    with open(os.path.join(dst, "fuzz_trace_headers", "seed-%02d" % i), "w") as f:
        f.write(text)

# fuzz_agent_intake: v0.4 payloads (msgpack: an array of traces, each an array of span maps).
def mp_str(s):
    b = s.encode()
    return (bytes([0xA0 | len(b)]) if len(b) < 32 else bytes([0xD9, len(b)])) + b

def mp_int(n):
    return bytes([0xCF]) + n.to_bytes(8, "big") if n >= 128 else bytes([n])

def mp_map(pairs):
    out = bytes([0x80 | len(pairs)])
    for k, v in pairs:
        out += mp_str(k) + v
    return out

def span(trace, sid, parent, service, extra=()):
    return mp_map([("trace_id", mp_int(trace)), ("span_id", mp_int(sid)),
                   ("parent_id", mp_int(parent)), ("service", mp_str(service)),
                   ("name", mp_str("http.request")), ("resource", mp_str("GET /api/sync")),
                   ("type", mp_str("web")), ("start", mp_int(1795300000000000000)),
                   ("duration", mp_int(1500000)), ("error", mp_int(0)),
                   ("meta", mp_map([("env", mp_str("demo")), ("span.kind", mp_str("server"))])),
                   ("metrics", mp_map([("_sampling_priority_v1", mp_int(1))]))] + list(extra))

payloads = [
    bytes([0x90]),
    bytes([0x91, 0x92]) + span(77, 1, 0, "apmcov-gateway") + span(77, 2, 1, "apmcov-collector"),
    bytes([0x92, 0x91]) + span(5, 9, 0, "a") + bytes([0x90]),
]
os.makedirs(os.path.join(dst, "fuzz_agent_intake"), exist_ok=True)
for i, body in enumerate(payloads):
    with open(os.path.join(dst, "fuzz_agent_intake", "seed-%02d" % i), "wb") as f:
        f.write(body)
PY

total_runs=0
failed=0
for t in "${targets[@]}"; do
  corpus=$corpus_root/$t
  mkdir -p "$corpus"
  regressions=()
  [[ -d $root/fuzz/regressions/$t ]] && regressions=("$root/fuzz/regressions/$t")
  log=$build/$t.log
  started=$(date +%s.%N)
  set +e
  ASAN_OPTIONS=detect_leaks=1 "$build/fuzz/$t" "$corpus" "${regressions[@]}" "${limit[@]}" \
    -timeout="${FUZZ_TIMEOUT:-30}" -rss_limit_mb=2048 -max_len=262144 -print_final_stats=1 \
    -artifact_prefix="$build/findings/$t-" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(echo "$(date +%s.%N) - $started" | bc)
  executed=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -n 1)
  executed=${executed:-0}
  rate=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}' | tail -n 1)
  files=$(find "$corpus" -type f | wc -l)
  total_runs=$((total_runs + executed))
  if [[ $rc -ne 0 ]]; then
    failed=$((failed + 1))
    echo "$t: FAILED after $executed executions in ${elapsed%.*} s (log $log, findings $build/findings/)"
  else
    echo "$t: $executed executions in ${elapsed%.*} s (${rate:-?} exec/s), corpus $files inputs, 0 findings"
  fi
done
echo "fuzz: ${#targets[@]} targets, $total_runs executions, $failed with findings"
[[ $failed -eq 0 ]]
