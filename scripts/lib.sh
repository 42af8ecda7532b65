# shellcheck shell=bash
# Shared helpers for scripts/*.sh (sourced, not run). Processes are started with a pidfile and
# stopped by that PID only.

# start_bg NAME LOGFILE PIDFILE CMD...: starts CMD in the background; the pidfile holds the
# program's own PID (exec), not a subshell's.
start_bg() {
  local name=$1 log=$2 pidfile=$3
  shift 3
  mkdir -p "$(dirname "$log")" "$(dirname "$pidfile")"
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$log" 2>&1 </dev/null &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidfile ]] && break
    sleep 0.1
  done
  echo "started $name (pid $(cat "$pidfile"), log $log)"
}

# stop_pidfile PIDFILE [TIMEOUT_S]: SIGTERM, wait, then SIGKILL; removes the pidfile.
stop_pidfile() {
  local pidfile=$1 timeout=${2:-15} pid i
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "warning: pid $pid ($pidfile) did not stop in ${timeout}s; killing" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

# wait_http URL TIMEOUT_S: waits until URL answers 2xx.
wait_http() {
  local url=$1 timeout=${2:-60} i
  for ((i = 0; i < timeout * 5; i++)); do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

# wait_file PATH TIMEOUT_S: waits until PATH exists and is not empty.
wait_file() {
  local path=$1 timeout=${2:-30} i
  for ((i = 0; i < timeout * 10; i++)); do
    [[ -s $path ]] && return 0
    sleep 0.1
  done
  return 1
}

# free_port: an unused TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# build_project BUILD_DIR [TARGET...]: configure (when needed) and build (everything, or the given
# targets) with -j${JOBS:-2}.
build_project() {
  local build=$1
  shift
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
  # Configure once, and again after `npm ci` changed node_modules: the dashboard bundle, ESLint
  # and the browser tests are registered at configure time only if their npm packages exist.
  if [[ ! -f $build/build.ninja || $root/node_modules/.package-lock.json -nt $build/CMakeCache.txt ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
  fi
  if (($#)); then
    cmake --build "$build" -j "${JOBS:-2}" --target "$@"
  else
    cmake --build "$build" -j "${JOBS:-2}"
  fi
}
