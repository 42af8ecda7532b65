#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, starts a private PostgreSQL
# and kafka-dev for the integration tests, runs every test (ctest labels unit, integration,
# e2e, browser), prints the summary, stops what it started and exits non-zero on any failure.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -L unit         # extra arguments go to ctest
#   BUILD_DIR=build-x JOBS=2 scripts/test.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

build=${BUILD_DIR:-$root/build}
[[ $build = /* ]] || build=$root/$build
run=$build/test-run
started=()

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local i
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    case ${started[i]} in
      pg) APMCOV_PG_DIR=$run/pg "$root/scripts/pg-local.sh" stop || true ;;
      *) stop_pidfile "${started[i]}" ;;
    esac
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$root/scripts/install-deps.sh"
start=$(date +%s)
build_project "$build"
echo "build: $(($(date +%s) - start)) s"

rm -rf "$run"
mkdir -p "$run"

# PostgreSQL: a cluster of this run only.
DATABASE_URL=$(APMCOV_PG_DIR=$run/pg "$root/scripts/pg-local.sh" start)
started+=(pg)
export DATABASE_URL

# kafka-dev: the embedded Kafka cluster (librdkafka's mock cluster).
kafka_bin=$build/services/kafka-dev/apmcov-kafka-dev
if [[ -x $kafka_bin ]]; then
  start_bg kafka-dev "$run/kafka-dev.log" "$run/kafka-dev.pid" \
    "$kafka_bin" --brokers 3 --partitions 6 --bootstrap-file "$run/kafka-dev.bootstrap" \
    --control-file "$run/kafka-dev.control"
  started+=("$run/kafka-dev.pid")
  wait_file "$run/kafka-dev.bootstrap" 30 || { echo "kafka-dev did not start; see $run/kafka-dev.log" >&2; exit 1; }
  wait_file "$run/kafka-dev.control" 10 || true
  KAFKA_BROKERS=$(cat "$run/kafka-dev.bootstrap")
  KAFKA_DEV_CONTROL=$(cat "$run/kafka-dev.control" 2>/dev/null || true)
  export KAFKA_BROKERS KAFKA_DEV_CONTROL
fi
echo "test environment: DATABASE_URL=${DATABASE_URL%%@*}@... KAFKA_BROKERS=${KAFKA_BROKERS:-unset}"

set +e
ctest --test-dir "$build" --output-on-failure --timeout 900 -j "${TEST_JOBS:-2}" "$@" 2>&1 | tee "$run/ctest.log"
status=${PIPESTATUS[0]}
set -e

summary=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$run/ctest.log" | tail -n 1 || true)
if [[ -n $summary ]]; then
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$summary")
  failed=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed.*/\1/' <<<"$summary")
  skipped=$(grep -cE '^[[:space:]]+[0-9]+ - .* \(Skipped\)$' "$run/ctest.log" || true)
  echo "$((total - failed - skipped)) passed, $failed failed, $skipped skipped"
else
  echo "0 passed, 1 failed"
  status=1
fi
exit "$status"
