#!/usr/bin/env bash
# Runs every benchmark binary under build/bench/ (each prints one JSON object per line, with the
# machine's core count), prints one table and writes bench/results/<date>.json.
#
#   scripts/bench.sh              # build (Release) and run all
#   scripts/bench.sh kafka        # only benchmarks whose name contains "kafka"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
build=${BENCH_BUILD_DIR:-$root/build-bench}
filter=${1:-}

"$root/scripts/install-deps.sh"
CMAKE_BUILD_TYPE=Release build_project "$build" >/dev/null

out_dir=$root/bench/results
mkdir -p "$out_dir"
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT

while IFS= read -r bin; do
  name=$(basename "$bin")
  [[ -z $filter || $name == *"$filter"* ]] || continue
  echo "running $name ..." >&2
  # Benchmarks that need services start their own (kafka-dev, ddsim) on loopback.
  APMCOV_BINARY_DIR=$build "$bin" 2>>"$build/bench-$name.log" | grep -E '^\{' |
    python3 -c 'import json,sys
for line in sys.stdin:
    d=json.loads(line); d.setdefault("bench", sys.argv[1]); print(json.dumps(d))' "$name" >>"$raw" ||
    echo "warning: $name failed; see $build/bench-$name.log" >&2
done < <(find "$build/bench" -type f -executable -not -path '*/CMakeFiles/*' | sort)

python3 - "$raw" "$out_dir/$stamp.json" <<'PY'
import json, os, platform, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpu = ""
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip(); break
except OSError:
    pass
machine = {"cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release()}
json.dump({"machine": machine, "results": rows}, open(sys.argv[2], "w"), indent=1)
print(f"machine: {machine['cores']} cores, {cpu}")
print(f"{'benchmark':<26} {'figure':<44} {'value':>14}  unit")
for r in rows:
    skip = {"bench", "cores"}
    figure = r.get("name") or r.get("metric") or r.get("figure") or ""
    for k, v in r.items():
        if k in skip or k in ("name", "metric", "figure") or not isinstance(v, (int, float)):
            continue
        print(f"{r['bench']:<26} {(figure + ' ' + k).strip():<44} {v:>14,.1f}")
print(f"written: {sys.argv[2]}")
PY
