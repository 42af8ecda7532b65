#!/usr/bin/env bash
# A private PostgreSQL cluster for development and tests, under .local/pg of the checkout
# (override with APMCOV_PG_DIR). Works as root: the server runs as the `postgres` user, on its
# own port and socket directory, leaving any system cluster alone.
#
#   scripts/pg-local.sh start   # initdb if needed, start, print DATABASE_URL
#   scripts/pg-local.sh url     # print DATABASE_URL of the running cluster
#   scripts/pg-local.sh stop    # stop it (by the PID in its pidfile)
#   scripts/pg-local.sh status
#
# Idempotent: `start` on a running cluster only prints its URL. APMCOV_PG_OPTIONS adds server
# options to `start` (e.g. "-c shared_preload_libraries=pg_stat_statements" to profile a bench).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${APMCOV_PG_DIR:-$root/.local/pg}
# As root the server runs as `postgres`, which must be able to walk to the cluster's folder.
# A checkout under a private folder (mktemp -d is mode 700) is not reachable: the cluster then
# lives in a folder of its own under /tmp, $dir/location says where, and `stop` removes it
# (such a cluster does not outlive its stop).
home=$dir
if [[ -f $home/location ]]; then
  dir=$(cat "$home/location")
fi
set_paths() {
  data=$dir/data
  sock=$dir/sock
  portfile=$dir/port
}
set_paths
db=${APMCOV_PG_DB:-apmcov}
user=${APMCOV_PG_USER:-apmcov}

bindir=${PG_BINDIR:-}
if [[ -z $bindir ]]; then
  for v in 17 16 15; do
    if [[ -x /usr/lib/postgresql/$v/bin/pg_ctl ]]; then bindir=/usr/lib/postgresql/$v/bin; break; fi
  done
fi
[[ -n $bindir ]] || { echo "pg-local: PostgreSQL server binaries not found (install postgresql)" >&2; exit 1; }

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    # From /: su keeps the caller's working directory, which postgres cannot enter in a private
    # checkout (every call then warned "could not change directory"). Paths here are absolute.
    (cd / && su postgres -s /bin/sh -c "$*")
  else
    sh -c "$*"
  fi
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

port_free() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

running() {
  [[ -f $data/postmaster.pid ]] || return 1
  local pid
  pid=$(head -n 1 "$data/postmaster.pid")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

url() {
  echo "postgresql://$user@127.0.0.1:$(cat "$portfile")/$db?sslmode=disable"
}

start() {
  mkdir -p "$dir"
  if [[ $(id -u) -eq 0 ]] && ! as_pg "test -x '$dir'" 2>/dev/null; then
    local real
    real=$(mktemp -d /tmp/apmcov-pg.XXXXXX)
    echo "$real" >"$dir/location"
    echo "pg-local: the postgres user cannot reach $dir (a parent folder is private); the cluster lives in $real" >&2
    dir=$real
    set_paths
  fi
  mkdir -p "$sock"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres:postgres "$dir" "$sock"
    chmod 700 "$dir"
    as_pg "test -w '$dir'" || {
      echo "pg-local: the postgres user cannot reach $dir; make its parent directories traversable (chmod o+x)" >&2
      exit 1
    }
  fi
  if [[ ! -f $data/PG_VERSION ]]; then
    as_pg "'$bindir/initdb' -D '$data' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >'$dir/initdb.log' 2>&1" ||
      { echo "pg-local: initdb failed, see $dir/initdb.log" >&2; exit 1; }
  fi
  if running; then
    url
    return 0
  fi
  # Reuse the previous port when it is still free, so a restart keeps every DATABASE_URL valid.
  local port=""
  if [[ -f $portfile ]] && port_free "$(cat "$portfile")"; then
    port=$(cat "$portfile")
  else
    port=$(free_port)
    echo "$port" >"$portfile"
  fi
  as_pg "'$bindir/pg_ctl' -D '$data' -l '$dir/server.log' -w -t 30 -o \"-p $port -k '$sock' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 ${APMCOV_PG_OPTIONS:-}\" start >/dev/null" ||
    { echo "pg-local: server did not start, see $dir/server.log" >&2; exit 1; }
  # Role and database for the project (trust auth on loopback only: a private dev cluster).
  as_pg "'$bindir/psql' -h '$sock' -p $port -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt -c \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='$user') THEN CREATE ROLE $user LOGIN CREATEDB; END IF; END\\\$\\\$\"" >/dev/null
  if [[ -z $(as_pg "'$bindir/psql' -h '$sock' -p $port -U postgres -d postgres -qAt -c \"SELECT 1 FROM pg_database WHERE datname='$db'\"") ]]; then
    as_pg "'$bindir/createdb' -h '$sock' -p $port -U postgres -O $user $db"
  fi
  url
}

stop() {
  if running; then
    as_pg "'$bindir/pg_ctl' -D '$data' -m fast -w -t 30 stop >/dev/null"
  fi
  if [[ -f $home/location && $dir == /tmp/apmcov-pg.* ]]; then
    rm -rf "$dir" "$home/location"
  fi
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  url)
    running || { echo "pg-local: not running (scripts/pg-local.sh start)" >&2; exit 1; }
    url
    ;;
  status)
    if running; then echo "running: $(url)"; else echo "stopped"; exit 3; fi
    ;;
  *)
    echo "usage: $0 start|stop|url|status" >&2
    exit 2
    ;;
esac
