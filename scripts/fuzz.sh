#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan) in build-fuzz/ and runs them,
# seeded from the recorded Datadog responses in tests/fixtures/datadog.
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS each (default 60)
#   scripts/fuzz.sh fuzz_span_page 600
#   scripts/fuzz.sh --list
#
# Prints one line per target (executions, seconds, corpus size, findings) and a total; exits
# non-zero when a target crashes (the reproducer is kept under build-fuzz/findings/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
fixtures=${APMCOV_FIXTURES_DIR:-$root/tests/fixtures/datadog}
targets=(fuzz_span_page fuzz_service_definitions fuzz_aggregate fuzz_event_decode fuzz_rest_query)

if [[ ${1:-} == --list ]]; then
  printf '%s\n' "${targets[@]}"
  exit 0
fi
if [[ $# -ge 1 ]]; then
  targets=("$1")
fi
seconds=${2:-${FUZZ_SECONDS:-60}}

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
import json, os, sys
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
PY

total_runs=0
failed=0
for t in "${targets[@]}"; do
  corpus=$corpus_root/$t
  mkdir -p "$corpus"
  log=$build/$t.log
  set +e
  ASAN_OPTIONS=detect_leaks=1 "$build/fuzz/$t" "$corpus" -max_total_time="$seconds" \
    -rss_limit_mb=2048 -max_len=262144 -print_final_stats=1 \
    -artifact_prefix="$build/findings/$t-" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -n 1)
  runs=${runs:-0}
  files=$(find "$corpus" -type f | wc -l)
  total_runs=$((total_runs + runs))
  if [[ $rc -ne 0 ]]; then
    failed=$((failed + 1))
    echo "$t: FAILED after $runs executions in ${seconds}s (log $log, findings $build/findings/)"
  else
    echo "$t: $runs executions in ${seconds}s, corpus $files inputs, 0 findings"
  fi
done
echo "fuzz: ${#targets[@]} targets, $total_runs executions, $failed with findings"
[[ $failed -eq 0 ]]
