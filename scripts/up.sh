#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and starts the whole stack on
# embedded defaults: a private PostgreSQL, kafka-dev (embedded Kafka), ddsim (a simulated
# Datadog organisation) unless DD_API_KEY is set, then the analyzer (migrations applied), the
# collector and the gateway. Waits until each is ready, triggers a first sync and prints the
# URLs. Ctrl-C (or `scripts/up.sh down` from another shell) stops everything it started.
#
#   scripts/up.sh                 # start (foreground; Ctrl-C stops)
#   scripts/up.sh down            # stop a running stack
#   scripts/up.sh status
#
# With DD_API_KEY, DD_APP_KEY and DD_SITE (or DD_API_BASE_URL) set, the collector polls that
# Datadog instead of ddsim. Ports (defaults): HTTP_PORT 8080, GRPC_PORT 9090, DDSIM_PORT 8081,
# admin ports COLLECTOR_ADMIN_PORT 9101, ANALYZER_ADMIN_PORT 9102, GATEWAY_ADMIN_PORT 9103,
# DDSIM_ADMIN_PORT 9104. ddsim: DDSIM_SEED 42, DDSIM_SERVICES 200, DDSIM_SPANS_PER_SECOND 50,
# DDSIM_BACKFILL_MINUTES 15.
#
# The tracker traces itself (design §12): with ddsim, tracing is on by default and ddsim is
# the Agent (DD_TRACE_AGENT_URL=http://127.0.0.1:$DDSIM_PORT), so the dashboard lists the
# tracker's own services, instrumented, and judges its traces. Against a real Datadog tracing
# is off unless DD_AGENT_HOST (or DD_TRACE_AGENT_URL) names a Datadog Agent. DD_TRACE_ENABLED
# set in the environment wins in both cases.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

build=${BUILD_DIR:-$root/build}
[[ $build = /* ]] || build=$root/$build
state=${APMCOV_STATE_DIR:-$root/.local/stack}
logs=$state/logs
http_port=${HTTP_PORT:-8080}
grpc_port=${GRPC_PORT:-9090}
ddsim_port=${DDSIM_PORT:-8081}
collector_admin=${COLLECTOR_ADMIN_PORT:-9101}
analyzer_admin=${ANALYZER_ADMIN_PORT:-9102}
gateway_admin=${GATEWAY_ADMIN_PORT:-9103}
ddsim_admin=${DDSIM_ADMIN_PORT:-9104}

stop_all() {
  local name
  for name in gateway collector analyzer ddsim kafka-dev; do
    stop_pidfile "$state/$name.pid" 20
  done
  if [[ -f $state/pg.started ]]; then
    APMCOV_PG_DIR=$state/pg "$root/scripts/pg-local.sh" stop || true
    rm -f "$state/pg.started"
  fi
  rm -f "$state/up.pid"
}

case ${1:-up} in
  down)
    if [[ -f $state/up.pid ]] && kill -0 "$(cat "$state/up.pid")" 2>/dev/null; then
      kill -TERM "$(cat "$state/up.pid")"
      for ((i = 0; i < 300; i++)); do
        [[ -f $state/up.pid ]] || break
        sleep 0.1
      done
    fi
    stop_all
    echo "stack stopped"
    exit 0
    ;;
  status)
    for name in kafka-dev ddsim analyzer collector gateway; do
      if [[ -f $state/$name.pid ]] && kill -0 "$(cat "$state/$name.pid")" 2>/dev/null; then
        echo "$name: running (pid $(cat "$state/$name.pid"))"
      else
        echo "$name: stopped"
      fi
    done
    exit 0
    ;;
  up) ;;
  *)
    echo "usage: $0 [up|down|status]" >&2
    exit 2
    ;;
esac

mkdir -p "$state" "$logs"
if [[ -f $state/up.pid ]] && kill -0 "$(cat "$state/up.pid")" 2>/dev/null; then
  echo "a stack is already running (pid $(cat "$state/up.pid")); stop it with: scripts/up.sh down" >&2
  exit 1
fi
echo $$ >"$state/up.pid"
# shellcheck disable=SC2317  # called by traps
on_exit() {
  echo
  echo "stopping the stack..."
  stop_all
}
trap on_exit EXIT
trap 'exit 130' INT TERM

"$root/scripts/install-deps.sh"
# Only what the stack runs (the tests are scripts/test.sh's business).
targets=(apmcov-kafka-dev apmcov-ddsim apmcov-analyzer apmcov-collector apmcov-gateway)
build_project "$build" "${targets[@]}"

# PostgreSQL
DATABASE_URL=$(APMCOV_PG_DIR=$state/pg "$root/scripts/pg-local.sh" start)
touch "$state/pg.started"
export DATABASE_URL

# kafka-dev
rm -f "$state/kafka-dev.bootstrap"
start_bg kafka-dev "$logs/kafka-dev.log" "$state/kafka-dev.pid" \
  "$build/services/kafka-dev/apmcov-kafka-dev" --brokers 3 --partitions 6 \
  --bootstrap-file "$state/kafka-dev.bootstrap" --control-file "$state/kafka-dev.control"
wait_file "$state/kafka-dev.bootstrap" 30 || { echo "kafka-dev did not start; see $logs/kafka-dev.log" >&2; exit 1; }
KAFKA_BROKERS=$(cat "$state/kafka-dev.bootstrap")
export KAFKA_BROKERS

# Datadog: the real one when keys are given, else ddsim.
if [[ -n ${DD_API_KEY:-} ]]; then
  : "${DD_APP_KEY:?DD_APP_KEY must be set with DD_API_KEY}"
  echo "using the real Datadog API at ${DD_API_BASE_URL:-https://api.${DD_SITE:-datadoghq.com}}"
else
  sim_key=ddsim-api-key-0000000000000000
  sim_app=ddsim-app-key-0000000000000000
  start_bg ddsim "$logs/ddsim.log" "$state/ddsim.pid" \
    env ADMIN_PORT="$ddsim_admin" "$build/services/ddsim/apmcov-ddsim" serve \
    --http-port "$ddsim_port" --address 127.0.0.1 --seed "${DDSIM_SEED:-42}" --services "${DDSIM_SERVICES:-200}" \
    --spans-per-second "${DDSIM_SPANS_PER_SECOND:-50}" \
    --backfill-minutes "${DDSIM_BACKFILL_MINUTES:-15}" --api-key "$sim_key" --app-key "$sim_app" \
    --rate-limits "${DDSIM_RATE_LIMITS:-spans_list=1200/3600}"
  wait_http "http://127.0.0.1:$ddsim_admin/readyz" 60 ||
    { echo "ddsim did not start; see $logs/ddsim.log" >&2; exit 1; }
  export DD_API_KEY=$sim_key DD_APP_KEY=$sim_app DD_API_BASE_URL=http://127.0.0.1:$ddsim_port
  # Demo pacing: the first sync reads the whole backfill, later ones every 5 minutes, in
  # two-minute windows so traces are judged soon after they end. That takes about 500 span-list
  # calls an hour, so ddsim's spans_list bucket is raised from Datadog's 300/h (DDSIM_RATE_LIMITS;
  # the other buckets keep Datadog's limits, enforced with 429s as the real API does).
  export SPAN_BACKFILL_MINUTES=${SPAN_BACKFILL_MINUTES:-${DDSIM_BACKFILL_MINUTES:-15}}
  export SYNC_INTERVAL_MINUTES=${SYNC_INTERVAL_MINUTES:-5}
  export SPAN_PAGE_BUDGET=${SPAN_PAGE_BUDGET:-120}
  export SPAN_WINDOW_SECONDS=${SPAN_WINDOW_SECONDS:-120}
  # ddsim is also a Datadog Agent: the stack watches itself.
  export DD_TRACE_ENABLED=${DD_TRACE_ENABLED:-true}
  export DD_TRACE_AGENT_URL=${DD_TRACE_AGENT_URL:-http://127.0.0.1:$ddsim_port}
fi
# A real Datadog: trace only towards an Agent someone named.
if [[ -z ${DD_TRACE_ENABLED:-} ]]; then
  if [[ -n ${DD_AGENT_HOST:-} || -n ${DD_TRACE_AGENT_URL:-} ]]; then
    export DD_TRACE_ENABLED=true
  else
    export DD_TRACE_ENABLED=false
  fi
fi

export LOG_FORMAT=${LOG_FORMAT:-text}

"$build/services/analyzer/apmcov-analyzer" migrate >>"$logs/analyzer.log" 2>&1 ||
  { echo "migrations failed; see $logs/analyzer.log" >&2; exit 1; }
start_bg analyzer "$logs/analyzer.log" "$state/analyzer.pid" \
  env ADMIN_PORT="$analyzer_admin" DD_SERVICE=apmcov-analyzer "$build/services/analyzer/apmcov-analyzer"
start_bg collector "$logs/collector.log" "$state/collector.pid" \
  env ADMIN_PORT="$collector_admin" DD_SERVICE=apmcov-collector "$build/services/collector/apmcov-collector"
start_bg gateway "$logs/gateway.log" "$state/gateway.pid" \
  env ADMIN_PORT="$gateway_admin" HTTP_PORT="$http_port" GRPC_PORT="$grpc_port" \
  DD_SERVICE=apmcov-gateway "$build/services/gateway/apmcov-gateway"

for svc in analyzer:$analyzer_admin collector:$collector_admin gateway:$gateway_admin; do
  name=${svc%%:*}
  port=${svc##*:}
  wait_http "http://127.0.0.1:$port/readyz" 90 ||
    { echo "$name is not ready; see $logs/$name.log" >&2; exit 1; }
  echo "$name ready"
done

curl -fsS -X POST ${GATEWAY_API_TOKEN:+-H "Authorization: Bearer $GATEWAY_API_TOKEN"} \
  "http://127.0.0.1:$http_port/api/sync" >/dev/null && echo "first sync requested"

cat <<EOT

APM Coverage Tracker is running.
  Dashboard   http://127.0.0.1:$http_port/
  REST API    http://127.0.0.1:$http_port/api/stats   (OpenAPI: /api/openapi.json)
  gRPC        127.0.0.1:$grpc_port  (apmcov.v1.CoverageService, reflection on)
  Metrics     http://127.0.0.1:$collector_admin/metrics (collector), :$analyzer_admin (analyzer), :$gateway_admin (gateway)
  Kafka       $KAFKA_BROKERS
  PostgreSQL  ${DATABASE_URL%%\?*}
  Logs        $logs/
  Tracing     $(if [[ $DD_TRACE_ENABLED == true ]]; then echo "on, to ${DD_TRACE_AGENT_URL:-http://${DD_AGENT_HOST:-localhost}:${DD_TRACE_AGENT_PORT:-8126}}"; else echo off; fi)
Press Ctrl-C to stop (or run: scripts/up.sh down).
EOT

while true; do
  for name in kafka-dev analyzer collector gateway; do
    if ! kill -0 "$(cat "$state/$name.pid" 2>/dev/null || echo 0)" 2>/dev/null; then
      echo "$name exited; see $logs/$name.log" >&2
      exit 1
    fi
  done
  sleep 2
done
